"""The metric points of a naga run that an MLflow run lacks, sent in order.

Where the state lives: on the server, with the data. naga sends a series' points in the order
they were logged, in chunks that each succeed or fail whole (``mlflow_transport``), and stops
at the first failure, so the server always holds a prefix of each series. Its latest point
(greatest step, then time) marks where that prefix ends, when that point is unambiguous: it
occurs once in the series and every point after it is later. Otherwise (steps that go back, two
points with the same step and millisecond, or a name several processes logged) the server's
whole history of that metric is read and only the points missing from it are sent (MLflow's
database keeps one of identical points). Nothing is kept locally, so a server that was reset,
or an MLflow run deleted there, simply gets everything again.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..sdk import history, series
from ..store.layout import metrics_dir as metrics_of
from .mlflow_store import mlflow_name
from .mlflow_transport import MetricSink, Point, metric_sink

# The run's own metrics, and those of processes forked from it (DataLoader workers: ``pid<N>``,
# a new one each epoch), merged by name. Other ranks' streams (``rank<N>``) stay in naga: they
# repeat rank 0's metrics.
STREAMS = ("main", "sys")
WORKER_STREAM = re.compile(r"pid\d+")


def send_metrics(
    client: Any,
    run: Any,
    run_dir: str,
    on_points: Callable[[int], None] = lambda n: None,
    sink: MetricSink | None = None,
) -> int:
    """Send the points of the naga run in ``run_dir`` that the MLflow ``run`` (as last read
    from the server) lacks, in order and in chunks; returns how many were sent."""
    sink = sink or metric_sink(client)
    run_id = run.info.run_id
    sent = 0
    chunk: list[Point] = []
    for name, points, todo in _unsent(client, run, run_dir):
        steps, times, values = points.steps, points.times, points.values
        for i in todo:
            chunk.append((name, values[i], _ms(times[i]), steps[i]))
            if len(chunk) == sink.chunk:
                sink.send(run_id, chunk)
                sent += len(chunk)
                on_points(len(chunk))
                chunk = []
    if chunk:
        sink.send(run_id, chunk)
        sent += len(chunk)
        on_points(len(chunk))
    return sent


def _unsent(
    client: Any, run: Any, run_dir: str
) -> Iterator[tuple[str, series.Points, Iterable[int]]]:
    """Each metric's name in MLflow, its points, and the indices of those to send."""
    latest = _latest_points(run)
    for name, points, merged in metric_series(run_dir):
        if latest is not None and name not in latest:
            yield name, points, range(len(points))
            continue
        point = latest.get(name) if latest is not None and not merged else None
        done = None if point is None else sent_prefix(points, point.step, point.timestamp)
        if done is not None:
            yield name, points, range(done, len(points))
        else:  # several processes' points in one series: no prefix to trust, the history
            history = client.get_metric_history(run.info.run_id, name)
            yield name, points, missing_points(points, history)


def metric_series(run_dir: str) -> Iterator[tuple[str, series.Points, bool]]:
    """Each metric as MLflow names it, its points and whether several series (streams of
    several processes, or keys MLflow names alike) make it; merged points go in time order.
    A run with several attempts sends one history, the latest attempt's value at each step
    (``naga.sdk.history``)."""
    metrics_dir = metrics_of(run_dir)
    found: dict[str, list[series.Points]] = {}
    for stream in metric_streams(run_dir):
        for key in history.list_keys(metrics_dir, stream):
            points = history.read_points(metrics_dir, stream, key)
            found.setdefault(mlflow_name(key), []).append(points)
    for name, parts in found.items():
        if len(parts) == 1:
            yield name, parts[0], False
        else:
            yield name, _merged(parts), True


def metric_streams(run_dir: str) -> list[str]:
    """The streams sent: the run's own, then its workers' (see ``STREAMS``)."""
    root = metrics_of(run_dir)
    try:
        workers = sorted(n for n in os.listdir(root) if WORKER_STREAM.fullmatch(n))
    except OSError:
        return []
    return [*STREAMS, *workers]


def _merged(parts: list[series.Points]) -> series.Points:
    rows = sorted(
        (t, s, v) for p in parts for s, t, v in zip(p.steps, p.times, p.values, strict=True)
    )
    merged = series.Points()
    for time_s, step, value in rows:
        merged.steps.append(step)
        merged.times.append(time_s)
        merged.values.append(value)
    return merged


def sent_prefix(points: series.Points, step: int, timestamp: int) -> int | None:
    """How many leading points the server holds, given its latest point (step, ms), when that
    point says so unambiguously (see the module docstring); None when only the history can."""
    steps, times = points.steps, points.times
    target = (step, timestamp)
    i = len(steps) - 1
    while i >= 0 and (steps[i], _ms(times[i])) > target:  # all later than the server's latest
        i -= 1
    if i < 0 or (steps[i], _ms(times[i])) != target:
        return None
    j = 0
    while True:  # the same (step, ms) earlier in the series would make it ambiguous
        try:
            j = steps.index(step, j, i)
        except ValueError:
            return i + 1
        if _ms(times[j]) == timestamp:
            return None
        j += 1


def missing_points(points: series.Points, history: Iterable[Any]) -> list[int]:
    """Indices of the points the server's history lacks. A point is its step, time (ms) and
    value: MLflow's database keeps one of identical points, so a series logging the same
    point twice has it once there, and sending it again would change nothing."""
    have = {(m.step, m.timestamp, _as_stored(m.value)) for m in history}
    return [
        i
        for i, (step, time, value) in enumerate(
            zip(points.steps, points.times, points.values, strict=True)
        )
        if (step, _ms(time), _as_stored(value)) not in have
    ]


def _as_stored(value: float) -> float | str:
    """A value as MLflow gives it back: NaN comparable, infinities as the largest floats."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return math.copysign(sys.float_info.max, value)
    return value


def _latest_points(run: Any) -> dict[str, Any] | None:
    """Metric name -> its latest point on the server, or None when this MLflow version does not
    say (every metric's history is then read)."""
    objects = getattr(run.data, "_metric_objs", None)
    if objects is None:
        return None if run.data.metrics else {}
    return {m.key: m for m in objects}


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
