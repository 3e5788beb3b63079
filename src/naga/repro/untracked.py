"""A snapshot commit for a ``naga run`` whose tree has untracked files.

``git.patch`` holds the uncommitted changes of tracked files only, so a new module the command
imports, not yet added to git, would be missing when the run is restored. When the tree has
untracked files (that ``.gitignore`` does not ignore), naga commits the recorded commit plus
``git.patch`` plus those files as a snapshot, ``refs/naga/snapshots/<run-id>``, the same ref a
``naga.clicfg`` program writes. It happens on the git thread after the command has started,
from the list ``git status`` made before it did, so files the command creates are never taken.

Code is small and data is large: a file over ``MAX_FILE_BYTES``, files beyond ``MAX_FILES`` or
past ``MAX_TOTAL_BYTES`` are left out and listed in the record (``git.snapshot_skipped``), so a
stray data set is never copied into ``.git``. ``NAGA_SNAPSHOT_UNTRACKED=0`` turns this off.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from ..errors import GitError
from . import gitops

SNAPSHOT_REFS = "refs/naga/snapshots/"
SWITCH_ENV = "NAGA_SNAPSHOT_UNTRACKED"
MAX_FILES = 200
MAX_FILE_BYTES = 1 << 20
MAX_TOTAL_BYTES = 10 << 20


def choose(root: str, untracked: list[str]) -> tuple[list[str], list[str]]:
    """(the files to take, the files left out) under the size limits."""
    taken: list[str] = []
    skipped: list[str] = []
    total = 0
    for path in untracked:
        try:
            info = os.lstat(os.path.join(root, path))
        except OSError:
            continue  # gone since git listed it
        size = info.st_size if stat.S_ISREG(info.st_mode) else 0
        fits = len(taken) < MAX_FILES and size <= MAX_FILE_BYTES
        if fits and total + size <= MAX_TOTAL_BYTES:
            taken.append(path)
            total += size
        else:
            skipped.append(path)
    return taken, skipped


def snapshot(git: dict[str, Any], patch: str | None, run_id: str) -> dict[str, Any]:
    """Fields to add to the record's ``git``: ``snapshot`` (the commit, or None) and
    ``snapshot_skipped`` (files left out), or ``snapshot_error``."""
    if os.environ.get(SWITCH_ENV, "1") == "0" or not git.get("commit"):
        return {}
    untracked = list(git.get("untracked") or [])
    if git.get("untracked_count", 0) > len(untracked):  # more than the record lists: data
        return {"snapshot": None, "snapshot_error": "too many untracked files"}
    taken, skipped = choose(git["root"], untracked)
    if not taken:
        return {"snapshot": None, "snapshot_skipped": skipped} if skipped else {}
    try:
        tree = gitops.tree_with_patch(git["root"], git["commit"], patch, add=taken)
        message = f"naga run {run_id}: commit + git.patch + {len(taken)} untracked file(s)"
        sha = gitops.commit_tree(git["root"], tree, [git["commit"]], message)
    except GitError as exc:
        return {"snapshot": None, "snapshot_error": str(exc)}
    # Create-only: a clicfg program in the command may have written this run's snapshot first.
    ref = SNAPSHOT_REFS + run_id
    update = ["update-ref", "--create-reflog", "-m", "naga run snapshot", ref, sha, ""]
    if gitops.run(git["root"], update).returncode != 0:
        return {}
    found: dict[str, Any] = {"snapshot": sha}
    if skipped:
        found["snapshot_skipped"] = skipped
    return found
