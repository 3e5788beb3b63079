"""``naga gc``: find what a store no longer needs, say how much space it holds, remove it.

Garbage is, in a store:

* runs chosen by a filter (never a running one: it is still writing);
* orphan run directories: no valid ``meta.json`` and nothing in them touched for
  ``ORPHAN_AGE_S`` (younger, a run may be being created);
* leftover temporary files, once older than ``TEMP_AGE_S``: ``.<name>.<pid>.<hex>.tmp`` of an
  atomic write cut short, ``tmp/`` staging of a pull cut short;
* change markers (``touched/<hour>/<id>``) of runs that are gone, once older than the marker TTL:
  every index synced since has seen them, and an index idle for longer compares every record
  instead of reading markers, so none can miss the removal;
* snapshot refs (``refs/naga/snapshots/<id>``) of runs in neither ``runs/`` nor the archive, in
  the current repository, and the refs the removed runs' ``run.lock`` records. Refs not named
  after a run id (``lock-...``, written without a run) are never touched.

``find`` only looks; ``collect`` removes what ``find`` listed, then ``VACUUM``s the index.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import NagaError, RunIsRunning
from .archive import archive_root
from .core import Store
from .files import ID_ALPHABET, ID_LENGTH, load_meta
from .index import MARKER_TTL_S
from .leftovers import aborted_start

ORPHAN_AGE_S = 24 * 3600
TEMP_AGE_S = 3600
# What files.write_atomic names its temporary file: .<name>.<pid>.<8 hex>.tmp; anything else,
# a user's artifact above all, is never taken for one.
ATOMIC_TEMP = re.compile(r"\..+\.\d+\.[0-9a-f]{8}\.tmp")
_NAGA_ID = re.compile(f"[{ID_ALPHABET}]{{{ID_LENGTH}}}")


@dataclass
class Garbage:
    """What ``collect`` would remove, with the bytes each item holds."""

    runs: dict[str, int] = field(default_factory=dict)
    orphans: dict[str, int] = field(default_factory=dict)  # path -> bytes
    temp_files: dict[str, int] = field(default_factory=dict)
    markers: list[str] = field(default_factory=list)
    refs: dict[str, list[str]] = field(default_factory=dict)  # repository -> run ids

    @property
    def total_bytes(self) -> int:
        return sum(self.runs.values()) + sum(self.orphans.values()) + sum(self.temp_files.values())

    @property
    def empty(self) -> bool:
        return not (self.runs or self.orphans or self.temp_files or self.markers or self.refs)


def tree_size(path: str) -> int:
    """Bytes of the files under ``path`` (symlinks counted as themselves, never followed)."""
    if not os.path.isdir(path) or os.path.islink(path):
        with contextlib.suppress(OSError):
            return os.lstat(path).st_size
        return 0
    total = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _newest_mtime(path: str) -> float:
    """The latest change to a run directory or anything in it (a live run touches its heartbeat,
    output or metrics all the time)."""
    newest = os.lstat(path).st_mtime
    for root, dirs, names in os.walk(path):
        for name in [*dirs, *names]:
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def _is_orphan(store: Store, run_id: str, now: float) -> bool:
    try:
        load_meta(store.layout, run_id)
        return False
    except NagaError:
        pass
    if aborted_start(store.layout, run_id, now):  # its writer is gone: no need to wait a day
        return True
    try:
        return now - _newest_mtime(store.layout.run_dir(run_id)) > ORPHAN_AGE_S
    except OSError:
        return False


def _run_dirs(runs_dir: str) -> list[str]:
    try:
        with os.scandir(runs_dir) as entries:
            return [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _temp_files(store: Store, now: float) -> dict[str, int]:
    found: dict[str, int] = {}
    for top in (store.layout.runs_dir, store.layout.touched_dir):
        for root, _dirs, names in os.walk(top):
            for name in names:
                if ATOMIC_TEMP.fullmatch(name):
                    path = os.path.join(root, name)
                    with contextlib.suppress(OSError):
                        info = os.lstat(path)
                        if now - info.st_mtime > TEMP_AGE_S:
                            found[path] = info.st_size
    staging = os.path.join(store.layout.root, "tmp")
    for name in _run_dirs(staging):
        path = os.path.join(staging, name)
        with contextlib.suppress(OSError):
            if now - _newest_mtime(path) > TEMP_AGE_S:
                found[path] = tree_size(path)
    return found


def _dead_markers(store: Store, present: set[str], now: float) -> list[str]:
    found = []
    for bucket in _run_dirs(store.layout.touched_dir):
        directory = store.layout.bucket(bucket)
        with contextlib.suppress(OSError), os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(".") or entry.name in present:
                    continue
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > MARKER_TTL_S:
                        found.append(entry.path)
    return found


def _dead_refs(
    store: Store, present: set[str], removed: Sequence[str], cwd: str
) -> dict[str, list[str]]:
    """Snapshot refs of runs this store no longer has, per repository."""
    from ..git import executable, recorded_repos, snapshot_refs
    from ..git import toplevel as repo_root

    if executable() is None:  # no git, no refs: the rest of gc still works
        return {}
    repos: dict[str, set[str]] = {}
    for run_id in removed:
        for path in recorded_repos(store.layout.run_dir(run_id)):
            root = repo_root(path)
            if root:
                repos.setdefault(root, set()).add(run_id)
    here = repo_root(cwd)
    if here:
        repos.setdefault(here, set())
    dead: dict[str, list[str]] = {}
    for root, ids in sorted(repos.items()):
        refs = snapshot_refs(root)
        gone = {r for r in refs if _NAGA_ID.fullmatch(r) and r not in present}
        if root != here or not _own_store(store, root):
            # another repository, or a store that is not this repository's own (NAGA_HOME
            # elsewhere): its other refs may be another store's runs; only those removed now
            gone &= ids
        if gone:
            dead[root] = sorted(gone)
    return dead


def _own_store(store: Store, root: str) -> bool:
    """Whether ``store`` is the repository's default store, ``<root>/.naga``."""
    own = os.path.join(root, ".naga")
    return os.path.realpath(store.layout.root) == os.path.realpath(own)


