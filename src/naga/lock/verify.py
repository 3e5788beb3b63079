"""``naga lock verify``: does what a ``run.lock`` recorded still exist, unchanged?

Each repository's commit (and snapshot) must still be in that repository, each data path must
hash to the recorded hash, and each previous stage's lock must be the one recorded (a stage
redone since then is drift too). A data entry whose hash never completed cannot be verified and
counts as a problem, never as a pass.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import LockError, NagaError, RunNotFound
from . import lockfile
from .stages import lock_digest


@dataclass(frozen=True)
class Check:
    kind: str  # repo | data | stage
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def locate_lock(target: str) -> Path:
    """A lock from a path (a stage directory or the lock file) or a run id, prefix or name."""
    path = Path(target).expanduser()
    if path.exists():
        lock = path if path.is_file() else path / lockfile.LOCK_NAME
        if not lock.exists():
            raise LockError(
                f"{path} has no run.lock: give a stage directory, a run.lock or a run id"
            )
        return lock.absolute()
    from ..sdk.artifacts import artifacts_root
    from ..store import Store

    store = Store.open()
    try:
        run_id = store.resolve(target)
    except RunNotFound:
        raise LockError(
            f"{target} is neither a path nor a run: give a stage directory, a run.lock or a run id"
        ) from None
    lock = Path(artifacts_root(store.layout.run_dir(run_id))) / lockfile.LOCK_NAME
    if not lock.exists():
        raise LockError(
            f"run {run_id} has no run.lock (it did not use naga.clicfg or naga.runlock)"
        )
    return _stage_lock_of(lock, run_id)


def _stage_lock_of(copy: Path, run_id: str) -> Path:
    """The lock in the run's save_dir when it is still this run's (so lineage and verify show
    the stage directory), else the copy kept among the run's artifacts."""
    try:
        save_dir = lockfile.read(copy).get("save_dir")
        in_place = Path(save_dir) / lockfile.LOCK_NAME if save_dir else None
        if in_place is not None and lockfile.read(in_place).get("run_id") == run_id:
            return in_place
    except (LockError, TypeError):
        pass  # moved, redone or unreadable: the copy is what this run recorded
    return copy


def verify(lock_path: Path) -> list[Check]:
    """The checks of one stage's lock: its repositories, data and the previous stages' locks."""
    doc = lockfile.read(lock_path)
    checks = [_check_repo(name, entry) for name, entry in (doc.get("repos") or {}).items()]
    checks += [_check_data(name, entry) for name, entry in (doc.get("data") or {}).items()]
    checks += [_check_stage(name, entry) for name, entry in (doc.get("prevs") or {}).items()]
    return checks


def verify_lineage(lock_path: Path) -> list[tuple[Path, list[Check]]]:
    """The checks of a stage and of every stage upstream of it, nearest first: data that
    drifted two stages up makes this stage's result stale too. Each stage is checked once (a
    diamond), a cycle is cut; an upstream stage that did not complete is a problem."""
    found: list[tuple[Path, list[Check]]] = []
    seen: set[str] = set()
    queue = [lock_path]
    while queue:
        lock = queue.pop(0)
        key = str(lock.absolute())
        if key in seen:
            continue
        seen.add(key)
        try:
            checks = verify(lock)
            doc = lockfile.read(lock)
        except LockError as exc:
            found.append((lock, [Check("stage", str(lock.parent), False, str(exc))]))
            continue
        if found:  # upstream: it must have completed to be consumed
            status = lockfile.effective_status(doc)
            if status != "completed":
                checks.insert(
                    0, Check("stage", str(lock.parent), False, f"its run is {status or '?'}")
                )
        found.append((lock, checks))
        for prev in (doc.get("prevs") or {}).values():
            if isinstance(prev, dict) and prev.get("path"):
                queue.append(Path(prev["path"]) / lockfile.LOCK_NAME)
    return found


def _check_repo(name: str, entry: Any) -> Check:
    # a repository with no commit yet (an unborn branch) is recorded by its snapshot alone
    recorded = [entry.get(k) for k in ("commit", "snapshot")] if isinstance(entry, dict) else []
    wanted: list[str] = [sha for sha in recorded if isinstance(sha, str) and sha]
    if not wanted:
        return Check("repo", name, False, "no commit recorded")
    from ..snapshot import commit_exists

    path = entry.get("path") or "."
    if not os.path.isdir(path):
        return Check("repo", name, False, f"{path} is gone")
    try:
        missing = [sha for sha in wanted if not commit_exists(path, sha)]
    except NagaError as exc:
        return Check("repo", name, False, str(exc))
    if missing:
        return Check(
            "repo",
            name,
            False,
            f"commit {', '.join(s[:12] for s in missing)} is no longer in {path}",
        )
    return Check("repo", name, True, f"{path} @ {_shown(entry)}")


def _shown(entry: dict[str, Any]) -> str:
    commit, snapshot = str(entry.get("commit") or ""), str(entry.get("snapshot") or "")
    if not commit:
        return f"snapshot {snapshot[:12]} (no commit yet)"
    return commit[:12] + (f", snapshot {snapshot[:12]}" if snapshot else "")


def _check_data(name: str, entry: Any) -> Check:
    if not isinstance(entry, dict) or not entry.get("path"):
        return Check("data", name, False, "no path recorded")
    path, status = entry["path"], entry.get("status", "done")
    if status != "done" or not entry.get("hash"):
        why = entry.get("error") or "its hash never completed"
        return Check("data", name, False, f"{path}: cannot verify, {status} ({why})")
    if not os.path.lexists(path):
        return Check("data", name, False, f"{path} is gone")
    from ..hashing import hash_data

    try:
        now = hash_data(path)
    except NagaError as exc:
        return Check("data", name, False, str(exc))
    if now.hash != entry["hash"]:
        return Check(
            "data",
            name,
            False,
            f"{path} changed: recorded {entry['hash'][:16]}, now {now.hash[:16]}"
            f" ({now.files} files, {now.size} bytes; recorded {entry.get('files')} files,"
            f" {entry.get('size')} bytes)",
        )
    return Check("data", name, True, f"{path} {now.hash[:16]}")


def _check_stage(name: str, entry: Any) -> Check:
    if not isinstance(entry, dict) or not entry.get("path"):
        return Check("stage", name, False, "no path recorded")
    lock = Path(entry["path"]) / lockfile.LOCK_NAME
    if not lock.exists():
        return Check("stage", name, False, f"{entry['path']} has no run.lock any more")
    now = lock_digest(lock)
    if entry.get("lock_hash") and now != entry["lock_hash"]:
        return Check(
            "stage",
            name,
            False,
            f"{entry['path']} was rerun or changed since (its run.lock differs)",
        )
    return Check("stage", name, True, f"{entry['path']}")
