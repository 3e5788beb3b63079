"""``naga rerun`` without traps (issue #17): data git ignores is linked into the worktree and
checked against the run.lock first; a run pulled without its snapshot ref, or whose commit this
clone lacks, stops before anything runs, in one line naming what fetches it.

Real git repositories, real ``naga run`` / ``naga rerun`` / ``naga push`` / ``naga pull``
processes, a local-path rclone remote and a bare git remote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Naga, git, runs_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from naga.errors import UsageError
from naga.repro import links

# Reads the data its run.lock tracks (data/train.csv), the previous stage's result when given
# one, and the cache only when asked: what a training script does with what git ignores.
TRAIN = """\
import os, sys
import naga
lock = os.environ["LOCK_AT"]
prevs = ["out/prep"] if "--stage" in sys.argv else []
data = {"train": "data/train.csv", "classes": "data/classes.txt"}
naga.runlock({"save_dir": "unused"}, data=data, prevs=prevs, runlock_path=lock)
print("rows", len(open("data/train.csv").read().split()))
print("classes", open("data/classes.txt").read().strip())
if prevs:
    print("prep", open("out/prep/result.txt").read().strip())
if "--cache" in sys.argv:
    print("cache", open("cache/vocab.txt").read().strip())
"""
PREP = """\
import naga
naga.runlock({"save_dir": "out/prep"}, data={"train": "data/train.csv"})
open("out/prep/result.txt", "w").write("prepared\\n")
"""


def newest(naga: Naga) -> str:
    return str(runs_json(naga)[0]["id"])


def one_error(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("naga: error: "), done.stderr
    return lines[0]


@pytest.fixture
def project(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose data, cache and stage outputs git ignores (data/ keeps a tracked
    .gitkeep, as many projects do)."""
    (git_repo / ".gitignore").write_text("data/*\n!data/.gitkeep\ncache/\nout/\n")
    (git_repo / "data").mkdir()
    (git_repo / "data" / ".gitkeep").write_text("")
    (git_repo / "train.py").write_text(TRAIN)
    (git_repo / "prep.py").write_text(PREP)
    (git_repo / "data" / "classes.txt").write_text("cat dog\n")  # data git holds
    git(git_repo, "add", ".")
    git(git_repo, "add", "-f", "data/classes.txt")
    git(git_repo, "commit", "-qm", "train reads ignored data")
    (git_repo / "data" / "train.csv").write_text("1\n2\n3\n")
    (git_repo / "cache").mkdir()
    (git_repo / "cache" / "vocab.txt").write_text("abc\n")
    monkeypatch.setenv("LOCK_AT", str(tmp_path / "locks" / "run.lock"))
    return git_repo


def test_rerun_links_what_the_run_lock_tracks_and_checks_it_first(
    naga: Naga, project: Path
) -> None:
    first = naga("run", "--name", "orig", sys.executable, "train.py", cwd=project)
    assert first.returncode == 0, first.stderr
    run_id = newest(naga)

    again = naga("rerun", run_id, cwd=project)

    assert again.returncode == 0, again.stderr
    assert again.stdout.decode().splitlines() == ["rows 3", "classes cat dog"]
    err = again.stderr.decode()
    assert "naga: linked into the worktree (symlinks to the originals, not copies):" in err
    assert "data/train.csv (hash checked)" in err
    # what stays missing is named once, with the way to give it
    (notice,) = [ln for ln in err.splitlines() if "lacks what git ignores" in ln]
    assert "cache/" in notice and "out/" not in notice and "--link PATH" in notice
    assert ".naga" not in notice  # the store is nobody's data
    # the original is untouched and no worktree is left behind
    assert (project / "data" / "train.csv").read_text() == "1\n2\n3\n"
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1
    rerun = naga("show", "--json", newest(naga))
    assert b'"path": "data/train.csv"' in rerun.stdout

    # Data the code holds comes from git, as it was: an edit in the checkout changes nothing.
    (project / "data" / "classes.txt").write_text("cat dog bird\n")
    from_git = naga("rerun", run_id, cwd=project)
    assert from_git.returncode == 0, from_git.stderr
    assert from_git.stdout.decode().splitlines() == ["rows 3", "classes cat dog"]

    # Other data than the run had: refused before anything runs, in one line.
    (project / "data" / "train.csv").write_text("1\n2\n3\n4\n")
    count = len(runs_json(naga))
    changed = naga("rerun", run_id, cwd=project)
    assert changed.returncode == 1
    line = one_error(changed)
    assert "data train (data/train.csv) changed since the run" in line
    assert "--here" in line and changed.stdout == b""
    (project / "data" / "train.csv").unlink()  # gone: said, never a FileNotFoundError
    gone = naga("rerun", run_id, cwd=project)
    assert gone.returncode == 1
    assert "the run.lock tracks data train at data/train.csv, which is not in" in one_error(gone)
    assert len(runs_json(naga)) == count


