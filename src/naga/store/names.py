"""Names that several runs share: said when a second run takes a name.

A name selects a run (``naga show baseline``) as an id does, but nothing makes names unique:
a re-run keeps its name on purpose. Reading commands then show the newest run of that name
(``query.resolve(newest=True)``) and say so; ``rm`` and edits refuse and list the runs. So a
run that takes a name already used is told at its start, with the runs it shares it with.
"""

from __future__ import annotations

from ..text import one_line as inert
from .core import Store


def name_taken(root: str, name: str | None) -> str | None:
    """The warning for a new run named ``name`` in the store at ``root`` when earlier runs
    have that name (newest first), else None. Never creates a store."""
    if not name:
        return None
    store = Store(root)
    try:
        if not store.exists():
            return None
        sql = "SELECT id FROM runs WHERE name = ? ORDER BY started_at DESC LIMIT 6"
        ids = [r[0] for r in store.index.conn.execute(sql, (name,))]
    finally:
        store.close()
    if not ids:
        return None
    listed = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
    runs = "run" if len(ids) == 1 else "runs"
    return (
        f"the name '{inert(name)}' is already used by {runs} {listed}; `naga show"
        f" {inert(name)}` will show the newest of them"
    )
