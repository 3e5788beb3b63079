"""``naga ls`` itself, without click: called by the click command and by the fast path in
``naga.cli.main``, which skips importing click (a third of `ls`'s time on a slow machine)."""

from __future__ import annotations

import gc
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..errors import UsageError
from ..present import fmt
from ..present.fmt import parse_columns
from ..present.inert import inert, inert_json
from ..present.terminal import painting, status_cell, style
from ..store import RunFilter, Store
from ..store.conditions import parse_conditions
from ..store.query import check_statuses, parse_since
from .fast import say

DEFAULT_LIMIT = 20
NAME_WIDTH = 24
HEADERS = ["ID", "NAME", "STATUS", "STARTED", "DURATION", "GIT", "COMMAND"]


def print_warnings(store: Store) -> None:
    for warning in store.warnings():
        say(f"naga: warning: {inert(warning)}")


def nest_children(ids: Sequence[str], parents: Sequence[str | None]) -> tuple[list[int], list[int]]:
    """The order to list runs in, children right under their parent (oldest first) when the
    parent is listed too, and each one's depth: two empty lists when no run has its parent
    listed, as in most listings. Walked without recursion: a pulled chain of a million
    parents is a long list, not a crash."""
    listed = set(ids)
    children: dict[str, list[int]] = {}
    for i, parent in enumerate(parents):
        if parent in listed:
            children.setdefault(parent, []).append(i)
    if not children:
        return [], []
    order: list[int] = []
    depths: list[int] = []
    stack = [(i, 0) for i in reversed(range(len(ids))) if parents[i] not in listed]
    while stack:
        i, depth = stack.pop()
        order.append(i)
        depths.append(depth)
        stack += [(child, depth + 1) for child in children.pop(ids[i], [])]
    return order, depths


def _columns(
    found: list[tuple[Any, ...]],
    now: float,
    extra: list[str],
    values: dict[tuple[str, str], Any],
    nest: bool = True,
) -> list[list[str]]:
    """The table's columns as plain text from the index's (``Store.table_columns``), each
    built in one comprehension or ``map`` (the hot path of `ls --all`: 100k rows): a name or
    command that is printable and fits is used as it is; starts within one hour share their
    date (``present.fmt.Started``). ``nest``: children under their parents (not when the
    user asked for an order with --sort)."""
    order, depths = nest_children(found[0], found[-1]) if nest else ([], [])
    if order:
        found = [tuple(column[i] for i in order) for column in found]
    ids, names, statuses, starts, seconds, commits, dirties, commands, _ = found
    more = [[fmt.value(values.get((i, c))) for i in ids] for c in extra]
    shown_ids = [i if i.isprintable() else inert(i) for i in ids]  # a directory's name
    if depths:
        shown_ids = ["└ " + i if d else i for i, d in zip(shown_ids, depths, strict=True)]
    return [
        shown_ids,
        [n if n and len(n) <= NAME_WIDTH and n.isprintable() else _name(n) for n in names],
        list(statuses),
        list(map(fmt.Started(now), starts)),
        list(map(_duration, seconds)),
        list(map(_commit, commits, dirties)),
        *more,
        [c if c and c.isprintable() else _command(c) for c in commands],
    ]


def _name(name: str | None) -> str:
    if not name:
        return "-"
    if len(name) <= NAME_WIDTH and name.isprintable():
        return name
    return fmt.truncate(inert(name), NAME_WIDTH)


def _duration(seconds: object) -> str:
    if type(seconds) is float and 0 <= seconds < 60:
        return f"{seconds:.1f}s"
    return fmt.duration(seconds)


def _commit(commit: str | None, dirty: int | None) -> str:
    if dirty is None:
        return "-"
    return fmt.short_commit(commit, dirty)


def _command(command: str | None) -> str:
    if not command:
        return ""
    return command if command.isprintable() else inert(command)


