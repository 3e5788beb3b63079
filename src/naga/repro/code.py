"""The exact code a run used, and a temporary ``git worktree`` holding it.

A run's code is, best first:

1. its snapshot commit: ``refs/naga/snapshots/<run-id>`` (written by ``naga run`` when the tree
   had untracked files, see ``untracked``, or by ``naga.clicfg``/``naga.runlock``), else the
   ``snapshot`` its ``run.lock`` names for the repository. A snapshot holds the working tree
   as it was, untracked files included (those too large are listed, and a rerun warns);
2. the commit ``naga run`` recorded, plus ``git.patch`` (the uncommitted changes of tracked
   files) when the tree was dirty. Untracked files are not in the patch: they are listed in
   the record, and a rerun warns that they were not restored.

The repository is the one holding the current directory when it has the run's snapshot or
commit (a teammate's clone that pulled the runs and their snapshot refs), else the one the run
recorded; a snapshot in either beats a commit in the other.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .. import git as gitcmd
from ..errors import CodeNotRestorable
from ..git import SNAPSHOT_REFS
from . import gitops

HINT = "`naga rerun {id} --here` runs it in the current checkout instead"


@dataclass
class Code:
    run_id: str
    repo: str  # the work tree the commits are read from
    commit: str  # the commit to check out (a snapshot, or the recorded HEAD)
    patch: str | None = None  # git.patch to apply on top, when there is no snapshot
    snapshot: bool = False
    rel_cwd: str = "."  # the run's directory, from the repository root
    untracked: list[str] = field(default_factory=list)  # not restored (no snapshot)

    def describe(self) -> str:
        if self.snapshot:
            return f"snapshot {self.commit[:12]}"
        return f"commit {self.commit[:12]}" + (" + git.patch" if self.patch else "")

    def tree(self) -> str:
        """The tree of this code (the snapshot's, or the commit's with the patch applied)."""
        return gitops.tree_with_patch(self.repo, self.commit, self.patch)

    def as_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "snapshot": self.snapshot,
            "patch": bool(self.patch),
            "repo": self.repo,
        }


def relative_cwd(meta: dict[str, Any]) -> str:
    """The run's directory from its repository's root; '.' when unknown or outside it."""
    git = meta.get("git") or {}
    root, cwd = git.get("root"), meta.get("cwd")
    if not root or not cwd:
        return "."
    rel = os.path.normpath(os.path.relpath(cwd, root))
    return "." if rel == ".." or rel.startswith(".." + os.sep) else rel


def code_of(meta: dict[str, Any], run_dir: str) -> Code:
    """Where the run's code is; ``CodeNotRestorable`` saying why when it cannot be had."""
    run_id = meta["id"]
    git = meta.get("git")
    hint = HINT.format(id=run_id)
    if not git:
        raise CodeNotRestorable(
            f"run {run_id} was not recorded inside a git repository, so naga has no copy of"
            f" its code; {hint}"
        )
    commit = git.get("commit")
    repo, snapshot = _repository(meta, run_dir, hint)
    rel_cwd = relative_cwd(meta)
    if snapshot:
        # Too large to snapshot, or secrets: the rerun says they are not restored.
        skipped = [*(git.get("snapshot_skipped") or []), *(git.get("snapshot_secrets") or [])]
        return Code(run_id, repo, snapshot, snapshot=True, rel_cwd=rel_cwd, untracked=skipped)
    expected = expected_snapshot(meta, run_dir)
    if expected:
        raise CodeNotRestorable(missing_snapshot(run_id, expected, repo))
    if not commit:
        raise CodeNotRestorable(
            f"run {run_id} started before the repository's first commit, so no commit holds"
            f" its code; {hint}"
        )
    if not gitcmd.commit_exists(repo, commit):
        raise CodeNotRestorable(missing_commit(meta, commit, repo, hint))
    patch = None
    if git.get("patch"):
        patch = os.path.join(run_dir, git["patch"])
        if not os.path.isfile(patch):
            raise CodeNotRestorable(
                f"run {run_id} had uncommitted changes but its {git['patch']} is missing from"
                f" {run_dir}; {hint}"
            )
    untracked = list(git.get("untracked") or [])
    return Code(run_id, repo, commit, patch, rel_cwd=rel_cwd, untracked=untracked)


