"""``naga report``: the chosen runs as one self-contained HTML file (``naga.web.report``)."""

from __future__ import annotations

import os
from typing import Any

import click

from ..errors import UsageError
from .ls import filter_options

DEFAULT_LIMIT = 100


@click.command("report")
@click.argument("runs", nargs=-1)
@filter_options
@click.option("--sweep", help="The runs of this sweep (id, prefix or latest).")
@click.option("--columns", help="Table columns, comma-separated (default: the params that vary).")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    help=f"At most this many runs, newest first (without RUNS)  [default: {DEFAULT_LIMIT}; a"
    " sweep's: all]",
)
@click.option(
    "--over",
    multiple=True,
    metavar="PARAM",
    help="Chart runs that differ only in PARAM (e.g. seed) as one group: its mean and 95%"
    " band. Repeatable.",
)
@click.option("--output", "-o", default="report.html", show_default=True, help="The file.")
@click.option("--title", help="The report's title (default: the store's directory).")
def report(
    runs: tuple[str, ...], output: str, title: str | None, over: tuple[str, ...], **params: Any
) -> None:
    """Write RUNS (ids, prefixes or names), or the runs the filters select, as one HTML file
    with no outside references: the table, metric charts and each run's record."""
    from ..store import Store
    from ..web import report as build_report
    from .listing import make_filter
    from .sweeplist import with_sweep

    params.setdefault("show_all", False)
    chosen = with_sweep(params) if params.get("sweep") else params
    store = Store.open()
    if runs:
        ids = list(dict.fromkeys(store.resolve(r) for r in runs))
    else:
        flt = make_filter(
            chosen["statuses"],
            chosen["name_glob"],
            chosen["tags"],
            chosen["since"],
            None if chosen.get("show_all") else (chosen["limit"] or DEFAULT_LIMIT),
            chosen["where"],
        )
        store.check_keys(flt)  # a misspelt --where key selects nothing: say so
        ids = [run_id for run_id, *_ in store.run_docs(flt)]
    if not ids:
        raise UsageError("no runs match; `naga ls` shows what there is")
    columns = [c.strip() for c in (chosen.get("columns") or "").split(",") if c.strip()]
    columns = [c.split(".", 1)[1] if c.startswith(("param.", "metric.")) else c for c in columns]
    name = title or os.path.dirname(store.layout.root)
    page = build_report.build(store, ids, columns, name, over=list(over))
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {output!r}: {exc.strerror or exc}") from None
    click.echo(f"{output}: {len(ids)} runs, {len(page.encode()) // 1024} KiB")
