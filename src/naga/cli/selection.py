"""Choosing runs the way ``naga ls`` filters them, for commands that act on many runs
(``push``, ``pull``, ``archive``, ``unarchive``, ``gc``): ids, prefixes or names, and/or filters."""

from __future__ import annotations

from typing import Any

import click

from ..errors import UsageError
from ..store import Store
from .listing import make_filter
from .ls import filter_options

FILTER_KEYS = ("statuses", "name_glob", "tags", "since", "where")


def selection_options(f: Any) -> Any:
    """RUNS... plus ls's filters and --all."""
    f = click.option("--all", "every", is_flag=True, help="Every run (no other filter needed).")(f)
    f = filter_options(f)
    return click.argument("runs", nargs=-1)(f)


def filters_given(params: dict[str, Any]) -> bool:
    return any(params.get(k) for k in FILTER_KEYS)


def select_ids(
    store: Store,
    runs: tuple[str, ...],
    params: dict[str, Any],
    *,
    every: bool,
    verb: str,
    newest: bool = False,
) -> tuple[list[str], list[str]]:
    """(the ids ``runs`` name, those and the ids matching the filters), each once, in order.

    ``newest``: for reading commands, a name several runs share picks the newest (with a
    warning); commands that change or move runs leave it off and refuse to guess."""
    if not runs and not filters_given(params) and not every:
        raise UsageError(f"name the runs to {verb}, or a filter (--status, --tag ...) or --all")
    named = list(dict.fromkeys(store.resolve(r, newest=newest) for r in runs))
    ids = list(named)
    if filters_given(params) or (every and not runs):
        flt = make_filter(
            tuple(params.get("statuses") or ()),
            params.get("name_glob"),
            tuple(params.get("tags") or ()),
            params.get("since"),
            None,
            tuple(params.get("where") or ()),
        )
        store.check_keys(flt)  # a misspelt --where key selects nothing: say so
        seen = set(ids)
        ids += [r["id"] for r in store.table_rows(flt) if r["id"] not in seen]
    return named, ids


def statuses_of(store: Store, ids: list[str]) -> dict[str, str]:
    return store.statuses(ids)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
