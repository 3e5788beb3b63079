"""``docs/reproduce.md`` keeps its promises: its sh blocks are one session that runs, in order."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import git

DOC = Path(__file__).resolve().parent.parent / "docs" / "reproduce.md"


def test_sh_session_runs_as_documented(tmp_path: Path) -> None:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 10
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "Doc",
        "GIT_AUTHOR_EMAIL": "doc@example.com",
        "GIT_COMMITTER_NAME": "Doc",
        "GIT_COMMITTER_EMAIL": "doc@example.com",
    }
    env.pop("NAGA_HOME")  # the store goes where it does for a user: .naga/ in the project
    done = subprocess.run(
        ["bash", "-e", "-c", "\n".join(blocks)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    # the rerun of the thrown-away tweak ran the tweak; the checkout stayed clean
    assert out.count("with the tweak") == 2
    assert out.count("loss 0.9091") >= 3 and "loss 0.6667" in out
    assert (
        "naga: rerun of" in done.stderr and "+ git.patch in a temporary git worktree" in done.stderr
    )
    # naga diff baseline faster; naga diff baseline tweaked; the --json pipe
    assert "  a: python train.py --lr 0.1" in done.stdout
    assert "  b: python train.py --lr 0.5" in done.stdout
    assert "code differs in 1 file(s): train.py" in done.stdout
    assert "['python', 'train.py', '--lr', '0.5']" in out
    assert "Environment" not in done.stdout  # NAGA_HOME given to a rerun is not its env
    # naga branch: the tweak as a commit on top of the run's commit
    demo = tmp_path / "demo"
    assert git(demo, "show", "repro/tweaked:train.py").endswith('print("with the tweak")')
    assert git(demo, "rev-parse", "repro/tweaked^") == git(demo, "rev-parse", "HEAD")
    # --require-clean refused the dirty tree
    assert "refused with exit 2" in out
    # the store and its worktrees live in .naga/, which git ignores: only the edit shows
    assert git(demo, "status", "--porcelain", "--ignored=no") == "M train.py"
    assert "naga: error: --require-clean: the working tree of" in done.stderr
    assert not (demo / ".naga" / "worktrees").exists() or not any(
        (demo / ".naga" / "worktrees").iterdir()
    )
    # ignored data: linked and checked; changed data refused; --link adds the cache
    assert out.count("rows 100") == 3
    assert "data/train.csv (hash checked)" in done.stderr
    assert "lacks what git ignores" in done.stderr and "cache/, out/; give" in done.stderr
    assert "data train (data/train.csv) changed since the run" in done.stderr
    assert "refused with exit 1" in out
    assert "cache (not checked)" in done.stderr
