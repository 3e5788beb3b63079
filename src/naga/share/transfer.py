"""Plan and carry out ``naga push`` and ``naga pull``: whole run directories, never overwritten.

A run's edits (``store.edit``: a new name, tags, a note) are files of their own under
``edits/``, so they travel as any file the other side lacks does, and an edit file only on the
receiving side is no conflict either: both sides lay every edit they hold over the record, the
newest of each field winning.

A run is the same on both sides when every file has the same content on both: ``rclone check``
compares sizes and a hash both sides support (local paths: any; SFTP: md5sum; S3: its ETag, read
from the listing). When the two sides share no hash (WebDAV, most FTP servers), files up to
``DOWNLOAD_LIMIT`` are read and compared byte for byte (``--download``: ``meta.json``, logs,
metrics) and larger ones by size alone; such runs are reported as having "the same size", never
as identical. Runs already there and the same are skipped. A run with files that differ, or
with files only on the receiving side, is a conflict: the plan lists every such run, they stay as
they are, and the others move (the front end reports the conflicts and fails at the end). A run
with files only on the sending side is an interrupted earlier copy and is completed (copies
never replace a file: ``--ignore-existing``).

Push copies ``meta.json`` last, so a run on the remote without one is an unfinished push: pull
leaves it alone, and the next push copies it again, replacing what a cut-short copy left. Pull
copies into a staging directory and renames each finished run into ``runs/`` (readers never
see half a run), then touches its marker so every index takes it in. Runs still running are
never moved: their files are still being written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import RemoteError
from ..store import edit as store_edit
from ..store import editlog
from ..store.files import touch_marker
from ..store.gc import ATOMIC_TEMP
from ..store.layout import StoreLayout, current_bucket
from ..store.timefmt import iso_from_ts
from .rclone import EXCLUDED, RUN_ID, Rclone, run_rules, runs_path, sub_path

META = "meta.json"
EDITS = "edits/"  # store.edit's log: one file per edit, merged by union, never a conflict
# What pull needs to list and filter the remote's runs without their output and metrics.
# Without a hash both sides support, files up to this size are compared byte for byte (read
# from the remote), larger ones by size alone.
DOWNLOAD_LIMIT = 1 << 20
RECORD_RULES = (
    "+ /*/meta.json",
    "+ /*/crashed.json",
    "+ /*/metrics/*/state.json",
    "+ /*/edits/*.json",
    "- **",
)


@dataclass
class Plan:
    """What a push or pull would do; ``sizes`` are the bytes each moving run still needs."""

    remote: str
    new: list[str] = field(default_factory=list)  # not on the receiving side: copied whole
    # Pushed before but cut short (no meta.json there): copied again, partial files replaced.
    unfinished: list[str] = field(default_factory=list)
    resume: list[str] = field(default_factory=list)  # partly there: the missing files copied
    # There, but edited (renamed, tagged, a note) on the sending side since: the new edits
    # copied (``store.edit``); the receiving side lays them over its record, no conflict.
    edited: list[str] = field(default_factory=list)
    # On both sides with files that differ: left where they are, reported, the others moved.
    conflicts: dict[str, str] = field(default_factory=dict)
    # Runs whose meta.json an earlier naga rewrote to rename or tag them (on one side): the
    # sending side's name and tags, to be written here as edits (``store.edit``) and moved so.
    adopted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Runs with edits on the receiving side that the sending side lacks (push: pull them).
    edited_there: list[str] = field(default_factory=list)
    same: list[str] = field(default_factory=list)  # already there, identical: skipped
    # Of ``same``: runs with files compared by size alone (no hash in common, over
    # DOWNLOAD_LIMIT): "same size", never called identical.
    same_size: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    fresh: bool = False  # no REMOTE/runs yet (push: made by ``prepare``)

    @property
    def moving(self) -> list[str]:
        return [*self.new, *self.unfinished, *self.resume, *self.edited]

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.get(run_id, 0) for run_id in self.moving)


def conflict_error(conflicts: dict[str, str], remote: str, verb: str) -> RemoteError:
    """What a push or pull says, after moving the other runs, of the runs it left alone."""
    shown = "; ".join(f"{run_id}: {why}" for run_id, why in sorted(conflicts.items())[:10])
    more = f" (+{len(conflicts) - 10} more)" if len(conflicts) > 10 else ""
    return RemoteError(
        f"{len(conflicts)} run(s) differ between this store and {remote} and were not {verb}ed:"
        f" {shown}{more}; edits (rename, tag, note) merge by themselves, these are other"
        " changes: compare the two copies and remove the one you do not want, then retry"
    )


def _compare(
    rclone: Rclone, local_runs: str, remote_runs: str, run_ids: Sequence[str], *, pushing: bool
) -> Comparison:
    """For runs on both sides: the files the receiving side lacks, per run, and conflicts."""
    found = Comparison({run_id: [] for run_id in run_ids})
    missing, conflicts = found.missing, found.conflicts
    lacking, extra = ("+", "-") if pushing else ("-", "+")  # rclone: + only in source
    there = "on the remote" if pushing else "here"
    rules = run_rules(run_ids)
    checked = rclone.check(local_runs, remote_runs, rules)
    for mark, path in checked.marks:
        run_id, _, name = path.partition("/")
        if run_id not in missing:
            continue
        if mark == lacking:
            missing[run_id].append(name)
        elif mark == extra and name.startswith(EDITS):
            found.edited_there.add(run_id)  # an edit made over there: theirs to send
        elif mark == extra:
            conflicts.setdefault(run_id, []).append(f"{name} only {there}")
        elif mark in "*!":
            conflicts.setdefault(run_id, []).append(f"{name} differs")
    if not checked.hashed:  # no hash in common: read the small files, sizes for the rest
        sized = {path for mark, path in checked.marks if mark == "="}
        read = rclone.check(local_runs, remote_runs, rules, download=True, max_size=DOWNLOAD_LIMIT)
        for mark, path in read.marks:
            sized.discard(path)
            run_id, _, name = path.partition("/")
            if (
                mark in "*!"
                and run_id in missing
                and f"{name} differs" not in conflicts.get(run_id, [])
            ):
                conflicts.setdefault(run_id, []).append(f"{name} differs")
        found.size_only = {path.partition("/")[0] for path in sized}
    if pushing:  # no meta.json on the remote: a push cut short, whatever its files hold
        for run_id in [r for r in missing if META in missing[r]]:
            conflicts.pop(run_id, None)
    return found


@dataclass
class Comparison:
    missing: dict[str, list[str]]  # run id -> files the receiving side lacks
    conflicts: dict[str, list[str]] = field(default_factory=dict)  # run id -> what differs
    size_only: set[str] = field(default_factory=set)  # runs with files compared by size alone
    edited_there: set[str] = field(default_factory=set)  # runs with edits only on the other side

    def conflict_lines(self) -> dict[str, str]:
        return {
            k: ", ".join(v[:3]) + (" ..." if len(v) > 3 else "") for k, v in self.conflicts.items()
        }


def _adopt(
    rclone: Rclone, runs_dir: str, remote_runs: str, found: Comparison, *, pushing: bool
) -> dict[str, list[dict[str, Any]]]:
    """Runs whose only difference is ``meta.json``, with records that differ only in their name
    and tags: renamed or tagged by a naga that edited ``meta.json`` itself. No conflict: the
    sending side's name and tags become edits of the run (named by their content, so adopting
    again writes nothing new), and the conflict is dropped. Returns the edits to write here."""
    wanted = [f"{META} differs"]
    candidates = [run_id for run_id, why in found.conflicts.items() if why == wanted]
    adopted: dict[str, list[dict[str, Any]]] = {}
    if not candidates:
        return adopted
    picks = [r for name in (META, "edits/*.json") for r in run_rules(candidates, files=name)]
    rules = [*EXCLUDED, *(r for r in picks if r.startswith("+")), "- **"]
    local = StoreLayout(os.path.dirname(runs_dir))
    with tempfile.TemporaryDirectory(prefix="naga-meta-") as scratch:
        rclone.copy(remote_runs, os.path.join(scratch, "runs"), rules, quiet=True)
        remote = StoreLayout(scratch)
        for run_id in candidates:
            here, there = local.meta(run_id), remote.meta(run_id)
            mine, theirs = _raw_record(here), _raw_record(there)
            if mine is None or theirs is None or _unedited(mine) != _unedited(theirs):
                continue
            editlog.apply_edits(local, mine)  # each side's name and tags as it reads them
            editlog.apply_edits(remote, theirs)
            sender, receiver, path = (mine, theirs, here) if pushing else (theirs, mine, there)
            at = iso_from_ts(os.path.getmtime(path))
            del found.conflicts[run_id]
            edits_here = local.edits_dir(run_id)
            fresh = [
                e
                for e in store_edit.adopted_edits(sender, receiver, at)
                if not os.path.lexists(os.path.join(edits_here, store_edit.adopted_name(e)))
            ]
            if fresh:
                adopted[run_id] = fresh
                if pushing:  # written before the copy: they move as the run's new edits
                    names = [EDITS + store_edit.adopted_name(e) for e in fresh]
                    found.missing.setdefault(run_id, []).extend(names)
    return adopted


def _raw_record(path: str) -> dict[str, Any] | None:
    from ..jsonsafe import loads_record

    try:
        with open(path, "rb") as handle:
            doc = loads_record(handle.read())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _unedited(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("name", "tags")}


def _classify(
    plan: Plan,
    run_ids: Iterable[str],
    overlap: set[str],
    missing: dict[str, list[str]],
    size_only: set[str],
) -> None:
    for run_id in run_ids:
        if run_id not in overlap:
            plan.new.append(run_id)
        elif META in missing.get(run_id, []):
            plan.unfinished.append(run_id)
        elif missing.get(run_id) and all(n.startswith(EDITS) for n in missing[run_id]):
            plan.edited.append(run_id)
        elif missing.get(run_id):
            plan.resume.append(run_id)
        else:
            plan.same.append(run_id)
            if run_id in size_only:
                plan.same_size.append(run_id)


def _local_sizes(run_dir: str, only: Sequence[str] | None = None) -> tuple[int, int]:
    """(bytes, files) of what a push copies from ``run_dir``: ``only`` those relative paths."""
    total = count = 0
    if only is not None:
        for name in only:
            try:
                total, count = total + os.lstat(os.path.join(run_dir, name)).st_size, count + 1
            except OSError:
                pass
        return total, count
    for root, _dirs, names in os.walk(run_dir):
        for name in names:
            if (name == ".reserve" and root == run_dir) or ATOMIC_TEMP.fullmatch(name):
                continue
            try:
                total, count = total + os.lstat(os.path.join(root, name)).st_size, count + 1
            except OSError:
                pass
    return total, count


# -- push ---------------------------------------------------------------------------------------


def plan_push(rclone: Rclone, layout: StoreLayout, run_ids: Sequence[str]) -> Plan:
    """What pushing ``run_ids`` (finished runs of this store) would copy; RemoteError on
    conflicts."""
    remote_runs = runs_path(rclone.remote)
    listed = rclone.list_dirs(remote_runs)
    if listed is None:  # nothing pushed there yet: the place must be one a push can fill
        _check_target(rclone)
    on_remote = set(listed or [])
    overlap = [r for r in run_ids if r in on_remote]
    found = Comparison({})
    adopted = {}
    if overlap:
        found = _compare(rclone, layout.runs_dir, remote_runs, overlap, pushing=True)
        adopted = _adopt(rclone, layout.runs_dir, remote_runs, found, pushing=True)
    missing = found.missing
    plan = Plan(rclone.remote, fresh=listed is None, conflicts=found.conflict_lines())
    plan.adopted = adopted
    plan.edited_there = sorted(found.edited_there - set(plan.conflicts))
    chosen = [r for r in run_ids if r not in plan.conflicts]
    _classify(plan, chosen, set(overlap), missing, found.size_only)
    for run_id in plan.moving:
        partial = run_id in plan.resume or run_id in plan.edited
        only = missing.get(run_id) if partial else None
        plan.sizes[run_id], plan.files[run_id] = _local_sizes(layout.run_dir(run_id), only)
    return plan


def _check_target(rclone: Rclone) -> None:
    """A remote that is a file (or has one where ``runs`` goes) can hold no runs."""
    for path in (rclone.remote, runs_path(rclone.remote)):
        if rclone.stat(path) is False:
            raise RemoteError(
                f"{path} is a file, not a directory: push to a directory or an rclone remote"
            )


def prepare(rclone: Rclone, plan: Plan) -> None:
    """Make ``REMOTE/runs`` on a first push, before anything is announced: a remote that
    cannot be written (read-only, no permission) fails here, in one line."""
    if plan.fresh and plan.moving:
        rclone.mkdir(runs_path(rclone.remote))


def push(rclone: Rclone, layout: StoreLayout, plan: Plan) -> None:
    """Copy the plan's runs, ``meta.json`` last, then mark them changed on the remote so a
    remote used as a store (``NAGA_HOME``) picks them up."""
    if not plan.moving:
        return
    for run_id, edits in plan.adopted.items():
        store_edit.write_adopted(layout, run_id, edits)
    remote_runs = runs_path(rclone.remote)
    kept = [*plan.new, *plan.resume, *plan.edited]
    for run_ids, replace in ((kept, False), (plan.unfinished, True)):
        if run_ids:
            rules = run_rules(run_ids, last=[META])
            rclone.copy(layout.runs_dir, remote_runs, rules, replace=replace)
    rclone.copy(layout.runs_dir, remote_runs, run_rules(plan.moving, files=META))
    with tempfile.TemporaryDirectory(prefix="naga-markers-") as scratch:
        bucket = os.path.join(scratch, current_bucket())
        os.makedirs(bucket)
        for run_id in plan.moving:
            open(os.path.join(bucket, run_id), "wb").close()
        rclone.copy(scratch, sub_path(rclone.remote, "touched"), ["+ **"], quiet=True)


# -- pull ---------------------------------------------------------------------------------------


def local_run_dirs(layout: StoreLayout, archive_runs: str) -> dict[str, str]:
    """run id -> the runs directory holding it here: ``runs/``, else the archive's."""
    found: dict[str, str] = {}
    for runs_dir in (archive_runs, layout.runs_dir):
        with contextlib.suppress(FileNotFoundError), os.scandir(runs_dir) as entries:
            found.update((e.name, runs_dir) for e in entries if e.is_dir(follow_symlinks=False))
    return found