def _repository(meta: dict[str, Any], run_dir: str, hint: str) -> tuple[str, str | None]:
    """The repository to read the run's code from, and the run's snapshot there (if any).

    The one holding the current directory comes first, then the one the run recorded: a
    teammate's clone that pulled the runs and their snapshot refs has the code, while the
    recorded path (if it exists on this machine at all) may be someone else's checkout whose
    history moved on. A snapshot beats a commit (it holds the untracked files too), so the
    first repository with the snapshot wins, then the first with the commit; with neither,
    the recorded repository (else the current one) is used and the caller says what is gone.
    """
    git = meta.get("git") or {}
    recorded = git.get("root")
    here = gitcmd.toplevel(os.getcwd())
    there = gitcmd.toplevel(recorded) if recorded else None
    candidates = list(dict.fromkeys(r for r in (here, there) if r is not None))
    if not candidates:
        raise CodeNotRestorable(
            f"the repository of run {meta['id']} ({recorded}) is gone and the current"
            f" directory is not inside a git repository holding its commits; cd into a clone,"
            f" or {hint}"
        )
    for repo in candidates:
        snapshot = snapshot_of(meta, run_dir, repo)
        if snapshot:
            return repo, snapshot
    commit = git.get("commit")
    for repo in candidates:
        if commit and gitcmd.commit_exists(repo, commit):
            return repo, None
    return there or candidates[0], None


def snapshot_of(meta: dict[str, Any], run_dir: str, repo: str) -> str | None:
    """The run's snapshot commit in ``repo``: its ref, else the one its record or its
    run.lock names, when ``repo`` holds that commit."""
    found = gitcmd.resolve_ref(repo, SNAPSHOT_REFS + meta["id"])
    if found:
        return found
    recorded = (meta.get("git") or {}).get("snapshot")
    if isinstance(recorded, str) and gitcmd.commit_exists(repo, recorded):
        return recorded
    return lock_snapshot(run_lock(run_dir), repo)


def expected_snapshot(meta: dict[str, Any], run_dir: str) -> str | None:
    """The snapshot the run's code is, by its record (``git.snapshot``) or by its run.lock's
    entry for the run's repository; None when it took none. A run that took one and whose
    snapshot is not here must not run on the bare commit: its untracked files are missing."""
    git = meta.get("git") or {}
    recorded = git.get("snapshot")
    if isinstance(recorded, str) and recorded:
        return recorded
    root = git.get("root")
    for entry in (run_lock(run_dir).get("repos") or {}).values():
        if not isinstance(entry, dict) or not isinstance(entry.get("snapshot"), str):
            continue
        if isinstance(root, str) and _same_repo(str(entry.get("path")), root):
            return str(entry["snapshot"])
    return None


def missing_snapshot(run_id: str, snapshot: str, repo: str) -> str:
    """Why the rerun stops when the run's snapshot is not in ``repo``, and the command that
    fetches it (a run pulled without ``--git-remote`` has its record, not its code)."""
    return (
        f"run {run_id} ran on snapshot {snapshot[:12]} ({SNAPSHOT_REFS}{run_id}), which {repo}"
        f" does not have (pulled without its snapshot ref?); fetch it with: naga pull REMOTE"
        f" {run_id} --git-remote {_remote_name(repo)} (REMOTE: where the run came from)"
    )


def missing_commit(meta: dict[str, Any], commit: str, repo: str, hint: str) -> str:
    """Why the rerun stops when the run's commit is not in ``repo``: gone from the
    repository the run was recorded in, or never fetched into this clone."""
    run_id, git = meta["id"], meta.get("git") or {}
    recorded = git.get("root")
    if isinstance(recorded, str) and _same_repo(recorded, repo):
        return (
            f"commit {commit[:12]} of run {run_id} is gone from {repo} (rewritten or"
            f" garbage-collected) and no snapshot ref kept the run's code; {hint}"
        )
    branch = git.get("branch") if isinstance(git.get("branch"), str) else None
    # The branch comes from the record (anyone's text): quoted, so pasting it runs git alone.
    fetch = f"git fetch {_remote_name(repo)}" + (f" {shlex.quote(branch)}" if branch else "")
    return (
        f"commit {commit[:12]} of run {run_id} is not in {repo} (the run was recorded in"
        f" {recorded}); fetch it with: {fetch} (the commit must have been pushed), or {hint}"
    )


