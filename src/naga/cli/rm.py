"""``naga rm``: remove runs (their directories and index rows)."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError
from ..store import RunFilter, Store
from ..store.query import check_statuses


@click.command("rm")
@click.argument("runs", nargs=-1)
@click.option("--status", "statuses", multiple=True, help="Remove every run in this status.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before removing several runs.")
@click.option("--force", is_flag=True, help="Also remove runs that are still running.")
def rm(runs: tuple[str, ...], statuses: tuple[str, ...], yes: bool, force: bool) -> None:
    """Remove RUNS (ids, id prefixes or names) and/or every run matching --status."""
    if not runs and not statuses:
        raise UsageError("name the runs to remove, or a filter such as --status failed")
    store = Store.open()
    ids = list(dict.fromkeys(store.resolve(r) for r in runs))
    if statuses:
        flt = RunFilter(statuses=check_statuses(statuses), limit=None)
        ids += [r["id"] for r in store.runs(flt) if r["id"] not in ids]
    if not ids:
        click.echo("No runs match; nothing removed.")
        return
    if len(ids) > 1 and not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to remove {len(ids)} runs without confirmation; add -y")
        shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
        click.confirm(f"Remove {len(ids)} runs ({shown})?", abort=True)
    store.remove(ids, force=force)
    click.echo(f"Removed {len(ids)} run{'s' if len(ids) != 1 else ''}.")
