"""How a sweep task ended, decided in one place from what stopped it.

A task's program returns or raises; the worker records the outcome in the pool and either goes
on with the next task or stops. Every place in ``naga.parallel`` that turns an exception into a
task's status asks :func:`task_ending`, and every place that asks whether a status means the
task is done asks :func:`is_terminal`, so the rules read in one table:

    what stopped the task                 status      exit code   the worker
    a return                              completed   0           takes the next task
    SystemExit(0) or SystemExit()         completed   0           takes the next task
    SystemExit(n), n != 0                 failed      n           takes the next task
    any other Exception                   failed      1           takes the next task
    Terminated (SIGTERM, SIGHUP)          cancelled   128 + N     releases it and stops
    KeyboardInterrupt (Ctrl-C, Slurm's    cancelled   130         releases it and stops
    stop signal)

``completed`` and ``failed`` are terminal: the pool keeps the outcome and no worker takes the
task again in this launch. A ``cancelled`` task goes back to the pool for the next worker.
"""

from __future__ import annotations

from typing import NamedTuple

TERMINAL = ("completed", "failed")  # a task that ended otherwise (cancelled) is run again


class Ending(NamedTuple):
    status: str
    exit_code: int


def task_ending(exc: BaseException | None) -> Ending:
    """The status and exit code of a task that raised ``exc`` (None: it returned)."""
    from ..sdk.termination import Terminated

    if exc is None:
        return Ending("completed", 0)
    if isinstance(exc, Terminated):
        return Ending("cancelled", exc.code if isinstance(exc.code, int) else 130)
    if isinstance(exc, SystemExit):
        if exc.code in (0, None):
            return Ending("completed", 0)
        return Ending("failed", exc.code if isinstance(exc.code, int) else 1)
    if isinstance(exc, Exception):
        return Ending("failed", 1)
    return Ending("cancelled", 130)  # KeyboardInterrupt (and what else stops a process)


def is_terminal(status: str | None) -> bool:
    """Whether a task with this status is done (not run again in this launch)."""
    return status in TERMINAL
