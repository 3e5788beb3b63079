"""naga diff and the packages capture behind it: pairs of real runs that differ in one way each.

Packages are real installs: a wheel built here (a zip with its dist-info, as any build backend
writes it) installed by pip with --no-index into a fresh venv between two runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, git, runs_json

SCRIPT = """\
import sys
import naga

lr = float(sys.argv[sys.argv.index("--lr") + 1]) if "--lr" in sys.argv else 0.1
with naga.run() as run:
    run.log_params({"lr": lr, "model": {"depth": 3}})
    naga.log({"loss": round(1 / (1 + lr), 4)})
"""


def diff(naga: Naga, a: str, b: str, *args: str, cwd: Path | None = None) -> dict[str, Any]:
    done = naga("diff", a, b, "--json", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def run_ids(naga: Naga) -> list[str]:
    return [r["id"] for r in reversed(runs_json(naga))]  # oldest first


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "train.py").write_text(SCRIPT)
    git(git_repo, "commit", "-qam", "train logs params and metrics")
    return git_repo


def test_runs_that_differ_in_args_params_env_and_metrics(naga: Naga, project: Path) -> None:
    base = {**os.environ, "CUDA_VISIBLE_DEVICES": "0", "OMP_NUM_THREADS": "4"}
    naga("run", sys.executable, "train.py", "--lr", "0.1", cwd=project, env=base)
    other = {**base, "CUDA_VISIBLE_DEVICES": "1"}
    other.pop("OMP_NUM_THREADS")
    naga("run", sys.executable, "train.py", "--lr", "0.5", cwd=project, env=other)
    a, b = run_ids(naga)

    doc = diff(naga, a, b, cwd=project)

    assert not doc["identical"]
    assert [r["id"] for r in doc["runs"]] == [a, b]
    sections = doc["sections"]
    assert set(sections) == {"command", "params", "env", "metrics"}
    assert sections["command"]["argv"]["a"][-1] == "0.1"
    assert sections["command"]["argv"]["b"][-1] == "0.5"
    assert sections["params"] == {"lr": {"a": 0.1, "b": 0.5}}  # model.depth is the same
    assert sections["env"] == {
        "CUDA_VISIBLE_DEVICES": {"a": "0", "b": "1"},
        "OMP_NUM_THREADS": {"a": "4"},
    }
    assert sections["metrics"] == {"loss": {"a": 0.9091, "b": 0.6667}}
    text = naga("diff", a, b, cwd=project).stdout.decode()
    for title in ("Command", "Params", "Environment", "Final metrics"):
        assert f"\n{title}\n" in text
    assert "  lr  0.1 -> 0.5" in text
    assert "OMP_NUM_THREADS       4 -> (absent)" in text
    assert "\x1b[" not in text  # colours only on a terminal


def test_identical_runs_say_so(naga: Naga, project: Path) -> None:
    for _ in range(2):
        assert naga("run", sys.executable, "train.py", cwd=project).returncode == 0
    a, b = run_ids(naga)
    assert diff(naga, a, b, cwd=project) == {
        "runs": [{"id": a, "name": None}, {"id": b, "name": None}],
        "identical": True,
        "sections": {},
    }
    text = naga("diff", a, b, cwd=project).stdout.decode()
    assert "no differences" in text


def test_code_diff_includes_commits_and_patches(naga: Naga, project: Path) -> None:
    naga("run", sys.executable, "train.py", cwd=project)
    first_commit = git(project, "rev-parse", "HEAD")
    (project / "helper.py").write_text("VALUE = 1\n")
    git(project, "add", "helper.py")
    git(project, "commit", "-qm", "helper")
    (project / "train.py").write_text(SCRIPT + "# an uncommitted line\n")
    naga("run", sys.executable, "train.py", cwd=project)
    a, b = run_ids(naga)

    section = diff(naga, a, b, cwd=project)["sections"]["git"]

    assert section["a"]["commit"] == first_commit
    assert section["b"]["commit"] == git(project, "rev-parse", "HEAD")
    assert section["b"]["dirty"] is True
    assert section["files"] == ["helper.py", "train.py"]
    assert "+VALUE = 1" in section["code_diff"]
    assert "+# an uncommitted line" in section["code_diff"]  # from run b's git.patch
    stat = naga("diff", a, b, "--stat", cwd=project).stdout.decode()
    assert "code differs in 2 file(s): helper.py, train.py" in stat
    assert "+VALUE" not in stat
    full = naga("diff", a, b, cwd=project).stdout.decode()
    assert "+# an uncommitted line" in full
    # A commit that is gone is said, not a traceback; the rest of the diff still comes.
    git(project, "reset", "-q", "--hard", first_commit)
    git(project, "reflog", "expire", "--expire=now", "--all")
    git(project, "gc", "-q", "--prune=now")
    broken = diff(naga, a, b, cwd=project)["sections"]["git"]
    assert "is gone" in broken["problems"]["b"]
    assert "code_diff" not in broken


def test_a_rerun_kept_in_its_worktree_is_diffed_as_the_same_repository(
    naga: Naga, project: Path
) -> None:
    """A rerun that wrote files keeps its worktree, and records it as its repository; the
    worktree shares the checkout's history, so the code is still compared."""
    writer = "open('out.txt', 'w').write('x')\n"
    (project / "write.py").write_text(writer)
    git(project, "add", "write.py")
    git(project, "commit", "-qm", "writer")
    naga("run", "--name", "first", sys.executable, "write.py", cwd=project)
    rerun = naga("rerun", "first", "--name", "again", cwd=project)
    assert rerun.returncode == 0, rerun.stderr
    assert b"kept" in rerun.stderr  # the worktree holds out.txt
    (project / "write.py").write_text(writer + "# edited\n")
    naga("run", "--name", "edited", sys.executable, "write.py", cwd=project)

    section = diff(naga, "again", "edited", cwd=project)["sections"]["git"]

    assert "code" not in section.get("problems", {})
    assert "+# edited" in section["code_diff"]


