"""``naga run --require-clean``: refuse to start unless the code is exactly a commit.

Clean means what ``git status`` calls clean: no change to a tracked file (staged or not) and no
untracked file that ``.gitignore`` does not ignore, since an untracked module the command imports
is code no commit holds. One ``git status`` through ``posix_spawn``: this is on ``naga run``'s path.
"""

from __future__ import annotations

from ..errors import GitError, UsageError
from ..git import executable, start
from ..store.layout import find_repo_root

SHOWN = 3


def dirty_paths(cwd: str) -> list[str]:
    """The paths ``git status`` lists for the repository holding ``cwd`` (empty: clean)."""
    if executable() is None:
        raise GitError("--require-clean needs git, which is not installed (not found on PATH)")
    helper = start(cwd, ["status", "--porcelain", "-z"])
    raw = helper.result() if helper is not None else None
    if raw is None:
        raise GitError(f"--require-clean: git status failed in {cwd}")
    paths, skip = [], False
    for entry in raw.split(b"\0"):
        if skip or not entry:  # the source path of a rename follows its entry
            skip = False
            continue
        skip = entry[:1] in (b"R", b"C")
        paths.append(entry[3:].decode("utf-8", "replace"))
    return paths


def require_clean(cwd: str) -> None:
    """UsageError (exit 2) unless ``cwd`` is in a git repository with a clean working tree."""
    root = find_repo_root(cwd)
    if root is None:
        raise UsageError(
            f"--require-clean: {cwd} is not inside a git repository, so no commit can hold the"
            " code; run inside one (git init) or without --require-clean"
        )
    paths = dirty_paths(cwd)
    if paths:
        shown = ", ".join(paths[:SHOWN]) + (
            f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
        )
        raise UsageError(
            f"--require-clean: the working tree of {root} is not clean ({shown}); commit them"
            " (or add them to .gitignore) first"
        )
