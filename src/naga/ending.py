"""How a run ended, decided once: every layer reads its ending from :func:`decide`.

A run's ending is written in several places: naga's run record, ``run.lock``'s ``status``, the
sweep pool's task state, ``NagaLogger``, ``mlflow_lock`` (FINISHED / FAILED / KILLED) and the
process's exit code. Each used to map the exception it saw on its own, and frameworks hide the
truth from them: Lightning turns Ctrl-C into ``sys.exit(1)`` and SIGTERM into
``SIGTERMException``, a ``SystemExit`` without a code that reads as success. A half-trained
task then read ``completed`` and was never run again.

So the signal that stopped the process decides, whatever a framework turned it into. While a
run is open, :data:`WITNESS` watches which stop signals reached the process through Python's
signal wake-up file descriptor, which the interpreter writes for every signal that has a
Python-level handler, whoever installed that handler (Lightning's own SLURM handler, a user's,
naga's). The rules, in order (docs/endings.md draws them as a table, and a test checks it):

1. The block returned normally: ``completed``, exit 0. The work was done.
2. A stop signal reached the process while the run was open and the block ended by any
   exception, ``SystemExit`` included: ``cancelled``, exit 128 + N, whatever the exception says.
   SIGUSR1/SIGUSR2 count only here too: a program may handle them and go on.
3. ``KeyboardInterrupt``: ``cancelled``, 130. naga's own ``Terminated`` (SIGTERM, SIGHUP or
   SIGQUIT turned into an exception by naga) and Lightning's ``SIGTERMException``:
   ``cancelled``, 128 + N.
   ``naga.Pruned`` (a search's pruner stopped the trial; no signal came): ``pruned``, exit 0.
4. ``SystemExit(0)`` or ``SystemExit(None)``: ``completed``, 0.
5. ``SystemExit(n)``, n not 0: ``failed``, exit n (1 for a message).
6. Any other exception: ``failed``, exit 1, with its traceback.

A preempted run (Slurm's SIGTERM, a time-limit signal) therefore reads ``cancelled`` with the
signal's name in its record, never ``completed``; the sweep pool gives its task back.
"""

from __future__ import annotations

import os
import signal
from typing import NamedTuple

from .errors import Pruned

# The signals that ask a process to stop (Slurm sends SIGTERM on preemption and scancel,
# SIGUSR1/SIGUSR2 ahead of a time limit when the job asks with --signal).
STOP_SIGNALS: tuple[int, ...] = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)

COMPLETED, FAILED, CANCELLED, PRUNED = "completed", "failed", "cancelled", "pruned"


class Ending(NamedTuple):
    """How one run ended: what every record says and the exit code the process should have."""

    status: str
    exit_code: int
    reason: str | None = None  # one line: the error, or what stopped the run
    signal: str | None = None  # SIGINT, SIGTERM, ... when a signal decided
    traceback: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.status == CANCELLED


_WITNESSED = "witnessed"


def decide(exc: BaseException | None, received: str | None = _WITNESSED) -> Ending:
    """The ending of a run whose block ended with ``exc`` (None: a normal return), given the
    stop signal the process received while the run was open: by default what :data:`WITNESS`
    saw; None for none."""
    if exc is None:
        return Ending(COMPLETED, 0)
    named = _signal_behind(exc)
    if named is not None and getattr(exc, "signal_name", None) == named:
        return _by_signal(named)  # an exception that names its signal (Slurm's USR2, relayed)
    if received == _WITNESSED:
        received = WITNESS.received()
    if received is not None:
        return _by_signal(received)
    if isinstance(exc, Pruned):
        return Ending(PRUNED, 0, _first_line(exc).partition(": ")[2] or "pruned")
    if isinstance(exc, KeyboardInterrupt):  # raised by hand, or the witness was displaced
        return _by_signal("SIGINT")._replace(reason="interrupted (KeyboardInterrupt)")
    if named is not None:
        return _by_signal(named)
    if isinstance(exc, SystemExit):
        return _exit_ending(exc)
    return Ending(FAILED, 1, _first_line(exc), traceback=_trace(exc))


def _by_signal(name: str) -> Ending:
    number = signal.Signals[name].value
    verb = "interrupted" if number == signal.SIGINT else "terminated"
    return Ending(CANCELLED, 128 + number, f"{verb} by {name}", signal=name)


def _signal_behind(exc: BaseException) -> str | None:
    """The signal an exception stands for when no signal was seen (it was raised by hand, or
    the witness was displaced): naga's own Terminated, Lightning's SIGTERMException, and a
    ``SystemExit`` raised while handling one of those or a KeyboardInterrupt (Lightning's
    ``sys.exit(1)`` inside its ``except KeyboardInterrupt``)."""
    name = getattr(exc, "signal_name", None)
    if isinstance(name, str) and name in signal.Signals.__members__:
        return name
    if type(exc).__name__ == "SIGTERMException":
        return "SIGTERM"
    if isinstance(exc, SystemExit):
        cause = exc.__context__
        for _ in range(8):  # a short chain: a framework's handler, not arbitrary depth
            if cause is None:
                break
            if isinstance(cause, KeyboardInterrupt) and not hasattr(cause, "signal_name"):
                return "SIGINT"
            behind = _signal_behind(cause) if not isinstance(cause, SystemExit) else None
            if behind is not None:
                return behind
            cause = cause.__context__
    return None


