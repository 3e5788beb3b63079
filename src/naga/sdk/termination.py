"""SIGTERM, SIGHUP and SIGQUIT (Ctrl-\\) while a run is open: end it ``cancelled``, with
everything written.

Slurm sends SIGTERM on preemption and at the time limit; left at its default, the signal kills
Python before the metrics writer can flush or the record can say how the run ended.
"""

from __future__ import annotations

from typing import Any

from ..ending import WITNESS


class Terminated(SystemExit):
    """SIGTERM, SIGHUP or SIGQUIT while a run is open (Slurm's preemption and time limit send
    SIGTERM; Ctrl-\\ on a terminal sends SIGQUIT, which would otherwise dump core):
    raised in the main thread so that the run ends as ``cancelled``, with everything logged
    written, and the process exits with 128 + the signal number, as it would have."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        import signal

        self.signal_name = signal.Signals(signum).name


class TermGuard:
    """Turns SIGTERM/SIGHUP/SIGQUIT into Terminated while runs are open, where the process left them
    at their default (which would kill it before anything is flushed). A handler the program
    set itself is never replaced; the defaults come back when the last run ends."""

    SIGNALS = ("SIGTERM", "SIGHUP", "SIGQUIT")

    def __init__(self) -> None:
        self.depth = 0
        self.installed: list[int] = []
        self.received: str | None = None  # the signal that ended the program, if one did

    def hold(self) -> None:
        self.depth += 1
        if self.depth > 1:
            return
        WITNESS.arm()
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers
        for name in self.SIGNALS:
            signum = getattr(signal, name)
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, raise_terminated)
                self.installed.append(signum)

    def release(self) -> None:
        if self.depth == 1:
            WITNESS.disarm()
        self.depth = max(0, self.depth - 1)
        if self.depth or not self.installed:
            return
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for signum in self.installed:
                if signal.getsignal(signum) is raise_terminated:
                    signal.signal(signum, signal.SIG_DFL)
            self.installed.clear()

    def forget_in_child(self) -> None:
        """A forked child (a DataLoader worker) did not ask for these handlers: give it the
        defaults back, so `terminate()` kills it as it would without naga."""
        global _resent, _pending_since
        WITNESS.forget_in_child()
        _resent = _pending_since = None
        if self.installed:
            import signal

            for signum in self.installed:
                if signal.getsignal(signum) is raise_terminated:
                    signal.signal(signum, signal.SIG_DFL)
        self.depth, self.installed = 0, []


def raise_terminated(signum: int, _frame: Any) -> None:
    """A signal handler: the signal as :class:`Terminated`, noted by the witness of endings."""
    global _resent
    if _resent == signum and GUARD.received is not None:
        _resent = None
        return  # the copy wake_main_thread sent of a signal the handler took meanwhile
    error = Terminated(signum)
    WITNESS.note(signum)
    GUARD.received = error.signal_name
    if _worker_on_its_way_out():
        return  # its finalizers are writing its points: an exception there would lose them
    raise error


def _worker_on_its_way_out() -> bool:
    """A multiprocessing worker that has begun to exit (``multiprocessing.util`` runs its
    finalizers, naga's flush of the worker's points among them). ``with Pool(...)`` ends with
    ``terminate()``, whose SIGTERM often reaches a worker that got its stop sentinel and is
    already leaving: raised there, the signal cut the flush short and the worker's points
    were lost. The worker exits moments later all the same."""
    import sys

    util = sys.modules.get("multiprocessing.util")
    if util is None or not getattr(util, "_exiting", False):
        return False
    process = sys.modules.get("multiprocessing.process")
    return process is not None and process.parent_process() is not None


_resent: int | None = None  # the signal wake_main_thread sent again, until the handler runs
_pending_since: int | None = None  # the signal seen pending at the writer thread's last tick


def wake_main_thread() -> None:
    """Send again to the main thread a stop signal whose handler has not run for a whole tick
    (called by the metrics writer thread at each of its ticks).

    Python runs a handler in the main thread only, when that thread next runs Python code or
    a blocking call of it fails with EINTR. A signal that arrives after the main thread's last
    look and before it blocks (under load that window is wide), or that another thread takes,
    interrupts nothing: the handler waits until something else wakes the main thread. A pool
    worker waiting for its next task never wakes, and ``Pool.terminate()`` then waits for it
    forever (``with Pool(...)`` hung about once in 300 runs under load, spawn or forkserver).
    The copy sent here interrupts the wait; the handler runs once for both, as one signal."""
    global _pending_since, _resent
    pending = _pending_stop()
    if pending is None or pending != _pending_since:
        _pending_since = pending  # seen for the first time: the main thread may be about to act
        return
    import signal
    import threading

    main = threading.main_thread().ident
    if main is not None:
        _resent = pending
        signal.pthread_kill(main, pending)


def _pending_stop() -> int | None:
    """A stop signal that reached the process (the witness's wake-up descriptor says so) while
    naga's handler was in place, and that the handler has not taken yet."""
    if GUARD.received is not None or not GUARD.installed:
        return None
    import signal

    WITNESS.received()  # reads what the descriptor holds into WITNESS.seen
    for name in WITNESS.seen:
        signum = getattr(signal, name)
        if signum in GUARD.installed and signal.getsignal(signum) is raise_terminated:
            return int(signum)
    return None


class held_signals:
    """Ctrl-C, SIGTERM, SIGHUP and Ctrl-\\ wait while a run's end is written (main thread
    only): a second signal mid-write would leave the record saying `running`. They are
    delivered as soon as the end is written."""

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")

    def __enter__(self) -> None:
        import signal
        import threading

        self.old: dict[int, Any] = {}
        self.pending: list[int] = []
        if threading.current_thread() is not threading.main_thread():
            return
        for name in self.NAMES:
            signum = getattr(signal, name)
            self.old[signum] = signal.signal(signum, self._remember)

    def _remember(self, signum: int, _frame: Any) -> None:
        self.pending.append(signum)

    def __exit__(self, *_: object) -> None:
        import signal

        for signum, handler in self.old.items():
            signal.signal(signum, handler)
        for signum in self.pending[:1]:
            signal.raise_signal(signum)  # now, to the handler the program had


GUARD = TermGuard()
