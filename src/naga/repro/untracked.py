"""A snapshot commit for a ``naga run`` whose tree has untracked files.

``git.patch`` holds the uncommitted changes of tracked files only, so a new module the command
imports, not yet added to git, would be missing when the run is restored. When the tree has
untracked files (that ``.gitignore`` does not ignore), naga commits the recorded commit plus
``git.patch`` plus those files as a snapshot, ``refs/naga/snapshots/<run-id>``, the same ref a
``naga.clicfg`` program writes. It happens on the git thread after the command has started,
from the list ``git status`` made before it did, so files the command creates are never taken.

Code is small and data is large: a file over ``MAX_FILE_BYTES``, files beyond ``MAX_FILES`` or
past ``MAX_TOTAL_BYTES`` are left out and listed in the record (``git.snapshot_skipped``), so a
stray data set is never copied into ``.git``. Secrets (``.env``, ``id_rsa``, a private key, what
``.nagaignore`` lists) are left out too, listed in ``git.snapshot_secrets`` and named once in a
warning, and so is everything under an earlier run's output directory (``naga.secretfiles``).
``NAGA_SNAPSHOT_UNTRACKED=0`` turns this off.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from .. import git as gitcmd
from ..errors import GitError
from ..git import SNAPSHOT_REFS
from ..secretfiles import withhold
from . import gitops

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
    """Fields to add to the record's ``git``: ``snapshot`` (the commit, or None),
    ``snapshot_skipped`` (files left out for their size), ``snapshot_secrets`` (files left out
    as secrets), or ``snapshot_error``."""
    if os.environ.get(SWITCH_ENV, "1") == "0" or not git.get("commit"):
        return {}
    untracked = list(git.get("untracked") or [])
    if git.get("untracked_count", 0) > len(untracked):  # more than the record lists: data
        return {"snapshot": None, "snapshot_error": "too many untracked files"}
    secrets, outputs = withhold(git["root"], untracked)
    if secrets:
        _warn(git["root"], secrets)
    dropped = set(secrets) | set(outputs)
    taken, skipped = choose(git["root"], [p for p in untracked if p not in dropped])
    found: dict[str, Any] = {"snapshot_secrets": secrets} if secrets else {}
    if skipped:
        found["snapshot_skipped"] = skipped
    if not taken:
        return {"snapshot": None, **found} if found else {}
    try:
        tree = gitops.tree_with_patch(git["root"], git["commit"], patch, add=taken)
        message = f"naga run {run_id}: commit + git.patch + {len(taken)} untracked file(s)"
        sha = gitcmd.commit_tree(git["root"], tree, [git["commit"]], message)
    except GitError as exc:
        return {"snapshot": None, "snapshot_error": str(exc), **found}
    # Create-only: a clicfg program in the command may have written this run's snapshot first.
    ref = SNAPSHOT_REFS + run_id
    if not gitcmd.update_ref(git["root"], ref, sha, "naga run snapshot", create_only=True):
        return {"snapshot_secrets": secrets} if secrets else {}
    return {"snapshot": sha, **found}


def _warn(root: str, secrets: list[str]) -> None:
    import logging

    logging.getLogger(__name__).warning(
        "naga: left out of the run's snapshot of %s as secrets: %s", root, ", ".join(secrets)
    )
