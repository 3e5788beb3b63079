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
    # Pieces of text each found in the id, name, command, a tag or the note (ASCII letters in
    # any case).
    words: tuple[str, ...] = ()
    # ``naga ls --sort``: a column (started, name, param.lr ...), "-" first for descending;
    # None for newest first.
    sort: str | None = None

    def order(self) -> tuple[str, list[object]]:
        """The ORDER BY clause: by ``sort`` with runs lacking the value last in either
        direction, then newest first (so equal values keep the default order)."""
        if not self.sort:
            return " ORDER BY started_at DESC, id", []
        descending = self.sort.startswith("-")
        expr, params = sort_expression(self.sort.lstrip("-+"))
        way = "DESC" if descending else "ASC"
        sql = f" ORDER BY ({expr}) IS NULL, ({expr}) {way}, started_at DESC, id"
        return sql, [*params, *params]

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
            params.extend([_like_anywhere(word)] * 5)
        # Values as the index holds text: bytes that were not UTF-8 (a tag given as $'\xff')
        # as U+FFFD, which SQLite can bind.
        params = [printable(p) if isinstance(p, str) else p for p in params]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# Columns of the runs table that `--sort` takes by name (the listing's headers, lower case).
SORT_COLUMNS = {
    "id": "runs.id",
    "name": "NULLIF(runs.name, '')",
    "status": "runs.status",
    "started": "runs.started_at",
    "finished": "runs.finished_at",
    "exit_code": "runs.exit_code",
    "command": "runs.command",
    "git": "runs.git_commit",
    # a running run's duration is its elapsed time, as the listing shows it
    "duration": "COALESCE(runs.duration_s, CASE WHEN runs.status = 'running' THEN"
    " (julianday('now') - julianday(runs.started_at)) * 86400.0 END)",
}
_PARAM_VALUE = (
    "(SELECT COALESCE(p.num, p.value) FROM params p WHERE p.run_id = runs.id AND p.key = ?)"
)
_METRIC_VALUE = "(SELECT m.last FROM metrics m WHERE m.run_id = runs.id AND m.key = ?)"


def sort_key_parts(key: str) -> tuple[str | None, str]:
    """(scope, key) of a `--sort`/`--columns` key: ``param.lr`` -> ("param", "lr"), a bare key
    that is not a column of the listing -> (None, key): a param, else a metric."""
    head, dot, rest = key.partition(".")
    if dot and head in ("param", "metric") and rest:
        return head, rest
    return None, key


def sort_expression(key: str) -> tuple[str, list[object]]:
    """SQL for the value ``key`` sorts by (NULL where a run lacks it) and its parameters: a
    column of the listing, a param (numbers as numbers) or a metric's last value."""
    if not key:
        raise UsageError("--sort needs a key: started, duration, name, param.lr, metric.acc ...")
    if key.lower() in SORT_COLUMNS:
        return SORT_COLUMNS[key.lower()], []
    scope, name = sort_key_parts(key)
    name = printable(name)  # as the index holds keys
    if scope == "param":
        return _PARAM_VALUE, [name]
    if scope == "metric":
        return _METRIC_VALUE, [name]
    return f"COALESCE({_PARAM_VALUE}, {_METRIC_VALUE})", [name, name]


def check_keys(conn: sqlite3.Connection, keys: list[tuple[str | None, str]]) -> None:
    """Refuse a param/metric key that no run has (a typo in ``--where lrr=0.1`` would list
    nothing and say nothing), naming the closest keys that exist. Nothing is checked while the
    store has no run at all."""
    if not keys or conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is None:
        return
    for scope, key in keys:
        if scope not in (None, "param", "metric"):
            continue  # note~TEXT searches text: there is no key to misspell
        key = printable(key)
        tables = ["params", "metrics"] if scope is None else [f"{scope}s"]
        if any(
            conn.execute(f"SELECT 1 FROM {t} WHERE key = ? LIMIT 1", (key,)).fetchone()  # noqa: S608
            for t in tables
        ):
            continue
        import difflib

        known = sorted(
            {r[0] for t in tables for r in conn.execute(f"SELECT DISTINCT key FROM {t}")}  # noqa: S608
        )
        close = difflib.get_close_matches(key, known, n=3)
        kind = "param or metric" if scope is None else scope
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise UsageError(f"no run has a {kind} {key!r}{hint}")


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


# A free word: the pattern is bound five times; LIKE folds the case of ASCII letters only. The
# note (``store.edit``) is read from the record's JSON only for rows the columns did not match.
_WORD = (
    "(runs.id LIKE ? ESCAPE '\\' OR runs.name LIKE ? ESCAPE '\\'"
    " OR runs.command LIKE ? ESCAPE '\\'"
    " OR EXISTS (SELECT 1 FROM tags WHERE tags.run_id = runs.id AND tags.tag LIKE ? ESCAPE '\\')"
    " OR json_extract(runs.doc, '$.note') LIKE ? ESCAPE '\\')"
)


def resolve(conn: sqlite3.Connection, selector: str, *, newest: bool = False) -> str:
    """The id of the run that ``selector`` names: an id, a unique id prefix, or a run name.
    ``newest``: a name that several runs share (and no id starts with) selects the newest of
    them, with a warning naming the others: for commands that only read. Commands that
    change or remove runs never guess."""
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
    if newest and by_name and not by_prefix:
        _took_newest(selector, by_name)
        return str(by_name[0])
    candidates = by_prefix + [f"{i} (named {selector})" for i in by_name if i not in by_prefix]
    if candidates:
        raise AmbiguousRun(selector, candidates)
    raise RunNotFound(_not_found_message(conn, selector))


def _took_newest(name: str, ids: list[str]) -> None:
    from ..notices import warn
    from ..text import one_line as inert

    others = ", ".join(ids[1:6]) + (" ..." if len(ids) > 6 else "")
    warn(
        f"{len(ids)} runs are named '{inert(name)}': showing the newest, {ids[0]} (the others:"
        f" {others}); name one by its id to pick another"
    )


def _not_found_message(conn: sqlite3.Connection, selector: str) -> str:
    import difflib

    names = [r[0] for r in conn.execute("SELECT DISTINCT name FROM runs WHERE name IS NOT NULL")]
    close = difflib.get_close_matches(selector, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `naga ls` lists the runs"
    return f"no run matches '{selector}'{hint}"
