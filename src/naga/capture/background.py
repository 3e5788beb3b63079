"""Work that runs beside the command: the heartbeat, and reading git while the command starts.

``_thread`` rather than ``threading``: these two jobs need nothing more than a thread and a lock,
and ``threading`` would add its import to every ``naga run``'s start-up. Signals are still handled
by the main thread, which keeps streaming the command's output whatever these threads wait on.
"""

from __future__ import annotations

import _thread
import os

from .._lean import keep_signals_off_this_thread

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from collections.abc import Callable


class Job:
    """``fn()`` on its own thread; ``wait()`` returns once it is done (errors are kept)."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._done = _thread.allocate_lock()
        self._done.acquire()
        self.error: BaseException | None = None
        _thread.start_new_thread(self._run, (fn,))

    def _run(self, fn: Callable[[], None]) -> None:
        keep_signals_off_this_thread()
        try:
            fn()
        except BaseException as exc:  # reported by wait(), never lost in a thread
            self.error = exc
        finally:
            self._done.release()

    def wait(self, timeout: float = -1) -> bool:
        if self._done.acquire(True, timeout):
            self._done.release()
            return True
        return False


class Heartbeat:
    """Touches ``path`` every ``interval`` seconds until ``stop()``: proof of life for readers on
    other hosts. On a thread, so a blocked terminal or a slow pipe reader cannot silence it."""

    def __init__(self, path: str, interval: float) -> None:
        self.path, self.interval = path, interval
        self._stop = _thread.allocate_lock()
        self._stop.acquire()
        self._job = Job(self._beat)

    def _beat(self) -> None:
        while not self._stop.acquire(True, self.interval):
            try:
                os.utime(self.path)
            except OSError:
                pass  # a full disk or a removed run must not stop the command

    def stop(self) -> None:
        self._stop.release()
        self._job.wait(5)
