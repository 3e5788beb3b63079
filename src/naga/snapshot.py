"""Snapshots of the code a run used: real git commits that leave the user's repository alone.

A snapshot is an ordinary commit whose tree is the working tree as it is now: tracked files as
they are on disk (staged or not; deleted ones gone) plus the untracked files chosen by
``include`` minus ``exclude``. Its parent is HEAD, so ``git diff HEAD <snapshot>`` shows what the
run had that the branch did not.

It is built in a temporary index (``GIT_INDEX_FILE``) seeded from a copy of the real one, so git
re-reads only the files whose stat data changed, then written with ``git write-tree`` and ``git
commit-tree``. Nothing else is written: the user's index, HEAD, branch, stash and files stay as
they were, and commit hooks and signing never run. ``refs/naga/snapshots/<run-id>`` keeps the
commit from ``git gc`` (``git push origin 'refs/naga/*:refs/naga/*'`` shares them).

A fixed handful of git processes per repository, whatever its size: no per-file work outside git.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .capture.git import _env as _quiet_env
from .capture.git import parse_remotes, parse_status
from .errors import GitError, UsageError

SNAPSHOT_REFS = "refs/naga/snapshots/"
# Variables a git hook or `git rebase -x` may have set for another repository: the snapshot must be
# of the repository that contains ``path``, whoever calls naga.
_REPO_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_IMPLICIT_WORK_TREE",
)
# Used only when git has no identity for the user (no user.email, auto-detection off or failing).
_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "naga",
    "GIT_AUTHOR_EMAIL": "naga@localhost",
    "GIT_COMMITTER_NAME": "naga",
    "GIT_COMMITTER_EMAIL": "naga@localhost",
}
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SHA = re.compile(r"[0-9a-fA-F]{4,64}")

Patterns = Sequence[str] | str | None
PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class _Repo:
    root: str
    index: str  # the real index file (per worktree)
    head: str | None  # None before the first commit
    head_tree: str | None


def get_git_commit(path: PathArg = ".") -> str:
    """The HEAD commit of the repository containing ``path``."""
    repo = _locate(path)
    if repo.head is None:
        raise GitError(
            f"the git repository at {repo.root} has no commits yet; commit once (git commit)"
        )
    return repo.head


def repo_state(path: PathArg = ".") -> dict[str, Any]:
    """``path`` (the repository root), ``commit`` (None before the first commit), ``branch`` (None
    when detached), ``dirty`` (tracked files changed, staged or not; untracked files do not
    count, as in ``naga run``) and ``remote`` (origin's URL, else the first remote's, with
    credentials masked; None without remotes)."""
    return _state(_locate(path))


def commit_cwd(
    path: PathArg = ".",
    include: Patterns = None,
    exclude: Patterns = None,
    run_id: str | None = None,
    message: str | None = None,
) -> str:
    """Snapshot the working tree of the repository containing ``path``; returns the commit sha.

    Untracked files are those git does not ignore (``.gitignore``, ``.git/info/exclude``); of
    them, the snapshot takes those matching a pattern of ``include`` (default: all; ``[]``:
    none) and none of ``exclude``. Patterns are shell globs on the path from the repository
    root, where ``*`` also crosses ``/`` (``*.py`` is every Python file, ``data`` or ``data/``
    everything under ``data``); an absolute path in ``exclude`` leaves out what is under it.
    Tracked files are always taken as they are on disk. Untracked nested repositories are left
    out: snapshot them as repositories of their own.

    When that tree is HEAD's, no commit is made and HEAD is returned, so ``snapshot == commit``
    means the run used committed code. With ``run_id``, ``refs/naga/snapshots/<run_id>`` points
    at the result (with a reflog, so an earlier snapshot under the same id survives ``gc`` too).
    """
    ref = _snapshot_ref(run_id)
    return _commit(_locate(path), _patterns(include), _patterns(exclude) or [], ref, message)


def snapshot_repos(
    repos: Mapping[str, PathArg],
    run_id: str | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
) -> dict[str, dict[str, Any]]:
    """``repo_state`` plus ``snapshot`` (``commit_cwd``'s sha) for each named repository, e.g.
    ``{"main": ".", "lib": "../mylib"}``; the same patterns apply to every repository."""
    if not isinstance(repos, Mapping):
        raise UsageError(
            f"repos must map names to repository paths, e.g. {{'main': '.'}}, not {repos!r}"
        )
    ref = _snapshot_ref(run_id)
    wanted, unwanted = _patterns(include), _patterns(exclude) or []
    states: dict[str, dict[str, Any]] = {}
    for name, path in repos.items():
        try:
            repo = _locate(path)
            state = _state(repo)
            state["snapshot"] = _commit(repo, wanted, unwanted, ref, None)
        except GitError as e:
            raise GitError(f"repo '{name}': {e}") from e
        states[name] = state
    return states


def commit_exists(path: PathArg, sha: str) -> bool:
    """Whether the repository containing ``path`` holds commit ``sha`` (full or abbreviated)."""
    repo = _locate(path)
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        return False
    done = _run(repo.root, ["cat-file", "-e", f"{sha}^{{commit}}"], _git_env())
    return done.returncode == 0


def _locate(path: PathArg) -> _Repo:
    """One ``rev-parse`` for root, index and HEAD; a second only before the first commit."""
    directory = _directory(path)
    env = _git_env()
    where = ["rev-parse", "--show-toplevel", "--git-path", "index"]
    done = _run(directory, [*where, "HEAD", "HEAD^{tree}", "--"], env)
    if done.returncode == 0:
        root, index, head, tree = _lines(done.stdout)[:4]
        return _Repo(root, os.path.join(directory, index), head, tree)
    done = _run(directory, where, env)
    if done.returncode != 0:
        raise GitError(_not_a_repo(directory, done.stderr))
    root, index = _lines(done.stdout)[:2]
    return _Repo(root, os.path.join(directory, index), None, None)


def _directory(path: PathArg) -> str:
    directory = os.path.abspath(os.fspath(path))
    if os.path.isdir(directory):
        return directory
    if os.path.exists(directory):  # a file: its repository is its directory's
        return os.path.dirname(directory)
    raise GitError(f"{directory} does not exist; pass a directory inside a git repository")


def _not_a_repo(directory: str, stderr: bytes) -> str:
    reason = _first_line(stderr)
    if "work tree" in reason:
        return f"{directory} is a bare repository or a .git directory; pass its working tree"
    if "not a git repository" in reason:
        return f"{directory} is not inside a git repository; pass one, or run `git init` there"
    return f"git cannot read the repository at {directory}: {reason}"


def _state(repo: _Repo) -> dict[str, Any]:
    env = _git_env()
    # Side by side: both are read-only, and status dominates on a large tree.
    remotes = _start(repo.root, ["config", "--get-regexp", r"^remote\..*\.url$"], env)
    try:
        status = _git(repo.root, ["status", "--porcelain=v2", "--branch", "-z", "-uno"], env)
    finally:
        listed = remotes.communicate()[0]
    urls = parse_remotes(listed if remotes.returncode == 0 else None)
    parsed = parse_status(status)
    remote = urls.get("origin") or next((urls[k] for k in sorted(urls)), None)
    return {
        "path": repo.root,
        "commit": repo.head,
        "branch": parsed["branch"],
        "dirty": parsed["dirty"],
        "remote": remote,
    }


def _commit(
    repo: _Repo, include: list[str] | None, exclude: list[str], ref: str | None, message: str | None
) -> str:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="naga-snapshot-") as scratch:
        env = {**_git_env(), "GIT_INDEX_FILE": os.path.join(scratch, "index")}
        _seed_index(repo.index, env["GIT_INDEX_FILE"])
        # A split index would make git write shared index files into the real .git.
        _git(repo.root, ["-c", "core.splitIndex=false", "add", "--update"], env)
        chosen = _choose(_untracked(repo.root, env), include, _in_repo(exclude, repo.root))
        if chosen:
            paths = b"".join(os.fsencode(p) + b"\0" for p in chosen)
            _git(repo.root, ["update-index", "--add", "-z", "--stdin"], env, stdin=paths)
        tree = _git(repo.root, ["write-tree"], env).decode().strip()
    sha = repo.head if tree == repo.head_tree and repo.head else _commit_tree(repo, tree, message)
    if ref is not None:
        update = ["update-ref", "--create-reflog", "-m", "naga snapshot", ref, sha]
        _git(repo.root, update, _git_env())
    return sha


def _seed_index(real: str, scratch: str) -> None:
    """Copy the real index with its times: git's check for files changed in the same second as
    the index was written compares them with the index file's mtime."""
    import shutil

    try:
        shutil.copy2(real, scratch)
    except FileNotFoundError:  # nothing staged yet: start from an empty index
        pass
    except OSError as e:
        raise GitError(f"cannot read the git index {real}: {e.strerror}") from e


def _untracked(root: str, env: dict[str, str]) -> list[str]:
    listing = _git(root, ["ls-files", "-z", "--others", "--exclude-standard"], env)
    # An entry ending in "/" is a nested repository, which git cannot take file by file.
    return [p for p in (os.fsdecode(e) for e in listing.split(b"\0")) if p and not p.endswith("/")]


def _choose(paths: list[str], include: list[str] | None, exclude: list[str]) -> list[str]:
    return [
        p for p in paths if (include is None or _matches(p, include)) and not _matches(p, exclude)
    ]


def _in_repo(patterns: list[str], root: str) -> list[str]:
    """Absolute paths as paths from ``root``, dropped when outside it (or ``root`` itself);
    other patterns as they are."""
    relative = []
    for pattern in patterns:
        if os.path.isabs(pattern):
            pattern = os.path.relpath(os.path.realpath(pattern), root)
            if pattern == "." or pattern.startswith(".."):
                continue
        relative.append(pattern.replace(os.sep, "/"))
    return relative


def _matches(path: str, patterns: list[str]) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(path, p) or fnmatchcase(path, p.rstrip("/") + "/*") for p in patterns)


