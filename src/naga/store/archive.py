"""``naga archive`` / ``naga unarchive``: runs moved out of the way, kept whole.

The archive is a store of its own nested in the store, ``.naga/archive/`` (its runs in
``archive/runs/<id>/``, its own markers and per-host index), so archived runs list, filter and
resolve with every ``naga ls`` option (``--archived``) and moving a run is one rename of its
directory each way. A marker in both stores tells every index, on any host, that the run left
one and arrived in the other.

Commands that name a run the main store no longer has say that it is archived (see
``archived_note``) rather than that it does not exist. ``Store.resolve`` asks that note, so it
lives in ``core.py`` and where the archive lives in ``archivedir.py``; both are re-exported
here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import RunIsRunning, StoreError
from .archivedir import ARCHIVE_DIRNAME, archive_root, has_archive
from .core import Store, archived_note
from .files import touch_marker

__all__ = [
    "ARCHIVE_DIRNAME",
    "archive",
    "archive_root",
    "archive_store",
    "archived_note",
    "has_archive",
    "move_runs",
    "unarchive",
]


def archive_store(store: Store) -> Store:
    return Store(archive_root(store.layout))


def _running(store: Store, run_ids: Sequence[str]) -> list[str]:
    marks = ",".join("?" * len(run_ids))
    sql = f"SELECT id FROM runs WHERE status = 'running' AND id IN ({marks})"  # noqa: S608
    return [row[0] for row in store.index.conn.execute(sql, list(run_ids))]


def move_runs(source: Store, dest: Store, run_ids: Sequence[str]) -> None:
    """Move runs between two stores on the same filesystem, updating both indexes."""
    dest.layout.ensure()
    taken = [r for r in run_ids if os.path.lexists(dest.layout.run_dir(r))]
    if taken:
        raise StoreError(
            f"run(s) {', '.join(taken)} already in {dest.layout.runs_dir}; nothing was moved"
        )
    for run_id in run_ids:
        try:
            os.rename(source.layout.run_dir(run_id), dest.layout.run_dir(run_id))
        except OSError as exc:
            raise StoreError(f"cannot move run {run_id}: {exc.strerror or exc}") from exc
        touch_marker(source.layout, run_id)
        touch_marker(dest.layout, run_id)
        with source.index.transaction() as conn:
            source.index.forget(conn, run_id)
        with dest.index.transaction() as conn:
            dest.index.ingest(conn, run_id)


def archive(store: Store, run_ids: Sequence[str]) -> None:
    """Move finished runs into the archive; a running run is refused (it is still writing)."""
    live = _running(store, run_ids) if run_ids else []
    if live:
        raise RunIsRunning(f"run(s) {', '.join(live)} still running; archive them once they end")
    move_runs(store, archive_store(store), run_ids)


def unarchive(store: Store, run_ids: Sequence[str]) -> None:
    move_runs(archive_store(store), store, run_ids)
