"""``naga compare``: params and final metrics of several runs side by side, or, with ``--over
seed``, their seed groups' means and intervals (computed by ``analysis.seeds``, drawn by
``seedview``)."""

from __future__ import annotations

import json
from typing import Any

import click

from .. import jsonsafe
from ..errors import UsageError
from ..store import Store, with_elapsed
from . import render
from .groups import group_options, selected_runs
from .seedview import seed_table


def comparison(
    metas: list[dict[str, Any]], with_sys: bool = False
) -> list[tuple[str, list[Any], bool]]:
    """(row label, one value per run, whether they differ) for status, duration, every param
    and every metric's last value that any of the runs has (system metrics if asked)."""
    rows: list[tuple[str, list[Any]]] = [
        ("status", [m.get("status") for m in metas]),
        ("duration_s", [m.get("duration_s") for m in metas]),
    ]
    for field, prefix in (("params", "param"), ("metrics", "metric")):
        keys = sorted({k for m in metas for k in (m.get(field) or {})})
        if field == "metrics" and not with_sys:
            keys = [k for k in keys if not k.startswith("sys/")]
        rows += [(f"{prefix}.{k}", [(m.get(field) or {}).get(k) for m in metas]) for k in keys]
    return [(label, values, _differ(values)) for label, values in rows if label != "duration_s"] + [
        (label, values, False) for label, values in rows if label == "duration_s"
    ]


def _differ(values: list[Any]) -> bool:
    first = json.dumps(values[0], sort_keys=True)
    return any(json.dumps(v, sort_keys=True) != first for v in values[1:])


@click.command("compare")
@group_options
@click.option("--metric", "-m", "metrics", multiple=True, help="With --over: only this metric.")
@click.option("--diff", "only_diff", is_flag=True, help="Only the rows whose values differ.")
@click.option("--sys", "with_sys", is_flag=True, help="Include system metrics (sys/*).")
@click.option("--json", "as_json", is_flag=True, help="The comparison as JSON.")
def compare(
    runs: tuple[str, ...],
    over: tuple[str, ...],
    metrics: tuple[str, ...],
    only_diff: bool,
    with_sys: bool,
    as_json: bool,
    **selection: Any,
) -> None:
    """Params and final metrics of RUNS side by side; values that differ are highlighted.

    With --over seed: the runs (RUNS, --sweep ID or ls's filters) in groups that differ only in
    the seed, each metric's mean, std and 95% interval per group, and which differences between
    groups are within seed noise (their intervals overlap).
    """
    if metrics and not over:
        raise UsageError("--metric goes with --over: naga compare --over seed --metric loss ...")
    if only_diff and over:
        raise UsageError("--diff goes without --over: it compares runs side by side")
    store = Store.open()
    if over:
        from ..analysis.seeds import compare_over

        chosen = selected_runs(store, runs, selection, verb="compare")
        found = compare_over(chosen, over, metrics, with_sys=with_sys)
        click.echo(jsonsafe.dumps(found.to_json(), indent=2) if as_json else seed_table(found))
        _note_unfinished(chosen)
        return
    metas = [with_elapsed(m) for m in selected_runs(store, runs, selection, verb="compare")]
    if len(metas) < 2:
        raise UsageError("compare needs at least two runs: naga compare ID ID...")
    side_by_side(metas, only_diff, with_sys, as_json)


def _note_unfinished(metas: list[dict[str, Any]]) -> None:
    """A failed or running seed's last value is counted like any other: say so, on stderr."""
    left = [m for m in metas if m.get("status") != "completed"]
    if left:
        shown = ", ".join(f"{m['id']} {m.get('status')}" for m in left[:5])
        more = ", ..." if len(left) > 5 else ""
        click.echo(
            render.inert(
                f"naga: note: {len(left)} of the {len(metas)} runs did not complete"
                f" ({shown}{more}): their last values are counted; --status completed leaves"
                " them out"
            ),
            err=True,
        )


def side_by_side(
    metas: list[dict[str, Any]], only_diff: bool, with_sys: bool, as_json: bool
) -> None:
    rows = [r for r in comparison(metas, with_sys) if r[2] or not only_diff]
    if as_json:
        doc = {
            "runs": [{"id": m["id"], "name": m.get("name")} for m in metas],
            "rows": {label: values for label, values, _ in rows},
            "differ": [label for label, _, differ in rows if differ],
        }
        click.echo(jsonsafe.dumps(doc, indent=2))
        return
    headers = [
        "",
        *[m["id"] + (f" {render.inert(m['name'])}" if m.get("name") else "") for m in metas],
    ]
    table: list[list[render.Cell]] = []
    for label, values, differ in rows:
        colour = "yellow" if differ else None
        shown = [render.duration(v) if label == "duration_s" else render.value(v) for v in values]
        table.append([(render.inert(label), colour), *((v, colour) for v in shown)])
    click.echo(render.table(headers, table, 10_000))
    differing = sum(1 for r in rows if r[2])
    click.echo(render.style(f"{differing} of {len(rows)} rows differ", dim=True))