def _same_repo(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _remote_name(repo: str) -> str:
    """The git remote to name in a hint: ``origin`` when there is one, else the only one,
    else ``NAME``."""
    done = gitcmd.run(repo, ["remote"])
    names = os.fsdecode(done.stdout).split() if done.returncode == 0 else []
    if "origin" in names:
        return "origin"
    return names[0] if len(names) == 1 else "NAME"


def lock_snapshot(lock: dict[str, Any], repo: str) -> str | None:
    """The snapshot a ``run.lock`` names that ``repo`` holds: the entry for ``repo``'s own
    path first, then any other (a clone of the same project records another path)."""
    root = os.path.realpath(repo)
    candidates = []
    for entry in (lock.get("repos") or {}).values():
        if isinstance(entry, dict) and entry.get("snapshot"):
            same = os.path.realpath(str(entry.get("path") or "")) == root
            candidates.append((not same, str(entry["snapshot"])))
    for _, sha in sorted(candidates):
        if gitcmd.commit_exists(repo, sha):
            return sha
    return None


def run_lock(run_dir: str) -> dict[str, Any]:
    from ..errors import LockError
    from ..lock import lockfile
    from ..sdk.artifacts import artifacts_root

    try:
        return lockfile.read(os.path.join(artifacts_root(run_dir), lockfile.LOCK_NAME))
    except LockError:
        return {}


def recorded_config(run_dir: str) -> dict[str, Any] | None:
    """The resolved config the run's ``run.lock`` holds (clicfg programs), else None."""
    config = run_lock(run_dir).get("config")
    return config if isinstance(config, dict) else None


@dataclass
class Worktree:
    path: str  # the restored repository root
    cwd: str  # where the command runs
    kept: bool = False
    written: list[str] = field(default_factory=list)  # files the command left there


@contextmanager
def worktree(
    code: Code,
    parent: str,
    keep: bool = False,
    prepare: Callable[[str], Iterable[str]] | None = None,
) -> Iterator[Worktree]:
    """The code checked out (detached, hooks off) into a new worktree under ``parent``,
    removed at the end unless ``keep`` or the command wrote files there (its outputs are never
    deleted: the worktree stays, and ``written`` lists them). ``prepare(path)`` runs once the
    code is there and returns the symlinks it made (``links.make``): they are not the
    command's outputs, and are removed before the worktree is."""
    os.makedirs(parent, exist_ok=True)
    path = tempfile.mkdtemp(prefix=f"rerun-{code.run_id}-", dir=parent)
    add = ["-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", "--quiet"]
    try:
        gitcmd.text(code.repo, [*add, path, code.commit])
    except BaseException:  # refused, or Ctrl-C while checking out: leave nothing behind
        _remove(code.repo, path)
        raise
    tree = Worktree(path, os.path.join(path, code.rel_cwd))
    before = None
    made: list[str] = []
    try:
        if code.patch:
            _apply(path, code)
        os.makedirs(tree.cwd, exist_ok=True)  # an empty directory is not in git
        if prepare is not None:
            made = list(prepare(path))
        before = _extra_files(path)
        yield tree
    finally:
        if before is not None:  # the command ran (or began to): what it wrote is kept
            tree.written = sorted({name for name, *_ in _extra_files(path) - before})
        tree.kept = keep or bool(tree.written)
        if not tree.kept:
            from .links import unmake

            unmake(made)  # the links, never what they point to
            _remove(code.repo, path)


def _apply(path: str, code: Code) -> None:
    assert code.patch is not None
    done = gitcmd.run(path, ["apply", "--binary", "--whitespace=nowarn", code.patch])
    if done.returncode != 0:
        raise CodeNotRestorable(
            f"the git.patch of run {code.run_id} does not apply to commit {code.commit[:12]}:"
            f" {gitcmd.first_error(done.stderr)}; {HINT.format(id=code.run_id)}"
        )


def _extra_files(path: str) -> set[tuple[str, int, int]]:
    """(name, size, mtime) of the changed, untracked and ignored files of a worktree, Python's
    byte-code excepted: compared before and after the command, it tells what the command wrote."""
    listing = gitcmd.run(path, ["status", "--porcelain", "-z", "-uall", "--ignored"])
    entries = set()
    for entry in listing.stdout.split(b"\0"):
        name = os.fsdecode(entry[3:])
        if not name or "__pycache__/" in name or name.endswith(".pyc"):
            continue
        try:
            st = os.lstat(os.path.join(path, name))
        except OSError:
            continue  # deleted: nothing of the command's to keep
        entries.add((name, st.st_size, st.st_mtime_ns))
    return entries


def _remove(repo: str, path: str) -> None:
    done = gitcmd.run(repo, ["worktree", "remove", "--force", "--force", path])
    if done.returncode != 0:
        shutil.rmtree(path, ignore_errors=True)
        gitcmd.run(repo, ["worktree", "prune"])