def find(
    store: Store, run_ids: Sequence[str], *, refs: bool = True, cwd: str | None = None
) -> Garbage:
    """What gc would remove: ``run_ids`` (chosen by the caller's filter) and the rest above."""
    now = time.time()
    garbage = Garbage()
    if run_ids:
        marks = ",".join("?" * len(run_ids))
        sql = f"SELECT id FROM runs WHERE status = 'running' AND id IN ({marks})"  # noqa: S608
        live = [row[0] for row in store.index.conn.execute(sql, list(run_ids))]
        if live:
            raise RunIsRunning(f"gc never removes running runs: {', '.join(live)}")
    garbage.runs = {r: tree_size(store.layout.run_dir(r)) for r in run_ids}
    listed = _run_dirs(store.layout.runs_dir)
    indexed = {row[0] for row in store.index.conn.execute("SELECT id FROM runs")}
    for run_id in listed:  # the index holds every valid record: only the others are read
        if run_id not in indexed and _is_orphan(store, run_id, now):
            path = store.layout.run_dir(run_id)
            garbage.orphans[path] = tree_size(path)
    archived = set(_run_dirs(os.path.join(archive_root(store.layout), "runs")))
    present = (
        (set(listed) | archived)
        - set(garbage.runs)
        - {os.path.basename(p) for p in garbage.orphans}
    )
    garbage.temp_files = {
        p: size
        for p, size in _temp_files(store, now).items()
        if not any(p.startswith(o + os.sep) for o in garbage.orphans)
        and not any(p.startswith(store.layout.run_dir(r) + os.sep) for r in garbage.runs)
    }
    garbage.markers = _dead_markers(store, present, now)
    if refs:
        garbage.refs = _dead_refs(store, present, list(garbage.runs), cwd or os.getcwd())
    return garbage


def collect(store: Store, garbage: Garbage) -> tuple[int, int]:
    """Remove what ``find`` listed (refs first: they name runs about to go); VACUUM the index.
    Returns the index's size before and after."""
    from ..git import delete_snapshot_refs

    for root, run_ids in garbage.refs.items():
        delete_snapshot_refs(root, run_ids)
    if garbage.runs:
        store.remove(list(garbage.runs))
    for path in garbage.orphans:
        shutil.rmtree(path, ignore_errors=True)
        with store.index.transaction() as conn:
            store.index.forget(conn, os.path.basename(path))
    for path in garbage.temp_files:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    for path in garbage.markers:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return vacuum(store)


def index_bytes(store: Store) -> int:
    path = store.index.path
    return sum(tree_size(path + suffix) for suffix in ("", "-wal") if os.path.exists(path + suffix))


def vacuum(store: Store) -> tuple[int, int]:
    before = index_bytes(store)
    store.index.conn.execute("VACUUM")
    store.index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return before, index_bytes(store)