def _patterns(patterns: Patterns) -> list[str] | None:
    if patterns is None:
        return None
    if isinstance(patterns, str):  # include="*.py" means one pattern, not four characters
        patterns = [patterns]
    if not all(isinstance(p, str) and p for p in patterns):
        raise UsageError(f"include/exclude patterns must be non-empty strings, not {patterns!r}")
    return [p.removeprefix("./") for p in patterns]


def _snapshot_ref(run_id: str | None) -> str | None:
    if run_id is None:
        return None
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or run_id.endswith(".lock"):
        raise UsageError(
            f"run id {run_id!r} cannot name a git ref; use letters, digits, '.', '_' and '-'"
        )
    return SNAPSHOT_REFS + run_id


def _commit_tree(repo: _Repo, tree: str, message: str | None) -> str:
    args = ["commit-tree", "--no-gpg-sign", "-m", message or "naga snapshot", tree]
    if repo.head:
        args += ["-p", repo.head]
    env = _git_env()
    done = _run(repo.root, args, env)
    if done.returncode != 0 and b"ident" in done.stderr.lower():
        # No identity configured (common on cluster accounts): a snapshot must not fail for it.
        done = _run(repo.root, args, {**env, **_FALLBACK_IDENTITY})
    return _checked(done, args, repo.root).decode().strip()


def _git_env() -> dict[str, str]:
    env = _quiet_env()
    for name in _REPO_ENV:
        env.pop(name, None)
    return env


def _run(
    cwd: str, args: list[str], env: dict[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError as e:
        raise GitError("git is not installed (not found on PATH); install git") from e


def _start(cwd: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            ["git", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
    except FileNotFoundError as e:
        raise GitError("git is not installed (not found on PATH); install git") from e


def _git(cwd: str, args: list[str], env: dict[str, str], stdin: bytes | None = None) -> bytes:
    return _checked(_run(cwd, args, env, stdin), args, cwd)


def _checked(done: subprocess.CompletedProcess[bytes], args: list[str], cwd: str) -> bytes:
    if done.returncode != 0:
        command = next(a for a in args if not a.startswith("-") and "=" not in a)
        raise GitError(f"git {command} failed in {cwd}: {_first_line(done.stderr)}")
    return done.stdout


def _lines(out: bytes) -> list[str]:
    return [os.fsdecode(line) for line in out.splitlines()]


def _first_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    return (errors or lines or ["no message"])[0]
