"""``naga archive`` and ``naga unarchive``: move runs into ``.naga/archive/`` and back."""

from __future__ import annotations

from typing import Any

import click

from ..errors import RunNotFound
from ..store import Store
from ..store import archive as archiving
from .selection import plural, select_ids, selection_options


@click.command("archive")
@selection_options
def archive(runs: tuple[str, ...], every: bool, **filters: Any) -> None:
    """Move RUNS (ids, prefixes or names, and/or filters) into the archive: out of `naga ls`,
    kept whole (`naga ls --archived` lists them, `naga unarchive` brings them back)."""
    store = Store.open()
    if not store.exists():
        raise RunNotFound("there are no runs to archive yet")
    _named, ids = select_ids(store, runs, filters, every=every, verb="archive")
    if not ids:
        click.echo("No runs match; nothing archived.")
        return
    archiving.archive(store, ids)
    click.echo(f"Archived {plural(len(ids), 'run')}: {', '.join(ids[:10])}"
               + (" ..." if len(ids) > 10 else ""))  # fmt: skip


@click.command("unarchive")
@selection_options
def unarchive(runs: tuple[str, ...], every: bool, **filters: Any) -> None:
    """Bring archived RUNS (ids, prefixes or names, and/or filters) back into the store."""
    store = Store.open()
    archived = archiving.archive_store(store)
    if not archiving.has_archive(store.layout):
        raise RunNotFound("there are no archived runs (`naga archive ID` archives one)")
    for selector in runs:
        try:
            archived.resolve(selector)
        except RunNotFound:
            raise RunNotFound(
                f"no archived run matches '{selector}'; `naga ls --archived` lists them"
            ) from None
    _named, ids = select_ids(archived, runs, filters, every=every, verb="unarchive")
    if not ids:
        click.echo("No archived runs match; nothing brought back.")
        return
    archiving.unarchive(store, ids)
    click.echo(f"Unarchived {plural(len(ids), 'run')}: {', '.join(ids[:10])}"
               + (" ..." if len(ids) > 10 else ""))  # fmt: skip
