"""``naga compare``: params and final metrics of several runs side by side."""

from __future__ import annotations

import json
from typing import Any

import click

from .. import jsonsafe
from ..errors import UsageError
from ..store import Store, with_elapsed
from . import render


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
@click.argument("runs", nargs=-1, required=True)
@click.option("--diff", "only_diff", is_flag=True, help="Only the rows whose values differ.")
@click.option("--sys", "with_sys", is_flag=True, help="Include system metrics (sys/*).")
@click.option("--json", "as_json", is_flag=True, help="The comparison as JSON.")
def compare(runs: tuple[str, ...], only_diff: bool, with_sys: bool, as_json: bool) -> None:
    """Params and final metrics of RUNS side by side; values that differ are highlighted."""
    if len(runs) < 2:
        raise UsageError("compare needs at least two runs: naga compare ID ID...")
    store = Store.open()
    ids = [store.resolve(r, newest=True) for r in runs]
    metas = [with_elapsed(store.get(i)) for i in ids]
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
