"""How metric points reach MLflow, the fastest way its tracking store allows.

``MlflowClient.log_batch`` turns every point into a protobuf object and back into JSON; for a
million points that conversion alone costs tens of seconds. So:

- a tracking server (``http(s)://``): the points go as the JSON of MLflow's REST API
  (``POST /api/2.0/mlflow/runs/log-batch``, at most 1000 a call), built directly, through
  MLflow's own ``http_request`` (its authentication, TLS settings and retries);
- a database (``sqlite:///``, ``postgresql://``, ...): the points are inserted in bulk through
  MLflow's own store (its engine, schema check and table definitions), many thousands per
  transaction, and the run's latest value of each metric is updated in the same transaction,
  as MLflow's ``log_batch`` does it. The ORM path of ``log_batch`` spends ~0.1 ms a point;
  a bulk insert, a few microseconds;
- anything else (``file:``, a plugin store without either): ``MlflowClient.log_batch``.

Each ``send`` is all-or-nothing (one request, or one transaction), and the sender sends a
series in order, so the store always holds a prefix of each series (see ``mlflow_export``).
A point the database already holds makes the bulk insert fail whole: that chunk then goes
through ``log_batch``, which skips what is already there.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, Protocol

from .mlflow_store import MAX_METRICS_PER_BATCH

# (key, value, timestamp in ms, step): one metric point as MLflow stores it
Point = tuple[str, float, int, int]

LOG_BATCH_ENDPOINT = "/api/2.0/mlflow/runs/log-batch"
SQL_CHUNK = 20_000  # points per transaction: big enough to amortise, small enough to resume
_LARGEST = sys.float_info.max  # SQL has no infinities: MLflow stores them as the extreme floats


class MetricSink(Protocol):
    chunk: int  # how many points one ``send`` takes at most

    def send(self, run_id: str, points: list[Point]) -> None: ...


def metric_sink(client: Any) -> MetricSink:
    """The fastest way into ``client``'s tracking store (see the module docstring)."""
    store = _store_of(client)
    if store is not None and callable(getattr(store, "get_host_creds", None)):
        try:
            return RestSink(store.get_host_creds)
        except ImportError:
            pass
    if store is not None and hasattr(store, "ManagedSessionMaker"):
        try:
            return SqlSink(store, ClientSink(client))
        except ImportError:
            pass
    return ClientSink(client)


def _store_of(client: Any) -> Any:
    """The tracking store behind an ``MlflowClient`` (MLflow keeps it private; None when a
    version moves it, and the client's own ``log_batch`` is used)."""
    try:
        return client._tracking_client.store
    except AttributeError:
        return None


class ClientSink:
    chunk = MAX_METRICS_PER_BATCH

    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, run_id: str, points: list[Point]) -> None:
        from mlflow.entities import Metric

        for start in range(0, len(points), self.chunk):
            metrics = [Metric(*point) for point in points[start : start + self.chunk]]
            self.client.log_batch(run_id, metrics=metrics)


class RestSink:
    chunk = MAX_METRICS_PER_BATCH

    def __init__(self, host_creds: Callable[[], Any]) -> None:
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        self.host_creds = host_creds
        self._request: Any = http_request
        self._verify: Any = verify_rest_response

    def send(self, run_id: str, points: list[Point]) -> None:
        body = {
            "run_id": run_id,
            "metrics": [
                {"key": key, "value": _json_double(value), "timestamp": ms, "step": step}
                for key, value, ms, step in points
            ],
        }
        response = self._request(self.host_creds(), LOG_BATCH_ENDPOINT, "POST", json=body)
        self._verify(response, LOG_BATCH_ENDPOINT)


