"""What each Slurm array task runs: a sweep worker that submitit can checkpoint and requeue.

submitit pickles a :class:`SweepWorker` into the job's folder and calls it on the node. Slurm
signals a job (``--signal=USR2@<signal_delay>``) before its time limit, and a preempting
scheduler or an admin can send the same signal (``scancel --signal=USR2``). Slurm sends it to
every process of the job, the task's own command included, so the worker takes it off the
normal path (:class:`StopSignal`): the worker and its commands ignore it, and a listener
process hears it. When it comes, the worker interrupts the task in progress as Ctrl-C would
(the run ends ``cancelled``, the task goes back to the pool), then hands over to submitit's own
handler, which calls ``checkpoint`` (as ``Checkpointable``'s default: the same worker again) and
requeues the job. The requeued job calls ``run_worker`` again, and the pool gives it only the
tasks not done yet. A job requeued or killed without warning (``scontrol requeue``, a lost
node) loses its task in progress the same way: the pool sees that the claim's job restarted and
hands the task out again.

A worker that saw a task fail raises at the end, so its Slurm job ends FAILED and ``afterok``
dependents (``--after``) are cancelled instead of running on a broken stage.

Imported only inside Slurm jobs and by :mod:`naga.parallel.slurm` (it needs submitit).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import submitit

from ..capture.slurm import LOG_ENVS
from ..errors import SweepTasksFailed
from ..notices import Reporter, log_notice


class Preempted(KeyboardInterrupt):
    """Slurm asked the job to stop (time limit near, preemption): interrupts the task at hand,
    which the SDK and the worker treat as an interruption (Ctrl-C), not a failure. The run
    records the signal Slurm sent (it reaches the main thread relayed as SIGINT)."""

    signal_name = "SIGUSR2"


# Waits for USR2 in a process of its own: exit status 0 means the signal came.
_LISTENER = (
    "import os, signal\n"
    "signal.signal(signal.SIGUSR2, lambda *_: os._exit(0))\n"
    "while True:\n"
    "    signal.pause()\n"
)


class StopSignal:
    """Slurm's USR2, heard by a small listener process instead of the worker.

    The worker and the commands it starts ignore USR2 (children inherit that), so neither a
    command nor naga's signal forwarding acts on it; the listener, a process of the same job,
    gets it from Slurm, and a thread here then interrupts the main thread with SIGINT, raised as
    :class:`Preempted` (or forwarded to the task's command while one runs, which ends it
    ``cancelled``).
    """

    def __init__(self) -> None:
        import subprocess
        import sys

        self.received = False
        self.closed = False  # the worker is done: a late signal has nothing left to stop
        self._main = threading.get_ident()
        self._listener = subprocess.Popen([sys.executable, "-c", _LISTENER])
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        signal.signal(signal.SIGINT, self._on_sigint)
        threading.Thread(target=self._wait, name="naga-slurm-stop", daemon=True).start()

    def _wait(self) -> None:
        if self._listener.wait() == 0:
            from ..ending import WITNESS

            self.received = True
            WITNESS.relayed(signal.SIGUSR2, via=signal.SIGINT)  # the run records SIGUSR2
            signal.pthread_kill(self._main, signal.SIGINT)

    def _on_sigint(self, _signum: int, _frame: Any) -> None:
        if self.received:
            if self.closed:
                return
            raise Preempted("Slurm asked the job to stop (SIGUSR2)")
        raise KeyboardInterrupt

    def close(self) -> None:
        self.closed = True
        if self._listener.poll() is None:
            self._listener.kill()
            self._listener.wait()


class SweepWorker(submitit.helpers.Checkpointable):
    """Run the sweep in ``sweep_dir`` until its pool is empty; requeued as is."""

    def __init__(self, sweep_dir: str, report: Reporter = log_notice) -> None:
        self.sweep_dir = sweep_dir
        self.report = report

    def __call__(self) -> int:
        from .worker import run_worker

        # runs started by this worker record where its logs are (naga show: the Slurm lines)
        paths = submitit.JobEnvironment().paths
        os.environ[LOG_ENVS[0]], os.environ[LOG_ENVS[1]] = str(paths.stdout), str(paths.stderr)
        submitit_handler = signal.getsignal(signal.SIGUSR2)
        stop = StopSignal()
        # scancel, a preemption or the time limit: Slurm's SIGTERM, then SIGKILL. submitit
        # bypasses SIGTERM; the worker ends the task at hand cancelled and stops instead of
        # being killed mid-task with its run left to be judged crashed.
        from ..sdk.termination import raise_terminated

        bypass = signal.signal(signal.SIGTERM, raise_terminated)
        try:
            ran = run_worker(self.sweep_dir, report=getattr(self, "report", log_notice))
            stop.closed = True
        except BaseException:
            # whatever the interruption became on its way out (Lightning turns it into
            # sys.exit(1)): Slurm asked the job to stop, so it is checkpointed and requeued
            if not stop.received or not callable(submitit_handler):
                raise
            submitit_handler(signal.SIGUSR2, None)  # checkpoint, requeue, exit
            raise
        finally:
            signal.signal(signal.SIGTERM, bypass)
            stop.close()
        _raise_if_failed(self.sweep_dir)
        return ran


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
