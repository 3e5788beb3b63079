"""The few git calls ``naga.repro`` makes, each one line of error when git refuses."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence

from ..capture.git import DIFF
from ..errors import GitError

# A hook or `git rebase -x` may have set these for another repository.
_REPO_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR")
_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "naga",
    "GIT_AUTHOR_EMAIL": "naga@localhost",
    "GIT_COMMITTER_NAME": "naga",
    "GIT_COMMITTER_EMAIL": "naga@localhost",
}


def git_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV}
    return {**env, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", **extra}


def run(
    cwd: str, args: Sequence[str], env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env or git_env(),
            input=stdin,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed (not found on PATH); install git") from exc


def git(
    cwd: str, args: Sequence[str], env: dict[str, str] | None = None, stdin: bytes | None = None
) -> str:
    """git's stdout (stripped); GitError with git's own first error line when it fails."""
    done = run(cwd, args, env, stdin)
    if done.returncode != 0:
        raise GitError(f"git {args[0]} failed in {cwd}: {first_error(done.stderr)}")
    return os.fsdecode(done.stdout).strip()


def first_error(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    return (errors or lines or ["no message"])[0]


def toplevel(path: str) -> str | None:
    """The root of the work tree containing ``path``, or None outside any repository."""
    if not os.path.isdir(path):
        return None
    done = run(path, ["rev-parse", "--show-toplevel"])
    return os.fsdecode(done.stdout).strip() if done.returncode == 0 else None


def commit_exists(repo: str, sha: str | None) -> bool:
    if not sha or not all(c in "0123456789abcdefABCDEF" for c in sha):
        return False
    return run(repo, ["cat-file", "-e", f"{sha}^{{commit}}"]).returncode == 0


def resolve_ref(repo: str, ref: str) -> str | None:
    done = run(repo, ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"])
    return os.fsdecode(done.stdout).strip() if done.returncode == 0 else None


def tree_with_patch(repo: str, commit: str, patch: str | None, add: Sequence[str] = ()) -> str:
    """The tree of ``commit`` with ``patch`` applied and the work-tree files ``add`` (paths
    from the repository root) added, built in a scratch index: the files of the user's checkout
    and its index are never touched."""
    if not patch and not add:
        return git(repo, ["rev-parse", f"{commit}^{{tree}}"])
    with tempfile.TemporaryDirectory(prefix="naga-tree-") as scratch:
        env = git_env(GIT_INDEX_FILE=os.path.join(scratch, "index"))
        git(repo, ["read-tree", commit], env)
        if patch:
            done = run(repo, ["apply", "--cached", "--binary", "--whitespace=nowarn", patch], env)
            if done.returncode != 0:
                raise GitError(
                    f"the run's git.patch does not apply to commit {commit[:12]}:"
                    f" {first_error(done.stderr)}"
                )
        if add:
            paths = b"".join(os.fsencode(p) + b"\0" for p in add)
            git(repo, ["update-index", "--add", "-z", "--stdin"], env, stdin=paths)
        return git(repo, ["write-tree"], env)


def commit_tree(
    repo: str, tree: str, parents: Sequence[str], message: str, date: str | None = None
) -> str:
    """A commit of ``tree``; with ``date`` (ISO 8601) as its author and committer date, the
    same inputs make the same commit, whenever they are made."""
    args = ["commit-tree", "--no-gpg-sign", "-m", message, tree]
    for parent in parents:
        args += ["-p", parent]
    dates = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}
    done = run(repo, args, git_env(**dates))
    if done.returncode != 0 and b"ident" in done.stderr.lower():
        done = run(repo, args, git_env(**dates, **_FALLBACK_IDENTITY))  # no identity set
    if done.returncode != 0:
        raise GitError(f"git commit-tree failed in {repo}: {first_error(done.stderr)}")
    return os.fsdecode(done.stdout).strip()


def diff_trees(repo: str, old: str, new: str, *, color: bool = False) -> tuple[str, list[str]]:
    """(the patch from ``old`` to ``new``, the files it touches)."""
    files = git(repo, ["diff", "--name-only", "--no-renames", old, new])
    options = [o for o in DIFF if o != "--no-color"] + (["--color"] if color else ["--no-color"])
    patch = run(repo, [*options, "--stat", "--patch", old, new])
    if patch.returncode != 0:
        raise GitError(f"git diff failed in {repo}: {first_error(patch.stderr)}")
    text = patch.stdout.decode("utf-8", "replace")
    return text, [f for f in files.splitlines() if f]