def test_link_adds_ignored_paths_inside_the_checkout_only(naga: Naga, project: Path) -> None:
    first = naga("run", sys.executable, "train.py", "--cache", cwd=project)
    assert first.returncode == 0, first.stderr
    run_id = newest(naga)

    missing = naga("rerun", run_id, cwd=project)
    assert missing.returncode == 1 and b"FileNotFoundError" in missing.stderr
    assert b"cache/; give the run what it needs with --link PATH" in missing.stderr

    linked = naga("rerun", run_id, "--link", "cache", cwd=project)
    assert linked.returncode == 0, linked.stderr
    assert linked.stdout.decode().splitlines() == ["rows 3", "classes cat dog", "cache abc"]
    assert b"cache (not checked)" in linked.stderr
    assert b"lacks what git ignores" not in linked.stderr
    assert (project / "cache" / "vocab.txt").read_text() == "abc\n"

    count = len(runs_json(naga))
    outside = project.parent / "elsewhere"
    outside.mkdir()
    for bad in ("../elsewhere", str(outside), "cache/../../elsewhere", ".git", "nothing-here"):
        done = naga("rerun", run_id, "--link", bad, cwd=project)
        assert done.returncode == 2, (bad, done.stderr)
        assert "--link" in one_error(done)
    assert len(runs_json(naga)) == count


def test_a_previous_stage_is_linked_and_its_lock_checked(naga: Naga, project: Path) -> None:
    assert naga("run", sys.executable, "prep.py", cwd=project).returncode == 0
    first = naga("run", sys.executable, "train.py", "--stage", cwd=project)
    assert first.returncode == 0, first.stderr
    run_id = newest(naga)

    again = naga("rerun", run_id, cwd=project)

    assert again.returncode == 0, again.stderr
    assert again.stdout.decode().splitlines() == ["rows 3", "classes cat dog", "prep prepared"]
    assert b"out/prep (run.lock checked)" in again.stderr
    assert (project / "out" / "prep" / "result.txt").exists()

    assert naga("run", sys.executable, "prep.py", cwd=project).returncode == 0  # redone
    redone = naga("rerun", run_id, cwd=project)
    assert redone.returncode == 1
    assert "stage out/prep was rerun or changed since the run" in one_error(redone)


def _team(tmp_path: Path) -> tuple[Path, Path, dict[str, str], str]:
    """Alice's clone of a bare remote, Bob's store's environment, and the runs' remote."""
    bare = tmp_path / "team.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    alice = tmp_path / "alice"
    git(tmp_path, "clone", "-q", str(bare), str(alice))
    (alice / "train.py").write_text("import helper\nprint('helper', helper.VALUE)\n")
    git(alice, "add", "train.py")
    git(alice, "commit", "-qm", "train")
    git(alice, "push", "-q", "origin", "main")
    rclone_conf = tmp_path / "rclone.conf"
    rclone_conf.write_text("")
    env = {**os.environ, "RCLONE_CONFIG": str(rclone_conf)}
    return bare, alice, env, str(tmp_path / "runs-remote")


