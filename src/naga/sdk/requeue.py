"""A Slurm job that is requeued continues its runs instead of starting new ones.

Both ``naga.run()`` and ``naga run`` do this (each continues only runs it recorded itself).
Slurm restarts a requeued job (``scontrol requeue``, preemption with requeue, Lightning's
auto-requeue) from the top of its script, with the same job id and array index and a higher
``SLURM_RESTART_COUNT``. Each run that ``naga.run()`` opens inside a job is noted as
``<store>/jobs/<job>/<n>-<name>``: the n-th run of that name the job opened. On a restart, the
n-th run of the same name continues that run as a new attempt (``naga.sdk.history``) unless it
completed: a job that loops over configs continues the one it was in, not the first.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ..store.layout import StoreLayout

_opened: dict[str, int] = {}  # runs opened in this process, by name


def _job_key(info: dict[str, Any]) -> str | None:
    if info.get("array_job_id") and info.get("array_task_id") is not None:
        return f"{info['array_job_id']}_{info['array_task_id']}"
    job = info.get("job_id")
    return str(job) if job else None


def _marker(layout: StoreLayout, info: dict[str, Any], name: str | None) -> str | None:
    key = _job_key(info)
    if key is None or not all(c.isdigit() or c == "_" for c in key):
        return None
    label = name or ""
    ordinal = _opened.get(label, 0)
    digest = hashlib.sha1(label.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return os.path.join(layout.root, "jobs", key, f"{ordinal}-{digest}")


def earlier_attempt(
    layout: StoreLayout, name: str | None, source: str | None = "sdk"
) -> str | None:
    """On a requeued job: the run that this job's earlier attempt opened at the same place,
    when it did not complete; None otherwise (and always outside Slurm). ``source``: "sdk"
    for ``naga.run()``, None for ``naga run``."""
    from ..capture import slurm
    from ..store.files import load_meta

    info = slurm.job_info()
    if not info or not info.get("restart_count"):
        return None
    marker = _marker(layout, info, name)
    if marker is None:
        return None
    try:
        with open(marker, encoding="utf-8") as f:
            run_id = f.read().strip()
    except (OSError, ValueError):
        return None
    if not run_id.isalnum():
        return None
    try:
        meta = load_meta(layout, run_id)
    except Exception:  # removed, unreadable: start a new run
        return None
    return run_id if meta.get("status") != "completed" and meta.get("source") == source else None


def note_opened(layout: StoreLayout, name: str | None, run_id: str) -> None:
    """Remember which run this job opened here (best effort: a run is never stopped by it)."""
    from ..capture import slurm

    info = slurm.job_info()
    marker = _marker(layout, info, name) if info else None
    _opened[name or ""] = _opened.get(name or "", 0) + 1
    if marker is None:
        return
    try:
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker + ".tmp", "w", encoding="utf-8") as f:
            f.write(run_id)
        os.replace(marker + ".tmp", marker)
    except OSError:
        pass


__all__ = ["earlier_attempt", "note_opened"]
