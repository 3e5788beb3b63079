"""``naga export mlflow``: naga runs into an MLflow tracking server, idempotently and
incrementally.

Each naga run becomes one MLflow run tagged ``naga.id``. An export first asks the server which
naga runs it already has (one paged search of the experiment, which also brings each run's
tags, params and the latest point of each metric), then sends each run only what is missing.

Where the state lives: on the server, with the data (``mlflow_metrics`` says how the points
missing are found). Nothing is kept locally, so a server that was reset, or an MLflow run
deleted there, simply gets everything again, and an export cut short (server down, Ctrl-C)
resumes where it stopped. ``mlflow_follow`` runs exports again as runs change.

Several runs may go at once (``export_many``), each in its own thread: a server answers many
requests at a time. Params and tags go 100 a call (MLflow's limit). The status comes last:
a run whose export was interrupted reads RUNNING until an export completes it, and so does a
naga run still running (the next export adds what it logged since); a naga run that ended
gets its ending's MLflow status (``mlflow_store.mlflow_status``) and end time. Artifacts (the run's
``artifacts/`` at the root; ``output.log``, ``git.patch`` and ``meta.json`` under ``naga/``)
are uploaded when the server lacks them or has them at another size.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import MlflowError
from ..sdk.records import RunRecord
from ..store.layout import artifacts_dir as artifacts_of
from ..store.timefmt import parse_iso
from .mlflow_store import HTTP_DEFAULTS as _LOCK_HTTP_DEFAULTS
from .mlflow_store import (
    MAX_TAG_VALUE,
    NAGA_ID,
    PRUNED_TAG,
    RUN_STATUS,
    distinct_params,
    load_mlflow,
    log_params,
    mlflow_errors,
    mlflow_params,
    mlflow_status,
    quick_database,
    ready_store,
    search_all,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

from .mlflow_metrics import send_metrics
from .mlflow_transport import RestSink, metric_sink

MAX_TAGS_PER_BATCH = 100
FILES_TAG = "naga.files"
NAGA_FILES = ("output.log", "git.patch", "meta.json")  # uploaded under naga/
# MLflow's own retry policy waits about 4 minutes for a server that is down; an export tells
# the user in seconds (a rerun resumes). The user's own settings, when given, win.
# The export is naga's own process: its short retries (see mlflow.HTTP_DEFAULTS) for all of it.
HTTP_DEFAULTS = {
    **_LOCK_HTTP_DEFAULTS,
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # stdout is naga's: a line per run
}


def quiet_mlflow() -> None:
    """MLflow's INFO lines would mix with naga's output, and its database layer logs a
    traceback before raising what naga reports in one line."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)


@dataclass
class Exported:
    """What one run's export did."""

    naga_id: str
    mlflow_id: str
    created: bool
    points: int = 0
    params: int = 0
    tags: int = 0
    artifacts: int = 0
    status: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.created or bool(self.points or self.params or self.tags or self.artifacts)