@pytest.mark.skipif(shutil.which("rclone") is None, reason="needs rclone")
def test_pulled_without_its_snapshot_ref_stops_naming_the_pull_that_fetches_it(
    naga: Naga, tmp_path: Path
) -> None:
    bare, alice, env, runs = _team(tmp_path)
    (alice / "helper.py").write_text("VALUE = 42\n")  # untracked: only the snapshot holds it
    assert naga("run", sys.executable, "train.py", cwd=alice).returncode == 0
    run_id = newest(naga)
    pushed = naga("push", runs, run_id, "--git-remote", "origin", cwd=alice, env=env)
    assert pushed.returncode == 0, pushed.stderr
    alice.rename(tmp_path / "alice-on-her-laptop")  # the recorded checkout is elsewhere
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", "--no-local", str(bare), str(bob))  # as over a network
    bob_env = {**env, "NAGA_HOME": str(tmp_path / "bob-store")}
    pulled = naga("pull", runs, run_id, cwd=bob, env=bob_env)  # no --git-remote
    assert pulled.returncode == 0, pulled.stderr

    stopped = naga("rerun", run_id, cwd=bob, env=bob_env)

    assert stopped.returncode == 1 and stopped.stdout == b""
    line = one_error(stopped)
    assert f"refs/naga/snapshots/{run_id}" in line
    fetch = f"naga pull REMOTE {run_id} --git-remote origin"
    assert fetch in line
    bob_runs = naga("ls", "--all", "--json", env=bob_env)
    assert bob_runs.stdout.count(b'"id"') == 1  # only the pulled run: nothing ran

    # The command it names fetches the ref (REMOTE: where the run was pulled from).
    fetched = naga("pull", runs, run_id, "--git-remote", "origin", cwd=bob, env=bob_env)
    assert fetched.returncode == 0, fetched.stderr
    assert b"Fetched 1 snapshot ref" in fetched.stdout
    again = naga("rerun", run_id, cwd=bob, env=bob_env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.decode().splitlines() == ["helper 42"]


@pytest.mark.skipif(shutil.which("rclone") is None, reason="needs rclone")
def test_a_commit_this_clone_lacks_stops_naming_the_fetch(naga: Naga, tmp_path: Path) -> None:
    bare, alice, env, runs = _team(tmp_path)
    (alice / "helper.py").write_text("VALUE = 7\n")
    git(alice, "add", "helper.py")
    git(alice, "commit", "-qm", "helper")  # not pushed yet
    assert naga("run", sys.executable, "train.py", cwd=alice).returncode == 0
    run_id = newest(naga)
    commit = git(alice, "rev-parse", "HEAD")
    assert naga("push", runs, run_id, cwd=alice, env=env).returncode == 0
    bob = tmp_path / "bob"
    git(tmp_path, "clone", "-q", "--no-local", str(bare), str(bob))  # as over a network
    away = tmp_path / "alice-on-her-laptop"
    alice.rename(away)  # the recorded checkout is on another machine
    bob_env = {**env, "NAGA_HOME": str(tmp_path / "bob-store")}
    assert naga("pull", runs, run_id, cwd=bob, env=bob_env).returncode == 0

    stopped = naga("rerun", run_id, cwd=bob, env=bob_env)

    assert stopped.returncode == 1 and stopped.stdout == b""
    line = one_error(stopped)
    assert f"commit {commit[:12]} of run {run_id} is not in {bob}" in line
    assert "fetch it with: git fetch origin main" in line

    git(away, "push", "-q", "origin", "main")
    git(bob, "fetch", "-q", "origin", "main")
    again = naga("rerun", run_id, cwd=bob, env=bob_env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.decode().splitlines() == ["helper 7"]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(given_path=st.text(alphabet=st.sampled_from(list("ok./\\~ \0-_")), max_size=20) | st.text())
def test_link_paths_never_name_a_place_outside_the_checkout(
    given_path: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    (repo / "ok" / "k").mkdir(parents=True, exist_ok=True)
    (repo / ".git").mkdir(exist_ok=True)
    (tmp_path / "ok").mkdir(exist_ok=True)  # ../ok exists: it must still be refused
    try:
        (link,) = links.requested([given_path], str(repo), str(repo / "ok"))
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    parts = link.rel.split(os.sep)
    assert not os.path.isabs(link.rel) and ".." not in parts and parts[0] != ".git"
    assert link.source == os.path.join(repo, link.rel) and os.path.lexists(link.source)


def test_links_are_never_made_through_a_symlink_out_of_the_worktree(tmp_path: Path) -> None:
    tree, outside, data = tmp_path / "tree", tmp_path / "outside", tmp_path / "data"
    tree.mkdir()
    outside.mkdir()
    data.mkdir()
    (tree / "esc").symlink_to(outside)  # a symlink the code itself holds
    with pytest.raises(UsageError, match="leads out of the worktree"):
        links.make([links.Link("esc/x", str(data), "--link")], str(tree))
    assert list(outside.iterdir()) == []
    made = links.make([links.Link("in/x", str(data), "--link")], str(tree))
    assert made == [str(tree / "in" / "x")] and (tree / "in" / "x").resolve() == data
    links.unmake(made)
    assert not (tree / "in" / "x").exists() and data.is_dir()


def test_a_slow_check_is_said_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from naga.errors import DataError
    from naga.hashing import hash_data

    data = tmp_path / "data"
    data.mkdir()
    for i in range(50):
        (data / f"part{i}").write_bytes(os.urandom(1 << 16))
    recorded = hash_data(data, cache=False).hash
    monkeypatch.setattr(links, "SLOW_S", 0.0)  # every hash counts as slow
    said: list[links.Link] = []
    link = links.Link("data", str(data), "data train", hash=recorded)
    links.verify([link], slow=said.append)
    assert said == [link]
    (data / "part0").write_bytes(b"other")
    with pytest.raises(DataError, match=r"^data train \(data\) changed since the run") as raised:
        links.verify([link])
    assert "\n" not in str(raised.value)
