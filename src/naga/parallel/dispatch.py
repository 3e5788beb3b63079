"""Where a prepared sweep's tasks go: printed (dry run), submitted to Slurm, or run here, in
this process or in joblib worker processes. Shared by ``--tasks`` and ``naga sweep``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ..errors import UsageError
from .sweepdir import Sweep


def dispatch(
    sweep: Sweep,
    *,
    reopened: bool,
    n_jobs: int | None,
    slurm: str | None,
    after: Sequence[str] = (),
    dry_run: bool = False,
    program: Any = None,
    metrics: Sequence[str] = (),
) -> int:
    """The exit code: 0 when every task completed (or was submitted or printed), else 1."""
    if slurm:
        return submit(sweep, slurm, n_workers=n_jobs, after=after, dry_run=dry_run)
    if dry_run:
        from .report import describe_tasks

        print(describe_tasks(sweep))
        return 0
    return run_locally(sweep, n_jobs or 1, program=program, reopened=reopened, metrics=metrics)


def submit(
    sweep: Sweep, slurm: str, *, n_workers: int | None, after: Sequence[str], dry_run: bool
) -> int:
    try:
        from .slurm import submit_sweep
    except ModuleNotFoundError as exc:
        if exc.name != "naga.parallel.slurm":
            raise
        raise UsageError("Slurm submission is not available in this version of naga") from None
    result = submit_sweep(sweep.dir, slurm, n_workers=n_workers, after=after, dry_run=dry_run)
    if dry_run:
        print(result)
    else:
        print(
            f"naga: sweep {sweep.id}: submitted Slurm job {result}; follow it with"
            f" `naga ls --sweep {sweep.id}`",
            file=sys.stderr,
        )
    return 0


def run_locally(
    sweep: Sweep,
    n_jobs: int,
    *,
    program: Any = None,
    reopened: bool = False,
    metrics: Sequence[str] = (),
) -> int:
    """Run the sweep's free tasks here: in this process, or in ``n_jobs`` joblib processes."""
    from .report import print_outcome
    from .worker import run_worker

    pending = sum(state != "completed" for state in sweep.pool.state().values())
    done = len(sweep.tasks) - pending
    if pending == 0:
        print(
            f"naga: sweep {sweep.id}: all {done} tasks completed before; nothing to run"
            " (a new sweep: --new-sweep, or naga sweep --new)",
            file=sys.stderr,
        )
        return print_outcome(sweep, metrics)
    resumed = f", {done} completed before" if reopened and done else ""
    workers = max(1, min(n_jobs, pending))
    print(
        f"naga: sweep {sweep.id}: {len(sweep.tasks)} tasks{resumed},"
        f" {workers} worker{'s' if workers > 1 else ''}",
        file=sys.stderr,
    )
    if workers == 1:
        run_worker(sweep.dir, program=program)
    else:
        _run_in_processes(sweep, workers, program)
    return print_outcome(sweep, metrics)


def _run_in_processes(sweep: Sweep, workers: int, program: Any) -> None:
    """This process is one of the workers and joblib's process pool (loky) runs the others:
    one process start and one import of naga and the program fewer than N new processes.
    A helper that dies (SIGKILL, the OOM killer) loses only its task in progress, which the
    workers still running take over; the end says so in one line."""
    from concurrent.futures import BrokenExecutor

    from joblib.externals.loky import get_reusable_executor  # type: ignore[import-untyped]

    from .worker import run_worker

    executor = get_reusable_executor(max_workers=workers - 1)
    helpers = [executor.submit(run_worker, sweep.dir) for _ in range(workers - 1)]
    try:
        run_worker(sweep.dir, program=program)
        for helper in helpers:
            helper.result()
    except BrokenExecutor as exc:
        print(f"naga: warning: a worker process died ({_first_line(exc)})", file=sys.stderr)
        run_worker(sweep.dir, program=program)  # what it left, if this worker was done first
    except BaseException:
        executor.shutdown(wait=False, kill_workers=True)
        raise


def _first_line(exc: BaseException) -> str:
    import re

    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    found = re.search(r"exit codes? of the workers?( are|:)? \{?([^}]*)\}?", str(exc))
    return f"exit codes {found.group(2).strip()}" if found else text
