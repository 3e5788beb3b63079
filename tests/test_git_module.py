"""``naga.git``, the one module that runs git: its environment policy, its reading of git's
errors, and that nothing else in naga starts git or reaches across packages for git refs."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest
from conftest import Naga, git, only_run
from hypothesis import given
from hypothesis import strategies as st

from naga import git as gitcmd
from naga.errors import GitError, NagaError

SRC = Path(__file__).resolve().parent.parent / "src" / "naga"


def test_env_drops_what_points_git_at_another_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX"):
        monkeypatch.setenv(name, str(tmp_path / name))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")  # the user's own settings stay
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    env = gitcmd.env({"GIT_INDEX_FILE": "/scratch/index"})
    assert not {"GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_PREFIX"} & set(env)
    assert env["GIT_INDEX_FILE"] == "/scratch/index"  # naga's own scratch index, not the hook's
    assert env["GIT_CONFIG_COUNT"] == "1"
    assert env["GIT_CEILING_DIRECTORIES"] == str(tmp_path)
    assert env["HOME"] == os.environ["HOME"]
    assert (env["GIT_OPTIONAL_LOCKS"], env["LC_ALL"], env["GIT_TERMINAL_PROMPT"]) == ("0", "C", "0")


def test_naga_run_records_and_snapshots_its_own_repository_under_a_hook_git_dir(
    naga: Naga, git_repo: Path, tmp_path: Path
) -> None:
    """As from a hook or ``git rebase -x`` of another repository: GIT_DIR, GIT_WORK_TREE and
    GIT_INDEX_FILE name ``other``; naga records, snapshots and keeps refs in the repository
    holding the run's directory, and writes nothing into ``other``."""
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "elsewhere")
    (other / "o.py").write_text("o = 1\n")
    git(other, "add", ".")
    git(other, "commit", "-q", "-m", "other")
    (git_repo / "new_module.py").write_text("X = 1\n")  # untracked: a snapshot is made
    hook_env = {
        **os.environ,
        "GIT_DIR": str(other / ".git"),
        "GIT_WORK_TREE": str(other),
        "GIT_INDEX_FILE": str(other / ".git" / "index"),
    }
    done = naga("run", "--", "cat", "new_module.py", cwd=git_repo, env=hook_env)
    assert done.returncode == 0, done.stderr
    recorded = only_run(naga)["git"]
    assert recorded["commit"] == git(git_repo, "rev-parse", "HEAD")
    assert recorded["branch"] == "main"
    assert recorded["untracked_count"] == 1
    ref = f"refs/naga/snapshots/{only_run(naga)['id']}"
    assert git(git_repo, "show", f"{ref}:new_module.py") == "X = 1"
    assert git(other, "for-each-ref", "refs/naga/") == ""
    assert git(other, "status", "--porcelain") == ""


def test_snapshot_module_under_a_hook_work_tree(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from naga import snapshot

    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (git_repo / "extra.py").write_text("extra\n")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    sha = snapshot.commit_cwd(git_repo, run_id="hooked")
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_WORK_TREE")
    assert git(git_repo, "show", f"{sha}:extra.py") == "extra"
    assert git(git_repo, "rev-parse", "refs/naga/snapshots/hooked") == sha


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        (b"fatal: not a git repository (or any of the parent directories): .git\n", None),
        (b"hint: try this\nhint: or that\nerror: pathspec 'x' did not match\n", None),
        (b"To /r.git\n ! [rejected]  a -> a (non-fast-forward)\nerror: failed to push\n", None),
        (b"warning: something odd\n", "warning: something odd"),
        (b"", "no message"),
        (b"  \n\n", "no message"),
        ("fatal: déjà vu\n".encode(), "fatal: déjà vu"),
        (b"fatal: \xff\xfe bad bytes\n", "fatal: \ufffd\ufffd bad bytes"),
    ],
)
def test_first_error_is_the_line_that_says_what_went_wrong(stderr: bytes, line: str | None) -> None:
    expected = line or next(
        ln.strip()
        for ln in stderr.decode().splitlines()
        if ln.strip().startswith(("fatal:", "error:", "!"))
    )
    assert gitcmd.first_error(stderr) == expected
    assert gitcmd.first_error(stderr.decode("utf-8", "replace")) == expected


