"""The live terminal dashboard (``naga`` with no arguments, or ``naga tui``), built on Textual.

One module per concern: ``query`` parses the filter box and loads table rows from the index,
``watch`` keeps them live (a thread that owns its own index connection and syncs it when the
store's change markers move), ``table`` is the virtualised runs table, and one module per
screen (``details``, ``logview``, ``plot``, ``compare``, ``dialogs``). Only this package imports
textual, and nothing imports this package on ``naga run`` or ``naga ls``.
"""

from __future__ import annotations


def run_dashboard(root: str | None = None) -> None:
    """Open the dashboard on the store at ``root`` (default: the store for the current dir)."""
    from .app import NagaApp

    NagaApp(root).run()
