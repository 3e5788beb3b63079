"""The Slurm job a run belongs to, read from the environment Slurm gives every job step.

Cheap enough for ``naga run``'s start-up path: environment reads only, no ``scontrol``. The
restart count tells a requeued job's second attempt at a task from its first; ``log_out`` and
``log_err`` are the submitit logs of the worker that ran the task (set by
:mod:`naga.parallel.slurm_job`).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

LOG_ENVS = ("NAGA_SLURM_LOG_OUT", "NAGA_SLURM_LOG_ERR")

_TEXT_FIELDS = (
    ("job_id", "SLURM_JOB_ID"),
    ("array_job_id", "SLURM_ARRAY_JOB_ID"),
    ("node", "SLURMD_NODENAME"),
    ("partition", "SLURM_JOB_PARTITION"),
    ("log_out", LOG_ENVS[0]),
    ("log_err", LOG_ENVS[1]),
)
_INT_FIELDS = (("array_task_id", "SLURM_ARRAY_TASK_ID"), ("restart_count", "SLURM_RESTART_COUNT"))


def job_info(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """Job id, array job id and index, node, partition, restart count; None outside Slurm."""
    env = os.environ if environ is None else environ
    if not env.get("SLURM_JOB_ID"):
        return None
    info: dict[str, Any] = {key: env.get(name) or None for key, name in _TEXT_FIELDS}
    for key, name in _INT_FIELDS:
        value = env.get(name, "")
        info[key] = int(value) if value.isdigit() else None
    if info["restart_count"] is None:
        info["restart_count"] = 0  # Slurm sets it only from the first requeue on
    return info


def describe(info: dict[str, Any]) -> str:
    """One line for ``naga show``: ``job 812_3 (id 815) on node1, partition gpu, requeued 1x``."""
    job = f"job {info.get('job_id')}"
    if info.get("array_job_id") and info.get("array_task_id") is not None:
        job = f"job {info['array_job_id']}_{info['array_task_id']} (id {info.get('job_id')})"
    if info.get("node"):
        job += f" on {info['node']}"
    parts = [job]
    if info.get("partition"):
        parts.append(f"partition {info['partition']}")
    if info.get("restart_count"):
        parts.append(f"requeued {info['restart_count']}x")
    return ", ".join(parts)
