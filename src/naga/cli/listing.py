"""``naga ls`` itself, without click: called by the click command and by the fast path in
``naga.cli.main``, which skips importing click (a third of `ls`'s time on a slow machine)."""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

from ..present import fmt
from ..present.fmt import parse_columns
from ..present.inert import inert, inert_json
from ..present.terminal import painting, status_cell, style
from ..store import RunFilter, Store
from ..store.conditions import parse_conditions
from ..store.query import check_statuses, parse_since
from .fast import say

NAME_WIDTH = 24
HEADERS = ["ID", "NAME", "STATUS", "STARTED", "DURATION", "GIT", "COMMAND"]


def print_warnings(store: Store) -> None:
    for warning in store.warnings():
        say(f"naga: warning: {inert(warning)}")


def nest_children(runs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """(run, depth): children right under their parent (oldest first) when the parent is
    listed too. Most listings have no such pair: they pass through untouched."""
    listed = {r["id"] for r in runs}
    children: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run.get("parent_id") in listed:
            children.setdefault(run["parent_id"], []).append(run)
    if not children:
        return [(run, 0) for run in runs]
    out: list[tuple[dict[str, Any], int]] = []

    def add(run: dict[str, Any], depth: int) -> None:
        out.append((run, depth))
        for child in reversed(children.get(run["id"], [])):
            add(child, depth + 1)

    for run in runs:
        if run.get("parent_id") not in listed:
            add(run, 0)
    return out


def _cells(
    nested: list[tuple[dict[str, Any], int]],
    now: float,
    extra: list[str],
    values: dict[tuple[str, str], Any],
) -> list[list[str]]:
    """Every row's cells as plain text. The hot loop of `ls --all` (100k rows): one pass,
    each cell made by the cheapest means that gives what ``present.fmt`` would."""
    ago = fmt.Started(now)
    rows = []
    for run, depth in nested:
        name = run["name"]
        if name is None:
            name = "-"
        elif not name.isprintable() or len(name) > NAME_WIDTH:
            name = fmt.truncate(inert(name), NAME_WIDTH)
        command = run["command"] or ""
        if not command.isprintable():
            command = inert(command)
        commit, dirty = run["git_commit"], run["git_dirty"]
        rows.append(
            [
                "└ " + run["id"] if depth else run["id"],
                name,
                run["status"],
                ago(run["started_at"]),
                fmt.duration(run["duration_s"]),
                "-" if dirty is None else fmt.short_commit(commit, dirty),
                *[fmt.value(values.get((run["id"], c))) for c in extra],
                command,
            ]
        )
    return rows


def _table(headers: list[str], rows: list[list[str]], width: int, paint: bool) -> str:
    """``present.terminal.table`` for the run listing, in one format call per row: the id in
    yellow, the status with its symbol and colour, the last column cut to fit."""
    looks = {s: status_cell(s) for s in {row[2] for row in rows}}
    col_w = [len(h) for h in headers]
    for i in range(len(headers) - 1):
        texts = (looks[row[2]][0] for row in rows) if i == 2 else (row[i] for row in rows)
        col_w[i] = max(col_w[i], max(map(len, texts), default=0))
    last_w = max(10, width - sum(col_w[:-1]) - 2 * (len(headers) - 1))
    head = "  ".join(h.ljust(w) for h, w in zip(headers, col_w, strict=True))
    painted = {s: _padded(text, col_w[2], colour, paint) for s, (text, colour) in looks.items()}
    idw = col_w[0]
    id_fmt = f"\033[33m{{:<{idw}}}\033[0m" if paint else f"{{:<{idw}}}"
    line = "  ".join([id_fmt, *(f"{{:<{w}}}" for w in col_w[1:2]), "{}"])
    line += "".join(f"  {{:<{w}}}" for w in col_w[3:-1]) + "  {}"
    form = line.format
    lines = [f"\033[1m{head}\033[0m" if paint else head]
    for row in rows:
        row[2] = painted[row[2]]
        last = row[-1]
        if len(last) > last_w:
            row[-1] = fmt.truncate(last, last_w)
        text = form(*row)
        lines.append(text.rstrip() if text[-1:] == " " else text)
    return "\n".join(lines)


def _padded(text: str, width: int, colour: str | None, paint: bool) -> str:
    padded = text.ljust(width)
    return style(padded, fg=colour) if paint and colour else padded


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
        first = True
        sys.stdout.write("[")
        for doc in store.runs_json(flt):
            sys.stdout.write(("\n" if first else ",\n") + inert_json(doc))
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
    values = store.values([r["id"] for r in runs], extra)
    headers = [*HEADERS[:-1], *[inert(c.upper()) for c in extra], HEADERS[-1]]
    rows = _cells(nest_children(runs), time.time(), extra, values)
    sys.stdout.write(_table(headers, rows, width, painting()) + "\n")
    if not show_all and len(runs) == limit:
        total = store.count(flt)
        if total > limit:
            footer = f"showing {limit} of {total} runs; --all or --limit N for more"
            say(style(footer, dim=True, stream=sys.stderr))  # stdout stays the table
