"""The fields every run record starts with, whoever records it (``naga run`` or ``naga.run()``).

On ``naga run``'s start-up path: only what the wrapper imports anyway.
"""

from __future__ import annotations

import os

from ._lean import shell_join
from ._version import __version__
from .capture import environment, slurm
from .redact import mask_argv
from .store import liveness
from .store.timefmt import iso_from_ts

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


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
        "user": environment.user_name(),
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
