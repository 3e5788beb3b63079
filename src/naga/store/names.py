"""Names that several runs share: said when a second run takes a name.

A name selects a run (``naga show baseline``) as an id does, but nothing makes names unique:
a re-run keeps its name on purpose. Reading commands then show the newest run of that name
(``query.resolve(newest=True)``) and say so; ``rm`` and edits refuse and list the runs. So a
run that takes a name already used is told at its start, with the runs it shares it with.
"""

from __future__ import annotations

import os

from ..text import one_line as inert
from . import liveness
from .layout import StoreLayout

# A store this small (a new project) is read from its records, which are always current: a few
# milliseconds. A larger one is asked through this host's index as its last reader left it
# (runs recorded since then are not seen), opened read only: never built, never synced, so
# `naga run --name` on a compute node of a shared store still writes its own directory only.
SCAN_AT_MOST = 200


def name_taken(root: str, name: str | None) -> str | None:
    """The warning for a new run named ``name`` in the store at ``root`` when earlier runs
    have that name (newest first), else None. Kept off ``store.core`` and the index's sync:
    this is on the start-up path of ``naga run --name`` and ``naga.run(name=...)``."""
    if not name:
        return None
    layout = StoreLayout(root)
    ids = _named_in_records(layout, name)
    if ids is None:
        ids = _named_in_index(layout, name)
    if not ids:
        return None
    listed = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
    runs = "run" if len(ids) == 1 else "runs"
    return (
        f"the name '{inert(name)}' is already used by {runs} {listed}; `naga show"
        f" {inert(name)}` will show the newest of them"
    )


def _named_in_index(layout: StoreLayout, name: str) -> list[str]:
    import sqlite3

    path = layout.index_file(liveness.hostname())
    if not os.path.isfile(path):
        return []
    try:
        conn = sqlite3.connect(path, timeout=1)
        try:
            sql = "SELECT id FROM runs WHERE name = ? ORDER BY started_at DESC LIMIT 6"
            return [str(r[0]) for r in conn.execute(sql, (name,))]
        finally:
            conn.close()
    except sqlite3.Error:
        return []  # a busy or damaged index: its readers will say so


def _named_in_records(layout: StoreLayout, name: str) -> list[str] | None:
    """The runs named ``name`` read from their records; None when there are too many."""
    try:
        with os.scandir(layout.runs_dir) as entries:
            dirs = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    if len(dirs) > SCAN_AT_MOST:
        return None
    # A record that does not hold the name as a JSON string is not parsed (nor is json
    # imported, with the `re` it brings: milliseconds on the start-up path).
    plain = name.isascii() and name.isprintable() and '"' not in name and "\\" not in name
    token = b'"' + name.encode() + b'"' if plain else None
    found: list[tuple[str, str]] = []
    for run_id in dirs:
        edited = os.path.isdir(layout.edits_dir(run_id))  # naga rename: not in the record
        try:
            with open(layout.meta(run_id), "rb") as handle:
                raw = handle.read()
            if token is not None and token not in raw and not edited:
                continue
            import json

            meta = json.loads(raw)
        except (OSError, ValueError, RecursionError):
            continue  # unreadable records are the readers' to report
        if not isinstance(meta, dict):
            continue
        if (_edited_name(layout, run_id, meta.get("name")) if edited else meta.get("name")) == name:
            found.append((str(meta.get("started_at") or ""), run_id))
    return [run_id for _, run_id in sorted(found, reverse=True)[:6]]


def _edited_name(layout: StoreLayout, run_id: str, recorded: object) -> object:
    """The run's name as every reader shows it: its newest rename, else the recorded one."""
    from .editlog import read_edits

    names = [e["value"] for e in read_edits(layout, run_id) if e["field"] == "name"]
    return names[-1] if names else recorded
