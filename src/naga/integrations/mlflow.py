"""naga and MLflow: ``naga.mlflow_lock``, and what ``naga export mlflow`` shares with it.

``mlflow_lock(path)`` gives a stage directory one MLflow run per attempt. The directory's
absolute path is the *logical run id* (tag ``naga.logical_run_id``): running the stage again
starts a new MLflow run and, when it ends, marks the one it replaces
``naga.run_status=deprecated`` with ``naga.superseded_by_run_id``, even when the new attempt
failed, since the directory now holds the new attempt's files, not the old one's. So a search
for ``tags.naga.run_status = 'active'`` shows exactly one MLflow run per stage directory.

The stage's ``run.lock`` and ``experiment.log`` go up as artifacts when the block ends, and the
lock's config as params. Under a naga run the MLflow run gets the tag ``naga.id``, the key
``naga export mlflow`` finds runs by, and the metrics the naga run logged (``naga.log``) when
the block ends, read from its files (so they go whoever ended the naga run first, with those
of its DataLoader workers): exporting that naga run later adds to the same MLflow run what came
after, never a second run.

The tracking store is never on the training's path. Every call here goes through
``tracker_calls`` (no MLflow retries, a few seconds' timeout) and any failure of the store or
of MLflow itself is one warning per block: the block runs without an MLflow run, its exit
finishes the run (creating it then if the entry could not), trying again for a few seconds,
and gives up leaving the rest to the next export. The order at exit matters: the metrics and
params before the status (a run that reads FINISHED is complete), and the ``run.lock`` of a
``clicfg`` main after clicfg has written its ending (``lockfile.when_final``).

mlflow is imported through ``mlflow_store.load_mlflow`` only, inside functions, so naga without
the extra starts as fast as ever and says what to install when the bridge is used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from ..errors import MlflowError, NagaError
from ..text import one_line
from .mlflow_store import (
    ERROR_TAG,
    LOG_FILE,
    LOGICAL_ID,
    MAX_TAG_VALUE,
    NAGA_ID,
    RUN_STATUS,
    SUPERSEDED_BY,
    distinct_params,
    fault_line,
    load_mlflow,
    log_params,
    may_pass,
    mlflow_params,
    mlflow_status,
    ready_store,
    search_all,
    tracker_calls,
)

__all__ = ["MlflowError", "block_ending", "mlflow_lock"]


# How long mlflow_lock's exit keeps trying a tracking store that fails, and the pause between
# tries: long enough for a server restart or a database busy with another writer, short
# enough that a training never waits on MLflow.
EXIT_RETRY_S = 5.0
RETRY_PAUSE_S = 1.0

log = logging.getLogger("naga")


def block_ending(exc: BaseException | None) -> str:
    """The naga status of an ``mlflow_lock`` block that ended with ``exc`` (None: returned),
    as naga.ending decides it: a stop signal is ``cancelled`` (KILLED), whatever Lightning
    turned it into (``sys.exit(1)`` after Ctrl-C, its code-less SIGTERMException)."""
    from ..ending import decide

    return decide(exc).status


def mlflow_lock(path: str | os.PathLike[str], runlock_file: str = "run.lock") -> MlflowLock:
    """``with naga.mlflow_lock(cfg.save_dir) as mlflow_run:``: one MLflow run for this attempt
    at the stage in ``path``, which supersedes the stage's previous MLflow run when it ends.

    The run is MLflow's active run inside the block (``mlflow.log_metric`` goes to it); at the
    end ``path/run.lock`` (``runlock_file``) and ``path/experiment.log`` are logged as
    artifacts, the lock's config as params and, under a naga run, what it logged with
    ``naga.log``; an escaping exception marks the run FAILED (KILLED for Ctrl-C) with the error
    in the tag ``naga.error`` and propagates. The tracking server and experiment are MLflow's own
    settings (``MLFLOW_TRACKING_URI``, ``mlflow.set_experiment``).

    MLflow is never on the training's path: a tracking store that is down or fails is one
    warning, the block runs (``mlflow_run`` is then None) and ends as it would have; the exit
    tries again for a few seconds, and ``naga export mlflow`` sends whatever is still missing.
    """
    return MlflowLock(path, runlock_file)


class MlflowLock:
    def __init__(self, path: str | os.PathLike[str], runlock_file: str = "run.lock") -> None:
        self.path = Path(os.fspath(path)).expanduser()
        self.logical_id = os.path.abspath(self.path)
        self.runlock_file = runlock_file
        self.run: Any = None
        self.previous: list[str] | None = None
        self._logged_params: set[str] = set()
        self._naga: Any = None  # the naga run open when the block began
        self._naga_dir: str | None = None
        self._started_ms = 0
        self._warned = False
        self._lock_watched = False

    @property
    def run_name(self) -> str:
        """The stage's name: the naga run's (clicfg's ``run=``, ``naga run --name``), else the
        stage directory's last part."""
        if self._naga_dir is not None:
            name = _recorded_name(self._naga_dir)
            if name:
                return name
        return self.path.name or self.logical_id

    def tags(self) -> dict[str, str]:
        tags = {LOGICAL_ID: self.logical_id, RUN_STATUS: "active"}
        if self._naga is not None:
            tags[NAGA_ID] = str(self._naga.id)
        return tags

    # -- entry --------------------------------------------------------------------------------

    def __enter__(self) -> Any:
        mlflow = load_mlflow()
        self._started_ms = int(time.time() * 1000)
        self._naga = _current_naga_run()
        if self._naga is not None:
            self._naga_dir = str(self._naga.dir)
        try:
            with tracker_calls():
                ready_store(mlflow.get_tracking_uri())
                self.run = mlflow.start_run(
                    run_id=self._exported_run(mlflow),
                    run_name=self.run_name,
                    nested=mlflow.active_run() is not None,
                    tags=self.tags(),
                )
                self.previous = self._previous_active(mlflow.MlflowClient())
        except Exception as fault:  # MLflow's own trouble: the training goes on without it
            self._fault(fault)
        try:
            params = self._params()
        except NagaError as exc:
            self._abandon(mlflow, exc)
            raise
        self._try(lambda: self._log_params(mlflow.MlflowClient(), params))
        return self.run

    def _exported_run(self, mlflow: ModuleType) -> str | None:
        """The MLflow run ``naga export mlflow --follow`` made for this naga run before this
        block began (it has no stage tag): this block takes it over, so the naga run stays one
        MLflow run."""
        if self._naga is None:
            return None
        from mlflow.tracking.fluent import _get_experiment_id

        experiment = _get_experiment_id()
        if experiment is None:
            return None
        wanted = f"tags.`{NAGA_ID}` = '{self._naga.id}'"  # ids are letters and digits
        found = search_all(mlflow.MlflowClient(), [str(experiment)], wanted)
        mine = [r for r in found if LOGICAL_ID not in r.data.tags]
        if not mine and self._naga_dir is not None and _attempts(self._naga_dir) > 1:
            # a new attempt of the naga run (a preempted task, a requeued job): its earlier
            # attempt's MLflow run for this stage goes on, so the run stays one MLflow run
            mine = [r for r in found if r.data.tags.get(LOGICAL_ID) == self.logical_id]
            mine.sort(key=lambda r: r.info.start_time or 0, reverse=True)
        return str(mine[0].info.run_id) if mine else None

    def _abandon(self, mlflow: ModuleType, exc: BaseException) -> None:
        """An attempt that failed as it began still ends as one: FAILED with its error, and
        the stage's previous run superseded, so the stage keeps exactly one active run."""
        if self.run is None:
            return
        error = one_line(f"{type(exc).__name__}: {exc}")[:MAX_TAG_VALUE]

        def abandon() -> None:
            client = mlflow.MlflowClient()
            client.set_tag(self.run.info.run_id, ERROR_TAG, error)
            self._supersede(client)

        self._try(abandon)
        self._try(lambda: _end_run(mlflow, mlflow.MlflowClient(), self.run.info.run_id, "FAILED"))

    # -- exit ---------------------------------------------------------------------------------

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        mlflow = load_mlflow()
        status = mlflow_status(block_ending(exc))
        if self._naga is not None and self._naga.status == "running":
            try:  # its params and points on disk, where they are read from
                self._naga.flush()
            except NagaError as error:  # naga's own trouble (a full disk): the run tells it
                log.warning("naga.mlflow_lock: %s", error)
        lock_error: NagaError | None = None
        try:
            params = self._params()
        except NagaError as error:  # a run.lock made unreadable in the block
            lock_error, params = error, {}
        if not self._finish_or_retry(mlflow, exc, status, params):
            self._let_go(mlflow, status)
        if lock_error is not None:
            if exc is None:
                raise lock_error
            # the block's own exception is the news; this trouble is one line beside it
            log.warning("naga.mlflow_lock: %s", lock_error)

    def _finish_or_retry(
        self, mlflow: ModuleType, exc: BaseException | None, status: str, params: dict[str, str]
    ) -> bool:
        """Finish the MLflow run, trying again for ``EXIT_RETRY_S`` while the store fails in a
        way that may pass (down, restarting, busy); True once finished."""
        deadline = time.monotonic() + EXIT_RETRY_S
        while True:
            try:
                with tracker_calls():
                    self._finish(mlflow, exc, status, params)
                return True
            except Exception as fault:
                if not may_pass(fault) or time.monotonic() + RETRY_PAUSE_S > deadline:
                    self._fault(fault)
                    return False
            time.sleep(RETRY_PAUSE_S)

    def _finish(
        self, mlflow: ModuleType, exc: BaseException | None, status: str, params: dict[str, str]
    ) -> None:
        ready_store(mlflow.get_tracking_uri())
        client = mlflow.MlflowClient()
        if self.run is None:
            self.run = self._start_late(mlflow, client)
        if self.previous is None:
            self.previous = self._previous_active(client)
        run_id = self.run.info.run_id
        lock = self.path / self.runlock_file
        if lock.is_file() and _lock_status(lock) == "running":
            self._upload_when_final(mlflow, lock)
        elif lock.is_file():
            client.log_artifact(run_id, str(lock))
        if (self.path / LOG_FILE).is_file():
            client.log_artifact(run_id, str(self.path / LOG_FILE))
        self._log_params(client, params)
        self._send_naga_metrics(client)
        if exc is not None:
            error = one_line(f"{type(exc).__name__}: {exc}")
            client.set_tag(run_id, ERROR_TAG, error[:MAX_TAG_VALUE])
        _end_run(mlflow, client, run_id, status)
        self._supersede(client)

    def _upload_when_final(self, mlflow: ModuleType, lock: Path) -> None:
        """Inside clicfg's main the lock reads ``running`` until main returns: the lock that
        goes up is the one written then, which tells the ending."""
        if self._lock_watched:
            return
        self._lock_watched = True
        from ..lock.lockfile import when_final

        run_id = self.run.info.run_id

        def upload(doc: dict[str, Any]) -> None:
            self._try(lambda: mlflow.MlflowClient().log_artifact(run_id, str(lock)))

        when_final(lock, upload)

    def _start_late(self, mlflow: ModuleType, client: Any) -> Any:
        """The MLflow run of an attempt that began while the store was out of reach: created
        now, with the block's start time, not made MLflow's active run."""
        from mlflow.tracking.fluent import _get_experiment_id

        tags = self.tags()
        active = mlflow.active_run()
        if active is not None:
            tags["mlflow.parentRunId"] = active.info.run_id
        return client.create_run(
            _get_experiment_id(), start_time=self._started_ms, tags=tags, run_name=self.run_name
        )

    def _let_go(self, mlflow: ModuleType, status: str) -> None:
        """Given up on: the block's run is no longer MLflow's active run, whatever the store
        says (``mlflow.end_run`` forgets it before it calls the server)."""
        active = mlflow.active_run()
        if (
            self.run is not None
            and active is not None
            and active.info.run_id == self.run.info.run_id
        ):
            with contextlib.suppress(Exception), tracker_calls():
                mlflow.end_run(status)

    def _supersede(self, client: Any) -> None:
        run_id = self.run.info.run_id
        for previous in self.previous or ():
            client.set_tag(previous, RUN_STATUS, "deprecated")
            client.set_tag(previous, SUPERSEDED_BY, run_id)

    # -- what goes up -------------------------------------------------------------------------

    def _send_naga_metrics(self, client: Any) -> None:
        """What the naga run logged (``naga.log``, from every process of it: DataLoader workers
        too), so the MLflow run has the metrics whichever layer ended the naga run (a
        ``NagaLogger`` ends it on an interrupt, before this block's exit); a later ``naga
        export mlflow`` adds only what came after."""
        if self._naga_dir is None:
            return
        from .mlflow_metrics import send_metrics

        send_metrics(client, client.get_run(self.run.info.run_id), self._naga_dir)

    def _previous_active(self, client: Any) -> list[str]:
        """The stage's active MLflow runs in this experiment, other than the one just started."""
        own = self.run.info.run_id
        wanted = f"tags.`{RUN_STATUS}` = 'active'"
        quoted = _quoted(self.logical_id)
        if quoted is not None:  # else: filtered here (MLflow's filters cannot escape quotes)
            wanted += f" and tags.`{LOGICAL_ID}` = {quoted}"
        runs = search_all(client, [self.run.info.experiment_id], wanted)
        return [
            r.info.run_id
            for r in runs
            if r.info.run_id != own and r.data.tags.get(LOGICAL_ID) == self.logical_id
        ]

    def _params(self) -> dict[str, str]:
        """The lock's config and the naga run's params (Lightning's hyperparameters), flattened
        and each once (see ``distinct_params``). Raises ``LockError`` for an unreadable lock."""
        flat: dict[str, Any] = {}
        lock = self.path / self.runlock_file
        if lock.is_file():
            from ..lock.lockfile import read
            from ..sdk.values import flatten

            flat.update(flatten(read(lock).get("config") or {}))
        if self._naga_dir is not None:
            flat = {**_recorded_params(self._naga_dir), **flat}
        return mlflow_params(distinct_params(flat))

    def _log_params(self, client: Any, params: dict[str, str]) -> None:
        """Those not logged yet (MLflow params never change once set)."""
        if self.run is None:
            return
        new = {k: v for k, v in params.items() if k not in self._logged_params}
        log_params(client, self.run.info.run_id, new)
        self._logged_params.update(new)

    # -- faults -------------------------------------------------------------------------------

    def _try(self, call: Callable[[], None]) -> None:
        try:
            with tracker_calls():
                call()
        except Exception as fault:
            self._fault(fault)

    def _fault(self, fault: BaseException) -> None:
        """One warning per block, whatever failed and however often: the training goes on."""
        if self._warned:
            log.debug("naga.mlflow_lock: %s", fault)
            return
        self._warned = True
        later = (
            "`naga export mlflow` sends this run later"
            if self._naga is not None
            else "MLflow misses this attempt"
        )
        log.warning("naga.mlflow_lock: %s; the training goes on (%s)", fault_line(fault), later)


def _lock_status(lock: Path) -> str | None:
    from ..lock.lockfile import read

    try:
        status = read(lock).get("status")
    except NagaError:
        return None
    return status if isinstance(status, str) else None


def _attempts(run_dir: str) -> int:
    """How many attempts the naga run has had, this one included (naga.sdk.history)."""
    from ..store.sdkstate import read_state

    attempts = read_state(os.path.join(run_dir, "meta.json")).get("attempts")
    return len(attempts) if isinstance(attempts, list) else 1


def _recorded_name(run_dir: str) -> str | None:
    from ..store.sdkstate import read_state

    name = read_state(os.path.join(run_dir, "meta.json")).get("name")
    return name if isinstance(name, str) and name else None


def _recorded_params(run_dir: str) -> dict[str, Any]:
    """The naga run's params as recorded so far: the record's, then its main process's."""
    from ..sdk.values import flatten
    from ..store.sdkstate import read_state

    params: dict[str, Any] = {}
    for path in ("meta.json", os.path.join("metrics", "main", "state.json")):
        found = read_state(os.path.join(run_dir, path)).get("params")
        if isinstance(found, dict):
            params.update(flatten(found))
    return params


def _current_naga_run() -> Any:
    from ..lock.runlock import current_run_if_any

    return current_run_if_any()


def _end_run(mlflow: ModuleType, client: Any, run_id: str, status: str) -> None:
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status)
    else:  # the block ended MLflow's active run itself, or started another
        client.set_terminated(run_id, status)


def _quoted(value: str) -> str | None:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None