@given(st.text())
def test_first_error_is_always_one_line_of_what_git_said(stderr: str) -> None:
    line = gitcmd.first_error(stderr)
    assert line == "no message" or line in {ln.strip() for ln in stderr.splitlines()}
    assert line and "\n" not in line and "\r" not in line


def test_a_failing_git_is_a_naga_error_with_git_s_own_line(git_repo: Path) -> None:
    with pytest.raises(GitError) as raised:
        gitcmd.output(str(git_repo), ["-c", "core.x=1", "rev-parse", "--verify", "nope"])
    assert isinstance(raised.value, NagaError)
    why = "fatal: Needed a single revision"
    assert str(raised.value) == f"git rev-parse failed in {git_repo}: {why}"


def test_missing_git_is_one_line_saying_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gitcmd.executable() is None
    assert gitcmd.start(str(tmp_path), ["status"]) is None
    missing = r"^git is not installed \(not found on PATH\); install git$"
    with pytest.raises(GitError, match=missing):
        gitcmd.run(str(tmp_path), ["status"])


def test_toplevel(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / "sub" / "deeper").mkdir(parents=True)
    assert gitcmd.toplevel(str(git_repo / "sub" / "deeper")) == str(git_repo)
    outside = tmp_path / "outside"
    outside.mkdir()
    assert gitcmd.toplevel(str(outside)) is None
    assert gitcmd.toplevel(str(git_repo / "train.py")) is None  # a file, not a directory
    assert gitcmd.toplevel(str(tmp_path / "gone")) is None


def test_snapshot_refs_listed_and_deleted_in_one_go(git_repo: Path) -> None:
    head = git(git_repo, "rev-parse", "HEAD")
    for run_id in ("a1", "b2", "c3"):
        assert gitcmd.update_ref(str(git_repo), gitcmd.SNAPSHOT_REFS + run_id, head, "test")
    assert not gitcmd.update_ref(
        str(git_repo), gitcmd.SNAPSHOT_REFS + "a1", head, "again", create_only=True
    )
    assert gitcmd.snapshot_refs(str(git_repo), ["a1", "c3", "zz"]) == {"a1": head, "c3": head}
    gitcmd.delete_snapshot_refs(str(git_repo), ["a1", "b2"])
    assert gitcmd.snapshot_refs(str(git_repo)) == {"c3": head}
    assert gitcmd.delete_ref(str(git_repo), gitcmd.SNAPSHOT_REFS + "c3")
    assert gitcmd.snapshot_refs(str(git_repo)) == {}


def test_recorded_repos_survives_a_hostile_record(git_repo: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "artifacts").mkdir(parents=True)
    (run_dir / "meta.json").write_text(json.dumps({"git": {"root": str(git_repo)}}))
    (run_dir / "artifacts" / "run.lock").write_text("repos: [not, a, mapping")
    assert gitcmd.recorded_repos(str(run_dir)) == [str(git_repo)]
    (run_dir / "meta.json").write_text("[" * 100_000)
    assert gitcmd.recorded_repos(str(run_dir)) == []


def _git_argv_literals(tree: ast.AST) -> list[int]:
    """Lines holding a list literal that starts with the string "git" (an argv)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.List)
        and node.elts
        and isinstance(node.elts[0], ast.Constant)
        and node.elts[0].value == "git"
    ]


def test_only_naga_git_starts_git() -> None:
    found = {
        str(path.relative_to(SRC)): lines
        for path in SRC.rglob("*.py")
        if path.name != "git.py" or path.parent != SRC
        for lines in [_git_argv_literals(ast.parse(path.read_text()))]
        if lines
    }
    assert found == {}
    assert _git_argv_literals(ast.parse((SRC / "git.py").read_text()))  # the check can fail


def test_store_reaches_no_package_above_it_for_git() -> None:
    for path in (SRC / "store").rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in modules if m.startswith(("..share", "share"))], path
