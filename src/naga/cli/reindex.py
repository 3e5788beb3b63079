"""``naga reindex``: rebuild the index from the run directories."""

from __future__ import annotations

import click

from ..store import Store
from .listing import print_warnings


@click.command("reindex")
def reindex() -> None:
    """Rebuild the index from the run directories (the index is only a cache)."""
    store = Store.open()
    count = store.reindex()
    click.echo(f"Indexed {count} run{'s' if count != 1 else ''} from {store.layout.runs_dir}")
    print_warnings(store)