def _json_double(value: float) -> float | str:
    """A double as protobuf's JSON mapping writes it: JSON has no NaN or infinities."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


class SqlSink:
    chunk = SQL_CHUNK

    def __init__(self, store: Any, fallback: ClientSink) -> None:
        from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric

        self.store = store
        self.fallback = fallback
        self.metrics = SqlMetric.__table__
        self.latest_model: Any = SqlLatestMetric

    def send(self, run_id: str, points: list[Point]) -> None:
        from sqlalchemy.exc import IntegrityError

        if not points:
            return
        rows, newest = _rows(run_id, points)
        conflict = False
        with self._write_session() as session:
            try:
                self._insert(session, rows)
                self._update_latest(session, run_id, newest)
            except IntegrityError:  # a point already there: MLflow's own path skips it
                session.rollback()
                conflict = True
        if conflict:
            self.fallback.send(run_id, points)

    def _write_session(self) -> Any:
        try:
            return self.store.ManagedSessionMaker(read_only=False)
        except TypeError:  # MLflow before 3.x: every session may write
            return self.store.ManagedSessionMaker()

    def _insert(self, session: Any, rows: list[Row]) -> None:
        """SQLite's own ``executemany`` where it is the database (SQLAlchemy's per-row
        parameter handling would cost more than the insert); elsewhere SQLAlchemy's bulk
        insert, which sends many rows per statement."""
        from sqlalchemy import insert

        connection = session.connection()
        if connection.dialect.name != "sqlite":
            session.execute(insert(self.metrics), [_as_dict(row) for row in rows])
            return
        compiled = insert(self.metrics).compile(dialect=connection.dialect, column_keys=COLUMNS)
        order = [COLUMNS.index(name) for name in compiled.positiontup or ()]
        params: list[tuple[Any, ...]] = list(rows)
        if order != list(range(len(COLUMNS))):
            params = [tuple(row[i] for i in order) for row in rows]
        connection.exec_driver_sql(compiled.string, params)

    def _update_latest(self, session: Any, run_id: str, newest: dict[str, Row]) -> None:
        """The run's latest point of each metric: the greatest (step, timestamp, value), as
        MLflow's ``log_batch`` keeps it, its rows locked while compared where the database
        can lock rows."""
        model = self.latest_model
        keys = sorted(newest)
        for start in range(0, len(keys), 500):  # MLflow's bound on parameters per query
            held: list[Any] = (
                session.query(model)
                .filter(model.run_uuid == run_id, model.key.in_(keys[start : start + 500]))
                .with_for_update()
                .all()
            )
            for latest in held:
                row = _as_dict(newest.pop(latest.key))
                if (row["step"], row["timestamp"], row["value"]) > (
                    latest.step,
                    latest.timestamp,
                    latest.value,
                ):
                    for name in ("value", "timestamp", "step", "is_nan"):
                        setattr(latest, name, row[name])
        session.add_all(model(**_as_dict(row)) for row in newest.values())


# a row of MLflow's ``metrics`` table, in the order of COLUMNS
Row = tuple[str, float, int, int, bool, str]
COLUMNS = ["key", "value", "timestamp", "step", "is_nan", "run_uuid"]


def _as_dict(row: Row) -> dict[str, Any]:
    return dict(zip(COLUMNS, row, strict=True))


def _rows(run_id: str, points: list[Point]) -> tuple[list[Row], dict[str, Row]]:
    """The points as rows of MLflow's ``metrics`` table, each once (the table's key is the
    whole row), and each metric's newest row. NaN is stored as 0 flagged ``is_nan``, and the
    infinities as the extreme floats, as MLflow stores them."""
    rows: list[Row] = []
    seen: set[Row] = set()
    newest: dict[str, Row] = {}
    for key, value, ms, step in points:
        if value != value:
            row = (key, 0.0, ms, step, True, run_id)
        elif -_LARGEST <= value <= _LARGEST:
            row = (key, value, ms, step, False, run_id)
        else:
            row = (key, math.copysign(_LARGEST, value), ms, step, False, run_id)
        if row in seen:
            continue
        seen.add(row)
        rows.append(row)
        best = newest.get(key)
        if best is None or (step, ms, row[1]) > (best[3], best[2], best[1]):
            newest[key] = row
    return rows, newest
