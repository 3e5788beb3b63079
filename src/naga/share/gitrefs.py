"""The git side of push and pull: the runs' snapshot refs, to and from a git remote.

A run's code is kept by ``refs/naga/snapshots/<run-id>`` in each repository its ``run.lock``
records (and in the repository naga is called from). Push sends those refs to the git remote
of that name in each repository; pull fetches them into the current repository, so a teammate
who pulled a run can ``naga rerun`` it. Refspecs are never forced (no ``+``): git only moves a
ref to a descendant of what it holds, so a different snapshot under the same id is refused, never
replaced, and ``--atomic`` moves all the refs or none.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import git
from ..errors import RemoteError
from ..git import SNAPSHOT_REFS, recorded_repos, snapshot_refs

__all__ = [
    "fetch_refs",
    "push_refs",
    "recorded_repos",
    "refs_by_repo",
    "remote_snapshot_ids",
    "repo_root",
    "snapshot_refs",
]

repo_root = git.toplevel


def refs_by_repo(run_dirs: dict[str, str], cwd: str) -> dict[str, dict[str, str]]:
    """repository root -> {run id: snapshot} for the runs in ``run_dirs`` (id -> directory):
    the repositories their locks record, and the one holding ``cwd``."""
    wanted: dict[str, set[str]] = {}
    here = repo_root(cwd)
    for run_id, run_dir in run_dirs.items():
        for path in [*recorded_repos(run_dir), *([here] if here else [])]:
            root = repo_root(path)
            if root:
                wanted.setdefault(root, set()).add(run_id)
    found = {root: snapshot_refs(root, ids) for root, ids in sorted(wanted.items())}
    return {root: refs for root, refs in found.items() if refs}


def push_refs(root: str, git_remote: str, run_ids: Iterable[str]) -> None:
    specs = [f"{SNAPSHOT_REFS}{r}:{SNAPSHOT_REFS}{r}" for r in sorted(run_ids)]
    done = git.run(root, ["push", "--atomic", "--porcelain", git_remote, *specs])
    if done.returncode != 0:
        rejected = [
            line.split("\t")[1].split(":")[0].removeprefix(SNAPSHOT_REFS)
            for line in _text(done.stdout).splitlines()
            if line.startswith("!") and line.count("\t") >= 2
        ]
        why = (
            f"{git_remote} holds a different snapshot for run(s) {', '.join(rejected)}"
            if rejected
            else git.first_error(done.stderr)
        )
        raise RemoteError(
            f"git refused to push snapshot refs from {root}: {why}; no run was copied"
        )


def remote_snapshot_ids(root: str, git_remote: str) -> set[str]:
    done = git.run(root, ["ls-remote", "--refs", git_remote, f"{SNAPSHOT_REFS}*"])
    if done.returncode != 0:
        raise RemoteError(f"cannot read git remote {git_remote!r}: {git.first_error(done.stderr)}")
    return {
        line.split("\t", 1)[1][len(SNAPSHOT_REFS) :]
        for line in _text(done.stdout).splitlines()
        if "\t" in line
    }


def fetch_refs(root: str, git_remote: str, run_ids: Iterable[str]) -> list[str]:
    """Fetch the snapshot refs of ``run_ids`` that ``git_remote`` has; returns their ids."""
    have = remote_snapshot_ids(root, git_remote)
    wanted = sorted(set(run_ids) & have)
    if not wanted:
        return []
    specs = [f"{SNAPSHOT_REFS}{r}:{SNAPSHOT_REFS}{r}" for r in wanted]
    done = git.run(root, ["fetch", "--atomic", "--no-tags", git_remote, *specs])
    if done.returncode != 0:
        refused = [ln for ln in _text(done.stderr).splitlines() if "[rejected]" in ln]
        rejected = [r for r in wanted if any(f"{SNAPSHOT_REFS}{r} " in ln for ln in refused)]
        why = (
            f"this repository holds a different snapshot for run(s) {', '.join(rejected)}"
            if rejected
            else git.first_error(done.stderr)
        )
        raise RemoteError(
            f"git refused to fetch snapshot refs from {git_remote}: {why}; no run was copied"
        )
    return wanted


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
