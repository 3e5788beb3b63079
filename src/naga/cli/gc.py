"""``naga gc``: remove runs by filter and what the store no longer needs (``store.gc``)."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import UsageError
from ..store import Store
from ..store import gc as collector
from ..store.query import parse_since
from . import render
from .ls import filter_options
from .selection import filters_given, plural, select_ids, statuses_of


def _cutoff(older_than: str) -> str:
    try:
        return parse_since(older_than)
    except UsageError:
        raise UsageError(
            f"cannot read --older-than '{older_than}': use a span like 30d, 12h, 90m, 1w or a"
            " date like 2026-11-01"
        ) from None


def _older(store: Store, ids: list[str], cutoff: str) -> list[str]:
    """The runs of ``ids`` started before ``cutoff`` (ISO, UTC)."""
    started: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        sql = f"SELECT id, started_at FROM runs WHERE id IN ({','.join('?' * len(batch))})"  # noqa: S608
        started.update(store.index.conn.execute(sql, batch).fetchall())
    return [r for r in ids if started.get(r, "") < cutoff]


def _report(garbage: collector.Garbage, tentative: bool) -> None:
    head = "Would remove" if tentative else "Removing"
    if garbage.runs:
        shown = ", ".join(list(garbage.runs)[:10]) + (" ..." if len(garbage.runs) > 10 else "")
        size = render.size(sum(garbage.runs.values()))
        click.echo(f"{head} {plural(len(garbage.runs), 'run')} ({size}): {shown}")
    for path, held in garbage.orphans.items():
        click.echo(f"{head} orphan directory {path} ({render.size(held)}): no valid meta.json")
    if garbage.temp_files:
        size = render.size(sum(garbage.temp_files.values()))
        click.echo(f"{head} {plural(len(garbage.temp_files), 'leftover temporary file')} ({size})")
    if garbage.markers:
        click.echo(f"{head} {plural(len(garbage.markers), 'change marker')} of runs long gone")
    for root, run_ids in garbage.refs.items():
        click.echo(f"{head} {plural(len(run_ids), 'snapshot ref')} of deleted runs in {root}:"
                   f" {', '.join(run_ids[:10])}")  # fmt: skip
    if tentative:
        click.echo(f"Would free {render.size(garbage.total_bytes)}.")


@click.command("gc")
@filter_options
@click.option(
    "--older-than",
    metavar="AGE",
    help="Only runs started more than AGE ago (30d, 12h) or before a date (2026-11-01).",
)
@click.option("--dry-run", is_flag=True, help="Show what would go and the space it frees.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--keep-refs", is_flag=True, help="Leave git snapshot refs alone.")
def gc(older_than: str | None, dry_run: bool, yes: bool, keep_refs: bool, **filters: Any) -> None:
    """Remove runs matching the filters (never running ones; none without a filter), orphan
    run directories, leftover temporary files, old change markers of deleted runs and snapshot
    refs of deleted runs, then compact the index."""
    if "running" in (filters.get("statuses") or ()):
        raise UsageError("gc never removes running runs; choose other statuses")
    store = Store.open()
    if not store.exists():
        click.echo("No store here; nothing to collect.")
        return
    cutoff = None if older_than is None else _cutoff(older_than)
    ids: list[str] = []
    if filters_given(filters) or cutoff:
        _named, ids = select_ids(store, (), filters, every=True, verb="remove")
        statuses = statuses_of(store, ids)
        ids = [r for r in ids if statuses.get(r) != "running"]
        ids = ids if cutoff is None else _older(store, ids, cutoff)
    garbage = collector.find(store, ids, refs=not keep_refs)
    if garbage.empty:
        click.echo("Nothing to remove.")
    else:
        _report(garbage, dry_run or not yes)  # before a confirmation: what *would* go
    if dry_run:
        return
    if not garbage.empty and not yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to remove without confirmation; add --yes (or look first"
                             " with --dry-run)")  # fmt: skip
        click.confirm("Go ahead?", abort=True)
    before, after = collector.collect(store, garbage)
    freed = render.size(garbage.total_bytes)
    click.echo(f"Freed {freed}; index compacted: {render.size(before)} -> {render.size(after)}.")