def _exit_ending(exc: SystemExit) -> Ending:
    code = exc.code
    if code in (0, None):
        return Ending(COMPLETED, 0)
    if isinstance(code, int) and not isinstance(code, bool):
        return Ending(FAILED, code & 0xFF or 1, f"exit {code}")
    return Ending(FAILED, 1, str(code).strip().splitlines()[0] if str(code).strip() else "exit 1")


def _first_line(exc: BaseException) -> str:
    lines = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _trace(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def exit_for(exc: BaseException, ending: Ending) -> BaseException | None:
    """The exception to raise in place of ``exc`` so that the process exits with the ending's
    code: a ``SystemExit`` whose code disagrees (Lightning's ``sys.exit(1)`` after Ctrl-C, its
    code-less SIGTERMException) is replaced; anything else already exits as it should."""
    if not isinstance(exc, SystemExit) or ending.signal is None:
        return None
    if exc.code == ending.exit_code:
        return None
    replaced = SystemExit(ending.exit_code)
    replaced.__cause__ = exc
    return replaced


class SignalWitness:
    """Which stop signals reached this process while a run was open, whoever handled them.

    Python writes each caught signal's number to the wake-up descriptor set with
    ``signal.set_wakeup_fd`` before any Python handler runs, so the record survives a
    framework replacing the handler naga saw, or turning the signal into an exception of its
    own. Armed by the first open run (main thread only), disarmed by the last. A program that
    sets its own wake-up descriptor (an asyncio loop with signal handlers) keeps it: the
    witness then only sees what the handlers naga installed saw (:meth:`note`)."""

    def __init__(self) -> None:
        self.depth = 0
        self.pid = 0
        self.read_fd = -1
        self.write_fd = -1
        self.previous_fd = -1
        self.seen: list[str] = []
        self.relays: set[int] = set()  # signals that only carry another one (relayed)

    def arm(self) -> None:
        self.depth += 1
        if self.depth > 1:
            return
        self.seen, self.relays = [], set()
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        try:
            read_fd, write_fd = os.pipe()
        except OSError:
            return  # out of descriptors: naga's own handlers still note what they see
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        try:
            self.previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        except ValueError:
            os.close(read_fd)
            os.close(write_fd)
            return
        if self.previous_fd != -1:  # someone else's: theirs stays, ours is not needed
            signal.set_wakeup_fd(self.previous_fd)
            os.close(read_fd)
            os.close(write_fd)
            return
        self.read_fd, self.write_fd, self.pid = read_fd, write_fd, os.getpid()

    def disarm(self) -> None:
        self.depth = max(0, self.depth - 1)
        if self.depth or self.read_fd == -1:
            return
        self._drain()
        import threading

        if threading.current_thread() is threading.main_thread():
            current = signal.set_wakeup_fd(-1)
            if current != self.write_fd:  # replaced meanwhile: leave the new owner in place
                signal.set_wakeup_fd(current)
        self._close()

    def note(self, signum: int) -> None:
        """A handler naga installed saw ``signum`` (for when the descriptor is not ours)."""
        self._add(signum)

    def relayed(self, real: int, via: int) -> None:
        """``real`` reached another process and is relayed to this one as ``via`` (Slurm's
        USR2, heard by a listener, interrupts the worker as SIGINT): the record says ``real``."""
        self._drain()
        self._add(real)
        self.relays.add(via)

    def received(self) -> str | None:
        """The stop signal that decides, if any came since the first open run began: the
        first of SIGINT, SIGTERM, SIGHUP, SIGQUIT; else the first SIGUSR1/SIGUSR2 (Slurm's
        warnings ahead of a time limit, after which it sends SIGTERM anyway)."""
        self._drain()
        stops = [name for name in self.seen if name not in ("SIGUSR1", "SIGUSR2")] or self.seen
        return stops[0] if stops else None

    def forget_in_child(self) -> None:
        """A forked child must not report its own signals (a DataLoader worker terminated at
        shutdown) to its parent's witness: it gets no wake-up descriptor and no history."""
        if self.read_fd != -1:
            import threading

            if threading.current_thread() is threading.main_thread():
                signal.set_wakeup_fd(-1)  # the parent's pipe, inherited
            self._close()
        self.depth, self.seen, self.relays = 0, [], set()

    def _drain(self) -> None:
        if self.read_fd == -1 or os.getpid() != self.pid:
            return
        while True:
            try:
                data = os.read(self.read_fd, 512)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            for signum in data:
                self._add(signum)

    def _add(self, signum: int) -> None:
        if signum in STOP_SIGNALS and signum not in self.relays:
            name = signal.Signals(signum).name
            if name not in self.seen:
                self.seen.append(name)

    def _close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd != -1:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.read_fd = self.write_fd = -1


WITNESS = SignalWitness()


__all__ = [
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "PRUNED",
    "STOP_SIGNALS",
    "WITNESS",
    "Ending",
    "SignalWitness",
    "decide",
    "exit_for",
]
