"""Shared fixtures: every test gets its own store (NAGA_HOME) and real processes and repos.

``naga`` runs the real command line in a subprocess, as a user would; ``git_repo`` makes a real
repository in a directory whose name has spaces, quotes and unicode in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

HOSTILE = "dir with 'quotes' and ünïcode"


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "store"
    monkeypatch.setenv("NAGA_HOME", str(home))
    monkeypatch.delenv("NAGA_RUN_ID", raising=False)
    monkeypatch.delenv("NAGA_RUN_DIR", raising=False)
    monkeypatch.delenv("NAGA_DISABLED", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("NAGA_HASH_CACHE", str(tmp_path / "hash-cache.sqlite"))
    # mlflow.set_experiment() in a test's own process exports MLFLOW_EXPERIMENT_ID (MLflow's
    # doing): a later test's programs would look for that experiment in their own new store
    for leaked in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(leaked, raising=False)
    return home


@pytest.fixture(autouse=True)
def packages_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """naga run's cache of installed packages: one per test session, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "packages-cache"
    monkeypatch.setenv("NAGA_PACKAGES_CACHE", str(cache))
    return cache


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """naga.setup_logging (called by clicfg programs run in-process) adds handlers to the root
    logger: each test gets the root logger back as it found it."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


TinyDisk = Callable[[str], Path]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[TinyDisk]:
    """``tiny_disk("2m")``: a real tmpfs of that size standing for a disk about to be full,
    unmounted after the test (mounting needs root, which CI has)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        disk = tmp_path / f"tiny-disk-{len(mounted)}"
        disk.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"needs root to mount a {size} tmpfs standing for a full disk")
        mounted.append(disk)
        return disk

    yield mount
    for disk in mounted:
        subprocess.run(["umount", str(disk)], check=False)


def naga_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "naga", *args]


Naga = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture
def naga(tmp_path: Path) -> Naga:
    """Run the naga CLI; returns the CompletedProcess (bytes). ``cwd`` defaults to tmp_path."""

    def run(
        *args: str, cwd: Path | None = None, **kwargs: Any
    ) -> subprocess.CompletedProcess[bytes]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("timeout", 60)
        return subprocess.run(naga_cmd(*args), cwd=cwd or tmp_path, check=False, **kwargs)

    return run


@pytest.fixture
def naga_cli(naga: Naga) -> Naga:
    """The ``naga`` fixture under another name, for tests that also use ``import naga``."""
    return naga


def runs_json(naga: Naga, *args: str) -> list[dict[str, Any]]:
    done = naga("ls", "--all", "--json", *args)
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, Any]] = json.loads(done.stdout)
    return runs


def only_run(naga: Naga) -> dict[str, Any]:
    """The store's single run, in full (`show --json`), after checking `ls --json` agrees."""
    runs = runs_json(naga)
    assert len(runs) == 1, runs
    done = naga("show", "--json", runs[0]["id"])
    assert done.returncode == 0, done.stderr
    full: dict[str, Any] = json.loads(done.stdout)
    summary_keys = set(runs[0]) - {"duration_s"}  # elapsed time moves between the two calls
    assert {k: runs[0][k] for k in summary_keys if k != "git"} == {
        k: full[k] for k in summary_keys if k != "git"
    }
    return full


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / HOSTILE
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('training')\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    return repo


@contextmanager
def live_run(naga: Naga, cwd: Path, name: str = "live") -> Iterator[str]:
    """A ``naga run`` still running (a 60 s sleep) once it is listed; its id. Stopped at exit."""
    import signal
    import time

    live = subprocess.Popen(
        naga_cmd("run", "--name", name, "--", "sleep", "60"),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (found := [r["id"] for r in runs_json(naga) if r["name"] == name]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        yield str(found[0])
    finally:
        os.killpg(live.pid, signal.SIGTERM)
        live.wait(timeout=30)