@dataclass
class RemoteRecords:
    """The remote's run records, copied into a scratch store to be filtered like local runs."""

    root: str  # a store directory: root/runs/<id>/meta.json
    ids: list[str]  # runs with a complete record (meta.json) on the remote
    unfinished: list[str]  # run directories without meta.json: a push under way or cut short
    running: list[str]  # runs whose record says running, with no crash verdict
    # What is not pulled and why: names that are no run id, records naga cannot read.
    skipped: dict[str, str] = field(default_factory=dict)


def fetch_records(
    rclone: Rclone, scratch: str, wanted: Sequence[str] | None = None
) -> RemoteRecords:
    """Copy the runs' small record files from the remote into ``scratch``: every run's, or
    only those of ``wanted`` when they are all full ids of runs there."""
    remote_runs = runs_path(rclone.remote)
    listed = rclone.list_dirs(remote_runs)
    if listed is None:
        raise RemoteError(f"there are no runs at {rclone.remote} ({remote_runs} does not exist)")
    dirs = [d for d in listed if RUN_ID.fullmatch(d)]
    skipped = {d: "not a run id" for d in listed if not RUN_ID.fullmatch(d)}
    skipped.update(_local_links(remote_runs))
    if wanted and set(wanted) <= set(dirs):
        dirs = list(dict.fromkeys(wanted))
    records = os.path.join(scratch, "runs")
    os.makedirs(records, exist_ok=True)
    if dirs:
        rules = RECORD_RULES if len(dirs) == len(listed) else _record_rules(dirs)
        rclone.copy(remote_runs, records, rules, quiet=True)
    ids, unfinished, running = [], [], []
    for run_id in dirs:
        meta = os.path.join(records, run_id, META)
        if not os.path.isfile(meta):
            unfinished.append(run_id)
            continue
        problem = _record_problem(scratch, run_id)
        if problem:
            skipped[run_id] = problem
            continue
        ids.append(run_id)
        if _says_running(meta) and not os.path.exists(
            os.path.join(records, run_id, "crashed.json")
        ):
            running.append(run_id)
    return RemoteRecords(scratch, ids, unfinished, running, skipped)


