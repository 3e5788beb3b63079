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
the block ends: exporting that naga run later adds to the same MLflow run what came after,
never a second run.

mlflow is imported only here and in ``mlflow_export``, through ``require_extra``, so naga
without the extra starts as fast as ever and says what to install when the bridge is used.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from ..errors import NagaError
from ..redact import redact_text, strip_url_credentials
from ..text import one_line
from . import require_extra

LOGICAL_ID = "naga.logical_run_id"
RUN_STATUS = "naga.run_status"
SUPERSEDED_BY = "naga.superseded_by_run_id"
NAGA_ID = "naga.id"
ERROR_TAG = "naga.error"
LOG_FILE = "experiment.log"

# MLflow's own limits (mlflow.utils.validation), fixed here so naga never sends what it refuses
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
_BAD_NAME_CHARS = re.compile(r"[^/\w.\- :]")

log = logging.getLogger("naga")


class MlflowError(NagaError):
    """MLflow cannot be reached, or refused a call."""


def load_mlflow() -> ModuleType:
    return require_extra("mlflow", "mlflow")


def mlflow_lock(path: str | os.PathLike[str], runlock_file: str = "run.lock") -> MlflowLock:
    """``with naga.mlflow_lock(cfg.save_dir) as mlflow_run:``: one MLflow run for this attempt
    at the stage in ``path``, which supersedes the stage's previous MLflow run when it ends.

    The run is MLflow's active run inside the block (``mlflow.log_metric`` goes to it); at the
    end ``path/run.lock`` (``runlock_file``) and ``path/experiment.log`` are logged as
    artifacts, the lock's config as params and, under a naga run, what it logged with
    ``naga.log``; an escaping exception marks the run FAILED (KILLED for Ctrl-C) with the error
    in the tag ``naga.error`` and propagates. The tracking server and experiment are MLflow's own
    settings (``MLFLOW_TRACKING_URI``, ``mlflow.set_experiment``).
    """
    return MlflowLock(path, runlock_file)


class MlflowLock:
    def __init__(self, path: str | os.PathLike[str], runlock_file: str = "run.lock") -> None:
        self.path = Path(os.fspath(path)).expanduser()
        self.logical_id = os.path.abspath(self.path)
        self.runlock_file = runlock_file
        self.run: Any = None
        self.previous: list[str] = []
        self._logged_params: set[str] = set()

    def __enter__(self) -> Any:
        mlflow = load_mlflow()
        naga_run = _current_naga_run()
        tags = {LOGICAL_ID: self.logical_id, RUN_STATUS: "active"}
        if naga_run is not None:
            tags[NAGA_ID] = str(naga_run.id)
        with quick_http(), mlflow_errors(mlflow.get_tracking_uri()):
            self.run = mlflow.start_run(nested=mlflow.active_run() is not None, tags=tags)
            client = mlflow.MlflowClient()
            try:
                self.previous = self._previous_active(client)
                self._log_lock_params(client)
            except BaseException as exc:
                self._abandon(mlflow, client, exc)
                raise
        return self.run

    def _abandon(self, mlflow: ModuleType, client: Any, exc: BaseException) -> None:
        """An attempt that failed as it began still ends as one: FAILED with its error, and
        the stage's previous run superseded, so the stage keeps exactly one active run."""
        run_id = self.run.info.run_id
        try:
            client.set_tag(
                run_id, ERROR_TAG, one_line(f"{type(exc).__name__}: {exc}")[:MAX_TAG_VALUE]
            )
            for previous in self.previous:
                client.set_tag(previous, RUN_STATUS, "deprecated")
                client.set_tag(previous, SUPERSEDED_BY, run_id)
        except Exception as error:  # the server may be what failed: the first error is the news
            log.warning("naga.mlflow_lock: %s", one_line(str(error)))
        finally:
            _end_run(mlflow, client, run_id, "FAILED")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        mlflow = load_mlflow()
        status = _mlflow_status(exc)
        try:
            with quick_http(), mlflow_errors(mlflow.get_tracking_uri()):
                self._finish(mlflow, exc, status)
        except NagaError as error:  # MLflow's, or a run.lock made unreadable in the block
            if exc is None:
                raise
            # the block's own exception is the news; this trouble is one line beside it
            log.warning("naga.mlflow_lock: %s", error)

    def _finish(self, mlflow: ModuleType, exc: BaseException | None, status: str) -> None:
        run_id = self.run.info.run_id
        client = mlflow.MlflowClient()
        try:
            for name in (self.runlock_file, LOG_FILE):
                if (self.path / name).is_file():
                    client.log_artifact(run_id, str(self.path / name))
            self._log_lock_params(client)
            self._send_naga_metrics(client)
            if exc is not None:
                error = one_line(f"{type(exc).__name__}: {exc}")
                client.set_tag(run_id, ERROR_TAG, error[:MAX_TAG_VALUE])
        finally:
            _end_run(mlflow, client, run_id, status)
        for previous in self.previous:
            client.set_tag(previous, RUN_STATUS, "deprecated")
            client.set_tag(previous, SUPERSEDED_BY, run_id)

    def _send_naga_metrics(self, client: Any) -> None:
        """What the naga run logged so far (``naga.log``), so the MLflow run has the metrics
        too; a later ``naga export mlflow`` adds only what came after."""
        naga_run = _current_naga_run()
        if naga_run is None or naga_run.id != self.run.data.tags.get(NAGA_ID):
            return
        from .mlflow_export import send_metrics

        naga_run.flush()
        send_metrics(client, client.get_run(self.run.info.run_id), naga_run._dir)

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

    def _log_lock_params(self, client: Any) -> None:
        """The lock's config, flattened, as params: those not logged yet (MLflow params never
        change once set)."""
        lock = self.path / self.runlock_file
        if not lock.is_file():
            return
        from ..lock.lockfile import read
        from ..sdk.values import flatten

        config = read(lock).get("config") or {}
        params = {
            name: value
            for name, value in mlflow_params(flatten(config)).items()
            if name not in self._logged_params
        }
        log_params(client, self.run.info.run_id, params)
        self._logged_params.update(params)


