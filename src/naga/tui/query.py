"""The filter box's language and the rows of the runs table, read from the index.

    failed  status:running      a status
    #sweep1  tag:sweep1         a tag
    name:base*                  a name glob
    since:2d                    started within a span (or since a date)
    lr=0.01  param.opt=adam  loss<0.3   a --where condition on params and metrics
    anything else               a piece of the id, name or command (case-insensitive)

Everything but the free text goes into the index query (``RunFilter``), so filtering 10,000 runs
reads no run directory; free text is matched on the rows the index returns.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from ..cli.listing import nest_children
from ..cli.render import short_commit
from ..errors import UsageError
from ..store import RunFilter, Store
from ..store.conditions import Condition, parse_condition
from ..store.query import STATUSES, parse_since
from ..store.timefmt import parse_iso
from ..text import one_line

_OPERATORS = "=<>!"


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
            found["words"].append(token.lower())
    return Query(
        statuses=tuple(found["statuses"]),
        tags=tuple(found["tags"]),
        name_glob=name_glob,
        since=since,
        conditions=tuple(found["conditions"]),
        words=tuple(found["words"]),
        columns=columns,
    )


@dataclass
class RunRow:
    """One line of the table: what it shows, precomputed once per load; times move live."""

    id: str
    name: str
    status: str
    started_at: str | None
    started_ts: float | None
    duration_s: float | None
    git: str
    command: str
    parent_id: str | None
    depth: int = 0
    values: tuple[Any, ...] = field(default=())  # one per extra column, None when absent

    def elapsed(self, now: float) -> float | None:
        """Seconds so far for a running run (ticks with the clock), else the recorded time."""
        if self.status == "running" and self.started_ts is not None:
            return max(0.0, now - self.started_ts)
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


def load_rows(store: Store, query: Query, limit: int | None = None) -> Snapshot:
    """The rows ``query`` selects (the newest ``limit`` of them, for a quick first screen)."""
    if not store.exists():
        return Snapshot([], 0, [], query)
    flt = query.run_filter()
    if limit is not None and not query.words:
        flt = RunFilter(**{**flt.__dict__, "limit": limit})
    raw = store.table_rows(flt)
    if query.words:
        raw = [r for r in raw if _matches(r, query.words)]
    values = store.values([r["id"] for r in raw], list(query.columns))
    rows = [_row(r, query.columns, values) for r in nest_children(raw)]
    return Snapshot(
        rows, store.count(RunFilter(limit=None)), store.warnings(), query, limit is None
    )


def _matches(row: dict[str, Any], words: tuple[str, ...]) -> bool:
    text = f"{row['id']} {row.get('name') or ''} {row.get('command') or ''}".lower()
    return all(word in text for word in words)


def _clean(text: str) -> str:
    return text if text.isprintable() else one_line(text)


def _row(run: dict[str, Any], columns: tuple[str, ...], values: dict[Any, Any]) -> RunRow:
    return RunRow(
        id=run["id"],
        name=_clean(run.get("name") or "-"),
        status=run.get("status") or "?",
        started_at=run.get("started_at"),
        started_ts=parse_iso(run.get("started_at")),
        duration_s=run.get("duration_s"),
        git=short_commit(run.get("git_commit"), run.get("git_dirty")),
        command=_clean(run.get("command") or ""),
        parent_id=run.get("parent_id"),
        depth=int(run.get("depth") or 0),
        values=tuple(values.get((run["id"], c)) for c in columns),
    )


def sort_key(column: str, columns: tuple[str, ...]) -> Any:
    """A key function ordering rows by ``column`` (absent values last in either direction is
    the caller's business: they sort as the smallest)."""
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
