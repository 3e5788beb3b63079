"""``NagaCallback``: each job of a Hydra (or hydra-zen) app recorded as a naga run.

Added the Hydra way, in the app's config or on the command line::

    hydra:
      callbacks:
        naga:
          _target_: naga.integrations.hydra.NagaCallback

    python app.py -m lr=0.1,0.01 +hydra.callbacks.naga._target_=naga.integrations.hydra.NagaCallback

Each job's run gets the job's resolved config as params, plus ``hydra.output_dir``,
``hydra.overrides``, ``hydra.job.name`` (and, in a multirun, ``hydra.job.num`` and
``hydra.sweep.id``/``dir``); its ``.hydra/`` files and job log as artifacts under ``hydra/``;
and its status: completed, or failed with the job's exception and traceback. The run is open
while the job runs, so ``naga.log(...)`` in the task function logs into it.

The jobs of one multirun share the tag ``sweep:<id>`` (``naga ls --sweep ID``). The id is
made once, when the multirun starts (``hydra-<time>-<hash of the sweep dir>``: sortable, and
unique even when a sweep dir is reused), and travels to the jobs inside the callback, which Hydra's
launchers hand to every job, in this process or in others (joblib, submitit).

Where the runs go: a single run under ``naga run`` is the wrapper's run itself; a multirun
under ``naga run`` records each job as a child of the wrapper's run; inside
``with naga.run():`` jobs are children of that run; otherwise each job is a run of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import require_extra
from .plain import plain_params

if TYPE_CHECKING:
    from hydra.core.utils import JobReturn
    from hydra.experimental.callback import Callback
    from omegaconf import DictConfig

    from ..sdk.run import Run
else:
    Callback = require_extra("hydra.experimental.callback", "hydra").Callback

SWEEP_TAG = "sweep:{}"
_log = logging.getLogger(__name__)


class NagaCallback(Callback):
    """Records every Hydra job as a naga run; ``tags`` are added to each job's run."""

    def __init__(self, tags: list[str] | None = None) -> None:
        self.tags = [str(tag) for tag in tags or []]
        self.sweep_id: str | None = None
        self._job_run: Run | None = None
        self._sweep_run: Run | None = None  # the wrapper's run, under `naga run --multirun`

    def __getstate__(self) -> dict[str, Any]:
        """What a launcher sends to jobs in other processes: the sweep id and tags, no run."""
        return {**self.__dict__, "_job_run": None, "_sweep_run": None}

    # -- a multirun --------------------------------------------------------------------------

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = os.path.abspath(str(config.hydra.sweep.dir))
        self.sweep_id = new_sweep_id(sweep_dir)
        _log.info("naga: sweep %s: naga ls --sweep %s", self.sweep_id, self.sweep_id)
        if os.environ.get("NAGA_RUN_ID") and _open_run() is None:
            self._sweep_run = _start_run(config, name=None, tags=[])  # attaches: the parent
            self._sweep_run.log_params({"hydra": {"sweep": _sweep(self.sweep_id, sweep_dir)}})

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._sweep_run is not None:
            self._sweep_run.__exit__(None, None, None)
            self._sweep_run = None

    # -- one job -----------------------------------------------------------------------------

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        hydra = config.hydra
        multirun = str(hydra.mode) == "RunMode.MULTIRUN"
        name = _job_name(hydra.job)
        tags = list(self.tags)
        job: dict[str, Any] = {"name": str(hydra.job.name)}
        extra: dict[str, Any] = {
            "output_dir": str(hydra.runtime.output_dir),
            "overrides": [str(o) for o in hydra.overrides.task],
            "job": job,
        }
        if multirun:
            sweep_dir = os.path.abspath(str(hydra.sweep.dir))
            sweep_id = self.sweep_id or sweep_id_of(sweep_dir)
            job["num"] = int(hydra.job.num)
            name = f"{name}-{job['num']}"
            tags.append(SWEEP_TAG.format(sweep_id))
            extra["sweep"] = _sweep(sweep_id, sweep_dir)
            if self._sweep_run is None and os.environ.get("NAGA_RUN_ID") and _open_run() is None:
                # a job process of the launcher's own (joblib, submitit) under `naga run`: attach
                # to the wrapper's run here too, so that the job is its child
                self._sweep_run = _start_run(config, name=None, tags=[])
        run = _start_run(config, name=name, tags=tags)
        run.log_params({**plain_params(_task_config(config)), "hydra": extra})
        self._job_run = run

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        run, self._job_run = self._job_run, None
        if run is None:
            return
        try:
            _attach_hydra_files(run, config)
        finally:
            _end_like_the_job(run, job_return)


