"""Reading and writing ``run.lock``: YAML, replaced atomically, changed under a file lock.

Every write goes to a temporary file that is fsynced and renamed over the lock, so a crash
mid-write leaves the previous lock whole. Every change (a merge, a background hash completing,
the final status) is a read-modify-write under ``flock`` on a hidden ``.run.lock.lck`` beside it,
so concurrent writers lose nothing.

The document (``LOCK_VERSION`` 1)::

    lock_version: 1
    naga_version: 0.3.0
    status: running | completed | failed | cancelled (a running lock whose process is gone
            reads crashed)
    created_at / updated_at / finished_at: ISO 8601, UTC
    run_id: the naga run it belongs to, if any; owner: the writing process (host, pid, ...)
    save_dir, command, cwd, environment (host, user, platform, python, masked env vars)
    config: the resolved config
    repos:  name -> {path, commit, branch, dirty, remote, snapshot, ref}
    data:   name -> {path, status: done | pending | incomplete | error, hash, algorithm, size,
                     files, kind}
    prevs:  name -> {path, status, run_id, finished_at, lock_hash}
    error:  what ended the run, when it failed
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import LockError

LOCK_NAME = "run.lock"
LOCK_VERSION = 1
SECTIONS = ("repos", "data", "prevs")  # merged key by key; everything else is replaced


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The lock at ``path``; ``LockError`` (one line, with what to do) when missing or invalid."""
    import yaml

    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise LockError(f"{path} does not exist") from None
    except OSError as exc:
        raise LockError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        doc = yaml.load(raw.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = (str(exc).strip().splitlines() or ["unreadable"])[0]
        raise LockError(f"{path} is not a valid run.lock (not YAML: {reason})") from None
    if not isinstance(doc, dict) or "lock_version" not in doc:
        raise LockError(
            f"{path} is not a valid run.lock (no lock_version): it was not written by naga"
        )
    if not isinstance(doc["lock_version"], int) or doc["lock_version"] > LOCK_VERSION:
        raise LockError(
            f"{path} has lock_version {doc['lock_version']!r}, newer than this naga reads"
            f" ({LOCK_VERSION}): upgrade naga"
        )
    for section in SECTIONS:
        if not isinstance(doc.get(section) or {}, dict):
            raise LockError(f"{path} is not a valid run.lock ({section} is not a mapping)")
    return doc


def effective_status(doc: dict[str, Any]) -> str | None:
    """The lock's status, except that a ``running`` lock whose process is known to be gone
    (this machine, pid checked) reads ``crashed``: killed before it could say how it ended."""
    status = doc.get("status")
    owner = doc.get("owner")
    if status == "running" and isinstance(owner, dict):
        from ..store.liveness import _pid_alive, on_this_machine

        if on_this_machine(owner) and _pid_alive(owner) is False:
            return "crashed"
    return status if isinstance(status, str) else None


Signature = tuple[int, int, int]  # inode, size, mtime_ns: a lock file as this process wrote it


def signature(path: str | os.PathLike[str]) -> Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def write(path: str | os.PathLike[str], doc: dict[str, Any]) -> None:
    """Replace the lock with ``doc`` atomically (temp file, fsync, rename, fsync of the dir)."""
    import yaml

    from ..store.files import write_atomic

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available: 10x faster
    text = yaml.dump(
        doc, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    target = os.fspath(path)
    write_atomic(target, text.encode("utf-8"))
    _fsync_dir(os.path.dirname(os.path.abspath(target)))
    if _when_final and doc.get("status") not in (None, "running"):
        for callback in _when_final.pop(os.path.abspath(target), []):
            callback(doc)


# lock path -> what to call once this process writes it with a final status
_when_final: dict[str, list[Callable[[dict[str, Any]], None]]] = {}


def when_final(path: str | os.PathLike[str], callback: Callable[[dict[str, Any]], None]) -> None:
    """Call ``callback(doc)`` (which must not raise) right after this process next writes the
    lock at ``path`` with a final status: ``mlflow_lock`` ends inside a ``clicfg`` main, whose
    lock reads ``running`` until ``main`` returns, and uploads the lock that tells the ending."""
    _when_final.setdefault(os.path.abspath(os.fspath(path)), []).append(callback)


def replace(path: str | os.PathLike[str], doc: dict[str, Any]) -> Signature | None:
    """Write ``doc`` as the lock, under its lock; returns the new file's signature."""
    with locked(path):
        write(path, doc)
        return signature(path)


def update(
    path: str | os.PathLike[str],
    change: Callable[[dict[str, Any] | None], dict[str, Any]],
    known: tuple[dict[str, Any], Signature | None] | None = None,
) -> dict[str, Any]:
    """Read (None when there is no lock yet), change and rewrite the lock, all under its lock.
    ``known`` is a document this process wrote with that file's signature: while the file is
    still that one, it is used instead of parsing the file again."""
    with locked(path):
        if known is not None and known[1] is not None and signature(path) == known[1]:
            current: dict[str, Any] | None = known[0]
        else:
            try:
                current = read(path)
            except LockError:
                if os.path.exists(path):
                    raise
                current = None
        new = change(current)
        write(path, new)
        return new


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock's writers' lock (``flock`` on a hidden file beside it)."""
    import fcntl

    target = Path(path)
    guard = target.with_name(f".{target.name}.lck")
    try:
        fd = os.open(guard, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        hint = (
            " (does the directory exist and is it writable?)" if exc.errno != errno.ENOSPC else ""
        )
        raise LockError(f"cannot lock {target}: {exc.strerror or exc}{hint}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` over ``old``: repos, data and prevs merged by name, everything else replaced;
    ``created_at`` stays the first writer's."""
    merged = {**old, **{k: v for k, v in new.items() if k not in SECTIONS}}
    for section in SECTIONS:
        entries = {**(old.get(section) or {}), **(new.get(section) or {})}
        merged[section] = entries
    for name, entry in (new.get("data") or {}).items():
        if _finished_meanwhile(entry, (old.get("data") or {}).get(name)):
            merged["data"][name] = old["data"][name]
    if old.get("created_at"):
        merged["created_at"] = old["created_at"]
    return merged


def _finished_meanwhile(new: Any, old: Any) -> bool:
    """A copy of a pending data entry (``runlock(merge=True)`` inside a clicfg main) whose
    background hasher has since replaced it with its result: the result stays."""
    return (
        isinstance(new, dict)
        and isinstance(old, dict)
        and new.get("status") == "pending"
        and old.get("status") not in (None, "pending")
        and old.get("token") in (None, new.get("token"))
        and old.get("path") == new.get("path")
    )


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)
