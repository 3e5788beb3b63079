"""Git state recorded by ``naga run``, read through the real git in real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HOSTILE, Naga, git, only_run


def test_clean_repo(naga: Naga, git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git(git_repo, "remote", "add", "origin", "https://bob:s3cret@github.com/lab/proj.git")
    git(git_repo, "remote", "add", "tokenonly", "https://ghp_TOKEN123@github.com/lab/proj.git")
    git(git_repo, "remote", "add", "ssh", "git@github.com:lab/proj.git")
    assert naga("run", "python3", "train.py", cwd=git_repo).stdout == b"training\n"
    info = only_run(naga)["git"]
    assert info["commit"] == git(git_repo, "rev-parse", "HEAD")
    assert info["branch"] == "main"
    assert info["dirty"] is False
    assert info["patch"] is None
    assert info["untracked"] == []
    assert info["root"] == str(git_repo)
    assert info["remotes"] == {
        "origin": "https://bob:***@github.com/lab/proj.git",
        "tokenonly": "https://***@github.com/lab/proj.git",
        "ssh": "git@github.com:lab/proj.git",
    }


def test_dirty_repo_saves_patch_and_untracked(naga: Naga, git_repo: Path, store: Path) -> None:
    (git_repo / "train.py").write_text("print('changed')\n")
    (git_repo / "notes ü.txt").write_text("new\n")
    status_before = git(git_repo, "status", "--porcelain")
    naga("run", "python3", "train.py", cwd=git_repo)
    run = only_run(naga)
    info = run["git"]
    assert info["dirty"] is True
    assert info["untracked"] == ["notes ü.txt"]
    patch = (store / "runs" / run["id"] / info["patch"]).read_text()
    assert "-print('training')" in patch and "+print('changed')" in patch
    # The patch applies to the recorded commit and gives back the working tree.
    git(git_repo, "stash", "-q")
    git(git_repo, "apply", str(store / "runs" / run["id"] / info["patch"]))
    assert (git_repo / "train.py").read_text() == "print('changed')\n"
    assert git(git_repo, "status", "--porcelain") == status_before


def test_patch_ignores_the_users_diff_settings(naga: Naga, git_repo: Path, store: Path) -> None:
    for key, value in (
        ("diff.external", "/bin/echo"),
        ("diff.noprefix", "true"),
        ("color.diff", "always"),
        ("diff.relative", "true"),
    ):
        git(git_repo, "config", key, value)
    (git_repo / "sub").mkdir()
    (git_repo / "train.py").write_text("print('changed')\n")
    naga("run", "true", cwd=git_repo / "sub")
    run = only_run(naga)
    patch = store / "runs" / run["id"] / "git.patch"
    assert patch.read_text().startswith("diff --git a/train.py b/train.py")
    git(git_repo, "stash", "-q")
    git(git_repo, "apply", str(patch))
    assert (git_repo / "train.py").read_text() == "print('changed')\n"


def test_store_at_repo_root_and_ignored(
    naga: Naga, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NAGA_HOME")
    sub = git_repo / "src" / "deep"
    sub.mkdir(parents=True)
    naga("run", "true", cwd=sub)
    assert (git_repo / ".naga" / "runs").is_dir()
    assert git(git_repo, "status", "--porcelain", "--", ".naga") == ""
    done = naga("ls", "--json", cwd=sub)
    assert done.returncode == 0
    assert b'"cwd"' in done.stdout and str(sub).encode() in done.stdout


def test_outside_git(naga: Naga, tmp_path: Path) -> None:
    work = tmp_path / "plain"
    work.mkdir()
    naga("run", "true", cwd=work)
    assert only_run(naga)["git"] is None


def test_repo_without_commits(naga: Naga, tmp_path: Path, store: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "trunk")
    (repo / "a.py").write_text("x = 1\n")
    git(repo, "add", "a.py")
    naga("run", "true", cwd=repo)
    run = only_run(naga)
    info = run["git"]
    assert info["commit"] is None
    assert info["branch"] == "trunk"
    assert info["dirty"] is True
    assert "+x = 1" in (store / "runs" / run["id"] / "git.patch").read_text()


def test_detached_head(naga: Naga, git_repo: Path) -> None:
    head = git(git_repo, "rev-parse", "HEAD")
    git(git_repo, "checkout", "-q", "--detach", head)
    naga("run", "true", cwd=git_repo)
    info = only_run(naga)["git"]
    assert info["commit"] == head
    assert info["branch"] is None


def test_hostile_directory_name(naga: Naga, git_repo: Path) -> None:
    assert HOSTILE in str(git_repo)
    done = naga("run", "python3", "-c", "import os; print(os.getcwd())", cwd=git_repo)
    assert done.stdout.decode().strip() == str(git_repo)
    assert only_run(naga)["cwd"] == str(git_repo)


def test_recording_leaves_git_untouched(naga: Naga, git_repo: Path) -> None:
    (git_repo / "train.py").write_text("print('changed')\n")
    git(git_repo, "add", "train.py")
    (git_repo / "train.py").write_text("print('changed again')\n")
    before = (git(git_repo, "status", "--porcelain"), git(git_repo, "diff", "--cached"))
    index_mtime = (git_repo / ".git" / "index").stat().st_mtime_ns
    naga("run", "true", cwd=git_repo)
    assert (git_repo / ".git" / "index").stat().st_mtime_ns == index_mtime  # not even refreshed
    assert (git(git_repo, "status", "--porcelain"), git(git_repo, "diff", "--cached")) == before
