"""The filter box's language and the rows of the runs table, read from the index.

    failed  status:running      a status
    #sweep1  tag:sweep1         a tag
    name:base*                  a name glob
    since:2d                    started within a span (or since a date)
    lr=0.01  param.opt=adam  loss<0.3   a --where condition on params and metrics
    note~diverged               the note holds this text
    anything else               a piece of the id, name, command, a tag or the note

Everything goes into the index query (``RunFilter``; free words as ``LIKE`` patterns over the id,
name, command and tags, ASCII letters in any case), so filtering 10,000 runs reads no run
directory and builds only the rows that match. Rows are cached by the index columns they come
from (``RowCache``): clearing a filter, or a live change to one run, rebuilds no other row.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any

from ..errors import UsageError
from ..present.fmt import short_commit, value
from ..present.inert import inert
from ..store import RunFilter, Store
from ..store.conditions import Condition, parse_condition
from ..store.query import STATUSES, parse_since
from ..store.timefmt import parse_iso

_OPERATORS = "=<>!~"  # ~: note~TEXT (store.conditions)


@dataclass(frozen=True)
class Query:
    """What the table shows: a filter, free-text words and the extra param/metric columns."""

    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    name_glob: str | None = None
    since: str | None = None
    conditions: tuple[Condition, ...] = ()
    words: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()

    def run_filter(self) -> RunFilter:
        return RunFilter(
            statuses=self.statuses,
            name_glob=self.name_glob,
            tags=self.tags,
            since=self.since,
            limit=None,
            conditions=self.conditions,
            words=self.words,
        )

    @property
    def filtered(self) -> bool:
        return bool(
            self.statuses or self.tags or self.name_glob or self.since or self.conditions
        ) or bool(self.words)


def parse_query(text: str, columns: tuple[str, ...] = ()) -> Query:
    """The filter box's text as a Query; UsageError says what cannot be read."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()  # an unclosed quote: take the words as they are
    found: dict[str, list[Any]] = {"statuses": [], "tags": [], "conditions": [], "words": []}
    name_glob = since = None
    for token in tokens:
        head, colon, rest = token.partition(":")
        if token in STATUSES or (head == "status" and colon):
            status = rest if colon else token
            if status not in STATUSES:
                raise UsageError(f"unknown status '{status}'; choose from {', '.join(STATUSES)}")
            found["statuses"].append(status)
        elif token.startswith("#") and len(token) > 1:
            found["tags"].append(token[1:])
        elif head == "tag" and colon and rest:
            found["tags"].append(rest)
        elif head == "name" and colon and rest:
            name_glob = rest if any(c in rest for c in "*?[") else f"*{rest}*"
        elif head == "since" and colon and rest:
            since = parse_since(rest)
        elif any(op in token for op in _OPERATORS):
            found["conditions"].append(parse_condition(token))
        else:
            found["words"].append(token)
    return Query(
        statuses=tuple(found["statuses"]),
        tags=tuple(found["tags"]),
        name_glob=name_glob,
        since=since,
        conditions=tuple(found["conditions"]),
        words=tuple(found["words"]),
        columns=columns,
    )


# The index columns a table row is made of; a row is rebuilt only when one of them changes.
ROW_COLUMNS = "id, name, status, started_at, duration_s, git_commit, git_dirty, command, parent_id"
Raw = tuple[Any, ...]


@dataclass(slots=True)
class RunRow:
    """One line of the table: what it shows, precomputed once per run; times move live."""

    id: str
    name: str
    status: str
    started_at: str | None
    duration_s: float | None
    git: str
    command: str
    parent_id: str | None
    depth: int = 0
    values: tuple[Any, ...] = ()  # one per extra column, None when absent
    cells: tuple[str, ...] = ()  # the same, as the one-line text the table shows

    @property
    def started_ts(self) -> float | None:
        return parse_iso(self.started_at)

    def elapsed(self, now: float) -> float | None:
        """Seconds so far for a running run (ticks with the clock), else the recorded time."""
        if self.status == "running":
            started = parse_iso(self.started_at)
            if started is not None:
                return max(0.0, now - started)
        return self.duration_s


@dataclass
class Snapshot:
    """One load of the table: rows newest first (children under their parent), the number of
    runs in the store, and what the user should hear (unreadable runs, a rebuilt index)."""

    rows: list[RunRow]
    total: int
    warnings: list[str]
    query: Query
    complete: bool = True  # False: only the newest rows, the rest are on their way


class RowCache:
    """Rows by the index columns they were made from, kept across loads: a reload (a live
    change, another filter, the filter cleared) builds rows only for the runs that changed and
    reuses the rest, so its cost is the index query's."""

    def __init__(self) -> None:
        self._rows: dict[Raw, RunRow] = {}

    def rows(self, raw: list[Raw]) -> list[RunRow]:
        known = self._rows
        out = []
        for fields in raw:
            row = known.get(fields)
            if row is None:
                row = known[fields] = _row(fields)
            out.append(row)
        return out

    def trim(self, keep: list[Raw], total: int) -> None:
        """Forget rows of runs changed or gone, once there are many more than runs."""
        if len(self._rows) > 2 * total + 1000:
            self._rows = {fields: self._rows[fields] for fields in keep}


