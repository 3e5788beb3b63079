"""``naga ls --sweep ID``: the runs of one sweep, with its swept values as columns.

A sweep of naga's own (``naga sweep``, ``--tasks``) is found by its id, a unique prefix or
``latest``; any other sweep whose runs share the tag ``sweep:<id>`` (a Hydra multirun recorded
through naga's callback) by its full id. Without click: both the fast path in ``naga.cli`` and
the click command call it."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError

TYPE_CHECKING = False  # the fast path of naga ls imports this module: no typing at run time
if TYPE_CHECKING:
    from ..parallel.sweepdir import Sweep


def with_sweep(params: dict[str, Any]) -> dict[str, Any]:
    """``list_runs`` arguments with ``sweep`` turned into a tag filter, every run listed (unless
    ``--limit`` was given: ``limit`` is None when it was not), and the swept values as columns
    (unless ``--columns`` chose others)."""
    selector = params.pop("sweep", None)
    if not selector:
        return params
    from ..parallel.sweepdir import resolve_sweep

    try:
        sweep = resolve_sweep(selector)
    except UsageError as exc:
        # --remote: the remote's runs carry the tag, this store need not (it has no such sweep)
        if params.get("remote") is None and not _tagged(f"sweep:{selector}"):
            raise UsageError(f"{exc}; no run is tagged sweep:{selector} either") from None
        return {**params, "tags": (*params["tags"], f"sweep:{selector}"), "show_all": _all(params)}
    columns = params.get("columns") or ",".join(_swept_columns(sweep))
    chosen = {"tags": (*params["tags"], sweep.tag), "show_all": _all(params), "columns": columns}
    return {**params, **chosen}


def _swept_columns(sweep: Sweep) -> list[str]:
    """The swept params; a search's tasks hold no values before they run (its listing had no
    columns at all): the params it searches, then its objective."""
    from ..parallel.report import task_values

    search = sweep.doc.get("search")
    if search:
        names = [spec.partition("=")[0] for spec in search["space"]]
        return [*(f"param.{name}" for name in names), f"metric.{search['objective']}"]
    keys: list[str] = []
    for task in sweep.tasks:
        keys += [k for k in task_values(sweep, task) if k not in keys]
    return [f"param.{key}" for key in keys]


def _all(params: dict[str, Any]) -> bool:
    """A sweep lists all its runs, unless ``--limit`` says how many (it was ignored)."""
    return bool(params.get("show_all")) or params.get("limit") is None


def _tagged(tag: str) -> bool:
    from ..store import RunFilter, Store

    store = Store.open()
    return store.exists() and store.count(RunFilter(tags=(tag,), limit=None)) > 0
