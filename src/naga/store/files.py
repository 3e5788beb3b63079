"""Atomic file writes, run ids and the run directory's life cycle.

Every change to a run replaces its ``meta.json`` atomically (temp file, fsync, rename), so a
reader never sees half a record and a crash mid-write leaves the previous one intact. Each change
also replaces a marker ``touched/<hour>/<id>``: indexes read the hour directories that changed
instead of statting every run, which keeps ``naga ls`` fast with 100,000 runs and still sees runs
written from other hosts.
"""

from __future__ import annotations

import errno
import os

from .._lean import json_bytes
from ..errors import CorruptMeta, RunNotFound, StoreError
from .layout import StoreLayout, current_bucket

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from typing import Any

# Crockford's base32 in lower case: no i, l, o, u, so ids read back unambiguously.
ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_LENGTH = 8


def new_id() -> str:
    # 32 symbols: five random bits each (secrets would cost naga run's start-up an import).
    return "".join(ID_ALPHABET[b & 31] for b in os.urandom(ID_LENGTH))


def _store_error(action: str, path: str, exc: OSError) -> StoreError:
    reason = exc.strerror or str(exc)
    hint = " (free some space and try again)" if exc.errno == errno.ENOSPC else ""
    return StoreError(f"cannot {action} {path}: {reason}{hint}")


