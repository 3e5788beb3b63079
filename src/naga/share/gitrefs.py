"""The git side of push and pull: the runs' snapshot refs, to and from a git remote.

A run's code is kept by ``refs/naga/snapshots/<run-id>`` in each repository its ``run.lock``
records (and in the repository naga is called from). Push sends those refs to the git remote
of that name in each repository; pull fetches them into the current repository, so a teammate
who pulled a run can ``naga rerun`` it. Refspecs are never forced (no ``+``): git only moves a
ref to a descendant of what it holds, so a different snapshot under the same id is refused, never
replaced, and ``--atomic`` moves all the refs or none.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence

from ..errors import GitError, RemoteError
from ..snapshot import SNAPSHOT_REFS

# Variables a hook may have set for another repository; git must work on the one named by cwd.
_REPO_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV}
    env["GIT_TERMINAL_PROMPT"] = "0"  # a remote asking for a password fails instead of hanging
    return env


def _git(cwd: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (not found on PATH); install git") from None


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("fatal:", "error:", "!"))]
    return (errors or lines or ["no message"])[0]


def repo_root(path: str) -> str | None:
    """The top of the working tree holding ``path``, or None outside git."""
    if not os.path.isdir(path):
        return None
    done = _git(path, ["rev-parse", "--show-toplevel"])
    return done.stdout.strip() if done.returncode == 0 else None


def snapshot_refs(root: str, run_ids: Iterable[str] | None = None) -> dict[str, str]:
    """run id -> snapshot commit, for the snapshot refs of repository ``root``."""
    done = _git(root, ["for-each-ref", "--format=%(refname) %(objectname)", SNAPSHOT_REFS])
    if done.returncode != 0:
        raise GitError(f"cannot list the snapshot refs of {root}: {_first_error(done.stderr)}")
    wanted = None if run_ids is None else set(run_ids)
    found = {}
    for line in done.stdout.splitlines():
        ref, _, sha = line.partition(" ")
        run_id = ref[len(SNAPSHOT_REFS) :]
        if wanted is None or run_id in wanted:
            found[run_id] = sha
    return found


def recorded_repos(run_dir: str) -> list[str]:
    """The repositories a run recorded, as paths that exist here: the one ``naga run`` saw
    (``git.root`` in meta.json) and those its ``run.lock`` (among its artifacts) names."""
    import json

    from ..lock import lockfile

    paths: list[object] = []
    try:
        with open(os.path.join(run_dir, "meta.json"), "rb") as handle:
            git = json.loads(handle.read()).get("git") or {}
        paths.append(git.get("root") if isinstance(git, dict) else None)
    except (OSError, ValueError, AttributeError):
        pass
    lock_path = os.path.join(run_dir, "artifacts", lockfile.LOCK_NAME)
    if os.path.isfile(lock_path):
        try:
            repos = lockfile.read(lock_path).get("repos") or {}
            paths += [entry.get("path") for entry in repos.values() if isinstance(entry, dict)]
        except Exception:  # an unreadable lock records no repository to push from
            pass
    return [p for p in dict.fromkeys(paths) if isinstance(p, str) and os.path.isdir(p)]


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
    done = _git(root, ["push", "--atomic", "--porcelain", git_remote, *specs])
    if done.returncode != 0:
        rejected = [
            line.split("\t")[1].split(":")[0].removeprefix(SNAPSHOT_REFS)
            for line in done.stdout.splitlines()
            if line.startswith("!") and line.count("\t") >= 2
        ]
        why = (
            f"{git_remote} holds a different snapshot for run(s) {', '.join(rejected)}"
            if rejected
            else _first_error(done.stderr)
        )
        raise RemoteError(
            f"git refused to push snapshot refs from {root}: {why}; no run was copied"
        )


def remote_snapshot_ids(root: str, git_remote: str) -> set[str]:
    done = _git(root, ["ls-remote", "--refs", git_remote, f"{SNAPSHOT_REFS}*"])
    if done.returncode != 0:
        raise RemoteError(f"cannot read git remote {git_remote!r}: {_first_error(done.stderr)}")
    return {
        line.split("\t", 1)[1][len(SNAPSHOT_REFS) :]
        for line in done.stdout.splitlines()
        if "\t" in line
    }


def fetch_refs(root: str, git_remote: str, run_ids: Iterable[str]) -> list[str]:
    """Fetch the snapshot refs of ``run_ids`` that ``git_remote`` has; returns their ids."""
    have = remote_snapshot_ids(root, git_remote)
    wanted = sorted(set(run_ids) & have)
    if not wanted:
        return []
    specs = [f"{SNAPSHOT_REFS}{r}:{SNAPSHOT_REFS}{r}" for r in wanted]
    done = _git(root, ["fetch", "--atomic", "--no-tags", git_remote, *specs])
    if done.returncode != 0:
        refused = [ln for ln in done.stderr.splitlines() if "[rejected]" in ln]
        rejected = [r for r in wanted if any(f"{SNAPSHOT_REFS}{r} " in ln for ln in refused)]
        why = (
            f"this repository holds a different snapshot for run(s) {', '.join(rejected)}"
            if rejected
            else _first_error(done.stderr)
        )
        raise RemoteError(
            f"git refused to fetch snapshot refs from {git_remote}: {why}; no run was copied"
        )
    return wanted


def delete_refs(root: str, run_ids: Iterable[str]) -> None:
    lines = "".join(f"delete {SNAPSHOT_REFS}{r}\n" for r in run_ids)
    try:
        done = subprocess.run(
            ["git", "update-ref", "--stdin"],
            cwd=root,
            env=_env(),
            input=lines,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (not found on PATH); install git") from None
    if done.returncode != 0:
        raise GitError(f"cannot delete snapshot refs in {root}: {_first_error(done.stderr)}")