def _local_links(remote_runs: str) -> dict[str, str]:
    """Symbolic links among a local-path remote's runs: rclone skips them (it never follows a
    link), and pull says so."""
    found: dict[str, str] = {}
    if "\n" in remote_runs or not os.path.isdir(remote_runs):
        return found
    with contextlib.suppress(OSError), os.scandir(remote_runs) as entries:
        for entry in entries:
            if entry.is_symlink():
                found[entry.name] = "a symbolic link (never followed)"
    return found


def _record_problem(scratch: str, run_id: str) -> str | None:
    """Why the record copied into ``scratch`` is no run naga can take in, if it is not."""
    from ..errors import StoreError
    from ..store.files import load_meta

    try:
        load_meta(StoreLayout(scratch), run_id)
    except StoreError as exc:
        return str(exc).replace(os.path.join(scratch, "runs", ""), "")
    return None


def _record_rules(run_ids: Sequence[str]) -> list[str]:
    names = [rule.split("/", 2)[2] for rule in RECORD_RULES if rule.startswith("+")]
    picks = [rule for name in names for rule in run_rules(run_ids, files=name) if rule[0] == "+"]
    return [*picks, "- **"]


def _says_running(meta_path: str) -> bool:
    from ..jsonsafe import loads_record

    try:
        with open(meta_path, "rb") as handle:
            doc = loads_record(handle.read())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("status") == "running"


