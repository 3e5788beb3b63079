"""Keeping the table live: a thread that syncs its own index connection and reloads on change.

The index already knows how to catch up cheaply (``Index.sync``: one stat per hour directory of
``touched/`` when nothing moved, then a liveness check of the runs it believes are running). The
watcher runs that sync when inotify says a marker moved, and every ``POLL_S`` anyway (changes
from other hosts raise no local event, and a crashed run only shows through the liveness check).
It reloads the rows only when the sync changed the index (``total_changes`` of its connection)
or another process did (``PRAGMA data_version``), or when the UI asks for another query.

The thread owns its ``Store``: SQLite connections stay in the thread that made them, and a
reload of 10,000 rows never blocks the UI. Results go to the UI as a callback the app turns into
a message.
"""

from __future__ import annotations

import os
import select
import sqlite3
import threading
from collections.abc import Callable

from ..errors import NagaError
from ..store import Store
from .fsevents import MarkerEvents
from .query import Query, Snapshot, load_rows

POLL_S = 0.5
FIRST_ROWS = 200  # the first load: a screenful fast, then the rest
SETTLE_S = 0.03  # a marker is a temp file then a rename: let the burst finish


class StoreWatcher:
    def __init__(
        self,
        root: str,
        query: Query,
        on_snapshot: Callable[[Snapshot], None],
        on_error: Callable[[str], None],
    ) -> None:
        self._root = root
        self._query = query
        self._on_snapshot, self._on_error = on_snapshot, on_error
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()
        self._wanted = True  # a load is due (the first one, or the UI asked)
        self._stopped = False
        self._signature: tuple[int, int] | None = None
        self._first = True
        self._thread = threading.Thread(target=self._loop, name="naga-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self, query: Query | None = None) -> None:
        """Reload now (with a new query, if given)."""
        with self._lock:
            if query is not None:
                self._query = query
            self._wanted = True
        self._wake()

    def stop(self) -> None:
        self._stopped = True
        self._wake()
        self._thread.join(timeout=2)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:  # closed (stopping) or full (a wake-up is pending anyway)
            pass

    def _loop(self) -> None:
        store = Store(self._root)
        events: MarkerEvents | None = None
        try:
            while not self._stopped:
                if events is None and store.exists():
                    events = MarkerEvents.open(store.layout.touched_dir)
                self._tick(store)
                self._wait(events)
        finally:
            if events is not None:
                events.close()
            store.close()

    def _wait(self, events: MarkerEvents | None) -> None:
        sources = [self._wake_r] + ([events.fileno()] if events else [])
        ready, _, _ = select.select(sources, [], [], POLL_S)
        if self._wake_r in ready:
            os.read(self._wake_r, 4096)
        if events is not None and events.fileno() in ready:
            select.select([], [], [], SETTLE_S)
            events.drain()

    def _tick(self, store: Store) -> None:
        try:
            changed = self._sync(store)
            with self._lock:
                due, self._wanted = self._wanted or changed, False
                query = self._query
            if due and self._first and store.exists():
                self._first = False
                self._on_snapshot(load_rows(store, query, FIRST_ROWS))
            if due:
                self._on_snapshot(load_rows(store, query))
        except NagaError as exc:
            self._on_error(str(exc))
        except sqlite3.Error as exc:
            self._on_error(f"the run index failed ({exc}); `naga reindex` rebuilds it")
        except OSError as exc:
            self._on_error(f"cannot read the store: {exc}")

    def _sync(self, store: Store) -> bool:
        """Bring the index up to date; True when anything in it changed since the last call."""
        if not store.exists():  # a reading command never creates a store
            return False
        index = store.index
        index.sync()  # a no-op but for a few stats when nothing moved
        conn = index.conn
        signature = (conn.total_changes, conn.execute("PRAGMA data_version").fetchone()[0])
        changed = signature != self._signature
        self._signature = signature
        return changed