def _table(headers: list[str], columns: list[list[str]], width: int, paint: bool) -> str:
    """``present.terminal.table`` for the run listing, column by column and one format call
    per row: the id in yellow, the status with its symbol and colour, the last column cut to
    fit. Statuses come in as the index holds them and are looked up once each."""
    looks = {s: status_cell(s) for s in set(columns[2])}
    col_w = [len(h) for h in headers]
    for i, column in enumerate(columns[:-1]):
        texts = [looks[s][0] for s in looks] if i == 2 else column
        col_w[i] = max(col_w[i], max(map(len, texts), default=0))
    last_w = max(10, width - sum(col_w[:-1]) - 2 * (len(headers) - 1))
    painted = {s: _padded(text, col_w[2], colour, paint) for s, (text, colour) in looks.items()}
    columns[2] = [painted[s] for s in columns[2]]
    last = columns[-1]
    if max(map(len, last), default=0) > last_w:
        columns[-1] = [c if len(c) <= last_w else fmt.truncate(c, last_w) for c in last]
    id_form = f"\033[33m{{:<{col_w[0]}}}\033[0m" if paint else f"{{:<{col_w[0]}}}"
    cells = [id_form, *(f"{{:<{w}}}" for w in col_w[1:-1]), "{}"]
    cells[2] = "{}"  # already padded and painted
    lines = list(map("  ".join(cells).format, *columns))
    for i in [i for i, command in enumerate(columns[-1]) if not command or command[-1].isspace()]:
        lines[i] = lines[i].rstrip()
    head = "  ".join(h.ljust(w) for h, w in zip(headers, col_w, strict=True))
    return "\n".join([f"\033[1m{head}\033[0m" if paint else head, *lines])


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
    sort: str | None = None,
) -> RunFilter:
    return RunFilter(
        statuses=check_statuses(statuses),
        name_glob=name_glob,
        tags=tags,
        since=parse_since(since) if since else None,
        limit=limit,
        conditions=parse_conditions(where),
        sort=_sort_key(sort),
    )


def _sort_key(sort: str | None) -> str | None:
    """``--sort`` as given, once checked: a key, with at most one sign before it (``--sort ''``
    listed in the default order and ``--sort=--name`` by name, each without a word)."""
    if sort is None:
        return None
    key = sort[1:] if sort[:1] in ("-", "+") else sort
    if not key.strip() or key[:1] in ("-", "+"):
        raise UsageError(
            f"--sort {sort!r}: give a key, with one - before it to sort descending:"
            " --sort started, --sort=-metric.acc"
        )
    return sort


def list_runs(
    statuses: tuple[str, ...],
    name_glob: str | None,
    tags: tuple[str, ...],
    since: str | None,
    limit: int | None,
    show_all: bool,
    as_json: bool,
    where: tuple[str, ...] = (),
    columns: str | None = None,
    archived: bool = False,
    sort: str | None = None,
    remote: str | None = None,
) -> None:
    """List runs, newest first (or by ``sort``)."""
    limit_or_all = None if show_all else (limit or DEFAULT_LIMIT)
    flt = make_filter(statuses, name_glob, tags, since, limit_or_all, where, sort)
    extra = parse_columns(columns)
    filtered = bool(statuses or name_glob or tags or since or where)
    if remote is not None:
        if archived:  # it listed the remote's runs, as if --archived were not there
            both = "--archived lists this store's archive, --remote a remote's runs"
            raise UsageError(f"{both}: give one of them")
        from .remotels import remote_store

        with remote_store(remote) as found:
            empty = "No runs match these filters." if filtered else f"No runs on {remote}."
            show_listing(found, flt, extra, as_json, empty)
        return
    store = Store.open()
    if archived:
        from ..store.archive import archive_store

        store = archive_store(store)
    empty = (
        "No runs match these filters."
        if filtered
        else "No archived runs."
        if archived
        else "No runs yet. Start one with: naga run python train.py"
    )
    show_listing(store, flt, extra, as_json, empty)


def show_listing(store: Store, flt: RunFilter, extra: list[str], as_json: bool, empty: str) -> None:
    """The runs of ``store`` that ``flt`` selects, as JSON or as the table (``empty`` when
    there are none), warnings on stderr: `ls` of this store, the archive or a remote's records."""
    store.check_keys(flt)
    if as_json:
        first, docs = True, store.runs_json(flt)  # an index that fails does before the "["
        sys.stdout.write("[")
        for doc in docs:
            sys.stdout.write(("\n" if first else ",\n") + inert_json(doc))
            first = False
        sys.stdout.write("]\n" if first else "\n]\n")
        print_warnings(store)
        return
    # A 100k-run table is a few hundred thousand tuples, lists and strings, none in a cycle;
    # the cycle collector would walk them again each time it ran (a sixth of the time).
    gc.disable()
    try:
        _print_table(store, flt, extra, flt.limit, empty)
    finally:
        gc.enable()


def _print_table(
    store: Store, flt: RunFilter, extra: list[str], limit: int | None, empty: str
) -> None:
    """The table of runs on stdout (``empty`` when there are none), the footer on stderr."""
    found = store.table_columns(flt)
    print_warnings(store)
    if not found[0]:
        print(empty)
        return
    width = shutil.get_terminal_size((120, 24)).columns
    values = store.values(list(found[0]), extra)
    headers = [*HEADERS[:-1], *[inert(c.upper()) for c in extra], HEADERS[-1]]
    cells = _columns(found, time.time(), extra, values, nest=not flt.sort)
    sys.stdout.write(_table(headers, cells, width, painting()) + "\n")
    if limit is not None and len(found[0]) == limit:
        total = store.count(flt)
        if total > limit:
            footer = f"showing {limit} of {total} runs; --all or --limit N for more"
            say(style(footer, dim=True, stream=sys.stderr))  # stdout stays the table
