"""Filters over the index, turned into parametrised SQL, and run selection by id or name."""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass

from ..errors import AmbiguousRun, RunNotFound, UsageError
from ..text import printable
from .conditions import Condition
from .timefmt import iso_from_ts

STATUSES = ("running", "completed", "failed", "cancelled", "crashed", "pruned")
_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_SPAN_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class RunFilter:
    statuses: tuple[str, ...] = ()
    name_glob: str | None = None
    tags: tuple[str, ...] = ()
    since: str | None = None  # ISO timestamp, UTC
    limit: int | None = 20
    conditions: tuple[Condition, ...] = ()
    # Pieces of text each found in the id, name, command or a tag (ASCII letters in any case).
    words: tuple[str, ...] = ()

    def where(self) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.statuses:
            clauses.append(f"status IN ({','.join('?' * len(self.statuses))})")
            params.extend(self.statuses)
        if self.name_glob:
            clauses.append("name GLOB ?")
            params.append(self.name_glob)
        for tag in self.tags:
            clauses.append("EXISTS (SELECT 1 FROM tags WHERE tag = ? AND run_id = runs.id)")
            params.append(tag)
        if self.since:
            clauses.append("started_at >= ?")
            params.append(self.since)
        for condition in self.conditions:
            clause, values = condition.sql()
            clauses.append(clause)
            params.extend(values)
        for word in self.words:
            clauses.append(_WORD)
            params.extend([_like_anywhere(word)] * 4)
        # Values as the index holds text: bytes that were not UTF-8 (a tag given as $'\xff')
        # as U+FFFD, which SQLite can bind.
        params = [printable(p) if isinstance(p, str) else p for p in params]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def check_statuses(statuses: tuple[str, ...]) -> tuple[str, ...]:
    for status in statuses:
        if status not in STATUSES:
            raise UsageError(f"unknown status '{status}'; choose from {', '.join(STATUSES)}")
    return statuses


def parse_since(text: str, now: float | None = None) -> str:
    """'90m', '2d', '1w' ago, or a date/time ('2026-11-01', '2026-11-01T12:00'), as UTC ISO."""
    span = _SPAN.match(text.strip())
    if span:
        seconds = float(span.group(1)) * _SPAN_SECONDS[span.group(2)]
        return iso_from_ts((time.time() if now is None else now) - seconds)
    from datetime import datetime, timezone

    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"cannot read --since '{text}': use a span like 30m, 12h, 2d, 1w or a date like"
            " 2026-11-01"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a bare date means local time, as the user reads clocks
    return iso_from_ts(parsed.astimezone(timezone.utc).timestamp())


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(text: str) -> str:
    return _like_escaped(text) + "%"


def _like_anywhere(text: str) -> str:
    return "%" + _like_escaped(text) + "%"


# A free word: the pattern is bound four times; LIKE folds the case of ASCII letters only.
_WORD = (
    "(runs.id LIKE ? ESCAPE '\\' OR runs.name LIKE ? ESCAPE '\\'"
    " OR runs.command LIKE ? ESCAPE '\\'"
    " OR EXISTS (SELECT 1 FROM tags WHERE tags.run_id = runs.id AND tags.tag LIKE ? ESCAPE '\\'))"
)


def resolve(conn: sqlite3.Connection, selector: str) -> str:
    """The id of the run that ``selector`` names: an id, a unique id prefix, or a run name."""
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (selector,)).fetchone():
        return selector
    by_prefix = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY started_at DESC LIMIT 50",
            (_like_prefix(selector),),
        )
    ]
    by_name = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM runs WHERE name = ? ORDER BY started_at DESC LIMIT 50", (selector,)
        )
    ]
    # A run named "71d" and a run whose id starts with "71d" are two answers: say so, never
    # guess (`naga rm 71d` must not remove the other one). A run named "w" whose own id starts
    # with "w" is one answer.
    found = list(dict.fromkeys(by_prefix + by_name))
    if len(found) == 1:
        return str(found[0])
    candidates = by_prefix + [f"{i} (named {selector})" for i in by_name if i not in by_prefix]
    if candidates:
        raise AmbiguousRun(selector, candidates)
    raise RunNotFound(_not_found_message(conn, selector))


def _not_found_message(conn: sqlite3.Connection, selector: str) -> str:
    import difflib

    names = [r[0] for r in conn.execute("SELECT DISTINCT name FROM runs WHERE name IS NOT NULL")]
    close = difflib.get_close_matches(selector, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `naga ls` lists the runs"
    return f"no run matches '{selector}'{hint}"
