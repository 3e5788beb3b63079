"""``naga ls``: list runs, newest first (the work is in ``listing``)."""

from __future__ import annotations

from typing import Any

import click

from .listing import list_runs


def filter_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--status", "statuses", multiple=True, help="Only runs in this status."),
            click.option("--name", "name_glob", help="Only runs whose name matches this glob."),
            click.option("--tag", "tags", multiple=True, help="Only runs with this tag."),
            click.option("--since", help="Only runs started since: 2d, 12h, 30m, 2026-11-01."),
            click.option(
                "--where",
                multiple=True,
                help="Only runs whose param or metric matches: lr=0.01, loss<0.3, param.opt=adam.",
            ),
        ]
    ):
        f = option(f)
    return f


@click.command("ls")
@filter_options
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    help="At most this many runs, newest first  [default: 20; a sweep's: all]",
)
@click.option("--all", "-a", "show_all", is_flag=True, help="List every matching run.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of run objects.")
@click.option("--archived", is_flag=True, help="List archived runs (naga archive) instead.")
@click.option(
    "--columns",
    help="Extra columns, comma-separated: param.lr,metric.loss (a bare key: param, else metric).",
)
@click.option("--sweep", help="Only the runs of this sweep (id, prefix or latest).")
@click.option(
    "--sort",
    help="Order by a column: started, duration, name, status, param.lr, metric.acc (a bare"
    " key: param, else metric); -KEY descending. Runs without it come last.",
)
@click.option(
    "--remote",
    help="List the runs at this remote (rclone name:path or a path, as for naga push/pull)"
    " without pulling them.",
)
def ls(**params: Any) -> None:
    """List runs, newest first (or in the order --sort asks)."""
    from .sweeplist import with_sweep

    list_runs(**with_sweep(params))
