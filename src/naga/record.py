"""The fields every run record starts with, whoever records it (``naga run`` or ``naga.run()``).

On ``naga run``'s start-up path: only what the wrapper imports anyway.
"""

from __future__ import annotations

import os

from ._lean import shell_join
from ._version import __version__
from .capture import environment, slurm
from .errors import NagaError
from .redact import mask_argv
from .store import liveness
from .store.timefmt import iso_from_ts

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from .store.layout import StoreLayout


def new_record(
    run_id: str,
    *,
    name: str | None,
    tags: list[str],
    argv: list[str],
    cwd: str,
    started: float,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A run record as written when the run starts: ``running``, owned by this process.
    ``env``: the command's environment (None: this process's). Secrets in ``argv`` and ``env``
    are masked here, the one place every record starts (``naga.redact``)."""
    argv = mask_argv(argv)
    return {
        "schema": 1,
        "id": run_id,
        "name": name,
        "tags": sorted(set(tags)),
        "status": "running",
        "exit_code": None,
        "signal": None,
        "error": None,
        "command": shell_join(argv),
        "argv": argv,
        "cwd": cwd,
        "started_at": iso_from_ts(started),
        "finished_at": None,
        "duration_s": None,
        "host": liveness.hostname(),
        "user": liveness.user_name(),
        "pid": os.getpid(),
        "git": None,
        "python": None,
        "env": environment.selected_env(None if env is None else dict(env)),
        "slurm": slurm.job_info(env),  # None outside a Slurm job
        "gpus": [],
        "resources": {},
        "params": {},
        "metrics": {},
        "output": None,
        "naga_version": __version__,
        "owner": liveness.identity(),
    }


def attempt_entry(meta: dict[str, Any]) -> dict[str, Any]:
    """What ``attempts`` keeps of one attempt: when, where, under which Slurm job, its end."""
    keys = (
        "started_at",
        "finished_at",
        "duration_s",
        "host",
        "pid",
        "slurm",
        "status",
        "exit_code",
        "error",
    )
    return {key: meta.get(key) for key in keys}


def next_attempt(
    layout: StoreLayout, run_id: str, started: float, *, source: str | None
) -> dict[str, Any]:
    """The record of ``run_id`` reopened for one more attempt (a preempted sweep task, a
    requeued Slurm job, a resumed checkpoint): running again, owned by this process, its
    earlier attempts listed in ``attempts``. ``source``: who records this attempt, which must
    be who recorded the run ("sdk" for ``naga.run()``, None for ``naga run``)."""
    from .store.files import load_meta, remove_quietly

    if not run_id.isalnum():  # an id names a directory of runs/, never a path out of it
        raise NagaError(f"{run_id!r} is not a run id: give the id of the run to continue")
    meta = load_meta(layout, run_id)
    if meta.get("source") != source:
        how = "from Python" if meta.get("source") == "sdk" else "by `naga run`"
        raise NagaError(
            f"run {run_id} was recorded {how}: a new attempt of it must be started the same way"
        )
    found = meta.get("owner")
    owner: dict[str, Any] = found if isinstance(found, dict) else {}
    if meta.get("status") == "running" and liveness.owner_is_alive(
        owner, layout.heartbeat(run_id), layout.clock(liveness.hostname())
    ):
        raise NagaError(f"run {run_id} is still running: an attempt of it cannot start now")
    if meta.get("status") == "running":  # its process died before it could say how it ended
        meta["status"] = "crashed"
        meta["error"] = meta.get("error") or "the process recording it died"
    attempts = meta.get("attempts") or [attempt_entry(meta)]
    if attempts[-1].get("status") == "running":
        attempts[-1].update(status=meta["status"], error=meta.get("error"))
    attempt = attempt_entry(meta)  # the fields to refresh, then this attempt's values
    attempt.update(
        started_at=iso_from_ts(started),
        finished_at=None,
        duration_s=None,
        host=liveness.hostname(),
        pid=os.getpid(),
        slurm=slurm.job_info(),
        output_offset=(meta.get("output") or {}).get("bytes") if source is None else None,
        status="running",
        exit_code=None,
        error=None,
    )
    meta.update(
        attempts=[*attempts, {"attempt": len(attempts) + 1, **attempt}],
        status="running",
        error=None,
        exit_code=None,
        finished_at=None,
        duration_s=None,
        host=attempt["host"],
        pid=attempt["pid"],
        slurm=attempt["slurm"],
        owner=liveness.identity(),
    )
    for index, entry in enumerate(meta["attempts"], start=1):
        entry.setdefault("attempt", index)
        if entry.get("output_offset") is None:
            entry.pop("output_offset", None)
    remove_quietly(layout.verdict(run_id))  # alive again: a crash verdict no longer holds
    return meta
