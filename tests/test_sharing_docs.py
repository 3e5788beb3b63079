"""``docs/sharing.md`` keeps its promises: its ``sh`` blocks run, in order, in a scratch
directory, with the real rclone and git, and leave what the text says they leave."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "sharing.md"


@pytest.mark.skipif(
    shutil.which("rclone") is None, reason="needs rclone (scripts/test installs it)"
)
@pytest.mark.timeout(300)
def test_sh_blocks_run_in_order(tmp_path: Path) -> None:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 5
    (tmp_path / "rclone.conf").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "NAGA_HOME"}  # each clone: its own store
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        RCLONE_CONFIG=str(tmp_path / "rclone.conf"),
        GIT_AUTHOR_NAME="Alice",
        GIT_AUTHOR_EMAIL="alice@example.com",
        GIT_COMMITTER_NAME="Alice",
        GIT_COMMITTER_EMAIL="alice@example.com",
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(blocks)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Would push 1 run" in done.stdout and "Would push 1 snapshot ref" in done.stdout
    assert "Fetched 1 snapshot ref from origin." in done.stdout
    assert "Would remove 1 run" in done.stdout and "Would free" in done.stdout
    assert "is archived; `naga unarchive" in done.stderr

    def listed(store: Path) -> list[dict[str, object]]:
        out = subprocess.run(
            [sys.executable, "-m", "naga", "ls", "--all", "--json"],
            env={**env, "NAGA_HOME": str(store)},
            capture_output=True,
            check=True,
        ).stdout
        runs: list[dict[str, object]] = json.loads(out)
        return runs

    (bobs,) = listed(tmp_path / "bob" / ".naga")
    assert bobs["name"] == "baseline" and bobs["params"] == {"lr": 0.01, "save_dir": "out"}
    assert sorted(str(r["name"]) for r in listed(tmp_path / "alice" / ".naga")) == [
        "baseline",
        "quick",
    ]
    assert [r["name"] for r in listed(tmp_path / "remote")] == ["baseline"]
    (alices,) = [r for r in listed(tmp_path / "alice" / ".naga") if r["name"] == "baseline"]
    assert alices["tags"] == ["demo", "reviewed"]  # Bob's edits, merged on pull
    assert alices["note"] == "lr 0.01 is the one to beat"
    assert "Note      lr 0.01 is the one to beat" in done.stdout
    assert "(edits: name, tags, note)" in done.stdout
    ref = f"refs/naga/snapshots/{bobs['id']}"
    shown = subprocess.run(
        ["git", "show", f"{ref}:train.py"], cwd=tmp_path / "bob", capture_output=True, text=True
    )
    assert "naga.clicfg" in shown.stdout, shown.stderr
