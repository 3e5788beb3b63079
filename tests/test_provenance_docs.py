"""``docs/provenance-snapshots.md`` keeps its promises: its Python blocks run, in order."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import git

DOC = Path(__file__).resolve().parent.parent / "docs" / "provenance-snapshots.md"


def test_python_blocks_run_in_a_dirty_repository(git_repo: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 5
    mylib = git_repo.parent / "mylib"
    mylib.mkdir()
    git(mylib, "init", "-q")
    (mylib / "lib.py").write_text("X = 1\n")
    git(mylib, "add", ".")
    git(mylib, "commit", "-q", "-m", "lib")
    (git_repo / "train.py").write_text("print('edited')\n")
    done = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)],
        cwd=git_repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "train: epoch 1: loss=0.250" in done.stdout
    assert "DEBUG    train: now at debug level" in done.stdout
    assert git(git_repo, "show", "refs/naga/snapshots/demo-1:train.py") == "print('edited')"
    assert git(mylib, "rev-parse", "refs/naga/snapshots/demo-2") == git(mylib, "rev-parse", "HEAD")
    assert "as secrets: .env, private/plan.md" in done.stderr
    assert git(git_repo, "show", "refs/naga/snapshots/demo-3:train.py") == "print('edited')"
    status = {ln.strip() for ln in git(git_repo, "status", "--porcelain").splitlines()}
    assert status == {"M train.py", "?? .env", "?? .nagaignore", "?? private/", "?? old-run/"}