def build_wheel(directory: Path, version: str) -> Path:
    """A pure-Python wheel of ``demo-pkg``, laid out as the wheel spec (PEP 427) says."""
    wheel = directory / f"demo_pkg-{version}-py3-none-any.whl"
    info = f"demo_pkg-{version}.dist-info"
    files = {
        "demo_pkg/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: demo-pkg\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{info}/RECORD", record)
    return wheel


def settle(env_dir: Path) -> None:
    """Age the venv's site-packages by a minute, as time does: naga does not cache a listing
    of a directory changed within the last 2 s (its mtime could still move unnoticed)."""
    site = next((env_dir / "lib").glob("python*/site-packages"))
    past = time.time() - 60
    os.utime(site, (past, past))


def pip_install(env_dir: Path, wheel: Path) -> None:
    """A real install into the venv (pip's --python: the venv itself has no pip)."""
    python = str(env_dir / "bin" / "python")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )


@pytest.mark.timeout(240)
def test_packages_added_and_upgraded_between_runs(
    naga: Naga, project: Path, tmp_path: Path
) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    code = "import importlib.util as u; print(bool(u.find_spec('demo_pkg')))"
    (project / "requirements.txt").write_text("demo-pkg==1.0\n")
    runs = []

    def record() -> dict[str, Any]:
        done = naga("run", python, "-c", code, cwd=project)
        assert done.returncode == 0, done.stderr
        runs.append(run_ids(naga)[-1])
        shown: dict[str, Any] = json.loads(naga("show", "--json", runs[-1]).stdout)
        return shown

    settle(env_dir)
    empty = record()
    pip_install(env_dir, build_wheel(tmp_path, "1.0"))
    fresh = record()  # installed a moment ago: listed, but not cached yet
    settle(env_dir)
    installed = record()
    cached = record()
    (project / "requirements.txt").write_text("demo-pkg==2.0\n")
    pip_install(env_dir, build_wheel(tmp_path, "2.0"))
    settle(env_dir)
    upgraded = record()

    assert empty["packages"]["python"] == python
    assert empty["packages"]["found_by"] == "command"
    assert fresh["packages"]["cached"] is False
    assert (installed["packages"]["cached"], cached["packages"]["cached"]) == (False, True)
    assert upgraded["packages"]["cached"] is False  # site-packages changed: listed again
    runs.pop(1)  # `fresh`: the same packages as `installed`
    added = diff(naga, runs[0], runs[1], cwd=project)["sections"]
    assert added["packages"] == {"added": {"demo-pkg": "1.0"}}
    assert diff(naga, runs[1], runs[2], cwd=project)["identical"]
    changed = diff(naga, runs[2], runs[3], cwd=project)["sections"]
    assert changed["packages"] == {"changed": {"demo-pkg": {"a": "1.0", "b": "2.0"}}}
    assert set(changed["lockfiles"]) == {"requirements.txt"}
    hashes = changed["lockfiles"]["requirements.txt"]
    assert hashes["a"].startswith("blake3:") and hashes["a"] != hashes["b"]
    text = naga("diff", runs[2], runs[3], cwd=project).stdout.decode()
    assert "~ demo-pkg 1.0 -> 2.0" in text
    removed = diff(naga, runs[3], runs[0], cwd=project)["sections"]["packages"]
    assert removed == {"removed": {"demo-pkg": "2.0"}}