def plan_pull(rclone: Rclone, local_dirs: dict[str, str], run_ids: Sequence[str]) -> Plan:
    """What pulling ``run_ids`` would copy. ``local_dirs``: the runs directory holding each id
    already here (``runs/`` or the archive's); RemoteError on conflicts."""
    remote_runs = runs_path(rclone.remote)
    overlap = [r for r in run_ids if r in local_dirs]
    missing: dict[str, list[str]] = {}
    conflicts: dict[str, str] = {}
    size_only: set[str] = set()
    adopted: dict[str, list[dict[str, Any]]] = {}
    for runs_dir in sorted(set(local_dirs[r] for r in overlap)):
        group = [r for r in overlap if local_dirs[r] == runs_dir]
        found = _compare(rclone, runs_dir, remote_runs, group, pushing=False)
        adopted.update(_adopt(rclone, runs_dir, remote_runs, found, pushing=False))
        missing.update(found.missing)
        conflicts.update(found.conflict_lines())
        size_only |= found.size_only
    plan = Plan(rclone.remote, conflicts=conflicts, adopted=adopted)
    chosen = [r for r in run_ids if r not in conflicts]
    _classify(plan, chosen, set(overlap), missing, size_only)
    if plan.moving:
        partial = {*plan.resume, *plan.edited}
        wanted = {r: set(missing[r]) if r in partial else None for r in plan.moving}
        for entry in rclone.list_files(remote_runs, run_rules(plan.moving)):
            run_id, _, name = entry.path.partition("/")
            only = wanted.get(run_id, set())
            if run_id in wanted and (only is None or name in only):
                plan.sizes[run_id] = plan.sizes.get(run_id, 0) + entry.size
                plan.files[run_id] = plan.files.get(run_id, 0) + 1
    return plan


