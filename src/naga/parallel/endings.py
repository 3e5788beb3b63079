"""How a sweep task ended: the worker's view of ``naga.ending``'s one decision.

A task's program returns or raises; the worker records the outcome in the pool and either goes
on with the next task or stops. Every place in ``naga.parallel`` that turns an exception into a
task's status asks :func:`task_ending` (which asks :func:`naga.ending.decide`: a stop signal
decides, whatever a framework turned it into; docs/endings.md has the table), and every place
that asks whether a status means the task is done asks :func:`is_terminal`:

    status      the worker
    completed   keeps the outcome, takes the next task
    failed      keeps the outcome, takes the next task
    pruned      keeps the outcome (a search's pruner stopped the trial), takes the next task
    cancelled   releases the task (the next launch or a requeued job runs it, as a new
                attempt of the same run) and stops

"""

from __future__ import annotations

from typing import NamedTuple

TERMINAL = ("completed", "failed", "pruned")  # a task that ended otherwise (cancelled) is run again


class Ending(NamedTuple):
    status: str
    exit_code: int


def task_ending(exc: BaseException | None) -> Ending:
    """The status and exit code of a task that raised ``exc`` (None: it returned)."""
    from ..ending import decide

    ending = decide(exc)
    return Ending(ending.status, ending.exit_code)


def is_terminal(status: str | None) -> bool:
    """Whether a task with this status is done (not run again in this launch)."""
    return status in TERMINAL
