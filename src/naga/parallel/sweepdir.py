"""A sweep's directory: ``<store>/sweeps/<sweep_id>/sweep.json`` and its task pool.

``sweep.json`` holds everything a worker on any host needs to run the sweep's tasks, as plain
JSON (naga never unpickles)::

    {"id": "sw-261122-101500-a3f9", "created_at": "2026-11-22T10:15:00Z", "created_ts": ...,
     "kind": "clicfg" | "command", "key": "<sha256 of what defines the sweep>",
     "cwd": "/abs/dir", "store": "/abs/.naga", "tasks": [{"index": 0, ...}, ...],
     "program": {...}, "backend": {...}}

Each task entry is the kind's own: ``{"index", "item", "overrides", "save_dir"}`` for a clicfg
program, ``{"index", "params", "argv"}`` for a command. ``program`` says how to run them (see
``naga.parallel.worker``).

Launching the same sweep again (the same ``key``: program, base arguments, tasks) reopens the
existing directory instead of making a new one, which is what makes a sweep resumable: its pool
knows which tasks are done. ``sweeps/keys/<key>`` names the sweep a key belongs to.

Every file of a sweep is named in ``sweeplayout.py`` (:class:`SweepLayout` for the store's
sweeps, :class:`SweepFiles` for one sweep's directory; both re-exported here), so no other
module joins a sweep path by hand; a leaf of its own because the pool it names reads it too::

    <store>/sweeps/
      keys/<key>            {"id": ...}: the sweep this definition made last
      <sweep_id>/
        sweep.json          the definition (above)
        pool/               the task pool (naga.parallel.pool)
        clock               touched to read the shared filesystem's clock (naga.store.liveness)
        snapshot.json       the git snapshot taken once at launch, recorded by every task
        study.journal       a search sweep's Optuna study (naga.parallel.search)
        slurm/              submitit's files: the sbatch script, the pickled worker, the logs
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import StoreError, UsageError, describe_os_error
from ..store.layout import StoreLayout
from ..store.timefmt import iso_from_ts
from .sweeplayout import SWEEP_FILE
from .sweeplayout import SweepFiles as SweepFiles  # re-exported: callers name them here too
from .sweeplayout import SweepLayout as SweepLayout

if TYPE_CHECKING:
    from .pool import Pool

KINDS = ("clicfg", "command")


def sweep_key(definition: Any) -> str:
    """A stable hash of what defines a sweep (JSON-able)."""
    text = json.dumps(definition, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def new_sweep_id(now: float | None = None) -> str:
    stamp = time.strftime("%y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"sw-{stamp}-{secrets.token_hex(2)}"


class Sweep:
    """A sweep's definition (``sweep.json``) and its directory."""

    def __init__(self, directory: str, doc: dict[str, Any]) -> None:
        self.dir = directory
        self.doc = doc
        self.files = SweepFiles(directory)

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    @property
    def tag(self) -> str:
        return f"sweep:{self.id}"

    @property
    def tasks(self) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = self.doc["tasks"]
        return tasks

    @property
    def pool(self) -> Pool:
        from .pool import Pool

        return Pool(self.dir, len(self.tasks))

    def snapshot(self) -> dict[str, Any] | None:
        """The repositories' states snapshotted at launch (None: none was taken)."""
        try:
            with open(self.files.snapshot, "rb") as f:
                states = json.loads(f.read())
        except (OSError, ValueError):
            return None
        return states if isinstance(states, dict) else None

    def write_snapshot(self, states: Mapping[str, Any]) -> None:
        write_json(self.files.snapshot, dict(states))