# MLflow retries a request for about 4 minutes by default: naga's own calls give up after a few
# seconds with one line instead. The user's MLFLOW_HTTP_* settings win.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


@contextmanager
def quick_http() -> Iterator[None]:
    """naga's short retry policy for the calls inside, and the process's own after them
    (the training's own MLflow calls keep theirs)."""
    added = [name for name in HTTP_DEFAULTS if name not in os.environ]
    os.environ.update({name: HTTP_DEFAULTS[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _current_naga_run() -> Any:
    from ..lock.runlock import current_run_if_any

    return current_run_if_any()


MLFLOW_STATUS = {"completed": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}


def _mlflow_status(exc: BaseException | None) -> str:
    """The block's ending as naga.ending decides it (a stop signal is KILLED, whatever
    Lightning turned it into), in MLflow's words."""
    from ..ending import decide

    return MLFLOW_STATUS.get(decide(exc).status, "FAILED")


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


def search_all(client: Any, experiment_ids: list[str], filter_string: str) -> list[Any]:
    """Every run matching the filter, through all the pages."""
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            experiment_ids, filter_string=filter_string, max_results=1000, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def mlflow_name(key: str) -> str:
    """A metric, param or tag name MLflow accepts: characters it refuses become ``_``, and a
    name that reads as another path (``a//b``, ``../x``, ``/x``) loses its slashes."""
    name = _BAD_NAME_CHARS.sub("_", key)[:MAX_KEY] or "_"
    if _reads_as_another_path(name):
        name = name.replace("/", "_")
        if name == "." or name.startswith(".."):
            name = "_" + name[: MAX_KEY - 1]
    return name


def _reads_as_another_path(name: str) -> bool:
    import posixpath

    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith(("..", "/"))


def mlflow_params(flat: Mapping[str, Any]) -> dict[str, str]:
    """Flattened params as MLflow's strings (JSON-ish for lists, ``None`` as MLflow prints
    it), cut to MLflow's length limit."""
    return {mlflow_name(k): param_text(v)[:MAX_PARAM_VALUE] for k, v in flat.items()}


def param_text(value: Any) -> str:
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value, ensure_ascii=False)
    return str(value)


def log_params(client: Any, run_id: str, params: Mapping[str, str]) -> None:
    from mlflow.entities import Param

    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[start : start + MAX_PARAMS_PER_BATCH])


@contextmanager
def mlflow_errors(tracking_uri: str) -> Iterator[None]:
    """MLflow's exceptions as one ``MlflowError`` line that names the server (credentials
    masked) and what to do."""
    mlflow = load_mlflow()
    from sqlalchemy.exc import SQLAlchemyError  # MLflow's own dependency, for database stores

    try:
        yield
    except mlflow.exceptions.MlflowException as exc:
        raise MlflowError(describe(str(exc.message), tracking_uri)) from None
    except SQLAlchemyError as exc:  # a database store out of reach as MLflow opens it
        raise MlflowError(describe(str(exc), tracking_uri)) from None
    except OSError as exc:  # an artifact store on a local path: permissions, a full disk
        raise MlflowError(f"MLflow at {_shown(tracking_uri)}: {exc}") from None


_UNREACHABLE = ("Max retries exceeded", "Connection refused", "Failed to establish")


def describe(message: str, tracking_uri: str) -> str:
    where = _shown(tracking_uri)
    if any(sign in message for sign in _UNREACHABLE):
        return (
            f"cannot reach the MLflow server at {where}: is it running? (check the URI;"
            " `naga export mlflow` resumes where it stopped when run again)"
        )
    if "unsupported URI" in message:  # MLflow's text speaks of its model registry: not ours
        return (
            f"MLflow cannot use the tracking URI {where}: use http(s)://HOST, file:PATH,"
            " sqlite:///PATH or another scheme MLflow supports"
        )
    first = one_line(redact_text((message.strip().splitlines() or ["refused"])[0]))
    return f"MLflow at {where}: {first}"


def _shown(tracking_uri: str) -> str:
    return strip_url_credentials(str(tracking_uri))