def write_atomic(path: str, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content, never half."""
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise _store_error("write", path, exc) from exc


def create_run_dir(layout: StoreLayout) -> str:
    """Reserve a fresh run id by creating its directory (mkdir is atomic, also over NFS)."""
    layout.ensure()
    for _ in range(100):
        run_id = new_id()
        try:
            os.mkdir(layout.run_dir(run_id))
            return run_id
        except FileExistsError:
            continue
        except OSError as exc:
            raise _store_error("create a run directory in", layout.runs_dir, exc) from exc
    raise StoreError(f"could not find a free run id in {layout.runs_dir}")


def touch_marker(layout: StoreLayout, run_id: str) -> None:
    """Tell every index that run ``run_id`` changed (a rename, so the directory mtime moves)."""
    bucket = current_bucket()
    try:
        os.makedirs(layout.bucket(bucket), exist_ok=True)
    except OSError as exc:
        raise _store_error("create", layout.bucket(bucket), exc) from exc
    write_atomic(layout.marker(run_id, bucket), b"", fsync=False)


def encode_meta(meta: dict[str, Any]) -> bytes:
    return json_bytes(meta)


def save_meta(layout: StoreLayout, meta: dict[str, Any], *, fsync: bool = True) -> None:
    write_atomic(layout.meta(meta["id"]), encode_meta(meta), fsync=fsync)
    touch_marker(layout, meta["id"])


def load_meta(layout: StoreLayout, run_id: str) -> dict[str, Any]:
    path = layout.meta(run_id)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError as exc:
        raise RunNotFound(f"run {run_id} has no record at {path}") from exc
    except OSError as exc:
        raise _store_error("read", path, exc) from exc
    from ..jsonsafe import UnsafeJSON, loads_record  # reading is off naga run's start-up path

    try:
        meta = loads_record(raw)
    except UnsafeJSON as exc:
        raise CorruptMeta(f"{path} is corrupt ({exc})") from exc
    problem = _shape_problem(meta, run_id)
    if problem:
        raise CorruptMeta(f"{path} is not a valid naga run record: {problem}")
    record: dict[str, Any] = meta
    if record["status"] == "running":
        _read_verdict(layout, record)
    from .sdkstate import merge_sdk_state

    merge_sdk_state(layout, record)
    from .editlog import apply_edits  # names, tags and notes edited since: laid over the record

    apply_edits(layout, record)
    return record


# Fields every reader relies on, with the types they must have.
_SHAPE: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "started_at": (str,),
    "command": (str,),
    "tags": (list,),
    "name": (str, type(None)),
    "git": (dict, type(None)),
    "output": (dict, type(None)),
    "finished_at": (str, type(None)),
    "duration_s": (int, float, type(None)),
    "exit_code": (int, type(None)),
}
# Fields a reader may use when present, with the types they must have (a pulled record with
# ``params: [...]`` would break every renderer): absent and null are fine.
_OPTIONAL: dict[str, tuple[type, ...]] = {
    "params": (dict,),
    "metrics": (dict,),
    "metric_stats": (dict,),
    "env": (dict,),
    "resources": (dict,),
    "python": (dict,),
    "slurm": (dict,),
    "owner": (dict,),
    "packages": (dict,),
    "lockfiles": (dict,),
    "argv": (list,),
    "gpus": (list,),
    "error": (str,),
    "traceback": (str,),
    "signal": (str,),
    "interrupted_by": (str,),
    "cwd": (str,),
    "host": (str,),
    "user": (str,),
    "parent_id": (str,),
    "source": (str,),
    "pid": (int,),
    "child_pid": (int,),
}
# Written by every naga as text or a list: null there is no record naga made.
_NEVER_NULL = frozenset(("cwd", "host", "argv", "env"))
# Inside the nested objects: key -> types, checked when the object is there.
_NESTED: dict[str, dict[str, tuple[type, ...]]] = {
    "git": {"commit": (str,), "branch": (str,), "dirty": (bool, int), "remotes": (dict, list)},
    "output": {"file": (str,), "bytes": (int,), "terminal": (bool,), "error": (str,)},
}
# Bounds the index (SQLite's 64-bit integers) and every renderer can hold: an exit code is a
# small integer anywhere naga records one; a duration beyond about three centuries is not one.
INT64 = 2**63
MAX_DURATION_S = 1e10


def _shape_problem(meta: object, run_id: str) -> str | None:
    if not isinstance(meta, dict):
        return "not a JSON object"
    if meta.get("id") != run_id:
        return f"its id is {meta.get('id')!r}, not {run_id!r}"
    for key, types in _SHAPE.items():
        if not isinstance(meta.get(key), types):
            return f"{key!r} is {type(meta.get(key)).__name__}"
    if not all(isinstance(t, str) for t in meta["tags"]):
        return "'tags' must hold strings"
    for key, types in _OPTIONAL.items():
        if key not in meta or (meta[key] is None and key not in _NEVER_NULL):
            continue
        if not isinstance(meta[key], types):
            return f"{key!r} is {type(meta[key]).__name__}"
    if isinstance(meta.get("argv"), list) and not all(isinstance(a, str) for a in meta["argv"]):
        return "'argv' must hold strings"
    stats = meta.get("metric_stats") or {}
    if not all(isinstance(v, dict) for v in stats.values()):
        return "'metric_stats' must hold objects"
    return _nested_problem(meta) or _range_problem(meta)


def _nested_problem(meta: dict[str, Any]) -> str | None:
    for field, shape in _NESTED.items():
        found = meta.get(field) or {}
        for key, types in shape.items():
            value = found.get(key)
            if value is not None and not isinstance(value, types):
                return f"'{field}.{key}' is {type(value).__name__}"
    for key in ("pid", "child_pid"):
        if isinstance(meta.get(key), int) and not 0 <= meta[key] < INT64:
            return f"{key!r} is out of range"
    return None


def _range_problem(meta: dict[str, Any]) -> str | None:
    """Numbers of the right type but of absurd size (an int beyond 64 bits, 1e308 seconds)."""
    code = meta.get("exit_code")
    if isinstance(code, bool) or (code is not None and not -INT64 <= code < INT64):
        return "'exit_code' is out of range"
    duration = meta.get("duration_s")
    if isinstance(duration, bool) or (
        duration is not None and not -MAX_DURATION_S < duration < MAX_DURATION_S
    ):
        return "'duration_s' is out of range"
    return None


def _read_verdict(layout: StoreLayout, meta: dict[str, Any]) -> None:
    """A run still ``running`` in its record, whose owner a reader found dead, reads as crashed.
    The verdict lives beside meta.json, so the owner's own final record, if it ever comes, wins."""
    from ..jsonsafe import loads_record

    try:
        with open(layout.verdict(meta["id"]), "rb") as f:
            verdict = loads_record(f.read())
    except (OSError, ValueError):
        return
    if isinstance(verdict, dict):
        apply_verdict(meta, verdict)


VERDICT_KEYS = ("status", "finished_at", "duration_s", "error")


def apply_verdict(meta: dict[str, Any], verdict: dict[str, Any]) -> None:
    meta.update({k: verdict[k] for k in VERDICT_KEYS if k in verdict})
    if isinstance(verdict.get("output_bytes"), int) and isinstance(meta.get("output"), dict):
        meta["output"] = {**meta["output"], "bytes": verdict["output_bytes"]}


def remove_run_dir(layout: StoreLayout, run_id: str) -> None:
    """Remove a run's directory; a run directory that is a symbolic link (planted, or pulled
    from a careless store) loses the link alone, never what it points to."""
    import shutil

    path = layout.run_dir(run_id)
    try:
        if os.path.islink(path):
            os.unlink(path)
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _store_error("remove", layout.run_dir(run_id), exc) from exc
    touch_marker(layout, run_id)


RESERVE_BYTES = 256 * 1024


def hold_space(path: str) -> None:
    """Set aside a little disk, so a command that fills the disk cannot keep its run from being
    recorded as finished. Best effort: not every filesystem can preallocate."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.posix_fallocate(fd, 0, RESERVE_BYTES)
    except (OSError, AttributeError):
        pass
    finally:
        os.close(fd)


def begin_record(layout: StoreLayout, meta: dict[str, Any], heartbeat: str) -> str | None:
    """Write a starting run's first record (heartbeat, reserve, ``meta.json``). A store that
    cannot take it (a full disk) must not stop the command (recording never does): the
    problem is returned, for the front end to say before the command starts, and the record
    is tried again when the run ends, when there may be room."""
    try:
        os.close(os.open(heartbeat, os.O_WRONLY | os.O_CREAT, 0o644))
        hold_space(layout.reserve(meta["id"]))
        save_meta(layout, meta)
    except (StoreError, OSError) as exc:
        reason = exc if isinstance(exc, StoreError) else _store_error("write", heartbeat, exc)
        return f"this run is NOT being recorded: {reason}; the command runs anyway"
    return None


def remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