def create_sweep(
    kind: str,
    tasks: Sequence[Mapping[str, Any]],
    *,
    key: str,
    program: Mapping[str, Any],
    backend: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    store_root: str | None = None,
    new: bool = False,
    now: float | None = None,
) -> tuple[Sweep, bool]:
    """The sweep with this ``key`` (reopened: its failed tasks are free again), else a new one
    in ``<store>/sweeps/``. Returns the sweep and whether it was reopened. ``new=True`` always
    makes a new sweep (and makes the key point to it)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    layout = SweepLayout(store_root)
    store = layout.store
    if not new:
        found = find_by_key(key, store)
        if found is not None:
            found.pool.reopen_failed()
            return found, True
    now = time.time() if now is None else now
    doc = {
        "id": new_sweep_id(now),
        "created_at": iso_from_ts(now),
        "created_ts": now,
        "kind": kind,
        "key": key,
        "cwd": os.getcwd(),
        "store": store,
        "tasks": [dict(task) for task in tasks],
        "program": dict(program),
        "backend": dict(backend or {"name": "local"}),
        **dict(extra or {}),
    }
    try:
        StoreLayout(store).ensure()
        files = layout.sweep(doc["id"])
        os.makedirs(files.dir)
        write_json(files.definition, doc)
        sweep = Sweep(files.dir, doc)
        sweep.pool.ensure()
        os.makedirs(layout.keys, exist_ok=True)
        write_json(layout.key(key), {"id": doc["id"]})
    except OSError as exc:
        raise StoreError(f"cannot create the sweep: {describe_os_error(exc)}") from None
    return sweep, False


def discard_sweep(sweep: Sweep) -> None:
    """Remove a sweep nothing ran in (a dry run's, a refused launch's) and its key."""
    import shutil

    layout = SweepLayout(os.path.dirname(os.path.dirname(sweep.dir)))
    key_path = layout.key(str(sweep.doc.get("key")))
    _drop_snapshot_refs(sweep)
    shutil.rmtree(sweep.dir, ignore_errors=True)
    try:
        with open(key_path, "rb") as f:
            if json.loads(f.read()).get("id") != sweep.id:
                return
    except (OSError, ValueError, AttributeError):
        return
    # the key names the sweep made before this one again (--new-sweep), if there is one
    earlier = [s for s in _all_sweeps(layout) if s.doc.get("key") == sweep.doc.get("key")]
    if earlier:
        newest = max(earlier, key=lambda s: float(s.doc.get("created_ts") or 0))
        write_json(key_path, {"id": newest.id})
    else:
        os.unlink(key_path)


def _drop_snapshot_refs(sweep: Sweep) -> None:
    """The git refs that kept the launch's snapshot (no task will record it)."""
    from .. import git

    try:
        with open(sweep.files.snapshot, "rb") as f:
            states = json.loads(f.read())
    except (OSError, ValueError):
        return
    for state in states.values() if isinstance(states, dict) else ():
        ref, path = state.get("ref"), state.get("path")
        if isinstance(ref, str) and ref.endswith("/" + sweep.id) and isinstance(path, str):
            git.delete_ref(path, ref)


def _all_sweeps(layout: SweepLayout) -> list[Sweep]:
    found = []
    for name in sorted(os.listdir(layout.root)):
        if name.startswith("sw-"):
            try:
                found.append(load_sweep(layout.sweep(name).dir))
            except UsageError:
                continue
    return found


def find_by_key(key: str, store_root: str | None = None) -> Sweep | None:
    layout = SweepLayout(store_root)
    try:
        with open(layout.key(key), "rb") as f:
            sweep_id = json.loads(f.read())["id"]
        return load_sweep(layout.sweep(sweep_id).dir)
    except (OSError, ValueError, KeyError, TypeError, UsageError):
        return None


def load_sweep(sweep_dir: str | os.PathLike[str]) -> Sweep:
    directory = os.path.abspath(os.fspath(sweep_dir))
    path = SweepFiles(directory).definition
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except FileNotFoundError:
        raise UsageError(f"{directory} is not a sweep directory (it has no {SWEEP_FILE})") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS or "tasks" not in doc:
        raise UsageError(f"{path} is not a sweep definition naga wrote")
    return Sweep(directory, doc)


def resolve_sweep(selector: str, store_root: str | None = None) -> Sweep:
    """A sweep by its id, any unique prefix of it, or ``latest`` (the newest)."""
    layout = SweepLayout(store_root)
    root = layout.root
    try:
        names = sorted(n for n in os.listdir(root) if n.startswith("sw-"))  # ids sort by time
    except FileNotFoundError:
        names = []
    if selector == "latest":
        if not names:
            raise UsageError(f"there is no sweep yet in {root}")
        stamp = names[-1][: len("sw-yymmdd-HHMMSS")]  # ids made in the same second: by time
        same = [load_sweep(layout.sweep(n).dir) for n in names if n.startswith(stamp)]
        return max(same, key=lambda sweep: float(sweep.doc.get("created_ts") or 0))
    if selector in names:
        return load_sweep(layout.sweep(selector).dir)
    matches = [n for n in names if n.startswith(selector)]
    if len(matches) == 1:
        return load_sweep(layout.sweep(matches[0]).dir)
    if not matches:
        recent = ", ".join(names[-3:]) or "none yet"
        raise UsageError(f"no sweep {selector!r} in {root} (the latest: {recent})")
    raise UsageError(f"{selector!r} matches {len(matches)} sweeps ({', '.join(matches[:5])})")


def write_json(path: str, doc: Any) -> None:
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")
    os.replace(temporary, path)
