"""``naga push`` and ``naga pull`` as whole workflows, for any front end.

Each is two steps, so that a front end can show the plan in between (and stop there on a dry
run): ``plan_push`` / ``plan_pull`` choose the runs, compare them with the other side and say
what would move (a push also checks that the remote can be written before anything is said to
move); ``push`` / ``pull`` move it. Nothing here prints: plans and results carry what the user
should hear (runs left out because they still run, runs that changed while they were pulled), and
refusals are ``NagaError`` subclasses. Which runs a selection names (ids, names, filters) is the
front end's business: it passes ``select``, applied to the local store for a push and to the
remote's records (a scratch store) for a pull.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import GitError, RemoteError, RunIsRunning, RunNotFound
from ..store import Store
from ..store.archive import archive_root
from . import gitrefs, transfer
from .rclone import Rclone, runs_path

# (the ids the user named, those and the ids the filters matched), from a store.
Select = Callable[[Store], tuple[list[str], list[str]]]


@dataclass
class Push:
    """A push planned: ``plan`` is None when no run is left to push."""

    store: Store
    rclone: Rclone
    plan: transfer.Plan | None
    git_remote: str | None = None
    refs: dict[str, dict[str, str]] = field(default_factory=dict)  # repo root -> snapshot refs
    left_running: list[str] = field(default_factory=list)  # chosen by a filter, still running


@dataclass
class Pull:
    """A pull planned: ``plan`` is None when no run is left to pull."""

    store: Store
    rclone: Rclone
    plan: transfer.Plan | None
    ids: list[str] = field(default_factory=list)
    local: dict[str, str] = field(default_factory=dict)  # run id -> its directory here
    git_remote: str | None = None
    repo: str | None = None  # the repository snapshot refs are fetched into
    left_running: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # remote entries left out, and why


@dataclass
class Pulled:
    refs: list[str]  # snapshot refs fetched
    changed: list[str]  # runs that changed on the remote while they were pulled: left out
    count: int  # runs pulled


def _running(
    running: list[str], named: list[str], verb: str, where: str
) -> list[str]:  # the ones a filter chose, left out
    """A run named explicitly that still runs is an error; one a filter chose is left out."""
    explicit = [r for r in running if r in named]
    if explicit:
        raise RunIsRunning(
            f"run(s) {', '.join(explicit)} still running{where}; {verb} them once they end"
        )
    return running


def plan_push(
    store: Store, rclone: Rclone, select: Select, *, git_remote: str | None, cwd: str, dry_run: bool
) -> Push:
    """What ``push`` would copy to ``rclone``'s remote (and which snapshot refs, found from
    ``cwd`` and the runs' records, to ``git_remote``). Not a dry run: the remote is made ready
    (and so known to be writable) here."""
    if not store.exists():
        raise RemoteError("there are no runs to push yet; record one with `naga run`")
    named, ids = select(store)
    statuses = store.statuses(ids)
    left = _running([r for r in ids if statuses.get(r) == "running"], named, "push", "")
    ids = [r for r in ids if r not in left]
    if not ids:
        return Push(store, rclone, None, git_remote, left_running=left)
    plan = transfer.plan_push(rclone, store.layout, ids)
    refs = {}
    if git_remote:
        refs = gitrefs.refs_by_repo({r: store.layout.run_dir(r) for r in ids}, cwd)
    if not dry_run:
        transfer.prepare(rclone, plan)
    return Push(store, rclone, plan, git_remote, refs, left)


def push(todo: Push) -> None:
    """Carry out a planned push: snapshot refs first, then the runs."""
    if todo.plan is None:
        return
    for root, found in todo.refs.items():
        gitrefs.push_refs(root, str(todo.git_remote), found)
    transfer.push(todo.rclone, todo.store.layout, todo.plan)


def plan_pull(
    store: Store,
    rclone: Rclone,
    select: Select,
    *,
    named: tuple[str, ...],
    only_named: bool,
    git_remote: str | None,
    cwd: str,
) -> Pull:
    """What ``pull`` would copy from ``rclone``'s remote into ``store``. ``named``: the runs
    the user named (ids, prefixes, names on the remote); ``only_named``: no filter was given,
    so only their records are fetched to choose from."""
    repo = None
    if git_remote:
        repo = gitrefs.repo_root(cwd)
        if repo is None:
            raise GitError(
                "--git-remote fetches snapshot refs into a git repository: run naga pull inside one"
            )
    with tempfile.TemporaryDirectory(prefix="naga-pull-") as scratch:
        records = transfer.fetch_records(rclone, scratch, named if only_named else None)
        unfinished = [r for r in named if r in records.unfinished]
        if unfinished:
            raise RemoteError(
                f"run(s) {', '.join(unfinished)} on {rclone.remote} have no meta.json yet: a"
                " push still under way or cut short"
            )
        remote_store = Store(scratch)
        try:
            chosen, ids = select(remote_store)
        except RunNotFound as missing:  # the names were the remote's, so is the listing
            raise RunNotFound(on_remote(str(missing), rclone.remote)) from None
        finally:
            remote_store.close()
    left = _running(
        [r for r in ids if r in records.running], chosen, "pull", f" on {rclone.remote}"
    )
    ids = [r for r in ids if r not in left]
    if not ids:
        return Pull(
            store, rclone, None, git_remote=git_remote, left_running=left, skipped=records.skipped
        )
    local = transfer.local_run_dirs(store.layout, os.path.join(archive_root(store.layout), "runs"))
    plan = transfer.plan_pull(rclone, local, ids)
    return Pull(store, rclone, plan, ids, local, git_remote, repo, left, records.skipped)


def remote_refs(todo: Pull) -> set[str]:
    """The planned runs whose snapshot refs the git remote has (what a pull would fetch)."""
    if todo.repo is None:
        return set()
    return gitrefs.remote_snapshot_ids(todo.repo, str(todo.git_remote)) & set(todo.ids)


def pull(todo: Pull) -> Pulled:
    """Carry out a planned pull: snapshot refs first, then the runs."""
    if todo.plan is None:
        return Pulled([], [], 0)
    todo.store.layout.ensure()  # only now: a dry run, like every reading command, makes none
    fetched = []
    if todo.repo is not None:
        fetched = gitrefs.fetch_refs(todo.repo, str(todo.git_remote), todo.ids)
    changed = transfer.pull(todo.rclone, todo.store.layout, todo.plan, todo.local)
    return Pulled(fetched, changed, len(todo.plan.moving) - len(changed))


def on_remote(message: str, remote: str) -> str:
    """A "no run matches" message about the remote's runs, saying how to list those."""
    found, _, hint = message.partition("; ")
    if hint.startswith("did you mean"):
        return f"{found} on {remote}; {hint}"
    local = ":" not in remote.split("/", 1)[0]  # rclone: NAME:path is a remote, else a path
    quoted = shlex.quote(remote if local else runs_path(remote))
    how = f"NAGA_HOME={quoted} naga ls" if local else f"rclone lsd {quoted}"
    return f"{found} on {remote}; `{how}` lists the runs there"
