"""What each Slurm array task runs: a sweep worker that submitit can checkpoint and requeue.

submitit pickles a :class:`SweepWorker` into the job's folder and calls it on the node. Slurm
signals a job (``--signal=USR2@<signal_delay>``) before its time limit, and a preempting
scheduler or an admin can send the same signal (``scancel --signal=USR2``). The worker first
ends the task in progress as an interruption (its run ``cancelled``, the task released to the
pool), then hands over to submitit's own handler, which calls ``checkpoint`` (as
``Checkpointable``'s default: the same worker again) and requeues the job. The requeued job calls
``run_worker`` again, and the pool gives it only the tasks not done yet. A job requeued or
killed without warning (``scontrol requeue``, a lost node) loses its task in progress the same
way: the pool sees that the claim's job restarted and hands the task out again.

A worker that saw a task fail raises at the end, so its Slurm job ends FAILED and ``afterok``
dependents (``--after``) are cancelled instead of running on a broken stage.

Imported only inside Slurm jobs and by :mod:`naga.parallel.slurm` (it needs submitit).
"""

from __future__ import annotations

import os
import signal
from typing import Any

import submitit

from ..capture.slurm import LOG_ENVS
from ..errors import NagaError


class SweepTasksFailed(NagaError):
    """Tasks of the sweep failed (their runs hold the details)."""


class Preempted(KeyboardInterrupt):
    """Slurm asked the job to stop (time limit near, preemption): interrupts the task at hand,
    which the SDK and the worker treat as an interruption, not a failure."""


class SweepWorker(submitit.helpers.Checkpointable):
    """Run the sweep in ``sweep_dir`` until its pool is empty; requeued as is."""

    def __init__(self, sweep_dir: str) -> None:
        self.sweep_dir = sweep_dir

    def __call__(self) -> int:
        from .worker import run_worker

        # runs started by this worker record where its logs are (naga show: the Slurm lines)
        paths = submitit.JobEnvironment().paths
        os.environ[LOG_ENVS[0]], os.environ[LOG_ENVS[1]] = str(paths.stdout), str(paths.stderr)
        submitit_handler = signal.getsignal(signal.SIGUSR2)
        signal.signal(signal.SIGUSR2, _raise_preempted)
        try:
            ran = run_worker(self.sweep_dir)
        except Preempted:
            signal.signal(signal.SIGUSR2, submitit_handler)
            if callable(submitit_handler):  # checkpoint, requeue, exit
                submitit_handler(signal.SIGUSR2, None)
            raise
        _raise_if_failed(self.sweep_dir)
        return ran


def _raise_preempted(signum: int, _frame: Any) -> None:
    raise Preempted(f"Slurm sent {signal.Signals(signum).name}")


def _raise_if_failed(sweep_dir: str) -> None:
    from .sweepdir import load_sweep

    sweep = load_sweep(sweep_dir)
    failed = {
        task: outcome
        for task, outcome in sweep.pool.outcomes().items()
        if outcome.get("status") != "completed"
    }
    if failed:
        runs = ", ".join(str(o.get("run_id")) for o in failed.values())
        raise SweepTasksFailed(
            f"{len(failed)} task(s) of sweep {sweep.id} failed (runs {runs});"
            f" see naga ls --tag {sweep.tag}"
        )
