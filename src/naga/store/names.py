"""Names that several runs share: said when a second run takes a name.

A name selects a run (``naga show baseline``) as an id does, but nothing makes names unique:
a re-run keeps its name on purpose. Reading commands then show the newest run of that name
(``query.resolve(newest=True)``) and say so; ``rm`` and edits refuse and list the runs. So a
run that takes a name already used is told at its start, with the runs it shares it with.
"""

from __future__ import annotations

import json
import os

from ..text import one_line as inert
from . import liveness
from .core import Store
from .layout import StoreLayout

# Without an index of this host's, the records themselves are read: for a store this small
# (a new project) that costs a few milliseconds; a larger one waits for its first reader.
SCAN_AT_MOST = 500


def name_taken(root: str, name: str | None) -> str | None:
    """The warning for a new run named ``name`` in the store at ``root`` when earlier runs
    have that name (newest first), else None. Never creates a store or an index: a run
    started on a compute node of a shared store writes its own directory, nothing else."""
    if not name:
        return None
    layout = StoreLayout(root)
    if os.path.exists(layout.index_file(liveness.hostname())):
        ids = _named_in_index(root, name)
    else:
        ids = _named_in_records(layout, name)
    if not ids:
        return None
    listed = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
    runs = "run" if len(ids) == 1 else "runs"
    return (
        f"the name '{inert(name)}' is already used by {runs} {listed}; `naga show"
        f" {inert(name)}` will show the newest of them"
    )


def _named_in_index(root: str, name: str) -> list[str]:
    store = Store(root)
    try:
        sql = "SELECT id FROM runs WHERE name = ? ORDER BY started_at DESC LIMIT 6"
        return [r[0] for r in store.index.conn.execute(sql, (name,))]
    finally:
        store.close()


def _named_in_records(layout: StoreLayout, name: str) -> list[str]:
    try:
        with os.scandir(layout.runs_dir) as entries:
            dirs = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    if len(dirs) > SCAN_AT_MOST:
        return []
    found: list[tuple[str, str]] = []
    for run_id in dirs:
        try:
            with open(layout.meta(run_id), "rb") as handle:
                meta = json.loads(handle.read())
        except (OSError, ValueError, RecursionError):
            continue  # unreadable records are the readers' to report
        if isinstance(meta, dict) and meta.get("name") == name:
            found.append((str(meta.get("started_at") or ""), run_id))
    return [run_id for _, run_id in sorted(found, reverse=True)[:6]]
