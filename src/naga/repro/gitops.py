"""The git compositions ``naga.repro`` needs beyond single commands (run through ``naga.git``):
a tree built from a commit, a patch and work-tree files; the diff of two trees."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

from .. import git
from ..errors import GitError


def tree_with_patch(repo: str, commit: str, patch: str | None, add: Sequence[str] = ()) -> str:
    """The tree of ``commit`` with ``patch`` applied and the work-tree files ``add`` (paths
    from the repository root) added, built in a scratch index: the files of the user's checkout
    and its index are never touched."""
    if not patch and not add:
        return git.text(repo, ["rev-parse", f"{commit}^{{tree}}"])
    with tempfile.TemporaryDirectory(prefix="naga-tree-") as scratch:
        index = {"GIT_INDEX_FILE": os.path.join(scratch, "index")}
        git.output(repo, ["read-tree", commit], extra_env=index)
        if patch:
            apply = ["apply", "--cached", "--binary", "--whitespace=nowarn", patch]
            done = git.run(repo, apply, extra_env=index)
            if done.returncode != 0:
                raise GitError(
                    f"the run's git.patch does not apply to commit {commit[:12]}:"
                    f" {git.first_error(done.stderr)}"
                )
        if add:
            paths = b"".join(os.fsencode(p) + b"\0" for p in add)
            update = ["update-index", "--add", "-z", "--stdin"]
            git.output(repo, update, stdin=paths, extra_env=index)
        return os.fsdecode(git.output(repo, ["write-tree"], extra_env=index)).strip()


def diff_trees(repo: str, old: str, new: str, *, color: bool = False) -> tuple[str, list[str]]:
    """(the patch from ``old`` to ``new``, the files it touches)."""
    files = git.text(repo, ["diff", "--name-only", "--no-renames", old, new])
    options = [o for o in git.DIFF if o != "--no-color"] + (
        ["--color"] if color else ["--no-color"]
    )
    patch = git.run(repo, [*options, "--stat", "--patch", old, new])
    if patch.returncode != 0:
        raise GitError(f"git diff failed in {repo}: {git.first_error(patch.stderr)}")
    text = patch.stdout.decode("utf-8", "replace")
    return text, [f for f in files.splitlines() if f]
