"""Hand a sweep to Slurm: a submitit job array whose tasks are sweep workers.

Contract (shared with :mod:`naga.parallel.worker` and the ``--slurm_config``/``naga sweep
--slurm`` front ends)::

    submit_sweep(sweep_dir, slurm_config, *, n_workers, after, dry_run) -> str

- ``slurm_config`` names a resource profile, ``FILE`` or ``FILE:NAME``
  (:mod:`naga.parallel.profiles`).
- One Slurm job array of ``n_workers`` workers (default: the profile's ``workers``, else one
  per undone task, but no more than ``array_parallelism``, the number running at once). Each
  array task calls ``run_worker(sweep_dir)`` through
  :class:`naga.parallel.slurm_job.SweepWorker`, a submitit ``Checkpointable``: a preempted or
  timed-out job is requeued and its next start takes only the undone tasks.
- ``after``: Slurm job ids (``812``, ``812_3``) or sweep ids become an ``afterok``
  dependency, with ``--kill-on-invalid-dep=yes`` so a job whose stage failed is cancelled
  rather than left pending forever. A sweep stands for its latest submission (from its
  ``sweep.json``), or for nothing when all its tasks completed already.
- Returns the Slurm job id of the array (``dry_run``: the text of what would be submitted,
  nothing submitted). The submission is appended to ``sweep.json`` under ``slurm.jobs``
  (``job_id``, ``array_size``, ``profile``, ``dependency``, ``submitted_at``, ``log_dir``), so
  ``--after SWEEP`` and later inspection find it. submitit's own files (the sbatch script, the
  pickled worker, one log per array task) live in ``<sweep_dir>/slurm/``, which must be on a
  filesystem the nodes share, as the store is.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SlurmError, StoreError, UsageError, describe_os_error
from ..integrations import require_extra
from ..notices import Reporter, log_notice
from .endings import is_terminal
from .profiles import Profile, load_profile
from .sweepdir import Sweep, load_sweep, resolve_sweep

__all__ = ["SlurmError", "job_ids_of_sweep", "submit_sweep"]

_JOB_ID = re.compile(r"\d+(?:_\d+)?")
_ENDED_BADLY = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"}


def submit_sweep(
    sweep_dir: str | os.PathLike[str],
    slurm_config: str,
    *,
    n_workers: int | None,
    after: Sequence[str],
    dry_run: bool,
    report: Reporter = log_notice,
) -> str:
    """Submit the sweep's workers as a Slurm job array; the job id, or the dry-run text.
    ``report`` receives the workers' notices on the nodes (pickled with them: a function of a
    module, which the nodes import again)."""
    sweep = load_sweep(sweep_dir)
    profile = load_profile(slurm_config)
    workers = _worker_count(n_workers, profile, sweep)
    waits = _waits(after, sweep)
    dependency = "afterok:" + ":".join(dict.fromkeys(job for _, job in waits)) if waits else None
    parameters = _parameters(profile, sweep.id, dependency)
    if dry_run:
        return _dry_run_text(sweep, profile, workers, parameters)
    for given, job in waits:
        _check_can_wait_for(given, job)
    job_id = _submit(sweep, profile, workers, parameters, report)
    _record_submission(sweep, job_id, workers, profile, dependency)
    return job_id


def job_ids_of_sweep(sweep: Sweep) -> list[str]:
    """The Slurm job ids a sweep was submitted as, oldest first."""
    jobs = (sweep.doc.get("slurm") or {}).get("jobs") or []
    return [str(job["job_id"]) for job in jobs if isinstance(job, dict) and job.get("job_id")]


# -- what to submit ---------------------------------------------------------------------------


def _worker_count(n_workers: int | None, profile: Profile, sweep: Sweep) -> int:
    if n_workers is not None:
        if n_workers < 1:
            raise UsageError(f"the number of Slurm workers must be >= 1, got {n_workers}")
        return n_workers
    if profile.workers is not None:
        return profile.workers
    # workers pull tasks until none is left: more workers than may run at once would only
    # start, find the pool empty and exit
    undone = sum(not is_terminal(state) for state in sweep.pool.state().values())
    at_once = int(profile.parameters.get("array_parallelism", undone))
    return max(1, min(undone, at_once))


def _waits(after: Sequence[str], sweep: Sweep) -> list[tuple[str, str]]:
    """(what was given, Slurm job id) for each job ``sweep`` is to wait for."""
    waits: list[tuple[str, str]] = []
    for item in after:
        item = item.strip()
        if _JOB_ID.fullmatch(item):
            waits.append((item, item))
        else:
            waits += [(item, job) for job in _sweep_job_ids(item, sweep)]
    return waits


def _check_can_wait_for(given: str, job: str) -> None:
    """Slurm counts a dependency on a job it does not know as satisfied (it may have been
    forgotten after ending), so a typo would start the sweep at once; and one on a job that
    failed is never satisfied. Both are refused here."""
    import subprocess

    try:
        found = subprocess.run(
            ["scontrol", "-o", "show", "job", job], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmError(f"--after {given}: cannot ask Slurm about job {job}: {exc}") from None
    if found.returncode != 0:
        if "Invalid job id" in found.stderr:
            raise UsageError(
                f"--after {given}: Slurm has no job {job} (a typo, or it ended long enough ago"
                " to be forgotten: if it succeeded, leave --after out)"
            )
        reason = _first_line(found.stderr.replace("slurm_load_jobs error:", "")) or "failed"
        raise SlurmError(f"--after {given}: cannot ask Slurm about job {job}: {reason.strip()}")
    ended = sorted(set(re.findall(r"\bJobState=(\S+)", found.stdout)) & _ENDED_BADLY)
    if ended:
        raise UsageError(
            f"--after {given}: Slurm job {job} ended {ended[0]}, so a job waiting on it would"
            " never start; run that stage again first"
        )


def _sweep_job_ids(selector: str, waiting: Sweep) -> list[str]:
    """What waiting for a sweep means: nothing when all its tasks completed already; else its
    latest submission (an earlier one may have failed and been launched again since)."""
    try:
        sweep = resolve_sweep(selector, waiting.doc["store"])
    except UsageError as exc:
        raise UsageError(f"--after {selector}: not a Slurm job id, and {exc}") from None
    if sweep.id == waiting.id:
        raise UsageError(
            f"--after {selector}: that is the sweep being submitted ({sweep.id});"
            " give the id of the sweep to wait for"
        )
    if all(state == "completed" for state in sweep.pool.state().values()):
        return []
    found = job_ids_of_sweep(sweep)
    if not found:
        raise UsageError(
            f"--after {sweep.id}: that sweep has tasks not completed and was never submitted"
            " to Slurm, so no job would ever end it; submit it first (--slurm_config, or"
            " naga sweep --slurm)"
        )
    return found[-1:]


def _parameters(profile: Profile, sweep_id: str, dependency: str | None) -> dict[str, Any]:
    parameters = {"job_name": f"naga-{sweep_id}", **profile.parameters}
    if dependency is not None:
        parameters["dependency"] = dependency
        extra = dict(parameters.get("additional_parameters") or {})
        extra.setdefault("kill-on-invalid-dep", "yes")
        parameters["additional_parameters"] = extra
    return parameters


# -- submitting -----------------------------------------------------------------------------


def _folder(sweep: Sweep) -> Path:
    return Path(sweep.files.slurm)


def _dry_run_text(sweep: Sweep, profile: Profile, workers: int, parameters: dict[str, Any]) -> str:
    submitit_slurm = require_extra("submitit.slurm.slurm", "slurm")
    folder = _folder(sweep)
    command = " ".join(
        [shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))]
    )
    array = {"map_count": workers} if workers > 1 else {}
    try:
        script = submitit_slurm._make_sbatch_string(
            command=command, folder=folder, **array, **parameters
        )
    except (TypeError, ValueError) as exc:
        raise SlurmError(f"slurm profile {profile.source}: {exc}") from None
    header = [
        f"# dry run: nothing submitted. sweep {sweep.id}, profile {profile.source},"
        f" {workers} worker(s)",
        f"# each worker runs naga.parallel.worker.run_worker({sweep.dir!r})",
    ]
    return "\n".join(header) + "\n" + str(script)


def _submit(
    sweep: Sweep, profile: Profile, workers: int, parameters: dict[str, Any], report: Reporter
) -> str:
    submitit = require_extra("submitit", "slurm")
    from .slurm_job import SweepWorker

    try:
        executor = submitit.SlurmExecutor(
            folder=_folder(sweep), max_num_timeout=profile.max_requeues
        )
    except RuntimeError:  # submitit looks for srun on PATH
        raise SlurmError(
            "cannot submit to Slurm from this machine: srun and sbatch are not on PATH"
            " (submit from a login node, or --dry-run to see the job)"
        ) from None
    try:
        executor.update_parameters(**parameters)
    except ValueError as exc:
        raise SlurmError(f"slurm profile {profile.source}: {_first_line(str(exc))}") from None
    try:
        # submitit echoes sbatch's stderr when it fails; the error below says it in one line
        with contextlib.redirect_stderr(io.StringIO()):
            jobs = executor.submit_array([SweepWorker(sweep.dir, report) for _ in range(workers)])
    except (submitit.core.utils.FailedJobError, OSError) as exc:
        raise SlurmError(
            f"sbatch refused the job ({profile.source}): {_sbatch_error(exc)}"
        ) from None
    return str(jobs[0].job_id).split("_")[0]


def _sbatch_error(exc: BaseException) -> str:
    """sbatch's own complaint, without submitit's wrapping."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        if "sbatch: error:" in line:
            reason = line.split("sbatch: error:", 1)[1].strip()
            return reason.removeprefix("Batch job submission failed:").strip()
    return lines[-1] if lines else type(exc).__name__


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _record_submission(
    sweep: Sweep, job_id: str, workers: int, profile: Profile, dependency: str | None
) -> None:
    """Append the submission to ``sweep.json`` (read again: another launch may have added
    one meanwhile), written atomically."""
    path = sweep.files.definition
    document = load_sweep(sweep.dir).doc
    slurm = document.setdefault("slurm", {})
    slurm.setdefault("jobs", []).append(
        {
            "job_id": job_id,
            "array_size": workers,
            "profile": profile.source,
            "dependency": dependency,
            "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "log_dir": str(_folder(sweep)),
        }
    )
    temporary = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(json.dumps(document, indent=1) + "\n")
        os.replace(temporary, path)
    except OSError as exc:
        raise StoreError(
            f"submitted Slurm job {job_id}, but could not record it in {path}"
            f" ({describe_os_error(exc)}): --after {sweep.id} will not know it"
        ) from None
    sweep.doc = document
