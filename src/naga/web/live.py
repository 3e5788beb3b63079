"""Live updates for the browser: a thread that hears the store change and counts versions.

The same wake-ups as the terminal dashboard's watcher (``tui.watch``): inotify on the change
markers (``tui.fsevents``), a poll every ``POLL_S`` for other hosts and crashed runs, and
``Index.sync`` to catch the index up. When what the index holds changed (``CONTENT_SQL``, the
watcher's signature), the version moves on and every waiting event stream is woken; each
browser then asks again for what it shows. One thread for every open page, however many.
"""

from __future__ import annotations

import asyncio
import select
import sqlite3
import threading

from ..errors import NagaError
from ..store import Store
from ..tui.fsevents import MarkerEvents
from ..tui.watch import CONTENT_SQL, POLL_S, SETTLE_S


class Changes:
    """The store's version (a counter that moves when runs change) and the loops waiting on it."""

    def __init__(self, root: str) -> None:
        self._root = root
        self.version = 0
        self.error: str | None = None
        self.closing = threading.Event()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="naga-web-live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close_streams(self) -> None:
        """The server is stopping: every event stream ends now (they would keep it up)."""
        self.closing.set()
        self._bump()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    async def wait(self, seen: int, timeout: float) -> int:
        """The version once it differs from ``seen`` (or after ``timeout`` seconds)."""
        if self.version != seen:
            return self.version
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.add(waiter)
        try:
            if self.version == seen:
                await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        return self.version

    def _bump(self) -> None:
        with self._lock:
            self.version += 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop has closed
                pass

    def _loop(self) -> None:
        store = Store(self._root)
        events: MarkerEvents | None = None
        signature: object = None
        try:
            while not self._stop.is_set():
                if events is None and store.exists():
                    events = MarkerEvents.open(store.layout.touched_dir)
                now = self._signature(store)
                if now is not None and now != signature:
                    if signature is not None:
                        self._bump()
                    signature = now
                self._wait(events)
        finally:
            if events is not None:
                events.close()
            store.close()

    def _signature(self, store: Store) -> object:
        if not store.exists():
            return None
        try:
            index = store.index
            index.sync()
            found = index.conn.execute(CONTENT_SQL).fetchone()
        except (NagaError, sqlite3.Error, OSError) as exc:
            self.error = str(exc)
            return None
        self.error = None
        return tuple(found)

    def _wait(self, events: MarkerEvents | None) -> None:
        if events is None:
            self._stop.wait(POLL_S)
            return
        ready, _, _ = select.select([events.fileno()], [], [], POLL_S)
        if ready:
            select.select([], [], [], SETTLE_S)
            events.drain()
