"""Snapshots of the code a run used: real git commits that leave the user's repository alone.

A snapshot is an ordinary commit whose tree is the working tree as it is now: tracked files as
they are on disk (staged or not; deleted ones gone) plus the untracked files chosen by
``include`` minus ``exclude``, never a secret nor an earlier run's outputs (``naga.secretfiles``;
the secrets left out are named in a logging warning). Its parent is HEAD, so ``git diff HEAD
<snapshot>`` shows what the run had that the branch did not.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import git
from .capture.git import parse_remotes, parse_status
from .errors import GitError, UsageError
from .git import SNAPSHOT_REFS

__all__ = [
    "SNAPSHOT_REFS",
    "commit_cwd",
    "commit_exists",
    "get_git_commit",
    "repo_state",
    "snapshot_repos",
]

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
    out: snapshot them as repositories of their own. So are secrets (``.env``, ``id_rsa``, a
    private key, what ``.nagaignore`` lists; named in a logging warning) and everything under
    an earlier run's output directory (see ``naga.secretfiles``).

    When that tree is HEAD's, no commit is made and HEAD is returned, so ``snapshot == commit``
    means the run used committed code. With ``run_id``, ``refs/naga/snapshots/<run_id>`` points
    at the result (with a reflog, so an earlier snapshot under the same id survives ``gc`` too).
    """
    ref = _snapshot_ref(run_id)
    made = _commit(_locate(path), _patterns(include), _patterns(exclude) or [], ref, message)
    return made.sha


def snapshot_repos(
    repos: Mapping[str, PathArg],
    run_id: str | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
) -> dict[str, dict[str, Any]]:
    """``repo_state`` plus ``snapshot`` (``commit_cwd``'s sha) for each named repository, e.g.
    ``{"main": ".", "lib": "../mylib"}``; the same patterns apply to every repository. An entry
    also lists ``secrets_left_out`` when secret files were left out of its snapshot."""
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
            made = _commit(repo, wanted, unwanted, ref, None)
            state["snapshot"] = made.sha
            if made.secrets:
                state["secrets_left_out"] = made.secrets
        except GitError as e:
            raise GitError(f"repo '{name}': {e}") from e
        states[name] = state
    return states


def commit_exists(path: PathArg, sha: str) -> bool:
    """Whether the repository containing ``path`` holds commit ``sha`` (full or abbreviated)."""
    repo = _locate(path)
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        return False
    return git.commit_exists(repo.root, sha)


def _locate(path: PathArg) -> _Repo:
    """One ``rev-parse`` for root, index and HEAD; a second only before the first commit."""
    directory = _directory(path)
    where = ["rev-parse", "--show-toplevel", "--git-path", "index"]
    done = git.run(directory, [*where, "HEAD", "HEAD^{tree}", "--"])
    if done.returncode == 0:
        root, index, head, tree = _lines(done.stdout)[:4]
        return _Repo(root, os.path.join(directory, index), head, tree)
    done = git.run(directory, where)
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
    reason = git.first_error(stderr)
    if "work tree" in reason:
        return f"{directory} is a bare repository or a .git directory; pass its working tree"
    if "not a git repository" in reason:
        return f"{directory} is not inside a git repository; pass one, or run `git init` there"
    return f"git cannot read the repository at {directory}: {reason}"


def _state(repo: _Repo) -> dict[str, Any]:
    # Side by side: both are read-only, and status dominates on a large tree.
    remotes = git.start(repo.root, ["config", "--get-regexp", r"^remote\..*\.url$"])
    try:
        status = git.output(repo.root, ["status", "--porcelain=v2", "--branch", "-z", "-uno"])
    finally:
        listed = remotes.result() if remotes is not None else None
    urls = parse_remotes(listed)
    parsed = parse_status(status)
    remote = urls.get("origin") or next((urls[k] for k in sorted(urls)), None)
    return {
        "path": repo.root,
        "commit": repo.head,
        "branch": parsed["branch"],
        "dirty": parsed["dirty"],
        "remote": remote,
    }


@dataclass(frozen=True)
class _Made:
    sha: str
    secrets: list[str]  # untracked files left out as secrets


def _commit(
    repo: _Repo, include: list[str] | None, exclude: list[str], ref: str | None, message: str | None
) -> _Made:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="naga-snapshot-") as scratch:
        scratch_env = {"GIT_INDEX_FILE": os.path.join(scratch, "index")}
        _seed_index(repo.index, scratch_env["GIT_INDEX_FILE"])
        # A split index would make git write shared index files into the real .git.
        add = ["-c", "core.splitIndex=false", "add", "--update"]
        git.output(repo.root, add, extra_env=scratch_env)
        chosen = _choose(_untracked(repo.root), include, _in_repo(exclude, repo.root))
        chosen, secrets = _withhold(repo.root, chosen)
        if chosen:
            paths = b"".join(os.fsencode(p) + b"\0" for p in chosen)
            update = ["update-index", "--add", "-z", "--stdin"]
            git.output(repo.root, update, stdin=paths, extra_env=scratch_env)
        tree = git.output(repo.root, ["write-tree"], extra_env=scratch_env).decode().strip()
    sha = repo.head if tree == repo.head_tree and repo.head else _commit_tree(repo, tree, message)
    if ref is not None:
        update = ["update-ref", "--create-reflog", "-m", "naga snapshot", ref, sha]
        git.output(repo.root, update)
    return _Made(sha, secrets)


def _withhold(root: str, chosen: list[str]) -> tuple[list[str], list[str]]:
    """(the files to take, the secrets left out): no secret and no earlier run's outputs."""
    from .secretfiles import withhold

    secrets, outputs = withhold(root, chosen)
    if secrets:
        import logging

        logging.getLogger(__name__).warning(
            "naga: left out of the snapshot of %s as secrets: %s", root, ", ".join(secrets)
        )
    dropped = set(secrets) | set(outputs)
    return [p for p in chosen if p not in dropped], secrets


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


def _untracked(root: str) -> list[str]:
    listing = git.output(root, ["ls-files", "-z", "--others", "--exclude-standard"])
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
    return git.commit_tree(
        repo.root, tree, [repo.head] if repo.head else [], message or "naga snapshot"
    )


def _lines(out: bytes) -> list[str]:
    return [os.fsdecode(line) for line in out.splitlines()]
