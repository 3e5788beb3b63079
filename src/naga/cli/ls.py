"""``naga ls``: list runs, newest first."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

import click

from ..store import RunFilter, Store
from ..store.query import check_statuses, parse_since
from ..text import one_line
from . import render

NAME_WIDTH = 24
HEADERS = ["ID", "NAME", "STATUS", "STARTED", "DURATION", "GIT", "COMMAND"]


def print_warnings(store: Store) -> None:
    for warning in store.warnings():
        click.echo(f"naga: warning: {warning}", err=True)


def _row(run: dict[str, Any], now: float) -> list[render.Cell]:
    return [
        (run["id"], "yellow"),
        (render.truncate(one_line(run.get("name") or "-"), NAME_WIDTH), None),
        render.status_cell(run.get("status", "?")),
        (render.started(run.get("started_at"), now), None),
        (render.duration(run.get("duration_s")), None),
        (render.short_commit(run["git_commit"], run["git_dirty"]), None),
        (one_line(run.get("command") or ""), None),
    ]


def filter_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--status", "statuses", multiple=True, help="Only runs in this status."),
            click.option("--name", "name_glob", help="Only runs whose name matches this glob."),
            click.option("--tag", "tags", multiple=True, help="Only runs with this tag."),
            click.option("--since", help="Only runs started since: 2d, 12h, 30m, 2026-11-01."),
        ]
    ):
        f = option(f)
    return f


def make_filter(
    statuses: tuple[str, ...],
    name_glob: str | None,
    tags: tuple[str, ...],
    since: str | None,
    limit: int | None,
) -> RunFilter:
    return RunFilter(
        statuses=check_statuses(statuses),
        name_glob=name_glob,
        tags=tags,
        since=parse_since(since) if since else None,
        limit=limit,
    )


@click.command("ls")
@filter_options
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--all", "-a", "show_all", is_flag=True, help="List every matching run.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of run objects.")
def ls(
    statuses: tuple[str, ...],
    name_glob: str | None,
    tags: tuple[str, ...],
    since: str | None,
    limit: int,
    show_all: bool,
    as_json: bool,
) -> None:
    """List runs, newest first."""
    flt = make_filter(statuses, name_glob, tags, since, None if show_all else limit)
    store = Store.open()
    if as_json:
        first = True
        sys.stdout.write("[")
        for doc in store.runs_json(flt):
            sys.stdout.write(("\n" if first else ",\n") + doc)
            first = False
        sys.stdout.write("]\n" if first else "\n]\n")
        print_warnings(store)
        return
    runs = store.table_rows(flt)
    print_warnings(store)
    if not runs:
        filtered = statuses or name_glob or tags or since
        click.echo(
            "No runs match these filters."
            if filtered
            else "No runs yet. Start one with: naga run python train.py"
        )
        return
    width = shutil.get_terminal_size((120, 24)).columns
    now = time.time()
    click.echo(render.table(HEADERS, [_row(r, now) for r in runs], width))
    if not show_all and len(runs) == limit:
        total = store.count(flt)
        if total > limit:
            footer = f"showing {limit} of {total} runs; --all or --limit N for more"
            click.echo(render.style(footer, dim=True), err=True)  # stdout stays the table