def test_packages_of_two_different_interpreters(naga: Naga, project: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "bare-venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    naga("run", sys.executable, "-c", "pass", cwd=project)
    naga("run", str(env_dir / "bin" / "python"), "-c", "pass", cwd=project)
    a, b = run_ids(naga)
    section = diff(naga, a, b, cwd=project)["sections"]["packages"]
    assert section["python"] == {"a": sys.executable, "b": str(env_dir / "bin" / "python")}
    assert "pytest" in section["removed"] and "added" not in section


def test_diff_errors_are_one_line(naga: Naga, project: Path) -> None:
    naga("run", "true", cwd=project)
    (only,) = run_ids(naga)
    for args in (["diff", only, "nosuchrun"], ["diff", only]):
        done = naga(*args, cwd=project)
        assert done.returncode != 0
        lines = done.stderr.decode().strip().splitlines()
        assert lines[-1].startswith(("naga: error: ", "Error: ")), lines
        assert b"Traceback" not in done.stderr


def test_host_section_names_the_gpus(naga: Naga, project: Path, tmp_path: Path) -> None:
    # No GPU here: a stand-in nvidia-smi prints what the real one prints for naga's query.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    smi = bindir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, NVIDIA A100-SXM4-40GB, GPU-1234, 40960, 535.104.05'\n")
    smi.chmod(0o755)
    naga("run", "true", cwd=project)
    naga("run", "true", cwd=project, env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"})
    a, b = run_ids(naga)
    assert diff(naga, a, b, cwd=project)["sections"]["host"] == {
        "gpus": {"b": ["NVIDIA A100-SXM4-40GB"]}
    }


def test_colours_only_on_a_terminal(naga: Naga, project: Path) -> None:
    import pty

    naga("run", sys.executable, "train.py", "--lr", "0.1", cwd=project)
    naga("run", sys.executable, "train.py", "--lr", "0.2", cwd=project)
    a, b = run_ids(naga)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    main, secondary = pty.openpty()
    done = subprocess.run(
        [sys.executable, "-m", "naga", "diff", a, b],
        cwd=project,
        env=env,
        stdout=secondary,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert done.returncode == 0, done.stderr
    assert b"\x1b[31m0.1\x1b[0m -> \x1b[32m0.2\x1b[0m" in shown
    piped = naga("diff", a, b, cwd=project, env=env).stdout
    assert b"\x1b[" not in piped and b"0.1 -> 0.2" in piped


def test_interpreter_of_a_command(tmp_path: Path) -> None:
    from naga.capture.packages import find_interpreter

    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    for env_python in (".venv/bin/python", ".pixi/envs/default/bin/python"):
        target = project / env_python
        target.parent.mkdir(parents=True)
        target.symlink_to(sys.executable)
    script = project / "train.py"
    script.write_text(f"#!{sys.executable}\n")
    script.chmod(0o755)
    path = os.environ["PATH"]
    cwd = str(project / "src")
    env = {"PATH": path}
    assert find_interpreter([sys.executable, "x.py"], env, cwd) == (sys.executable, "command")
    assert find_interpreter([str(script)], env, cwd) == (sys.executable, "command")
    assert find_interpreter(["uv", "run", "x.py"], env, cwd) == (
        str(project / ".venv/bin/python"),
        "uv",
    )
    pixi = find_interpreter(["pixi", "run", "train"], env, cwd)
    assert pixi == (str(project / ".pixi/envs/default/bin/python"), "pixi")
    venv_env = {"PATH": path, "VIRTUAL_ENV": str(project / ".venv")}
    assert find_interpreter(["make", "train"], venv_env, cwd) == (
        str(project / ".venv/bin/python"),
        "VIRTUAL_ENV",
    )
    assert find_interpreter(["make"], {"PATH": str(tmp_path / "empty")}, cwd) is None


def test_lock_files_are_named_from_the_repository_root(tmp_path: Path) -> None:
    from naga.capture.packages import lock_file_hashes

    root = tmp_path / "repo"
    sub = root / "exp"
    sub.mkdir(parents=True)
    (root / "uv.lock").write_text("a")
    (root / "requirements-dev.txt").write_text("b")
    (sub / "environment.yml").write_text("c")
    (sub / "requirements.in").write_text("not a lock file")
    (root / "poetry.lock").mkdir()  # a directory of that name is no lock file
    found = lock_file_hashes(str(sub), str(root))
    assert sorted(found) == ["exp/environment.yml", "requirements-dev.txt", "uv.lock"]
    import blake3

    assert found["uv.lock"] == "blake3:" + blake3.blake3(b"a").hexdigest()
