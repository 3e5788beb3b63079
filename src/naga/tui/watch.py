"""Keeping the table live: a thread that syncs its own index connection and reloads on change.

The index already knows how to catch up cheaply (``Index.sync``: one stat per hour directory of
``touched/`` when nothing moved, then a liveness check of the runs it believes are running). The
watcher runs that sync when inotify says a marker moved, and every ``POLL_S`` anyway (changes
from other hosts raise no local event, and a crashed run only shows through the liveness check).
It reloads the rows only when the sync changed the index (``total_changes`` of its connection)
or another process did (``PRAGMA data_version``), or when the UI asks for another query.

The thread owns its ``Store``: SQLite connections stay in the thread that made them, and a
reload of 10,000 rows never blocks the UI. Results go to the UI as a callback the app turns into
a message. ``naga tui`` starts the thread before it imports Textual, so the first ``FIRST_ROWS``
rows are read while Textual loads; the rest waits until they are drawn (a load competes with the
UI thread for the interpreter). A reload reuses the rows of runs that did not change
(``RowCache``), and while the index does not change a query already answered is not run again
(clearing a filter shows the table it had at once).
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
from .query import Query, RowCache, Snapshot, load_rows

POLL_S = 0.5
FIRST_ROWS = 200  # the first load: a screenful fast, then the rest
PAINT_WAIT_S = 2.0  # the rest waits for the first screen to be drawn, at most this long
SETTLE_S = 0.03  # a marker is a temp file then a rename: let the burst finish
CACHE_KIB = 64 << 10  # SQLite's page cache for the watcher's reads (its default is 2 MiB)
KEPT_RESULTS = 8
# What the runs in the index are: a marker's mtime moves with every change to its run (summed
# exactly, modulo a prime), and runs removed or found crashed change the counts.
CONTENT_SQL = (
    "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM runs WHERE status = 'running'),"
    " (SELECT count(*) FROM skipped), (SELECT count(*) FROM markers),"
    " (SELECT coalesce(sum(mtime_ns % 1000000007), 0) FROM markers)"
)  # loads kept for as long as the index does not change (a filter cleared)

Sink = tuple[Callable[[Snapshot], None], Callable[[str], None]]


class StoreWatcher:
    """The thread that loads the table's rows. It may start before the app exists (so the
    first rows load while Textual is imported): what it finds before ``attach`` is held."""

    def __init__(
        self,
        root: str,
        query: Query,
        on_snapshot: Callable[[Snapshot], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._root = root
        self._query = query
        self._sink: Sink | None = None
        self._pending: list[Snapshot | str] = []
        self._delivering = threading.Lock()  # pending items go out before newer ones
        if on_snapshot is not None and on_error is not None:
            self._sink = (on_snapshot, on_error)
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()
        self._closed = False  # the wake-up pipe is closed (its numbers may be reused)
        self._wanted = True  # a load is due (the first one, or the UI asked)
        self._stopped = False
        self._painted = threading.Event()
        self._writes: tuple[int, int] | None = None
        self._signature: tuple[int, ...] | None = None
        self._first = True
        self._cache = RowCache()
        self._results: dict[Query, Snapshot] = {}  # full loads since the index last changed
        self._thread = threading.Thread(target=self._loop, name="naga-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def attach(
        self, on_snapshot: Callable[[Snapshot], None], on_error: Callable[[str], None]
    ) -> list[Snapshot | str]:
        """What was found so far (snapshots, and errors as text), oldest first, for the caller
        to take at once; all that follows goes to these callbacks."""
        with self._delivering:
            self._sink = (on_snapshot, on_error)
            pending, self._pending = self._pending, []
        return pending

    def painted(self) -> None:
        """The first rows are on screen: load the rest."""
        self._painted.set()

    def request(self, query: Query | None = None) -> None:
        """Reload now (with a new query, if given)."""
        with self._lock:
            if query is not None:
                self._query = query
            self._wanted = True
        self._wake()

    def stop(self) -> None:
        """End the thread (at most a couple of seconds for a load under way); nothing is
        delivered after this returns."""
        self._stopped = True
        self._painted.set()
        with self._delivering:
            self._sink = None
        self._wake()
        if self._thread.ident is None:
            self._close_pipe()  # never started
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _close_pipe(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._wake_r)
                os.close(self._wake_w)

    def _wake(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                os.write(self._wake_w, b"x")
            except OSError:  # full: a wake-up is pending anyway
                pass

    def _deliver(self, item: Snapshot | str) -> None:
        with self._delivering:
            if self._stopped:
                return
            if self._sink is None:
                self._pending.append(item)
            else:
                self._send(item)

    def _send(self, item: Snapshot | str) -> None:
        assert self._sink is not None
        on_snapshot, on_error = self._sink
        if isinstance(item, str):
            on_error(item)
        else:
            on_snapshot(item)

    def _loop(self) -> None:
        events: MarkerEvents | None = None
        store: Store | None = None
        try:
            store = Store(self._root)
            while not self._stopped:
                if events is None and store.exists():
                    events = MarkerEvents.open(store.layout.touched_dir)
                self._tick(store)
                if not self._stopped:
                    self._wait(events)
        finally:
            if events is not None:
                events.close()
            if store is not None:
                store.close()
            self._close_pipe()

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
            self._load(store)
        except NagaError as exc:
            self._deliver(str(exc))
        except sqlite3.Error as exc:
            self._deliver(f"the run index failed ({exc}); `naga reindex` rebuilds it")
        except OSError as exc:
            self._deliver(f"cannot read the store: {exc}")

    def _load(self, store: Store) -> None:
        with self._lock:
            asked = self._wanted and self._writes is not None
        if asked:  # the UI waits: answer from the index as it is, then catch up with the runs
            self._answer(store)  # (a sync can take a while just after many runs changed)
        if self._sync(store):
            self._results.clear()
        self._answer(store)

    def _answer(self, store: Store) -> None:
        with self._lock:
            due, self._wanted = self._wanted, False
            query = self._query
        if not due:
            return
        if self._first and store.exists():
            self._first = False
            first = load_rows(store, query, FIRST_ROWS, self._cache)
            self._deliver(first)
            if first.complete:
                self._results[query] = first
                return
            self._painted.wait(PAINT_WAIT_S)  # the rest would slow the first drawing down
            with self._lock:
                query = self._query  # the user may have typed a filter meanwhile
        snapshot = self._results.get(query)
        if snapshot is None:
            snapshot = load_rows(store, query, cache=self._cache)
            self._results[query] = snapshot
            while len(self._results) > KEPT_RESULTS:
                del self._results[next(iter(self._results))]
        self._deliver(snapshot)

    def _sync(self, store: Store) -> bool:
        """Bring the index up to date; True when the runs in it changed since the last call."""
        if not store.exists():  # a reading command never creates a store
            return False
        index = store.index
        index.sync()  # a no-op but for a few stats when nothing moved
        conn = index.conn
        if self._writes is None:  # this connection's own cache: 10,000 records stay in it
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB:d}")
        writes = (conn.total_changes, conn.execute("PRAGMA data_version").fetchone()[0])
        if writes == self._writes:
            return False
        self._writes = writes
        # Writes are not all changes: a sync rewrites its bookkeeping on every call for a while
        # after a run changed (a directory mtime too recent to trust), here and in any other
        # naga on this host. A run changes only with its marker, or by leaving the index.
        signature = conn.execute(CONTENT_SQL).fetchone()
        changed = signature != self._signature
        self._signature = signature
        if changed:
            with self._lock:
                self._wanted = True
        return bool(changed)
