"""The README keeps its promises: its quick-start line works, every command is documented."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Naga

from naga.cli.app import COMMANDS as APP_COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
COMMANDS = sorted(APP_COMMANDS)  # every command the CLI has must be documented


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert commands[1] == "./scripts/test"
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.timeout(900)
def test_quick_start_first_command_runs(tmp_path: Path) -> None:
    """The README's first line, verbatim, in a copy of the repository (a fresh venv)."""
    checkout = tmp_path / "checkout"
    shutil.copytree(
        ROOT,
        checkout,
        ignore=shutil.ignore_patterns(".venv*", ".naga", ".git", "__pycache__", "*.egg-info"),
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NAGA_HOME", "VIRTUAL_ENV")}
    done = subprocess.run(
        ["bash", "-c", quick_start_commands()[0]],
        cwd=checkout,
        env=env,
        capture_output=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    out = done.stdout.decode()
    assert "final test_acc=" in out
    assert "✓ completed" in out  # the listing at the end
    listing = subprocess.run(
        [str(checkout / ".venv" / "bin" / "naga"), "ls", "--json"],
        cwd=checkout,
        env=env,
        capture_output=True,
        check=True,
    )
    (run,) = json.loads(listing.stdout)
    assert run["status"] == "completed"
    assert run["command"].endswith("examples/train_digits.py")
    assert (checkout / ".naga" / "runs" / run["id"] / "output.log").read_text().count("epoch") > 10


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_docs(naga: Naga, command: str) -> None:
    done = naga(command, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith(f"Usage: naga {command}".encode())
    assert f"naga {command}" in README


def test_commands_list_is_complete(naga: Naga) -> None:
    section = naga("--help").stdout.decode().split("Commands:", 1)[1]
    listed = [line.split()[0] for line in section.strip().splitlines()]
    assert listed == sorted(COMMANDS)


def test_fast_paths_know_every_option_click_knows() -> None:
    """`naga ls` and `naga run` parse their options without click; click stays the reference."""
    from naga.cli import LS_OPTIONS
    from naga.cli.ls import ls
    from naga.cli.run import run

    for param in ls.params:
        for opt in param.opts:
            assert LS_OPTIONS[opt][0] == param.name, opt
    assert {o for p in ls.params for o in p.opts} == set(LS_OPTIONS)
    from naga.cli import RUN_OPTIONS

    assert {o for p in run.params for o in p.opts if o.startswith("-")} == set(RUN_OPTIONS)
    from naga.cli import HASH_OPTIONS
    from naga.cli.hash import hash_

    assert {o for p in hash_.params for o in p.opts if o.startswith("-")} == set(HASH_OPTIONS)


def test_fast_and_click_paths_agree(naga: Naga) -> None:
    naga("run", "--name", "a", "--tag", "t", "true")
    naga("run", "--name", "b", "false")
    fast = naga("ls", "--status", "completed", "--tag=t", "-n", "5", "--json")
    slow = naga("ls", "--status", "completed", "--tag=t", "-n5", "--json")  # -n5: click only
    assert fast.returncode == slow.returncode == 0
    assert json.loads(fast.stdout) == json.loads(slow.stdout)
    assert [r["name"] for r in json.loads(fast.stdout)] == ["a"]
    for bad in (
        ["ls", "--limit", "0"],
        ["ls", "--limit", "x"],
        ["ls", "--bogus"],
        ["ls", "--all=1"],
    ):
        done = naga(*bad)
        assert done.returncode == 2, bad  # the fast path hands these to click's usage errors


def test_readme_sdk_example_is_the_example_file_and_runs(tmp_path: Path) -> None:
    example = (ROOT / "examples" / "sdk_quickstart.py").read_text()
    assert f"```python\n{example}```" in README
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sdk_quickstart.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    status, lr, points, last = done.stdout.split()
    assert (status, lr, points) == ("completed", "0.01", "200")
    assert float(last) < 0.02


def test_readme_python_blocks_run_in_order(tmp_path: Path) -> None:
    """Every ```python block of the README, run one after the other in a fresh directory."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) >= 3
    script = tmp_path / "readme_blocks.py"
    script.write_text("import matplotlib\nmatplotlib.use('Agg')\n" + "\n".join(blocks))
    env = {**os.environ, "NAGA_HOME": str(tmp_path / "store")}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("completed 0.01 200")
    assert "0.01" in done.stdout.splitlines()[1]  # the naga.runs() line


def test_hash_fast_and_click_paths_agree(naga: Naga, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    fast = naga("hash", "--json", "d", "missing")
    slow = subprocess.run(
        [sys.executable, "-c", "from naga.cli.app import cli; cli(prog_name='naga')",
         "hash", "--json", "d", "missing"],
        cwd=tmp_path, capture_output=True, check=False,
    )  # fmt: skip
    assert fast.returncode == slow.returncode == 1  # "missing" fails, "d" is still hashed
    assert json.loads(fast.stdout) == json.loads(slow.stdout)
    assert fast.stderr == slow.stderr and fast.stderr.count(b"\n") == 1
    assert naga("hash", "--bogus", "d").returncode == 2  # click's usage error
