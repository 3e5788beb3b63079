"""``naga ls`` itself, without click: called by the click command and by the fast path in
``naga.cli.main``, which skips importing click (a third of `ls`'s time on a slow machine)."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

from ..store import RunFilter, Store
from ..store.query import check_statuses, parse_since
from ..text import one_line
from . import render
from .fast import say

NAME_WIDTH = 24
HEADERS = ["ID", "NAME", "STATUS", "STARTED", "DURATION", "GIT", "COMMAND"]


def print_warnings(store: Store) -> None:
    for warning in store.warnings():
        say(f"naga: warning: {warning}")


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


def list_runs(
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
        print(
            "No runs match these filters."
            if filtered
            else "No runs yet. Start one with: naga run python train.py"
        )
        return
    width = shutil.get_terminal_size((120, 24)).columns
    now = time.time()
    sys.stdout.write(render.table(HEADERS, [_row(r, now) for r in runs], width) + "\n")
    if not show_all and len(runs) == limit:
        total = store.count(flt)
        if total > limit:
            footer = f"showing {limit} of {total} runs; --all or --limit N for more"
            say(render.style(footer, dim=True, stream=sys.stderr))  # stdout stays the table