def pull(rclone: Rclone, layout: StoreLayout, plan: Plan, local_dirs: dict[str, str]) -> list[str]:
    """Copy the plan's runs into a staging directory, then into the store; returns the runs
    that arrived incomplete (changed on the remote meanwhile) and were left out."""
    for run_id, edits in plan.adopted.items():  # the remote's name and tags, as edits here
        runs_dir = local_dirs.get(run_id, layout.runs_dir)
        store_edit.write_adopted(StoreLayout(os.path.dirname(runs_dir)), run_id, edits)
    if not plan.moving:
        return []
    staging_root = os.path.join(layout.root, "tmp")
    os.makedirs(staging_root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="pull-", dir=staging_root)
    try:
        whole = [r for r in plan.moving if r not in plan.edited]
        if whole:
            rclone.copy(runs_path(rclone.remote), staging, run_rules(whole))
        if plan.edited:  # only their new edits: never their output again
            rclone.copy(runs_path(rclone.remote), staging, run_rules(plan.edited, files="edits/*"))
        left_out = []
        for run_id in plan.moving:
            arrived = os.path.join(staging, run_id)
            if run_id in plan.new and not os.path.isfile(os.path.join(arrived, META)):
                left_out.append(run_id)
                continue
            target_runs = local_dirs.get(run_id, layout.runs_dir)
            _install(arrived, os.path.join(target_runs, run_id))
            target = (
                layout
                if target_runs == layout.runs_dir
                else StoreLayout(os.path.dirname(target_runs))
            )
            touch_marker(target, run_id)
        return left_out
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _install(arrived: str, target: str) -> None:
    """Rename a pulled run into place; for a run completing an earlier pull, only the files it
    lacked (never replacing one, ``meta.json`` last)."""
    if not os.path.exists(target):
        os.rename(arrived, target)
        return
    meta = None
    for root, _dirs, names in os.walk(arrived):
        for name in names:
            source = os.path.join(root, name)
            dest = os.path.join(target, os.path.relpath(source, arrived))
            if os.path.lexists(dest):
                continue
            if dest == os.path.join(target, META):
                meta = (source, dest)
                continue
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.rename(source, dest)
    if meta is not None:
        os.rename(*meta)
