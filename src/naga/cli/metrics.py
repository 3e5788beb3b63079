"""``naga metrics``: a run's metric series, as a summary, a table, CSV or JSON."""

from __future__ import annotations

import csv
import os
import sys

import click

from .. import jsonsafe
from ..errors import NagaError
from ..sdk import history, series
from ..store import Store
from ..store.sdkstate import read_state, stream_names
from . import render


def _stream_dir(store: Store, run_id: str, stream: str) -> str:
    return store.layout.stream_dir(run_id, stream)


def _selected(
    store: Store, run_id: str, keys: tuple[str, ...], stream: str | None
) -> list[tuple[str, str]]:
    """(stream, key) pairs to dump: the keys asked for, else every key of the stream(s)."""
    streams = [stream] if stream else ["main", "sys"]
    known = stream_names(store.layout, run_id)
    if stream and stream not in known:
        raise NagaError(
            f"run {run_id} has no stream {stream!r} (it has: {', '.join(known) or 'none'})"
        )
    metrics_dir = store.layout.metrics_dir(run_id)
    available = [(s, k) for s in streams for k in history.list_keys(metrics_dir, s)]
    if not keys:
        return available
    chosen = []
    for key in keys:
        found = [(s, k) for s, k in available if k == key]
        if not found:
            names = ", ".join(sorted({k for _, k in available})) or "none"
            raise NagaError(f"run {run_id} has no metric {key!r} (its metrics: {names})")
        chosen += found[:1]
    return chosen


@click.command("metrics")
@click.argument("run")
@click.option("--key", "-k", "keys", multiple=True, help="Only this metric (repeatable).")
@click.option("--stream", help="Another process's stream (rank1, pid1234); default main + sys.")
@click.option("--csv", "as_csv", is_flag=True, help="key,step,time,value rows.")
@click.option("--json", "as_json", is_flag=True, help="{key: {step, time, value}} as JSON.")
def metrics(
    run: str, keys: tuple[str, ...], stream: str | None, as_csv: bool, as_json: bool
) -> None:
    """Dump the metric series of RUN: a summary per metric, or the points with --key, --csv
    or --json."""
    if as_csv and as_json:
        raise click.UsageError("choose one of --csv and --json")
    store = Store.open()
    run_id = store.resolve(run, newest=True)
    chosen = _selected(store, run_id, keys, stream)
    if not (keys or as_csv or as_json):
        _print_summary(store, run_id, chosen)
        return
    points = {
        key: history.read_points(store.layout.metrics_dir(run_id), s, key) for s, key in chosen
    }
    if as_json:
        doc = {
            key: {
                "step": list(p.steps),
                "time": list(p.times),
                "value": list(p.values),
            }
            for key, p in points.items()
        }
        sys.stdout.write(jsonsafe.dumps({"run": run_id, "metrics": doc}))
        sys.stdout.write("\n")
    elif as_csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["key", "step", "time", "value"])
        for key, p in points.items():
            out.writerows(
                (key, s, repr(t), repr(v))
                for s, t, v in zip(p.steps, p.times, p.values, strict=True)
            )
    else:
        _print_points(points)


def _print_points(points: dict[str, series.Points]) -> None:
    rows: list[list[render.Cell]] = []
    for key, p in points.items():
        for s, t, v in zip(p.steps, p.times, p.values, strict=True):
            rows.append(
                [(key, None), (str(s), None), (render.value(v), None), (render.clock(t), None)]
            )
    click.echo(render.table(["METRIC", "STEP", "VALUE", "TIME"], rows, 200))


def _print_summary(store: Store, run_id: str, chosen: list[tuple[str, str]]) -> None:
    """From each stream's state.json: no series is read."""
    if not chosen:
        click.echo(f"Run {run_id} has no metrics.")
        return
    states = {
        s: read_state(os.path.join(_stream_dir(store, run_id, s), "state.json")) for s, _ in chosen
    }
    rows: list[list[render.Cell]] = []
    for stream, key in chosen:
        stats = (states[stream].get("metrics") or {}).get(key) or {}
        cells = [stats.get(k) for k in ("last", "min", "max", "step", "count")]
        rows.append([(key, None), *((render.value(c), None) for c in cells)])
    click.echo(render.table(["METRIC", "LAST", "MIN", "MAX", "STEP", "POINTS"], rows, 200))