def load_rows(
    store: Store, query: Query, limit: int | None = None, cache: RowCache | None = None
) -> Snapshot:
    """The rows ``query`` selects (the newest ``limit`` of them, for a quick first screen),
    straight from the index: no run directory is read."""
    if not store.exists():
        return Snapshot([], 0, [], query)
    where, params = query.run_filter().where()
    sql = f"SELECT {ROW_COLUMNS} FROM runs{where}"  # noqa: S608 - where() is parametrised
    conn = store.index.conn
    if limit is not None:
        sql += " ORDER BY started_at DESC, id LIMIT ?"
        raw = conn.execute(sql, [*params, limit]).fetchall()
    else:  # the same order as `naga ls`, sorted here: a third faster than SQLite's sorting
        raw = conn.execute(sql, params).fetchall()
        raw.sort(key=itemgetter(0))
        raw.sort(key=itemgetter(3), reverse=True)  # stable: equal times stay in id order
    total = int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
    cache = cache or RowCache()
    rows = nest(cache.rows(raw))
    cache.trim(raw, total)
    if query.columns:
        found = column_values(conn, [r.id for r in rows], query.columns)
        rows = [_with_values(r, query.columns, found) for r in rows]
    complete = limit is None or len(raw) < limit
    return Snapshot(rows, total, store.warnings(), query, complete)


def nest(rows: list[RunRow]) -> list[RunRow]:
    """Children right under their parent (oldest first) when the parent is listed too, as in
    ``naga ls``; rows are shared with the cache, so a nested child is a copy with its depth."""
    listed = {r.id for r in rows}
    children: dict[str, list[RunRow]] = {}
    for row in rows:
        if row.parent_id is not None and row.parent_id in listed:
            children.setdefault(row.parent_id, []).append(row)
    if not children:
        return rows
    out: list[RunRow] = []

    def add(row: RunRow, depth: int) -> None:
        out.append(row if row.depth == depth else replace(row, depth=depth))
        for child in reversed(children.get(row.id, [])):
            add(child, depth + 1)

    for row in rows:
        if row.parent_id not in listed:
            add(row, 0)
    return out


def column_values(
    conn: sqlite3.Connection, run_ids: list[str], columns: tuple[str, ...]
) -> dict[tuple[str, str], Any]:
    """(run id, column) -> value for ``param.KEY`` / ``metric.KEY`` / bare KEY columns (a param
    if the run has one by that name, else the metric's last value), as ``Store.values`` says,
    but two queries per batch of runs however many columns there are."""
    metric_keys: dict[str, list[str]] = {}
    param_keys: dict[str, list[str]] = {}
    for column in columns:
        head, dot, rest = column.partition(".")
        scope, key = (head, rest) if dot and head in ("param", "metric") else ("", column)
        if scope in ("", "metric"):
            metric_keys.setdefault(key, []).append(column)
        if scope in ("", "param"):
            param_keys.setdefault(key, []).append(column)
    found: dict[tuple[str, str], Any] = {}
    for start in range(0, len(run_ids), 400):  # within SQLite's limit on bound variables
        batch = run_ids[start : start + 400]
        for table, field, keys in (
            ("metrics", "last", metric_keys),
            ("params", "value", param_keys),
        ):
            if not keys:
                continue
            sql = (
                f"SELECT run_id, key, {field} FROM {table} WHERE key IN"  # noqa: S608 - fixed names
                f" ({','.join('?' * len(keys))}) AND run_id IN ({','.join('?' * len(batch))})"
            )
            for run_id, key, got in conn.execute(sql, [*keys, *batch]):
                got = json.loads(got) if table == "params" else got
                for column in keys[key]:
                    found[(run_id, column)] = got
    return found


def _with_values(row: RunRow, columns: tuple[str, ...], found: dict[Any, Any]) -> RunRow:
    values = tuple(found.get((row.id, c)) for c in columns)
    return replace(row, values=values, cells=tuple(inert(value(v)) for v in values))


def _row(fields: Raw) -> RunRow:
    run_id, name, status, started_at, duration_s, commit, dirty, command, parent_id = fields
    return RunRow(
        id=run_id,
        name=inert(name or "-"),
        status=inert(status or "?"),
        started_at=started_at,
        duration_s=duration_s,
        git=short_commit(commit, dirty),
        command=inert(command or ""),
        parent_id=parent_id,
    )


def sort_rows(rows: list[Any], column: str, columns: tuple[str, ...], reverse: bool) -> list[Any]:
    """``rows`` by ``column``, runs without a value last in either direction (as `naga ls
    --sort` lists them): a run that never logged ``acc`` is no better and no worse than the
    others. Equal values keep their order (newest first)."""
    key = sort_key(column, columns)
    keyed = [(key(row), row) for row in rows]
    present = [pair for pair in keyed if pair[0][0] != 0]
    present.sort(key=itemgetter(0), reverse=reverse)
    return [row for _, row in present] + [row for k, row in keyed if k[0] == 0]


def sort_key(column: str, columns: tuple[str, ...]) -> Any:
    """A key function ordering rows by ``column``; absent values are (0, 0), which
    ``sort_rows`` puts last."""
    if column in columns:
        at = columns.index(column)
        return lambda r: _comparable(r.values[at])
    attribute = {
        "ID": "id",
        "NAME": "name",
        "STATUS": "status",
        "STARTED": "started_at",
        "DURATION": "duration_s",
        "GIT": "git",
        "COMMAND": "command",
    }[column]
    return lambda r: _comparable(getattr(r, attribute))


def _comparable(value: Any) -> tuple[int, Any]:
    """Numbers before text, absent ('-') first: any two keys compare."""
    if value is None or value == "-":
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value) if value == value else (0, 0)  # NaN with the absent
    return (2, str(value).lower())
