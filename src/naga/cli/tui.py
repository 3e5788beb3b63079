"""``naga tui`` (and ``naga`` alone on a terminal): the live dashboard. Textual is imported
only here, when the dashboard opens."""

from __future__ import annotations

import click


@click.command("tui")
def tui() -> None:
    """Open the live dashboard: runs, details, logs, metric plots, compare (? for keys)."""
    from ..tui import run_dashboard

    run_dashboard()
