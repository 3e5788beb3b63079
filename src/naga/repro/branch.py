"""``naga branch``: a git branch holding the code of a run and of every stage upstream of it.

The stages come from ``run.lock`` ``prevs`` (``naga lineage``), ordered upstream first (each
stage after every stage it consumed, the target last); a run without a lock is a one-stage
pipeline. Each stage's code is its snapshot commit in this repository: the ``snapshot`` its lock
names, else ``refs/naga/snapshots/<run-id>``, else (a plain ``naga run``) a commit made from the
recorded commit plus ``git.patch``.

The branch is a chain, one commit per stage, whose tree is *exactly* that stage's code. When the
previous stage's commit is an ancestor of the next snapshot, the snapshot commit itself comes
next (a fast-forward, its history kept). Otherwise a commit with the snapshot's tree is made
with two parents, the previous stage's commit and the snapshot, so the branch holds every
snapshot commit and ``git log --first-parent`` lists the stages in order. Nothing is replayed
or merged: no stage's code can be changed by a conflict. The tip is the target run's code.

Only plumbing is used (``commit-tree``, ``update-ref`` with an empty old value, so an existing
branch is never moved): the current checkout, index and HEAD are untouched. A commit naga makes
takes its date from the snapshot (or the run's start), so the same target always gives the same
branch tip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import git as gitcmd
from ..errors import CodeNotRestorable, LockError, NoSnapshot, RunNotFound, UsageError
from . import code as repro_code


@dataclass
class Stage:
    label: str  # the stage directory, or the run id
    run_id: str | None
    commit: str  # its code, as a commit in the repository


def _post_order(node: Any, out: list[Any]) -> None:
    """Each stage after the stages it consumed; a stage consumed twice is listed once (lineage
    marks its second appearance ``repeated``)."""
    for child in node.inputs:
        _post_order(child, out)
    if not node.repeated:
        out.append(node)


def _lock_snapshot(lock: dict[str, Any], repo: str) -> str | None:
    found = repro_code.lock_snapshot(lock, repo)
    run_id = lock.get("run_id")
    if found is None and run_id:
        return gitcmd.resolve_ref(repo, gitcmd.SNAPSHOT_REFS + str(run_id))
    return found


def stages_of_lock(lock_path: Path, repo: str) -> list[Stage]:
    from ..lock.lineage import lineage

    root = lineage(lock_path)
    if root.problem:
        raise LockError(root.problem)
    ordered: list[Any] = []
    _post_order(root, ordered)
    stages = []
    for node in ordered:
        if node.problem:
            raise LockError(f"stage {node.path}: {node.problem}")
        lock = node.lock or {}
        sha = _lock_snapshot(lock, repo)
        if sha is None:
            raise NoSnapshot(
                f"stage {node.path} has no snapshot commit in {repo} (its run.lock records no"
                " repository snapshot, or the commit is gone): its code cannot go on a branch"
            )
        stages.append(Stage(node.path, lock.get("run_id"), sha))
    return stages


def stage_of_run(meta: dict[str, Any], run_dir: str, repo: str) -> Stage:
    """A run recorded by plain ``naga run``: its snapshot, else commit + git.patch as a commit."""
    try:
        code = repro_code.code_of(meta, run_dir)
    except CodeNotRestorable as exc:
        reason = str(exc).split("; ")[0]
        raise NoSnapshot(f"{reason}: it cannot go on a branch") from None
    if os.path.realpath(code.repo) != os.path.realpath(repo):
        raise NoSnapshot(f"run {meta['id']} was recorded in {code.repo}, not in {repo}")
    if code.snapshot or not code.patch:
        return Stage(meta["id"], meta["id"], code.commit)
    message = f"naga: run {meta['id']} (commit {code.commit[:12]} + git.patch)"
    date = meta.get("started_at")
    commit = gitcmd.commit_tree(repo, code.tree(), [code.commit], message, date)
    return Stage(meta["id"], meta["id"], commit)


def resolve_stages(target: str, repo: str) -> list[Stage]:
    """The stages behind ``target`` (a stage directory, a run.lock, or a run), upstream first."""
    from ..lock.verify import locate_lock

    if Path(target).expanduser().exists():
        return stages_of_lock(locate_lock(target), repo)
    from ..store import Store

    store = Store.open()
    try:
        meta = store.get(target)
    except RunNotFound:
        raise UsageError(
            f"{target} is neither a path nor a run: give a stage directory, a run.lock or a run id"
        ) from None
    try:
        lock = locate_lock(meta["id"])
    except LockError:  # no run.lock: a plain `naga run`
        return [stage_of_run(meta, store.layout.run_dir(meta["id"]), repo)]
    return stages_of_lock(lock, repo)


def check_name(repo: str, name: str) -> str:
    """The full ref for a new branch ``name``; UsageError when invalid or taken."""
    done = gitcmd.run(repo, ["check-ref-format", "--branch", name])
    if done.returncode != 0 or name.startswith("-"):
        raise UsageError(f"{name!r} is not a valid git branch name")
    ref = f"refs/heads/{name}"
    if gitcmd.resolve_ref(repo, ref):
        raise UsageError(
            f"branch {name} already exists in {repo}; choose another name (or delete it: git"
            f" branch -D {name})"
        )
    return ref


def _is_ancestor(repo: str, old: str, new: str) -> bool:
    return gitcmd.run(repo, ["merge-base", "--is-ancestor", old, new]).returncode == 0


def chain(repo: str, stages: list[Stage]) -> tuple[str, list[dict[str, Any]]]:
    """(the tip, one entry per stage: its label, run, snapshot and commit on the branch)."""
    tip: str | None = None
    placed = []
    for stage in stages:
        if tip is None or _is_ancestor(repo, tip, stage.commit):
            tip = stage.commit
        elif _is_ancestor(repo, stage.commit, tip) and _same_tree(repo, stage.commit, tip):
            pass  # already there, same code
        else:
            tree = gitcmd.text(repo, ["rev-parse", f"{stage.commit}^{{tree}}"])
            run = f" (run {stage.run_id})" if stage.run_id else ""
            message = f"naga: stage {stage.label}{run}\n\nsnapshot {stage.commit}"
            date = gitcmd.text(repo, ["show", "-s", "--format=%cI", stage.commit])
            tip = gitcmd.commit_tree(repo, tree, [tip, stage.commit], message, date)
        placed.append(
            {"stage": stage.label, "run_id": stage.run_id, "snapshot": stage.commit, "commit": tip}
        )
    assert tip is not None
    return tip, placed


def _same_tree(repo: str, a: str, b: str) -> bool:
    trees = gitcmd.text(repo, ["rev-parse", f"{a}^{{tree}}", f"{b}^{{tree}}"]).split()
    return trees[0] == trees[1]


def make_branch(target: str, name: str, repo_path: str | None = None) -> dict[str, Any]:
    """Create branch ``name``; returns ``{"branch", "repo", "tip", "stages"}``."""
    start = repo_path or os.getcwd()
    repo = gitcmd.toplevel(start)
    if repo is None:
        raise UsageError(f"{start} is not inside a git repository; cd into the project")
    ref = check_name(repo, name)
    stages = resolve_stages(target, repo)
    tip, placed = chain(repo, stages)
    done = gitcmd.run(repo, ["update-ref", "-m", f"naga branch {target}", ref, tip, ""])
    if done.returncode != 0:  # created meanwhile by someone else
        raise UsageError(f"cannot create branch {name}: {gitcmd.first_error(done.stderr)}")
    return {"branch": name, "repo": repo, "tip": tip, "stages": placed}
