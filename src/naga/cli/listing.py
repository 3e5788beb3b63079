"""``naga ls`` itself, without click: called by the click command and by the fast path in
``naga.cli.main``, which skips importing click (a third of `ls`'s time on a slow machine)."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

from ..errors import UsageError
from ..store import RunFilter, Store
from ..store.conditions import parse_conditions
from ..store.query import check_statuses, parse_since
from ..text import one_line
from . import render
from .fast import say

NAME_WIDTH = 24
HEADERS = ["ID", "NAME", "STATUS", "STARTED", "DURATION", "GIT", "COMMAND"]


def print_warnings(store: Store) -> None:
    for warning in store.warnings():
        say(f"naga: warning: {warning}")


def _row(
    run: dict[str, Any], now: float, extra: list[str], values: dict[tuple[str, str], Any]
) -> list[render.Cell]:
    name = render.truncate(one_line(run.get("name") or "-"), NAME_WIDTH)
    return [
        (("└ " if run.get("depth") else "") + run["id"], "yellow"),
        (name, None),
        render.status_cell(run.get("status", "?")),
        (render.started(run.get("started_at"), now), None),
        (render.duration(run.get("duration_s")), None),
        (render.short_commit(run["git_commit"], run["git_dirty"]), None),
        *[(render.value(values.get((run["id"], c))), None) for c in extra],
        (one_line(run.get("command") or ""), None),
    ]


def nest_children(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Children right under their parent (oldest first) when the parent is listed too."""
    listed = {r["id"] for r in runs}
    children: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run.get("parent_id") in listed:
            children.setdefault(run["parent_id"], []).append(run)
    out: list[dict[str, Any]] = []

    def add(run: dict[str, Any], depth: int) -> None:
        out.append({**run, "depth": depth})
        for child in reversed(children.get(run["id"], [])):
            add(child, depth + 1)

    for run in runs:
        if run.get("parent_id") not in listed:
            add(run, 0)
    return out


def parse_columns(text: str | None) -> list[str]:
    columns = [c.strip() for c in (text or "").split(",") if c.strip()]
    for column in columns:
        if column.startswith(("param.", "metric.")) and not column.partition(".")[2]:
            raise UsageError(f"--columns {column!r} names no key: write param.lr or metric.loss")
    return columns


def make_filter(
    statuses: tuple[str, ...],
    name_glob: str | None,
    tags: tuple[str, ...],
    since: str | None,
    limit: int | None,
    where: tuple[str, ...] = (),
) -> RunFilter:
    return RunFilter(
        statuses=check_statuses(statuses),
        name_glob=name_glob,
        tags=tags,
        since=parse_since(since) if since else None,
        limit=limit,
        conditions=parse_conditions(where),
    )


def list_runs(
    statuses: tuple[str, ...],
    name_glob: str | None,
    tags: tuple[str, ...],
    since: str | None,
    limit: int,
    show_all: bool,
    as_json: bool,
    where: tuple[str, ...] = (),
    columns: str | None = None,
    archived: bool = False,
) -> None:
    """List runs, newest first."""
    flt = make_filter(statuses, name_glob, tags, since, None if show_all else limit, where)
    extra = parse_columns(columns)
    store = Store.open()
    if archived:
        from ..store.archive import archive_store

        store = archive_store(store)
    if as_json:
        first, docs = True, store.runs_json(flt)  # an index that fails does before the "["
        sys.stdout.write("[")
        for doc in docs:
            sys.stdout.write(("\n" if first else ",\n") + doc)
            first = False
        sys.stdout.write("]\n" if first else "\n]\n")
        print_warnings(store)
        return
    runs = store.table_rows(flt)
    print_warnings(store)
    if not runs:
        filtered = statuses or name_glob or tags or since or where
        print(
            "No runs match these filters."
            if filtered
            else "No archived runs."
            if archived
            else "No runs yet. Start one with: naga run python train.py"
        )
        return
    width = shutil.get_terminal_size((120, 24)).columns
    now = time.time()
    values = store.values([r["id"] for r in runs], extra)
    headers = [*HEADERS[:-1], *[c.upper() for c in extra], HEADERS[-1]]
    rows = [_row(r, now, extra, values) for r in nest_children(runs)]
    sys.stdout.write(render.table(headers, rows, width) + "\n")
    if not show_all and len(runs) == limit:
        total = store.count(flt)
        if total > limit:
            footer = f"showing {limit} of {total} runs; --all or --limit N for more"
            say(render.style(footer, dim=True, stream=sys.stderr))  # stdout stays the table
