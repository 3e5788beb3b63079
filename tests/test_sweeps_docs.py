"""``docs/sweeps.md`` keeps its promises: its files are saved and its shell blocks run, in order,
in an empty directory, with ``python`` and ``naga`` being this interpreter and its naga."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DOC = Path(__file__).resolve().parent.parent / "docs" / "sweeps.md"


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.timeout(240)
def test_the_examples_run(tmp_path: Path) -> None:
    for name, text in re.findall(r"```\w+ file=(\S+)\n(.*?)```", DOC.read_text(), flags=re.S):
        (tmp_path / name).write_text(text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, command in (("python", sys.executable), ("naga", f"{sys.executable} -m naga")):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    outputs = []
    for block in shell_blocks():
        done = subprocess.run(
            ["bash", "-e", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
        outputs.append(done)
    first, again, grid, dry, command_grid, listed, random, search, printed = outputs
    assert "lr=0.001 depth=4 loss=0.0003" in first.stdout
    assert "3 tasks, 1 worker" in first.stderr
    assert "all 3 tasks completed before; nothing to run" in again.stderr
    runs_dir = tmp_path / "runs"
    assert yaml.safe_load((runs_dir / "lr-0.01-depth-8" / "run.lock").read_text())["config"][
        "model"
    ] == {"lr": 0.01, "depth": 8}
    assert "3 tasks, 2 workers" in grid.stderr
    assert "[1] run  model.lr=0.25  save_dir=runs/lr-0.25-depth-2" in dry.stdout
    assert not (runs_dir / "lr-0.25-depth-2").exists()
    header = next(line for line in command_grid.stdout.splitlines() if line.startswith("TASK"))
    assert header.split() == ["TASK", "lr", "batch", "STATUS", "loss", "DURATION", "RUN"]
    table, as_json = listed.stdout.split("\n[", 1)
    assert "PARAM.LR" in table and "PARAM.BATCH" in table
    points = json.loads("[" + as_json)
    assert sorted((r["params"]["lr"], r["params"]["batch"]) for r in points) == [
        (0.01, 32),
        (0.01, 64),
        (0.1, 32),
        (0.1, 64),
    ]
    assert "4 tasks, 2 workers" in random.stderr
    assert random.stdout.count("✓ completed") == 4
    assert "12 tasks, 1 worker" in search.stderr
    # both parameters are ranked; which one leads depends on the (unseeded) sampler's draws
    ranked = re.search(r"naga: importance: (\w+) [\d.]+, (\w+) [\d.]+\n", search.stderr)
    assert ranked is not None and {ranked[1], ranked[2]} == {"x", "opt"}, search.stderr
    assert "naga: study: 4 complete (minimize loss)" in search.stderr
    assert "4 tasks, 2 workers" in search.stderr
    assert "naga: best: trial " in search.stdout and "(run " in search.stdout
    # a command without naga's SDK: its printed loss= values are the objective
    said = printed.stdout + printed.stderr
    assert "naga: best: trial " in said and "loss=" in said and "✓ completed" in said
