"""Git snapshots (``naga.snapshot``) in real repositories: the user's repository is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HOSTILE, git

from naga import snapshot
from naga.errors import GitError, UsageError


@pytest.fixture(autouse=True)
def quiet_git(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test's own `git status` must not refresh the index it is watching.
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")


def observed(repo: Path) -> dict[str, object]:
    """Everything a snapshot must not change."""
    index = repo / ".git" / "index"
    return {
        "status": git(repo, "status", "--porcelain=v2", "--branch", "-uall"),
        "index": index.read_bytes(),
        "index_mtime": index.stat().st_mtime_ns,
        "head": (repo / ".git" / "HEAD").read_text(),
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"),
        "stash": git(repo, "stash", "list"),
        "files": {
            p: p.read_bytes()
            for p in sorted(repo.rglob("*"))
            if p.is_file() and ".git" not in p.parts
        },
    }


def tree_files(repo: Path, sha: str) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", "-z", sha).strip("\0").split("\0")) - {""}


@pytest.fixture
def dirty_repo(git_repo: Path) -> Path:
    """Staged and unstaged changes, a staged and an unstaged deletion, a new staged file,
    untracked and ignored files, a stash entry."""
    for name in ("staged.py", "unstaged.py", "deleted.py", "removed.py", "both.py"):
        (git_repo / name).write_text(f"# {name} v1\n")
    (git_repo / ".gitignore").write_text("*.ckpt\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "second")
    (git_repo / "stashed.txt").write_text("stashed\n")
    git(git_repo, "add", "stashed.txt")
    git(git_repo, "stash", "-q")
    (git_repo / "staged.py").write_text("# staged v2\n")
    git(git_repo, "add", "staged.py")
    (git_repo / "unstaged.py").write_text("# unstaged v2\n")
    (git_repo / "both.py").write_text("# both staged\n")
    git(git_repo, "add", "both.py")
    (git_repo / "both.py").write_text("# both on disk\n")
    (git_repo / "deleted.py").unlink()
    git(git_repo, "rm", "-q", "removed.py")
    (git_repo / "new ü.py").write_text("# new, staged\n")
    git(git_repo, "add", "new ü.py")
    (git_repo / "notes with space.txt").write_text("untracked\n")
    (git_repo / "model.ckpt").write_text("ignored\n")
    # Settle the index's stat data first, so only a snapshot could still change it.
    subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=git_repo, check=False)
    return git_repo


def test_snapshot_of_a_dirty_repo_leaves_it_untouched(dirty_repo: Path) -> None:
    before = observed(dirty_repo)
    head = git(dirty_repo, "rev-parse", "HEAD")
    sha = snapshot.commit_cwd(dirty_repo, run_id="r1")
    assert observed(dirty_repo) == before
    assert sha != head
    assert git(dirty_repo, "rev-parse", f"{sha}^") == head
    assert git(dirty_repo, "rev-parse", "refs/naga/snapshots/r1") == sha
    on_disk = {
        str(p.relative_to(dirty_repo))
        for p in dirty_repo.rglob("*")
        if p.is_file() and ".git" not in p.parts and p.name != "model.ckpt"
    }
    assert tree_files(dirty_repo, sha) == on_disk
    assert "deleted.py" not in on_disk and "removed.py" not in on_disk
    for name in on_disk:
        assert git(dirty_repo, "show", f"{sha}:{name}") + "\n" == (dirty_repo / name).read_text()


def test_snapshot_survives_gc_through_its_ref(dirty_repo: Path) -> None:
    kept = snapshot.commit_cwd(dirty_repo, run_id="kept")
    (dirty_repo / "unstaged.py").write_text("# another version\n")
    loose = snapshot.commit_cwd(dirty_repo)  # no run id: nothing keeps it
    assert snapshot.commit_exists(dirty_repo, loose)
    git(dirty_repo, "gc", "-q", "--prune=now")
    assert snapshot.commit_exists(dirty_repo, kept)
    assert git(dirty_repo, "show", f"{kept}:unstaged.py") == "# unstaged v2"
    assert not snapshot.commit_exists(dirty_repo, loose)  # gc did prune: the ref is what saved it


def test_a_second_snapshot_under_the_same_run_id_keeps_the_first(git_repo: Path) -> None:
    (git_repo / "train.py").write_text("print('v2')\n")
    first = snapshot.commit_cwd(git_repo, run_id="again", message="first try")
    (git_repo / "train.py").write_text("print('v3')\n")
    second = snapshot.commit_cwd(git_repo, run_id="again")
    git(git_repo, "gc", "-q", "--prune=now")
    assert git(git_repo, "rev-parse", "refs/naga/snapshots/again") == second
    assert snapshot.commit_exists(git_repo, first)  # through the ref's reflog
    assert git(git_repo, "log", "-1", "--format=%s", first) == "first try"


def test_clean_repo_snapshot_is_head(git_repo: Path) -> None:
    (git_repo / "ignored.log").write_text("x\n")
    head = git(git_repo, "rev-parse", "HEAD")
    assert snapshot.commit_cwd(git_repo, include=[], run_id="clean") == head
    assert git(git_repo, "rev-parse", "refs/naga/snapshots/clean") == head
    assert snapshot.commit_cwd(git_repo) != head  # the untracked file makes the tree differ


def test_include_and_exclude_globs(git_repo: Path) -> None:
    for name in ("a.py", "notes.txt", "data/x.csv", "data/sub/y.csv", "src/m.py", "src/m.txt"):
        (git_repo / name).parent.mkdir(parents=True, exist_ok=True)
        (git_repo / name).write_text(name)
    tracked = {"train.py"}

    def files(**kwargs: object) -> set[str]:
        return tree_files(git_repo, snapshot.commit_cwd(git_repo, **kwargs)) - tracked  # type: ignore[arg-type]

    everything = {"a.py", "notes.txt", "data/x.csv", "data/sub/y.csv", "src/m.py", "src/m.txt"}
    assert files() == everything
    assert files(include=["*.py", "data"], exclude=["data/sub/"]) == {
        "a.py",
        "src/m.py",
        "data/x.csv",
    }
    assert files(include="src/*") == {"src/m.py", "src/m.txt"}
    assert files(exclude=["*.csv", "./notes.txt"]) == {"a.py", "src/m.py", "src/m.txt"}
    assert files(include=[]) == set()
    # Tracked files are always taken as on disk, whatever exclude says.
    (git_repo / "train.py").write_text("print('edited')\n")
    sha = snapshot.commit_cwd(git_repo, include=[], exclude=["*.py"])
    assert git(git_repo, "show", f"{sha}:train.py") == "print('edited')"


def test_bad_patterns_and_run_ids_are_usage_errors(git_repo: Path) -> None:
    with pytest.raises(UsageError, match="non-empty strings"):
        snapshot.commit_cwd(git_repo, include=["*.py", ""])
    for bad in ("../x", "a b", "x.lock", "-x", ""):
        with pytest.raises(UsageError, match="cannot name a git ref"):
            snapshot.commit_cwd(git_repo, run_id=bad)
    assert git(git_repo, "for-each-ref", "refs/naga") == ""


def test_two_repos(tmp_path: Path, git_repo: Path) -> None:
    lib = tmp_path / "my lib"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "dev")
    (lib / "lib.py").write_text("X = 1\n")
    git(lib, "add", ".")
    git(lib, "commit", "-q", "-m", "lib")
    git(lib, "remote", "add", "upstream", "https://alice:hunter2@example.com/lab/lib.git")
    git(git_repo, "remote", "add", "origin", "https://ghp_TOKEN@github.com/lab/proj.git")
    git(git_repo, "remote", "add", "backup", "/srv/backup.git")
    (lib / "lib.py").write_text("X = 2\n")
    states = snapshot.snapshot_repos({"main": git_repo, "lib": str(lib)}, run_id="two")
    main_head = git(git_repo, "rev-parse", "HEAD")
    assert states["main"] == {
        "path": str(git_repo),
        "commit": main_head,
        "branch": "main",
        "dirty": False,
        "remote": "https://***@github.com/lab/proj.git",
        "snapshot": main_head,
    }
    lib_state = states["lib"]
    assert lib_state["commit"] == git(lib, "rev-parse", "HEAD") != lib_state["snapshot"]
    assert (lib_state["branch"], lib_state["dirty"]) == ("dev", True)
    assert lib_state["remote"] == "https://alice:***@example.com/lab/lib.git"
    assert git(lib, "show", "refs/naga/snapshots/two:lib.py") == "X = 2"
    assert git(git_repo, "rev-parse", "refs/naga/snapshots/two") == main_head
    assert git(lib, "status", "--porcelain") == "M lib.py"


def test_a_repo_that_is_not_one_is_named(tmp_path: Path, git_repo: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError) as raised:
        snapshot.snapshot_repos({"main": git_repo, "data": plain})
    assert str(raised.value) == (
        f"repo 'data': {plain} is not inside a git repository; pass one, or run `git init` there"
    )
    with pytest.raises(UsageError, match="must map names"):
        snapshot.snapshot_repos([str(git_repo)])  # type: ignore[arg-type]


def test_not_a_repo_and_missing_path(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for call in (snapshot.get_git_commit, snapshot.repo_state, snapshot.commit_cwd):
        with pytest.raises(GitError, match="is not inside a git repository") as raised:
            call(plain)
        assert "\n" not in str(raised.value)
    with pytest.raises(GitError, match="does not exist"):
        snapshot.get_git_commit(tmp_path / "nowhere")
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    with pytest.raises(GitError, match="bare repository"):
        snapshot.commit_cwd(bare)


def test_git_missing_is_one_clear_error(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(git_repo))
    with pytest.raises(GitError, match="git is not installed"):
        snapshot.get_git_commit(git_repo)


def test_unborn_repo(tmp_path: Path) -> None:
    repo = tmp_path / "fresh ü"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    with pytest.raises(GitError, match="has no commits yet"):
        snapshot.get_git_commit(repo)
    (repo / "a.py").write_text("a\n")
    assert snapshot.repo_state(repo) == {
        "path": str(repo),
        "commit": None,
        "branch": "main",
        "dirty": False,
        "remote": None,
    }
    sha = snapshot.commit_cwd(repo, run_id="first")
    assert tree_files(repo, sha) == {"a.py"}
    assert git(repo, "rev-list", "--parents", "-n1", sha) == sha  # no parent
    assert git(repo, "status", "--porcelain") == "?? a.py"
    assert not (repo / ".git" / "index").exists()
    (repo / "b.py").write_text("b\n")
    git(repo, "add", "b.py")
    assert snapshot.repo_state(repo)["dirty"] is True
    assert tree_files(repo, snapshot.commit_cwd(repo)) == {"a.py", "b.py"}
    assert git(repo, "status", "--porcelain") == "A  b.py\n?? a.py"


def test_relative_paths_files_and_detached_head(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = git(git_repo, "rev-parse", "HEAD")
    (git_repo / "src").mkdir()
    monkeypatch.chdir(git_repo / "src")
    assert snapshot.get_git_commit(".") == head
    assert snapshot.get_git_commit("../train.py") == head
    git(git_repo, "checkout", "-q", "--detach")
    state = snapshot.repo_state("..")
    assert (state["path"], state["branch"], state["commit"]) == (str(git_repo), None, head)
    assert Path(state["path"]).name == HOSTILE


def test_commit_exists(git_repo: Path) -> None:
    head = git(git_repo, "rev-parse", "HEAD")
    tree = git(git_repo, "rev-parse", "HEAD^{tree}")
    assert snapshot.commit_exists(git_repo, head)
    assert snapshot.commit_exists(git_repo, head[:10])
    assert not snapshot.commit_exists(git_repo, tree)  # an object, but not a commit
    assert not snapshot.commit_exists(git_repo, "0" * 40)
    assert not snapshot.commit_exists(git_repo, "--help")


def test_linked_worktree(git_repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other tree"
    git(git_repo, "worktree", "add", "-q", "-b", "side", str(other))
    (other / "train.py").write_text("print('side')\n")
    before = observed(git_repo)
    sha = snapshot.commit_cwd(other, run_id="wt")
    assert observed(git_repo) == before
    assert git(git_repo, "show", "refs/naga/snapshots/wt:train.py") == "print('side')"
    assert git(other, "status", "--porcelain") == "M train.py"
    assert snapshot.repo_state(other)["branch"] == "side"
    assert git(git_repo, "rev-parse", f"{sha}^") == git(other, "rev-parse", "HEAD")


def test_snapshot_without_a_git_identity(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("EMAIL", raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    subprocess.run(["git", "config", "user.useConfigOnly", "true"], cwd=git_repo, check=True)
    (git_repo / "train.py").write_text("print('who')\n")
    sha = snapshot.commit_cwd(git_repo)
    done = subprocess.run(
        ["git", "log", "-1", "--format=%an <%ae>", sha], cwd=git_repo, capture_output=True
    )
    assert done.stdout.decode().strip() == "naga <naga@localhost>"


def test_gpg_signing_config_is_not_used(git_repo: Path) -> None:
    git(git_repo, "config", "commit.gpgSign", "true")
    git(git_repo, "config", "gpg.program", "false")  # signing would fail
    (git_repo / "train.py").write_text("print('signed?')\n")
    sha = snapshot.commit_cwd(git_repo)
    assert git(git_repo, "show", f"{sha}:train.py") == "print('signed?')"


def test_repo_env_of_another_repository_is_ignored(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    # As inside a git hook of another repository.
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    head = snapshot.get_git_commit(git_repo)
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert head == git(git_repo, "rev-parse", "HEAD")


def test_snapshot_of_many_files_runs_a_fixed_number_of_gits(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fixed number of git processes, not one per file: counted by a `git` first on PATH
    that logs each call and hands it to the real git."""
    import shutil

    for d in range(20):
        (git_repo / f"pkg{d}").mkdir()
        for f in range(100):
            (git_repo / f"pkg{d}" / f"m{f}.py").write_text(f"x = {d * 100 + f}\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "many")
    (git_repo / "pkg3" / "m7.py").write_text("x = 'changed'\n")
    for f in range(100):
        (git_repo / f"new{f}.py").write_text("new\n")
    calls = tmp_path / "git-calls"
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "git").write_text(
        f'#!/bin/sh\necho "$1" >> "{calls}"\nexec {shutil.which("git")} "$@"\n'
    )
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    sha = snapshot.commit_cwd(git_repo)
    assert 0 < len(calls.read_text().splitlines()) <= 8
    assert git(git_repo, "show", f"{sha}:pkg3/m7.py") == "x = 'changed'"
    assert len(tree_files(git_repo, sha)) == 2000 + 100 + 1


def test_naga_run_and_ls_do_not_import_it(git_repo: Path) -> None:
    for command in (["run", "true"], ["ls"]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "naga", *command],
            cwd=git_repo,
            capture_output=True,
            check=True,
        )
        assert b"naga.capture.git" in done.stderr or command == ["ls"]
        assert b"naga.snapshot" not in done.stderr


def test_submodule_is_recorded_at_its_checked_out_commit(git_repo: Path, tmp_path: Path) -> None:
    lib = tmp_path / "sublib"
    lib.mkdir()
    git(lib, "init", "-q")
    (lib / "x.py").write_text("x = 1\n")
    git(lib, "add", ".")
    git(lib, "commit", "-q", "-m", "one")
    git(git_repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "sub")
    git(git_repo, "commit", "-q", "-m", "add submodule")
    (git_repo / "sub" / "x.py").write_text("x = 2\n")
    git(git_repo / "sub", "commit", "-q", "-am", "two")
    moved = git(git_repo / "sub", "rev-parse", "HEAD")
    before = observed(git_repo)
    sha = snapshot.commit_cwd(git_repo)
    assert observed(git_repo) == before
    assert git(git_repo, "ls-tree", sha, "sub").split()[:3] == ["160000", "commit", moved]
