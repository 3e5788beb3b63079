"""The live terminal dashboard (``naga`` with no arguments, or ``naga tui``), built on Textual.

One module per concern: ``query`` parses the filter box and loads table rows from the index,
``watch`` keeps them live (a thread that owns its own index connection and syncs it when the
store's change markers move), ``table`` is the virtualised runs table, and one module per
screen (``details``, ``logview``, ``plot``, ``compare``, ``dialogs``). Only this package imports
textual, and nothing imports this package on ``naga run`` or ``naga ls``. ``run_dashboard``
starts loading rows before it imports Textual (``start_loading``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .watch import StoreWatcher


def start_loading(root: str | None = None) -> StoreWatcher:
    """The watcher thread, started: the first rows load while Textual is being imported (most
    of the dashboard's start-up). Nothing here imports Textual."""
    from ..store.layout import locate_store
    from .query import Query
    from .watch import StoreWatcher

    watcher = StoreWatcher(root or locate_store(), Query())
    watcher.start()
    return watcher


def run_dashboard(root: str | None = None) -> None:
    """Open the dashboard on the store at ``root`` (default: the store for the current dir)."""
    watcher = start_loading(root)
    try:
        from .app import NagaApp

        NagaApp(root, watcher=watcher).run()
    finally:
        watcher.stop()