class Exporter:
    """Exports naga runs into one experiment of one tracking server."""

    def __init__(
        self, tracking_uri: str, experiment: str | None = None, *, recheck: bool = False
    ) -> None:
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        mlflow = load_mlflow()
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment or "Default"
        self.recheck = recheck
        self.sent: set[str] = set()  # naga ids this exporter sent (their runs read again)
        with self.errors(), quick_database():
            ready_store(tracking_uri)
            self.client = mlflow.MlflowClient(tracking_uri=tracking_uri)
            self.experiment_id = self._experiment_id(self.experiment_name)
            self.known = self._known_runs()
            self.sink = metric_sink(self.client)
        self.created: set[str] = set()  # naga ids whose MLflow run this export created

    @property
    def default_jobs(self) -> int:
        """Runs sent at once: a server answers several requests at a time (``mlflow server``
        has 4 workers by default); a database file takes one writer."""
        return 4 if isinstance(self.sink, RestSink) else 1

    def errors(self) -> Any:
        return mlflow_errors(self.tracking_uri)

    def export(
        self, record: RunRecord, on_points: Callable[[int], None] = lambda n: None
    ) -> Exported:
        with self.errors():
            result = self._export(record, on_points)
        self.sent.add(record.id)
        return result

    def _experiment_id(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            return str(self.client.create_experiment(name))
        if experiment.lifecycle_stage == "deleted":
            raise MlflowError(
                f"the MLflow experiment {name!r} is deleted: restore it in MLflow or export to"
                " another one with --experiment NAME"
            )
        return str(experiment.experiment_id)

    def _known_runs(self) -> dict[str, Any]:
        """The MLflow run of each naga run already in the experiment. Several (two
        ``mlflow_lock`` blocks in one naga run): the newest one not superseded."""
        runs = search_all(self.client, [self.experiment_id], f"tags.`{NAGA_ID}` LIKE '%'")
        return {r.data.tags[NAGA_ID]: r for r in sorted(runs, key=_preference)}

    def export_many(
        self,
        records: list[RunRecord],
        jobs: int = 1,
        on_points: Callable[[int], None] = lambda n: None,
    ) -> Generator[tuple[RunRecord, Exported], None, None]:
        """Export ``records``, ``jobs`` runs at a time, yielding each result in the order of
        ``records``. The MLflow runs missing are created first, in that order, so a child
        always finds its parent's. The first error (or Ctrl-C) stops every run at its next
        chunk, which keeps each series a prefix on the server, and is raised."""
        with self.errors():
            for record in records:
                self._mlflow_run(record)
        if jobs <= 1 or len(records) <= 1:
            for record in records:
                yield record, self.export(record, on_points)
            return
        yield from _in_threads(self.export, records, jobs, on_points)

    def _mlflow_run(self, record: RunRecord) -> Any:
        """The MLflow run of ``record``, created (and remembered as new) when missing. A run
        this exporter sent before is read again (a follower sends it every time it changes);
        with ``recheck``, a naga run it has not seen is looked for on the server first
        (``mlflow_lock`` may have made its MLflow run since this exporter started)."""
        run = self.known.get(record.id)
        if run is not None and record.id in self.sent:
            run = self.known[record.id] = self.client.get_run(run.info.run_id)
        if run is None and self.recheck:
            found = search_all(
                self.client, [self.experiment_id], f"tags.`{NAGA_ID}` = '{record.id}'"
            )
            if found:
                run = self.known[record.id] = _preferred(found)
        if run is None:
            run = self.client.create_run(
                self.experiment_id,
                start_time=_ms_of_iso(record.meta.get("started_at")),
                tags={NAGA_ID: record.id},
                run_name=record.name or record.id,
            )
            self.known[record.id] = run
            self.created.add(record.id)
        return run

    def _export(self, record: RunRecord, on_points: Callable[[int], None]) -> Exported:
        run = self._mlflow_run(record)
        created = record.id in self.created and record.id not in self.sent
        result = Exported(record.id, run.info.run_id, created)
        self._send_tags(run, record, result)
        self._send_params(run, record, result)
        result.points = send_metrics(self.client, run, record.dir, on_points, self.sink)
        self._send_artifacts(run, record, result)
        self._set_status(run, record, result)
        return result

    # -- tags and params ----------------------------------------------------------------------

    def _send_tags(self, run: Any, record: RunRecord, result: Exported) -> None:
        from mlflow.entities import RunTag

        parent = self.known.get(record.meta.get("parent_id") or "")
        wanted = run_tags(record.meta, parent.info.run_id if parent is not None else None)
        have = run.data.tags
        changed = [RunTag(k, v) for k, v in wanted.items() if have.get(k) != v]
        for start in range(0, len(changed), MAX_TAGS_PER_BATCH):
            self.client.log_batch(run.info.run_id, tags=changed[start : start + MAX_TAGS_PER_BATCH])
        result.tags = len(changed)

    def _send_params(self, run: Any, record: RunRecord, result: Exported) -> None:
        have = run.data.params
        wanted = mlflow_params(distinct_params(record.params))
        missing = {k: v for k, v in wanted.items() if k not in have}
        for key, value in wanted.items():
            if key in have and have[key] != value:
                result.warnings.append(
                    f"param {key} is {value!r} in naga but {have[key]!r} in MLflow, where params"
                    " never change: kept MLflow's"
                )
        log_params(self.client, run.info.run_id, missing)
        result.params = len(missing)

    # -- artifacts and status -----------------------------------------------------------------

    def _send_artifacts(self, run: Any, record: RunRecord, result: Exported) -> None:
        """Files the server lacks, or has at another size. The tag ``naga.files`` (a digest of
        the names and sizes sent) spares listing the server's files when nothing changed, and a
        run created by this export has none to list."""
        run_id = run.info.run_id
        local = {
            name: (path, os.path.getsize(path)) for name, path in local_files(record.dir).items()
        }
        digest = files_digest({name: size for name, (_, size) in local.items()})
        if run.data.tags.get(FILES_TAG) == digest:
            return
        remote = self._remote_files(run_id) if local and not result.created else {}
        for name, (path, size) in sorted(local.items()):
            if name in remote and (remote[name] or 0) == size:
                continue  # (MLflow gives no size for an empty file)
            self.client.log_artifact(run_id, path, posixpath.dirname(name) or None)
            result.artifacts += 1
        self.client.set_tag(run_id, FILES_TAG, digest)

    def _remote_files(self, run_id: str, path: str | None = None) -> dict[str, int | None]:
        files: dict[str, int | None] = {}
        for info in self.client.list_artifacts(run_id, path):
            if info.is_dir:
                files.update(self._remote_files(run_id, info.path))
            else:
                files[info.path] = info.file_size
        return files

    def _set_status(self, run: Any, record: RunRecord, result: Exported) -> None:
        status = mlflow_status(str(record.status))
        result.status = status
        if record.status == "pruned" and run.data.tags.get(PRUNED_TAG) != "true":
            self.client.set_tag(run.info.run_id, PRUNED_TAG, "true")  # KILLED, by a pruner
        if status == "RUNNING":
            if run.info.status != "RUNNING":
                self.client.update_run(run.info.run_id, status="RUNNING")
            return
        end = _ms_of_iso(record.meta.get("finished_at"))
        if run.info.status != status or run.info.end_time != end:
            self.client.set_terminated(run.info.run_id, status, end_time=end)


def _preference(run: Any) -> tuple[bool, int]:
    return run.data.tags.get(RUN_STATUS) != "deprecated", run.info.start_time or 0


def _preferred(runs: list[Any]) -> Any:
    """Of several MLflow runs of one naga run, the newest one not superseded."""
    return max(runs, key=_preference)


class _Stopped(Exception):
    """Another run's export failed, or Ctrl-C: this one stops at its next chunk."""


def _in_threads(
    export: Callable[[RunRecord, Callable[[int], None]], Exported],
    records: list[RunRecord],
    jobs: int,
    on_points: Callable[[int], None],
) -> Iterator[tuple[RunRecord, Exported]]:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    stop = threading.Event()

    def counted(points: int) -> None:
        on_points(points)
        if stop.is_set():
            raise _Stopped

    def one(record: RunRecord) -> Exported:
        if stop.is_set():
            raise _Stopped
        try:
            return export(record, counted)
        except _Stopped:
            raise
        except BaseException:
            stop.set()
            raise

    pool = ThreadPoolExecutor(jobs, thread_name_prefix="naga-export")
    futures = [pool.submit(one, record) for record in records]
    try:
        for record, future in zip(records, futures, strict=True):
            try:
                result = future.result()
            except _Stopped:
                raise _first_error(futures) from None
            yield record, result
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _first_error(futures: list[Future[Exported]]) -> BaseException:
    """The error that stopped the others (they all end within a chunk)."""
    from concurrent.futures import wait

    wait([f for f in futures if not f.cancelled()])
    for future in futures:
        error: BaseException | None = None if future.cancelled() else future.exception()
        if error is not None and not isinstance(error, _Stopped):
            return error
    return KeyboardInterrupt()


def run_tags(meta: dict[str, Any], parent_run_id: str | None) -> dict[str, str]:
    """The MLflow tags of a naga run: its id, status, command, host, naga tags and git state,
    under MLflow's own names where MLflow has one (``mlflow.source.git.commit``, ...)."""
    tags: dict[str, Any] = {
        NAGA_ID: meta["id"],
        "naga.status": meta.get("status"),
        "naga.name": meta.get("name"),
        "naga.tags": ", ".join(meta.get("tags") or []) or None,
        "naga.command": meta.get("command"),
        "naga.cwd": meta.get("cwd"),
        "naga.host": meta.get("host"),
        "naga.exit_code": meta.get("exit_code"),
        "naga.error": meta.get("error"),
        "mlflow.user": meta.get("user"),
        "mlflow.source.name": meta.get("command"),
        "mlflow.source.type": "LOCAL",
        "mlflow.parentRunId": parent_run_id,
    }
    git = meta.get("git") or {}
    if git.get("commit"):
        tags["mlflow.source.git.commit"] = git["commit"]
        tags["mlflow.source.git.branch"] = git.get("branch")
        tags["naga.git.dirty"] = str(bool(git.get("dirty"))).lower()
        remotes = git.get("remotes") or {}
        tags["mlflow.source.git.repoURL"] = remotes.get("origin") or next(
            iter(remotes.values()), None
        )
    return {k: str(v)[:MAX_TAG_VALUE] for k, v in tags.items() if v is not None and v != ""}


def files_digest(sizes: dict[str, int]) -> str:
    import hashlib

    listing = "".join(f"{name}\0{size}\n" for name, size in sorted(sizes.items()))
    return hashlib.sha256(listing.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def local_files(run_dir: str) -> dict[str, str]:
    """Artifact path -> local file: the run's artifacts, and naga's own files under naga/.
    Symbolic links are left out: naga's artifacts are copies."""
    files: dict[str, str] = {}
    top = artifacts_of(run_dir)
    for root, _dirs, names in os.walk(top):
        for name in names:
            path = os.path.join(root, name)
            if not os.path.islink(path) and os.path.isfile(path):
                files[os.path.relpath(path, top).replace(os.sep, "/")] = path
    for name in NAGA_FILES:
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            files[f"naga/{name}"] = path
    return files


def _ms_of_iso(text: str | None) -> int | None:
    seconds = parse_iso(text)
    return None if seconds is None else int(seconds * 1000)
