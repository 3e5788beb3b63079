"""``naga gc``, ``naga archive`` and ``naga unarchive`` on real stores, repositories and indexes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import Naga, git, live_run, naga_cmd, runs_json

DAY = 24 * 3600


def record(naga: Naga, name: str, *command: str, cwd: Path | None = None) -> str:
    done = naga("run", "--name", name, "--", *command, cwd=cwd)
    assert b"naga: error" not in done.stderr, done.stderr
    (run,) = [r for r in runs_json(naga) if r["name"] == name]
    return str(run["id"])


def age(path: Path, seconds: float) -> None:
    """Make ``path`` and everything under it look ``seconds`` old."""
    then = time.time() - seconds
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.utime(os.path.join(root, name), (then, then), follow_symlinks=False)
    os.utime(path, (then, then))


def index_file(store: Path) -> Path:
    (found,) = (store / "index").glob("*.sqlite")
    return found


def free_pages(store: Path) -> int:
    with sqlite3.connect(index_file(store)) as conn:
        return int(conn.execute("PRAGMA freelist_count").fetchone()[0])


def one_error_line(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("naga: error: "), done.stderr
    return lines[0]


def test_gc_dry_run_then_for_real(naga: Naga, tmp_path: Path, store: Path, git_repo: Path) -> None:
    kept = record(naga, "kept", "echo", "keep me", cwd=git_repo)
    failed = [record(naga, f"bad{i}", "sh", "-c", "echo no; exit 1", cwd=git_repo) for i in (1, 2)]
    # Many params make index pages that removing the run frees: VACUUM gives them back.
    code = "import naga\nwith naga.run(name='wide', params={f'p{i}': i for i in range(3000)}): pass"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    (wide,) = [r["id"] for r in runs_json(naga) if r["name"] == "wide"]
    assert naga("rm", wide).returncode == 0
    assert free_pages(store) > 0

    orphan = store / "runs" / "zzzzzzzz"
    (orphan / "metrics").mkdir(parents=True)
    (orphan / "output.log").write_bytes(b"x" * 5000)
    age(orphan, 2 * DAY)
    young_orphan = store / "runs" / "yyyyyyyy"  # maybe a run being created: left alone
    young_orphan.mkdir()
    temp = store / "runs" / kept / ".meta.json.123.abcd0123.tmp"
    temp.write_bytes(b"{")
    age(temp, 2 * 3600)
    users_file = store / "runs" / kept / "artifacts" / ".cache.tmp"  # an artifact: kept
    users_file.parent.mkdir()
    users_file.write_bytes(b"mine")
    age(users_file, 2 * 3600)
    staging = store / "tmp" / "pull-abc"
    (staging / "r1").mkdir(parents=True)
    age(staging, 2 * 3600)
    buckets = sorted((store / "touched").iterdir())
    old_marker = buckets[0] / "qqqqqqqq"  # the marker of a run deleted long ago
    old_marker.write_bytes(b"")
    age(old_marker, 8 * DAY)
    # Removed just now: other hosts' indexes still need its marker.
    fresh_marker = next((store / "touched").glob(f"*/{wide}"))
    head = git(git_repo, "rev-parse", "HEAD")
    for ref_id in (kept, *failed, "rrrrrrrr", "lock-abc123"):
        git(git_repo, "update-ref", f"refs/naga/snapshots/{ref_id}", head)

    dry = naga("gc", "--status", "failed", "--dry-run", cwd=git_repo)
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout.decode()
    assert "Would remove 2 runs" in out and all(f in out for f in failed)
    assert f"orphan directory {orphan} (4.9 KB)" in out
    assert str(young_orphan) not in out
    assert "Would remove 2 leftover temporary files" in out
    assert "Would remove 1 change marker" in out
    # This store is not the repository's own (.naga at its root): of the refs of runs it lacks,
    # only those of the runs removed now go; rrrrrrrr may be another store's run.
    assert f"Would remove 2 snapshot refs of deleted runs in {git_repo}" in out
    assert "Would free " in out
    assert all(p.exists() for p in (orphan, temp, staging, old_marker, fresh_marker))
    assert len(runs_json(naga)) == 3

    refused = naga("gc", "--status", "failed", cwd=git_repo)  # no terminal, no --yes
    assert refused.returncode == 2
    assert "--yes" in one_error_line(refused)
    assert len(runs_json(naga)) == 3

    done = naga("gc", "--status", "failed", "--yes", cwd=git_repo)
    assert done.returncode == 0, done.stderr
    assert "index compacted" in done.stdout.decode() and "Freed " in done.stdout.decode()
    assert [r["id"] for r in runs_json(naga)] == [kept]
    assert not any(p.exists() for p in (orphan, temp, staging, old_marker))
    assert young_orphan.exists() and fresh_marker.exists() and users_file.exists()
    refs = git(git_repo, "for-each-ref", "--format=%(refname:short)", "refs/naga/")
    assert set(refs.splitlines()) == {
        f"naga/snapshots/{kept}",
        "naga/snapshots/rrrrrrrr",
        "naga/snapshots/lock-abc123",
    }
    assert free_pages(store) == 0

    again = naga("gc", "--yes", cwd=git_repo)
    assert again.returncode == 0
    assert "Nothing to remove." in again.stdout.decode()


def test_gc_in_the_repository_s_own_store_sweeps_refs_of_runs_it_lacks(
    naga: Naga, git_repo: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NAGA_HOME"}  # the store: <repo>/.naga
    done = naga("run", "--name", "kept", "true", cwd=git_repo, env=env)
    assert done.returncode == 0, done.stderr
    head = git(git_repo, "rev-parse", "HEAD")
    git(git_repo, "update-ref", "refs/naga/snapshots/rrrrrrrr", head)  # a run deleted by hand
    swept = naga("gc", "--yes", cwd=git_repo, env=env)
    assert swept.returncode == 0, swept.stderr
    assert "rrrrrrrr" in swept.stdout.decode()
    assert git(git_repo, "for-each-ref", "refs/naga/snapshots/rrrrrrrr") == ""
    elsewhere = {**env, "NAGA_HOME": str(git_repo.parent / "other-store")}
    git(git_repo, "update-ref", "refs/naga/snapshots/ssssssss", head)
    kept = naga("gc", "--yes", cwd=git_repo, env=elsewhere)  # another store: not its refs
    assert kept.returncode == 0, kept.stderr
    assert git(git_repo, "rev-parse", "refs/naga/snapshots/ssssssss") == head


def test_gc_older_than_and_never_running(naga: Naga, tmp_path: Path, store: Path) -> None:
    old = record(naga, "old", "true")
    new = record(naga, "new", "true")
    meta_path = store / "runs" / old / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["started_at"] = "2020-01-01T00:00:00.000000Z"
    meta_path.write_text(json.dumps(meta))
    assert naga("reindex").returncode == 0
    with live_run(naga, tmp_path):
        done = naga("gc", "--status", "running", "--yes")
        assert done.returncode == 2
        assert "never removes running runs" in one_error_line(done)
        done = naga("gc", "--older-than", "30d", "--yes")
        assert done.returncode == 0, done.stderr
        assert sorted(r["name"] for r in runs_json(naga)) == ["live", "new"]
        done = naga("gc", "--older-than", "0s", "--yes")  # everything started before now...
        assert done.returncode == 0, done.stderr
        assert [r["name"] for r in runs_json(naga)] == ["live"]  # ...but the running run
        assert "Removing 1 run (" in done.stdout.decode() and new in done.stdout.decode()
        bad = naga("gc", "--older-than", "soon")
        assert bad.returncode == 2
        assert "cannot read --older-than 'soon'" in one_error_line(bad)


def test_archive_and_unarchive(naga: Naga, store: Path) -> None:
    first = record(naga, "first", "echo", "one")
    failed = record(naga, "failed", "false")
    done = naga("archive", "first")
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in runs_json(naga)] == [failed]
    assert [r["id"] for r in runs_json(naga, "--archived")] == [first]
    assert (store / "archive" / "runs" / first / "output.log").read_bytes() == b"one\n"
    slow = subprocess.run(
        [sys.executable, "-c", "from naga.cli.app import cli; cli(prog_name='naga')",
         "ls", "--archived", "--json"], capture_output=True, check=False,
    )  # fmt: skip
    assert [r["id"] for r in json.loads(slow.stdout)] == [first]  # the click path agrees

    shown = naga("show", first)
    assert shown.returncode == 1
    assert f"run {first} is archived; `naga unarchive {first}`" in one_error_line(shown)
    assert "is archived" in one_error_line(naga("logs", "first"))  # by name too

    assert naga("archive", "--status", "failed").returncode == 0
    assert "No runs yet" in naga("ls").stdout.decode()
    assert len(runs_json(naga, "--archived", "--status", "failed")) == 1

    done = naga("unarchive", first)
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in runs_json(naga)] == [first]
    assert naga("show", first).returncode == 0
    assert naga("unarchive", "--all").returncode == 0
    assert {r["id"] for r in runs_json(naga)} == {first, failed}
    assert "No archived runs." in naga("ls", "--archived").stdout.decode()

    bad = naga("unarchive", "nosuch")
    assert "no archived run matches 'nosuch'" in one_error_line(bad)
    assert "no run matches 'nosuch'" in one_error_line(naga("archive", "nosuch"))
    assert naga("archive").returncode == 2  # nothing named


def test_archive_refuses_a_running_run(naga: Naga, tmp_path: Path) -> None:
    with live_run(naga, tmp_path):
        done = naga("archive", "live")
        assert done.returncode == 1
        assert "still running" in one_error_line(done)
        assert [r["name"] for r in runs_json(naga)] == ["live"]


def _on_a_terminal(tmp_path: Path, args: list[str], answer: bytes) -> bytes:
    """Run naga on a real pseudo-terminal, typing ``answer`` at its prompt."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        naga_cmd(*args), cwd=tmp_path, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    seen = b""
    while b"Go ahead?" not in seen:
        chunk = os.read(leader, 4096)
        assert chunk, seen
        seen += chunk
    os.write(leader, answer)
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # naga exited: the terminal's other end is closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    proc.wait(timeout=60)
    return seen


def test_gc_asks_on_a_terminal(naga: Naga, tmp_path: Path) -> None:
    record(naga, "kept", "true")
    record(naga, "bad", "false")
    seen = _on_a_terminal(tmp_path, ["gc", "--status", "failed"], b"n\n")
    assert b"Would remove 1 run" in seen and b"Aborted" in seen
    assert len(runs_json(naga)) == 2
    seen = _on_a_terminal(tmp_path, ["gc", "--status", "failed"], b"y\n")
    assert b"Freed " in seen
    assert [r["name"] for r in runs_json(naga)] == ["kept"]
