"""The git state of the directory a run starts in, read through the real ``git``.

Two git processes run side by side (status and remotes), then one more for the patch when the
tree is dirty: a few milliseconds in a small repository. They start through ``naga.git``, whose
environment policy (``GIT_OPTIONAL_LOCKS=0``, no ``GIT_DIR`` inherited from a hook) keeps
``git status`` from taking the index lock and points it at the repository holding the run's
directory, so recording a run never disturbs the user's own git commands.
"""

from __future__ import annotations

import os

# Names, not `from .. import git`: that would go through naga's lazy __getattr__ (importlib).
from ..git import DIFF, executable, start
from ..git import env as git_env
from ..redact import strip_url_credentials
from ..store.layout import find_repo_root

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from typing import Any

    from ..spawn import Helper

__all__ = ["DIFF", "MAX_UNTRACKED", "GitProbe", "parse_remotes", "parse_status"]

MAX_UNTRACKED = 1000


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
    """Reads a directory's git state. All three git processes start at once, before the command
    does, so the diff shows the tree the command started from; ``result()`` collects them."""

    def __init__(self, cwd: str, patch_path: str) -> None:
        self.root = find_repo_root(cwd)
        self.cwd = cwd
        self.env = git_env()  # once for the three gits
        self.patch_path = patch_path
        self.status: Helper | None = None
        self.remotes: Helper | None = None
        self.diff: Helper | None = None
        if self.root is None or executable() is None:
            return
        status = ["status", "--porcelain=v2", "--branch", "-z", "-uall"]
        self.status = start(cwd, status, environ=self.env)
        remotes = ["config", "--get-regexp", r"^remote\..*\.url$"]
        self.remotes = start(cwd, remotes, environ=self.env)
        self.diff = self._start_diff([*DIFF, "HEAD"])

    def _start_diff(self, args: list[str]) -> Helper | None:
        try:
            fd = os.open(self.patch_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError:
            return None
        try:
            return start(self.cwd, args, stdout_fd=fd, environ=self.env)
        finally:
            os.close(fd)

    def result(self) -> dict[str, Any] | None:
        """Commit, branch, dirty flag, remotes and untracked files; the uncommitted diff is in
        ``patch_path`` (removed when there is none). None outside a git repository."""
        raw_status = self.status.result() if self.status else None
        raw_remotes = self.remotes.result() if self.remotes else None
        diff_ok = self.diff is not None and self.diff.result() is not None
        if raw_status is None or self.root is None:
            _remove(self.patch_path)
            return None
        state = parse_status(raw_status)
        untracked = state.pop("untracked")
        if state["commit"] is None:  # no commit yet: the patch is everything staged
            self.diff = self._start_diff([*DIFF, "--cached"])
            diff_ok = self.diff is not None and self.diff.result() is not None
        has_patch = diff_ok and state["dirty"] and os.path.getsize(self.patch_path) > 0
        if not has_patch:
            _remove(self.patch_path)
        state.update(
            root=self.root,
            remotes=parse_remotes(raw_remotes),
            untracked=untracked[:MAX_UNTRACKED],
            untracked_count=len(untracked),
            patch=os.path.basename(self.patch_path) if has_patch else None,
        )
        return state


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
