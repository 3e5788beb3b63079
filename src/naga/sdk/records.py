"""Reading runs from Python: ``naga.runs(...)`` to query, ``naga.load(ID)`` for one run, and
``.metrics(key)`` for a series as numpy arrays (``.to_pandas()`` when pandas is installed)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .. import jsonsafe
from ..errors import NagaError
from ..store import RunFilter, Store, with_elapsed
from ..store.layout import metrics_dir as metrics_of
from ..store.query import check_statuses
from ..store.sdkstate import stream_names
from . import artifacts, history, series


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise NagaError("reading metric series needs numpy: pip install numpy") from None
    return numpy


class Series:
    """One metric of one run: ``step``, ``value`` and ``time`` (s since the epoch) as numpy
    arrays, in the order they were logged."""

    def __init__(self, run_id: str, key: str, path: str | series.Points) -> None:
        np = _numpy()
        self.run_id, self.key = run_id, key
        if isinstance(path, series.Points):  # a history over several attempts, merged
            self.step = np.frombuffer(path.steps, np.int64)
            self.time = np.frombuffer(path.times, np.float64)
            self.value = np.frombuffer(path.values, np.float64)
            return
        data, chunks = series.read_chunks(path)
        if len(chunks) > 4:  # a run still logging slowly: gather with array, then view
            points = series.gather(data, chunks)
            self.step = np.frombuffer(points.steps, np.int64)
            self.time = np.frombuffer(points.times, np.float64)
            self.value = np.frombuffer(points.values, np.float64)
            return

        def column(dtype: str, at: int) -> Any:  # views into the file's bytes: no copy
            parts = [np.frombuffer(data, dtype, n, body + 8 * n * at) for body, n in chunks]
            if not parts:
                return np.empty(0, dtype)
            return parts[0] if len(parts) == 1 else np.concatenate(parts)

        self.step = column("<i8", 0)
        self.time = column("<f8", 1)
        self.value = column("<f8", 2)

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self) -> Any:  # steps, values = run.metrics("loss")
        return iter((self.step, self.value))

    def __repr__(self) -> str:
        return f"<naga.Series {self.run_id} {self.key!r}: {len(self)} points>"

    def to_pandas(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            raise NagaError("to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(
            {"step": self.step, "value": self.value, "time": pd.to_datetime(self.time, unit="s")}
        )


def _revived(meta: dict[str, Any]) -> dict[str, Any]:
    """Metric values as floats: records are strict JSON, where a NaN loss reads "NaN"."""
    metrics, stats = meta.get("metrics"), meta.get("metric_stats")
    if isinstance(metrics, dict):
        meta["metrics"] = {k: jsonsafe.number(v) for k, v in metrics.items()}
    if isinstance(stats, dict):
        meta["metric_stats"] = {
            k: {f: jsonsafe.number(x) if f in ("last", "min", "max") else x for f, x in s.items()}
            if isinstance(s, dict)
            else s
            for k, s in stats.items()
        }
    return meta


class RunRecord:
    """A run as recorded: ``id``, ``name``, ``status``, ``params``, ``summary`` (last, min,
    max, count, step per metric); ``meta`` is the whole record; ``run["key"]`` reads it too."""

    def __init__(self, meta: dict[str, Any], store: Store) -> None:
        self._meta: dict[str, Any] | None = _revived(meta)
        self._store = store
        self._doc = ""
        self._head: tuple[str, str | None, str] | None = None

    @classmethod
    def _unparsed(
        cls, store: Store, run_id: str, name: str | None, status: str, doc: str
    ) -> RunRecord:
        """A record whose JSON is parsed when first read: ``naga.runs()`` over 100k runs
        spent most of its time parsing records nobody looked at."""
        record = cls.__new__(cls)
        record._meta, record._store, record._doc = None, store, doc
        record._head = (run_id, name, status)
        return record

    @property
    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            self._meta = _revived(with_elapsed(json.loads(self._doc)))
            self._doc = ""
        return self._meta

    def __getitem__(self, key: str) -> Any:
        return self.meta[key]

    def __repr__(self) -> str:
        return f"<naga.RunRecord {self.id} {self.name or ''} {self.status}>"

    @property
    def id(self) -> str:
        return self._head[0] if self._head is not None else str(self.meta["id"])

    @property
    def name(self) -> str | None:
        return self._head[1] if self._head is not None else self.meta.get("name")

    @property
    def status(self) -> str | None:
        return self._head[2] if self._head is not None else self.meta.get("status")

    tags = property(lambda self: list(self.meta.get("tags") or []))
    params = property(lambda self: dict(self.meta.get("params") or {}))
    summary = property(lambda self: dict(self.meta.get("metric_stats") or {}))

    @property
    def dir(self) -> str:
        return self._store.layout.run_dir(self.id)

    def streams(self) -> list[str]:
        return stream_names(self._store.layout, self.id)

    def metric_keys(self, stream: str | None = None) -> list[str]:
        names = [stream] if stream else ["main", "sys"]
        keys: set[str] = set()
        for name in names:
            keys.update(history.list_keys(metrics_of(self.dir), name))
        return sorted(keys)

    def metrics(self, key: str, stream: str | None = None, *, superseded: bool = False) -> Series:
        """The series of metric ``key`` (stream: ``main`` by default, ``sys`` for ``sys/*``;
        ``rank1``, ``pid123`` for what other processes logged). A run with several attempts
        (a preempted sweep task, a requeued Slurm job) has one value per step, the latest
        attempt's; ``superseded=True`` keeps what earlier attempts logged too."""
        name = stream or ("sys" if key.startswith("sys/") else "main")
        if name not in self.streams() and stream is not None:
            raise NagaError(f"run {self.id} has no stream {stream!r}; it has {self.streams()}")
        metrics_dir = metrics_of(self.dir)
        files = history.series_files(metrics_dir, name, series.check_key(key))
        if not files:
            known = ", ".join(self.metric_keys(stream)) or "none"
            raise NagaError(f"run {self.id} has no metric {key!r} (its metrics: {known})")
        if len(files) == 1:
            return Series(self.id, key, files[0])
        return Series(
            self.id, key, history.read_points(metrics_dir, name, key, superseded=superseded)
        )

    def artifacts(self) -> list[tuple[str, int]]:
        return artifacts.list_artifacts(self.dir)

    def to_pandas(self) -> Any:
        """Every metric of the run in one DataFrame: a row per step, a column per metric."""
        try:
            import pandas as pd
        except ImportError:
            raise NagaError("to_pandas() needs pandas: pip install pandas") from None
        frames = []
        for key in self.metric_keys():
            s = self.metrics(key)
            frames.append(pd.Series(s.value, index=s.step, name=key).groupby(level=0).last())
        return pd.concat(frames, axis=1).rename_axis("step") if frames else pd.DataFrame()


def load(selector: str | None = None) -> RunRecord:
    """One run by id, unique id prefix or name (default: the latest)."""
    store = Store.open()
    return RunRecord(with_elapsed(store.get(selector)), store)


def runs(
    status: str | Iterable[str] | None = None,
    tags: str | Iterable[str] | None = None,
    where: str | Iterable[str] | None = None,
    name: str | None = None,
    limit: int | None = None,
) -> list[RunRecord]:
    """Runs newest first, filtered like ``naga ls``: ``naga.runs(status="completed",
    tags=["baseline"], where=["lr=0.01", "loss<0.3"])``."""
    from ..store.conditions import parse_conditions

    store = Store.open()
    flt = RunFilter(
        statuses=check_statuses(_strings(status)),
        tags=_strings(tags),
        name_glob=name,
        conditions=parse_conditions(_strings(where)),
        limit=limit,
    )
    unparsed = RunRecord._unparsed
    return [unparsed(store, *row) for row in store.run_docs(flt)]


def _strings(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)
