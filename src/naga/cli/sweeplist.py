"""``naga ls --sweep ID``: the runs of one sweep, with its swept values as columns.

Without click: both the fast path in ``naga.cli`` and the click command call it."""

from __future__ import annotations

from typing import Any


def with_sweep(params: dict[str, Any]) -> dict[str, Any]:
    """``list_runs`` arguments with ``sweep`` turned into a tag filter, every run listed, and
    the swept values as columns (unless ``--columns`` chose others)."""
    selector = params.pop("sweep", None)
    if not selector:
        return params
    from ..parallel.report import task_values
    from ..parallel.sweepdir import resolve_sweep

    sweep = resolve_sweep(selector)
    keys: list[str] = []
    for task in sweep.tasks:
        keys += [k for k in task_values(sweep, task) if k not in keys]
    columns = params.get("columns") or ",".join(f"param.{key}" for key in keys)
    return {**params, "tags": (*params["tags"], sweep.tag), "show_all": True, "columns": columns}
