"""How naga talks to an MLflow tracking store, for ``mlflow_lock`` and ``naga export mlflow``:
MLflow's limits and names, one mapping of statuses, the retry policies that keep a store that
is down from holding anything up, a database store opened by one process at a time, and
MLflow's errors as one line.

mlflow is imported only through ``load_mlflow`` (``require_extra``), inside functions, so naga
without the extra starts as fast as ever and says what to install when the bridge is used.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from ..errors import MlflowError
from ..redact import redact_text, strip_url_credentials
from ..text import one_line
from . import require_extra

LOGICAL_ID = "naga.logical_run_id"
RUN_STATUS = "naga.run_status"
SUPERSEDED_BY = "naga.superseded_by_run_id"
NAGA_ID = "naga.id"
ERROR_TAG = "naga.error"
PRUNED_TAG = "naga.pruned"  # a run a search's pruner stopped: KILLED in MLflow, with this tag
LOG_FILE = "experiment.log"

# MLflow's own limits (mlflow.utils.validation), fixed here so naga never sends what it refuses
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
_BAD_NAME_CHARS = re.compile(r"[^/\w.\- :]")

log = logging.getLogger("naga")


def load_mlflow() -> ModuleType:
    return require_extra("mlflow", "mlflow")


def mlflow_status(naga_status: str) -> str:
    """The MLflow status of a naga run's status: the one mapping every MLflow path uses."""
    return MLFLOW_STATUSES.get(naga_status, "FAILED")


MLFLOW_STATUSES = {
    "running": "RUNNING",
    "completed": "FINISHED",
    "failed": "FAILED",
    "cancelled": "KILLED",
    "crashed": "KILLED",
    "preempted": "KILLED",
    "pruned": "KILLED",  # with the tag naga.pruned
}


def distinct_params(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``flat`` without the top-level params that repeat a nested one: Lightning logs a
    module's hyperparameters flat (``lr``) where clicfg's config holds them nested
    (``model.lr``); with the same value, ``lr`` says nothing more and is left out."""
    nested: dict[str, set[str]] = {}
    for key, value in flat.items():
        if "." in key:
            nested.setdefault(key.rsplit(".", 1)[1], set()).add(param_text(value))
    return {
        key: value
        for key, value in flat.items()
        if "." in key or param_text(value) not in nested.get(key, set())
    }


# MLflow retries a request for about 4 minutes by default: naga's own calls give up after a few
# seconds with one line instead. The user's MLFLOW_HTTP_* settings win.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}
# mlflow_lock's calls, inside a training: no retry of MLflow's (the exit retries the whole
# finish), and a few seconds for a server that does not answer
LOCK_HTTP = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # stdout is the training's
}
DB_RETRIES = 3  # MLflow tries a database 10 times over about 100 s; 3 is 0.1 s, then 0.3 s


@contextmanager
def quick_http(settings: Mapping[str, str] = HTTP_DEFAULTS) -> Iterator[None]:
    """naga's short retry policy for the calls inside, and the process's own after them
    (the training's own MLflow calls keep theirs)."""
    added = [name for name in settings if name not in os.environ]
    os.environ.update({name: settings[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextmanager
def quick_database() -> Iterator[None]:
    """MLflow's tries at opening a database store, bounded for the calls inside."""
    import mlflow.store.db.utils as db_utils

    before = getattr(db_utils, "MAX_RETRY_COUNT", None)
    if not isinstance(before, int):  # another MLflow version: its own policy
        yield
        return
    db_utils.MAX_RETRY_COUNT = min(before, DB_RETRIES)
    try:
        yield
    finally:
        db_utils.MAX_RETRY_COUNT = before


INIT_WAIT_S = 60.0  # another process creating the database's tables: MLflow's migrations


def ready_store(tracking_uri: str) -> None:
    """Open a ``sqlite:`` tracking store once in this process, taking turns with the other
    processes that open it (under a lock file beside the database).

    MLflow creates a database's tables and runs its migrations the first time it opens it;
    two processes doing that at once (the tasks of a sweep starting together on a fresh
    ``sqlite:///mlflow.db``) race in the migrations, and the loser can leave a half-made table
    that breaks the database for good."""
    path = _sqlite_path(tracking_uri)
    if path is None or path in _ready:
        return
    mlflow = load_mlflow()
    with _turn(f"{path}.naga-init.lck"):
        mlflow.MlflowClient(tracking_uri)._tracking_client.store  # noqa: B018 (opens it)
    _ready.add(path)


@contextmanager
def _turn(lock_file: str) -> Iterator[None]:
    """This process's turn under ``lock_file``; without one where the file system has no
    locks, or when the holder keeps it past ``INIT_WAIT_S`` (stale: MLflow's own luck then)."""
    import fcntl

    try:
        handle = open(lock_file, "a")  # noqa: SIM115 (held across the yield)
    except OSError:
        yield
        return
    with handle:
        deadline = time.monotonic() + INIT_WAIT_S
        while time.monotonic() < deadline:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.1)
            except OSError:
                break
        yield


_ready: set[str] = set()


def _sqlite_path(tracking_uri: str) -> str | None:
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = tracking_uri[len("sqlite:///") :].split("?", 1)[0]
    return os.path.abspath(path) if path and path != ":memory:" else None


@contextmanager
def tracker_calls() -> Iterator[None]:
    """mlflow_lock's calls: a few seconds at most on a store that does not answer."""
    with quick_http(LOCK_HTTP), quick_database():
        yield


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


def fault_line(fault: BaseException) -> str:
    """One line about what went wrong with the tracking store, credentials masked."""
    mlflow = load_mlflow()
    uri = _tracking_uri(mlflow)
    if isinstance(fault, mlflow.exceptions.MlflowException):
        message = str(fault.message)
    else:
        message = f"{type(fault).__name__}: {fault}"
    if any(sign in message for sign in _UNREACHABLE):
        return f"cannot reach the MLflow server at {_shown(uri)}"
    return describe(message, uri)


def _tracking_uri(mlflow: ModuleType) -> str:
    try:
        return str(mlflow.get_tracking_uri())
    except Exception:
        return "?"


def may_pass(fault: BaseException) -> bool:
    """A failure worth another try: anything but MLflow refusing what it was sent."""
    mlflow = load_mlflow()
    if isinstance(fault, mlflow.exceptions.MlflowException):
        return str(fault.error_code) not in _REFUSALS
    return True


_REFUSALS = {
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_DOES_NOT_EXIST",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "BAD_REQUEST",
}
