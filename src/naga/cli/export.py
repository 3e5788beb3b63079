"""``naga export``: send runs to other tools. ``naga export mlflow`` is the MLflow bridge (the
work is in ``naga.integrations.mlflow_export``)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..errors import UsageError
from .selection import selection_options


@click.group("export")
def export() -> None:
    """Send runs to other tools (MLflow)."""


@export.command("mlflow")
@selection_options
@click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    help="The MLflow server (http://host:5000) or store (sqlite:///mlflow.db); default:"
    " $MLFLOW_TRACKING_URI.",
)
@click.option(
    "--experiment",
    envvar="MLFLOW_EXPERIMENT_NAME",
    help="The MLflow experiment, created if missing; default: $MLFLOW_EXPERIMENT_NAME, else"
    " Default.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    help="Runs sent at once; default: 4 to a server (mlflow server's default number of"
    " workers), 1 to a database.",
)
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Keep going: send what the runs log as they run, their ending when they end, and"
    " runs that start and match, every second, until Ctrl-C.",
)
def mlflow(
    runs: tuple[str, ...],
    every: bool,
    tracking_uri: str | None,
    experiment: str | None,
    jobs: int | None,
    follow: bool,
    **filters: Any,
) -> None:
    """Send RUNS (ids, prefixes or names; or --all, or ls's filters) to MLflow: params,
    metrics with their steps and times, tags, status, times, git state, output and artifacts.

    Run it again at any time: each naga run stays one MLflow run (tag naga.id), and only what
    the server lacks is sent, so a run still running is completed later and an export that
    was cut short resumes where it stopped. --follow mirrors runs live.
    """
    if not tracking_uri:
        raise UsageError(
            "say where MLflow is: --tracking-uri http://HOST:5000 (or sqlite:///mlflow.db),"
            " or set MLFLOW_TRACKING_URI"
        )
    from ..integrations.mlflow_store import load_mlflow

    load_mlflow()  # a missing extra is named before anything else is looked at
    from ..integrations.mlflow_export import Exporter, quiet_mlflow

    quiet_mlflow()
    records = select_records(runs, every, filters)
    if follow:
        _follow(Exporter(tracking_uri, experiment, recheck=True), runs, every, filters)
        return
    if not records:
        click.echo("No runs match; nothing exported.")
        return
    exporter = Exporter(tracking_uri, experiment)
    _export_once(exporter, records, jobs or exporter.default_jobs)


def _export_once(exporter: Any, records: list[Any], jobs: int) -> None:
    new = updated = 0
    with progress(len(records)) as advance:
        sent = exporter.export_many(records, jobs, on_points=lambda n: advance(0, n))
        try:
            for record, result in sent:
                advance(1, 0)
                new += result.created
                updated += result.changed and not result.created
                _render(record, result)
        except KeyboardInterrupt:
            sent.close()  # the runs in flight stop at their next chunk
            click.echo("naga: export interrupted; run it again to resume", err=True)
            raise
    click.echo(
        f"{len(records)} run{'s' if len(records) != 1 else ''} in MLflow experiment"
        f" {exporter.experiment_name!r}: {new} new, {updated} updated,"
        f" {len(records) - new - updated} already up to date",
        err=True,
    )


def _follow(exporter: Any, runs: tuple[str, ...], every: bool, filters: dict[str, Any]) -> None:
    """A line per run each time something of it was sent; a server that fails is one warning
    until it answers again; Ctrl-C is one line and exit 130."""
    from ..integrations.mlflow_follow import Follower

    follower = Follower(exporter, lambda: select_records(runs, every, filters))
    failing = False
    told: set[str] = set()  # a warning repeats at every export of its run: told once
    try:
        for round_ in follower.follow():
            for record, result in round_.sent:
                result.warnings = [w for w in result.warnings if w not in told]
                told.update(result.warnings)
                if result.changed or result.warnings:
                    _render(record, result)
            if round_.error is not None and not failing:
                click.echo(f"naga: warning: {round_.error}; trying again every second", err=True)
            failing = round_.error is not None
    except KeyboardInterrupt:
        click.echo("naga: stopped following; run it again to go on", err=True)
        raise


def _render(record: Any, result: Any) -> None:
    for warning in result.warnings:
        click.echo(f"naga: warning: run {record.id}: {warning}", err=True)
    click.echo(f"{record.id}  {result.mlflow_id}  {describe(result)}")


def select_records(runs: tuple[str, ...], every: bool, filters: dict[str, Any]) -> list[Any]:
    """The runs named and those matching the filters, each once, oldest first (a parent
    before its children, so a child can point to its parent's MLflow run)."""
    from ..sdk.records import RunRecord
    from ..store import Store, with_elapsed
    from .selection import select_ids

    store = Store.open()
    _, ids = select_ids(store, runs, filters, every=every, verb="export")
    records = [RunRecord(with_elapsed(store.get(run_id)), store) for run_id in ids]
    return sorted(records, key=lambda r: str(r.meta.get("started_at") or ""))


def describe(result: Any) -> str:
    if not result.changed:
        return f"up to date ({result.status})"
    parts = [
        f"{result.points:,} points" if result.points else "",
        f"{result.params} params" if result.params else "",
        f"{result.artifacts} files" if result.artifacts else "",
    ]
    done = ", ".join(p for p in parts if p) or "tags"
    return f"{'new' if result.created else 'updated'}: {done} ({result.status})"


@contextmanager
def progress(total: int) -> Iterator[Any]:
    """``advance(runs, points)``: a progress bar on stderr when it is a terminal, else nothing."""
    if not sys.stderr.isatty():
        yield lambda runs, points: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (
        TextColumn("export"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs, {task.fields[points]:,} points sent"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("export", total=total, points=0)
        sent = 0
        lock = threading.Lock()  # runs are sent from several threads

        def advance(runs: int, points: int) -> None:
            nonlocal sent
            with lock:
                sent += points
                bar.update(task, advance=runs, points=sent)

        yield advance
