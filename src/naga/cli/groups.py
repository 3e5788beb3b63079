"""The runs ``naga compare`` and ``naga plot`` work on: RUNS, a sweep (``--sweep ID``) and/or
the filters of ``naga ls``, plus ``--over PARAM`` to put them in seed groups (``analysis.seeds``
does the grouping and the statistics; this module only chooses and reads the runs)."""

from __future__ import annotations

from typing import Any

import click

from ..errors import NagaError
from ..store import Store
from .selection import select_ids, selection_options


def group_options(f: Any) -> Any:
    """RUNS..., ls's filters, --all, --sweep and --over."""
    f = click.option(
        "--over",
        multiple=True,
        metavar="PARAM",
        help="Group runs that differ only in PARAM (e.g. seed): mean, std and 95% interval"
        " per group. Repeatable.",
    )(f)
    f = click.option("--sweep", help="The runs of this sweep (id, prefix or latest).")(f)
    return selection_options(f)


def selected_runs(
    store: Store, runs: tuple[str, ...], params: dict[str, Any], *, verb: str
) -> list[dict[str, Any]]:
    """The full records of the runs named, in the sweep, or matching the filters, each once."""
    sweep = params.get("sweep")
    if sweep:
        from .sweeplist import with_sweep

        params = {**params, **with_sweep({"sweep": sweep, "tags": tuple(params.get("tags", ()))})}
    _, ids = select_ids(
        store, runs, params, every=bool(params.get("every")), verb=verb, newest=True
    )
    if not ids:
        raise NagaError(f"no run to {verb}: nothing matches these filters (`naga ls` with them)")
    return [store.get(run_id) for run_id in ids]
