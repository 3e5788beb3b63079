"""The git state of the directory a run starts in, read through the real ``git``.

Two git processes run side by side (status and remotes), then one more for the patch when the
tree is dirty: a few milliseconds in a small repository. ``GIT_OPTIONAL_LOCKS=0`` keeps ``git
status`` from taking the index lock, so recording a run never disturbs the user's own git commands.
"""

from __future__ import annotations

import os

from ..redact import strip_url_credentials
from ..store.layout import find_repo_root
from . import spawn

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from typing import Any

MAX_UNTRACKED = 1000


def _env() -> dict[str, str]:
    return {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


def parse_status(raw: bytes) -> dict[str, Any]:
    """Read ``git status --porcelain=v2 --branch -z``: commit, branch, dirty, untracked files."""
    commit = branch = None
    dirty = False
    untracked: list[str] = []
    skip_next = False
    for entry in raw.split(b"\0"):
        if skip_next:  # the original path of a rename
            skip_next = False
            continue
        text = entry.decode("utf-8", "surrogateescape")
        if text.startswith("# branch.oid "):
            oid = text.split(" ", 2)[2]
            commit = None if oid == "(initial)" else oid
        elif text.startswith("# branch.head "):
            head = text.split(" ", 2)[2]
            branch = None if head == "(detached)" else head
        elif text[:2] in ("1 ", "u "):
            dirty = True
        elif text.startswith("2 "):
            dirty = True
            skip_next = True
        elif text.startswith("? "):
            untracked.append(text[2:].encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return {"commit": commit, "branch": branch, "dirty": dirty, "untracked": untracked}


def parse_remotes(raw: bytes | None) -> dict[str, str]:
    remotes: dict[str, str] = {}
    for line in (raw or b"").decode("utf-8", "replace").splitlines():
        key, _, url = line.partition(" ")
        name = key.removeprefix("remote.").removesuffix(".url")
        remotes[name] = strip_url_credentials(url)
    return remotes


class GitProbe:
    """Reads a directory's git state; started early so git works while naga prepares the run."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd
        self.root = find_repo_root(cwd)
        self.env = _env()
        self.git = ["git", "-C", cwd]
        self.status = self.remotes = None
        if self.root is not None:
            status = [*self.git, "status", "--porcelain=v2", "--branch", "-z", "-uall"]
            self.status = spawn.start(status, self.env)
            remotes = [*self.git, "config", "--get-regexp", r"^remote\..*\.url$"]
            self.remotes = spawn.start(remotes, self.env)

    def result(self, patch_path: str) -> dict[str, Any] | None:
        """Commit, branch, dirty flag, remotes, untracked files; the diff goes to ``patch_path``.

        None outside a git repository (or without git installed).
        """
        raw_status = self.status.result() if self.status else None
        raw_remotes = self.remotes.result() if self.remotes else None
        if raw_status is None or self.root is None:
            return None
        return _state(raw_status, raw_remotes, self.root, self.git, patch_path, self.env)


def git_state(cwd: str, patch_path: str) -> dict[str, Any] | None:
    return GitProbe(cwd).result(patch_path)


def _state(
    raw_status: bytes,
    raw_remotes: bytes | None,
    root: str,
    git: list[str],
    patch_path: str,
    env: dict[str, str],
) -> dict[str, Any]:
    state = parse_status(raw_status)
    untracked = state.pop("untracked")
    state.update(
        root=root,
        remotes=parse_remotes(raw_remotes),
        untracked=untracked[:MAX_UNTRACKED],
        untracked_count=len(untracked),
        patch=None,
    )
    if state["dirty"] and _write_patch(git, state["commit"], patch_path, env):
        state["patch"] = os.path.basename(patch_path)
    return state


def _write_patch(git: list[str], commit: str | None, patch_path: str, env: dict[str, str]) -> bool:
    # Against HEAD: staged and unstaged changes together. Without a commit: everything staged.
    args = ["diff", "--binary", "HEAD"] if commit else ["diff", "--binary", "--cached"]
    fd = os.open(patch_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        helper = spawn.start([*git, *args], env, stdout_fd=fd)
        ok = helper is not None and helper.result() is not None
    finally:
        os.close(fd)
    if not ok or os.path.getsize(patch_path) == 0:
        os.unlink(patch_path)
        return False
    return True