def _job_name(job: Any) -> str:
    """Hydra names a job after the task function's file; a hydra-zen app's task is wrapped in
    hydra-zen's own module (``_implementations``), so there the config's name says more."""
    name = str(job.name)
    if name.startswith("_") and job.get("config_name"):
        return str(job.config_name)
    return name


def new_sweep_id(sweep_dir: str) -> str:
    """``hydra-261122-101503-3fa2``: when the multirun started, and which sweep dir it writes
    (``hydra-`` keeps it apart from the ``sw-`` ids of naga's own sweeps)."""
    stamp = time.strftime("%y%m%d-%H%M%S")
    digest = hashlib.sha1(f"{sweep_dir}\0{time.time_ns()}\0{os.getpid()}".encode()).hexdigest()
    return f"hydra-{stamp}-{digest[:4]}"


def sweep_id_of(sweep_dir: str) -> str:
    """The id of a job whose callback did not see the multirun start: its sweep dir's hash."""
    return "hydra-" + hashlib.sha1(sweep_dir.encode()).hexdigest()[:8]


def _sweep(sweep_id: str, sweep_dir: str) -> dict[str, str]:
    return {"id": sweep_id, "dir": sweep_dir}


def _open_run() -> Run | None:
    from ..sdk.api import active_run

    return active_run()


def _start_run(config: DictConfig, name: str | None, tags: list[str]) -> Run:
    """Enter a naga run for the job: as the innermost run, so the task's ``naga.log`` finds it.
    Created from the directory the app was started in (Hydra may have moved into the job's
    output dir), so the run finds the same store and git repository as the app."""
    from ..sdk.api import run as naga_run

    with _working_dir(str(config.hydra.runtime.cwd)):
        entered: Run = naga_run(name=name, tags=tags).__enter__()
    return entered


@contextlib.contextmanager
def _working_dir(path: str) -> Iterator[None]:
    here = os.getcwd()
    if os.path.abspath(path) == here or not os.path.isdir(path):
        yield
        return
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(here)


def _task_config(config: DictConfig) -> Any:
    """The config the task function receives: the job's, without the ``hydra`` node."""
    import copy

    from omegaconf import open_dict, read_write

    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        del task["hydra"]
    return task


def _attach_hydra_files(run: Run, config: DictConfig) -> None:
    """``.hydra/`` (config.yaml, hydra.yaml, overrides.yaml) and the job's log, as artifacts."""
    output_dir = Path(str(config.hydra.runtime.output_dir))
    subdir = config.hydra.output_subdir
    if subdir is not None and (output_dir / str(subdir)).is_dir():
        run.log_artifact(output_dir / str(subdir), name="hydra")
    job_log = output_dir / f"{config.hydra.job.name}.log"
    if job_log.is_file():
        run.log_artifact(job_log, name=f"hydra/{job_log.name}")


def _end_like_the_job(run: Run, job_return: JobReturn) -> None:
    from hydra.core.utils import JobStatus

    if job_return.status == JobStatus.FAILED and isinstance(
        job_return._return_value, BaseException
    ):
        exc = job_return._return_value
        run.__exit__(type(exc), exc, exc.__traceback__)
    elif job_return.status == JobStatus.FAILED:
        run.fail("the job failed")
        run.__exit__(None, None, None)
    else:
        run.__exit__(None, None, None)


__all__ = ["NagaCallback"]
