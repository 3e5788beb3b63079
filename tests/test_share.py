"""``naga push`` / ``naga pull`` through the real rclone: a local-path remote and a real WebDAV
server (``rclone serve webdav`` on 127.0.0.1), and snapshot refs through a bare git remote."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import HOSTILE, Naga, git, live_run, naga_cmd, runs_json

pytestmark = pytest.mark.skipif(
    shutil.which("rclone") is None, reason="needs rclone (scripts/test installs it)"
)


@pytest.fixture(autouse=True)
def rclone_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty rclone config of the test's own: the user's remotes are never touched."""
    config = tmp_path / "rclone.conf"
    config.write_text("")
    monkeypatch.setenv("RCLONE_CONFIG", str(config))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def webdav(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A real WebDAV server serving a directory; yields (the rclone remote, the directory)."""
    served = tmp_path / "served"
    served.mkdir()
    port = _free_port()
    server = subprocess.Popen(
        ["rclone", "serve", "webdav", str(served), "--addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "rclone serve webdav exited"
                assert time.monotonic() < deadline, "rclone serve webdav never listened"
                time.sleep(0.05)
        monkeypatch.setenv("RCLONE_CONFIG_NAGADAV_TYPE", "webdav")
        monkeypatch.setenv("RCLONE_CONFIG_NAGADAV_URL", f"http://127.0.0.1:{port}/")
        monkeypatch.setenv("RCLONE_CONFIG_NAGADAV_VENDOR", "other")
        yield "nagadav:team", served / "team"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(params=["local", "webdav"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    """(what to pass as REMOTE, where its files are on this machine)."""
    if request.param == "local":
        where = tmp_path / HOSTILE / "remote store"
        return str(where), where
    found: tuple[str, Path] = request.getfixturevalue("webdav")
    return found


def listed(naga: Naga, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    done = naga("ls", "--all", "--json", env=env)
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, Any]] = json.loads(done.stdout)
    return runs


def other_store(tmp_path: Path, name: str = "second") -> dict[str, str]:
    return {**os.environ, "NAGA_HOME": str(tmp_path / name)}


def record(naga: Naga, name: str, *command: str, tag: str = "t") -> str:
    done = naga("run", "--name", name, "--tag", tag, "--", *command)
    assert b"naga: error" not in done.stderr, done.stderr
    (run,) = [r for r in runs_json(naga) if r["name"] == name]
    return str(run["id"])


def rclone_write(target: str, path: str, data: bytes) -> None:
    """Change a file on the remote the way a teammate would: through rclone (a WebDAV server
    caches what it serves, so writing under its directory would go unseen)."""
    subprocess.run(["rclone", "rcat", f"{target}/{path}"], input=data, check=True)


def one_error_line(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("naga: error: "), done.stderr
    assert b"Traceback" not in done.stderr
    return lines[0]


@pytest.mark.timeout(240)
def test_push_pull_round_trip(naga: Naga, tmp_path: Path, remote: tuple[str, Path]) -> None:
    target, files = remote
    first = record(naga, "first", "sh", "-c", "echo one; echo ü >&2")
    second = record(naga, "second", "sh", "-c", "echo two; exit 3", tag="bad")
    store = tmp_path / "store"

    dry = naga("push", target, "--all", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Would push 2 runs" in dry.stdout.decode()
    assert first in dry.stdout.decode() and second in dry.stdout.decode()
    assert not (files / "runs").exists()  # a dry run moves nothing

    done = naga("push", target, "--all")
    assert done.returncode == 0, done.stderr
    for run_id in (first, second):
        for name in ("meta.json", "output.log"):
            pushed = files / "runs" / run_id / name
            assert pushed.read_bytes() == (store / "runs" / run_id / name).read_bytes()
    again = naga("push", target, "--all")
    assert again.returncode == 0, again.stderr
    assert "2 runs already there, identical: not copied." in again.stdout.decode()
    assert "Pushed 0 runs" in again.stdout.decode()

    env = other_store(tmp_path)
    dry = naga("pull", target, "--tag", "bad", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "Would pull 1 run" in dry.stdout.decode() and second in dry.stdout.decode()
    assert not (tmp_path / "second").exists()  # a dry run creates no store
    done = naga("pull", target, "--status", "failed", env=env)
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in listed(naga, env)] == [second]
    done = naga("pull", target, first[:5], env=env)  # an id prefix, resolved on the remote
    assert done.returncode == 0, done.stderr
    pulled = {r["id"]: r for r in listed(naga, env)}
    assert set(pulled) == {first, second}
    assert pulled[second]["exit_code"] == 3 and pulled[second]["tags"] == ["bad"]
    logs = naga("logs", first, env=env)
    assert logs.stdout == "one\nü\n".encode()
    assert not list((tmp_path / "second" / "tmp").iterdir())  # staging cleaned up
    again = naga("pull", target, "--all", env=env)
    assert "2 runs already there, identical" in again.stdout.decode(), again.stderr

    lost = tmp_path / "second" / "runs" / first / "output.log"  # a file lost here: pull restores
    lost.unlink()
    again = naga("pull", target, first, env=env)
    assert "(completing an earlier copy)" in again.stdout.decode(), again.stderr
    assert lost.read_bytes() == "one\nü\n".encode()


@pytest.mark.timeout(240)
def test_conflict_lists_runs_and_moves_nothing(
    naga: Naga, tmp_path: Path, remote: tuple[str, Path]
) -> None:
    target, files = remote
    first = record(naga, "first", "echo", "one")
    assert naga("push", target, first).returncode == 0
    changed = files / "runs" / first / "output.log"
    rclone_write(target, f"runs/{first}/output.log", b"someone else's output\n")
    later = record(naga, "later", "echo", "later")

    done = naga("push", target, "--all")
    assert done.returncode == 1  # it fails, at the end: the other runs moved
    line = one_error_line(done)
    assert f"{first}: output.log differs" in line and "were not pushed" in line
    assert later not in line
    assert changed.read_bytes() == b"someone else's output\n"  # never overwritten
    assert (files / "runs" / later / "meta.json").is_file()  # one conflict stops no other run
    assert "Pushed 1 run" in done.stdout.decode()

    assert naga("rm", later).returncode == 0
    done = naga("pull", target, "--all")  # the same conflict, seen from this side
    assert done.returncode == 1
    assert f"{first}: output.log differs" in one_error_line(done)
    assert (tmp_path / "store" / "runs" / first / "output.log").read_bytes() == b"one\n"
    assert [r["id"] for r in listed(naga)] == [later, first]  # the other run came back

    # Same size, other bytes: meta.json is compared byte for byte.
    meta = (files / "runs" / first / "meta.json").read_bytes()
    rclone_write(target, f"runs/{first}/meta.json", meta.replace(b'"one"', b'"0ne"'))
    rclone_write(target, f"runs/{first}/output.log", b"one\n")
    done = naga("push", target, first)
    assert done.returncode == 1
    assert f"{first}: meta.json differs" in one_error_line(done)

    # A file only on the receiving side is a conflict too (someone added to that copy).
    local = tmp_path / "store" / "runs" / first
    rclone_write(target, f"runs/{first}/meta.json", (local / "meta.json").read_bytes())
    rclone_write(target, f"runs/{first}/artifacts/extra.txt", b"added there")
    done = naga("push", target, first)
    assert done.returncode == 1
    assert f"{first}: artifacts/extra.txt only on the remote" in one_error_line(done)
    subprocess.run(
        ["rclone", "deletefile", f"{target}/runs/{first}/artifacts/extra.txt"], check=True
    )
    assert "1 run already there, identical" in naga("push", target, first).stdout.decode()

    # A push cut short (no meta.json on the remote yet, a file half written) is no conflict:
    # the next push completes it.
    subprocess.run(["rclone", "deletefile", f"{target}/runs/{first}/meta.json"], check=True)
    rclone_write(target, f"runs/{first}/output.log", b"on")
    done = naga("push", target, first)
    assert done.returncode == 0, done.stderr
    assert "(completing an earlier copy)" in done.stdout.decode()
    for name in ("meta.json", "output.log"):
        assert (files / "runs" / first / name).read_bytes() == (local / name).read_bytes()


def test_running_run_is_never_pushed(naga: Naga, tmp_path: Path) -> None:
    done_id = record(naga, "done", "true")
    with live_run(naga, tmp_path) as running:
        target = tmp_path / "remote"
        done = naga("push", str(target), "live")
        assert done.returncode == 1
        assert f"run(s) {running} still running" in one_error_line(done)
        assert not target.exists()
        done = naga("push", str(target), "--all")
        assert done.returncode == 0, done.stderr
        assert f"not pushing 1 run still running: {running}" in done.stderr.decode()
        assert sorted(p.name for p in (target / "runs").iterdir()) == [done_id]


def test_bad_inputs_are_one_line(naga: Naga, tmp_path: Path) -> None:
    record(naga, "only", "true")
    target = str(tmp_path / "remote")
    cases = {
        ("push", target, "nosuchrun"): "no run matches 'nosuchrun'",
        ("push", "nosuch:path", "--all"): "no rclone remote named 'nosuch'",
        ("pull", target, "--all"): "there are no runs at",
        ("push", "-x", "--all"): "",  # click: no such option
        ("push", target): "name the runs to push",
    }
    for args, message in cases.items():
        done = naga(*args)
        assert done.returncode in (1, 2), args
        assert b"Traceback" not in done.stderr
        assert message in done.stderr.decode(), (args, done.stderr)
    assert naga("push", target, "--all").returncode == 0
    done = naga("pull", target, "nosuchrun", env=other_store(tmp_path))
    assert "no run matches 'nosuchrun'" in one_error_line(done)
    closed = _free_port()  # nothing listens there: a server that is down
    env = {**os.environ,
           "RCLONE_CONFIG_DOWN_TYPE": "webdav", "RCLONE_CONFIG_DOWN_URL": f"http://127.0.0.1:{closed}/",
           "RCLONE_CONFIG_DOWN_VENDOR": "other"}  # fmt: skip
    done = naga("push", "down:x", "--all", "--low-level-retries", "1", env=env)
    assert done.returncode == 2  # not an option of naga's
    done = naga("push", "down:x", "--all", env={**env, "RCLONE_LOW_LEVEL_RETRIES": "1"})
    assert "cannot reach down:x: " in one_error_line(done)
    assert "connection refused" in one_error_line(done)
    no_rclone = tmp_path / "bin"
    no_rclone.mkdir()
    (no_rclone / "git").symlink_to(shutil.which("git") or "git")
    done = naga("push", target, "--all", env={**os.environ, "PATH": str(no_rclone)})
    assert "rclone is not installed" in one_error_line(done)


def _snapshot_run(naga: Naga, repo: Path, name: str) -> str:
    """A run whose run.lock keeps a snapshot of the dirty repository (refs/naga/snapshots/ID)."""
    code = (
        "import naga; from omegaconf import OmegaConf; "
        "naga.runlock(OmegaConf.create({'save_dir': 'out'}), repos={'main': '.'})"
    )
    done = naga("run", "--name", name, "--", sys.executable, "-c", code, cwd=repo)
    assert done.returncode == 0, done.stderr
    (run,) = [r for r in runs_json(naga) if r["name"] == name]
    return str(run["id"])


@pytest.mark.timeout(240)
def test_snapshot_refs_round_trip_through_a_bare_remote(
    naga: Naga, tmp_path: Path, git_repo: Path
) -> None:
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(git_repo, "remote", "add", "origin", str(bare))
    git(git_repo, "push", "-q", "origin", "main")
    (git_repo / "train.py").write_text("print('edited, not committed')\n")
    run_id = _snapshot_run(naga, git_repo, "snap")
    ref = f"refs/naga/snapshots/{run_id}"
    snapshot = git(git_repo, "rev-parse", ref)
    target = str(tmp_path / "runs remote")

    done = naga("push", target, run_id, "--git-remote", "origin", "--dry-run", cwd=git_repo)
    assert "Would push 1 snapshot ref" in done.stdout.decode(), done.stderr
    assert git(bare, "for-each-ref", "refs/naga/") == ""
    done = naga("push", target, run_id, "--git-remote", "origin", cwd=git_repo)
    assert done.returncode == 0, done.stderr
    assert git(bare, "rev-parse", ref) == snapshot

    clone = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    env = other_store(tmp_path, "teammate store")
    done = naga("pull", target, "--all", "--git-remote", "origin", cwd=clone, env=env)
    assert done.returncode == 0, done.stderr
    assert "Fetched 1 snapshot ref" in done.stdout.decode()
    assert git(clone, "rev-parse", ref) == snapshot
    assert git(clone, "show", f"{ref}:train.py") == "print('edited, not committed')"
    assert [r["id"] for r in listed(naga, env)] == [run_id]

    # A different snapshot under the same id is refused both ways, never replaced.
    unrelated = git(clone, "commit-tree", "-m", "other", git(clone, "rev-parse", "HEAD^{tree}"))
    git(clone, "update-ref", ref, unrelated)
    done = naga("pull", target, run_id, "--git-remote", "origin", cwd=clone, env=env)
    assert done.returncode == 1
    assert f"different snapshot for run(s) {run_id}" in one_error_line(done)
    assert git(clone, "rev-parse", ref) == unrelated
    git(git_repo, "update-ref", ref, git(git_repo, "commit-tree", "-m", "x", "HEAD^{tree}"))
    done = naga("push", target, run_id, "--git-remote", "origin", cwd=git_repo)
    assert done.returncode == 1
    assert f"holds a different snapshot for run(s) {run_id}" in one_error_line(done)
    assert git(bare, "rev-parse", ref) == snapshot


def test_remote_store_is_a_store(naga: Naga, tmp_path: Path) -> None:
    """A local-path remote is laid out like a store: NAGA_HOME=remote naga ls lists it."""
    first = record(naga, "first", "true")
    target = tmp_path / "remote"
    assert naga("push", str(target), "--all").returncode == 0
    env = {**os.environ, "NAGA_HOME": str(target)}
    assert [r["id"] for r in listed(naga, env)] == [first]
    second = record(naga, "second", "true")
    assert naga("push", str(target), "--all").returncode == 0  # markers tell its index
    assert {r["id"] for r in listed(naga, env)} == {first, second}
    meta = json.loads((target / "runs" / second / "meta.json").read_text())
    assert meta["name"] == "second"


def test_progress_on_a_terminal(naga: Naga, tmp_path: Path) -> None:
    """On a terminal, rclone draws its progress; piped, naga's output stays plain."""
    import fcntl
    import pty
    import struct
    import termios

    record(naga, "first", "echo", "one")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    push = subprocess.Popen(
        naga_cmd("push", str(tmp_path / "remote"), "--all"),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other end closed: naga exited
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert push.wait(timeout=60) == 0, seen
    assert seen.count(b"Transferred:") >= 2 and b"Pushed 1 run" in seen
    piped = naga("push", str(tmp_path / "piped"), "--all")
    assert b"Transferred:" not in piped.stdout + piped.stderr


def test_refs_of_plain_naga_runs_pushed_from_anywhere(
    naga: Naga, tmp_path: Path, git_repo: Path
) -> None:
    """``naga run`` in a tree with untracked files keeps a snapshot ref in that repository
    (``git.root``): push finds it there, whatever directory push runs in."""
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(git_repo, "remote", "add", "origin", str(bare))
    (git_repo / "new_module.py").write_text("X = 1\n")  # untracked: only a snapshot keeps it
    done = naga("run", "--name", "plain", "--", "cat", "new_module.py", cwd=git_repo)
    assert done.returncode == 0, done.stderr
    (run,) = listed(naga)
    ref = f"refs/naga/snapshots/{run['id']}"
    snapshot = git(git_repo, "rev-parse", ref)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    done = naga("push", str(tmp_path / "remote"), "--all", "--git-remote", "origin", cwd=outside)
    assert done.returncode == 0, done.stderr
    assert git(bare, "rev-parse", ref) == snapshot
    assert git(bare, "show", f"{ref}:new_module.py") == "X = 1"


def test_rules_name_runs_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs go into rclone filter rules a chunk of ids at a time (one rule per run would make
    rclone's matching quadratic); every chunk selects its runs, and only them."""
    from naga.errors import RemoteError
    from naga.share import rclone

    runs = tmp_path / "remote" / "runs"
    for run_id in ("a1", "b2", "c3", "d4", "e5"):
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "meta.json").write_text("{}")
        (runs / run_id / ".meta.json.1.abcd0123.tmp").write_text("{")  # a write cut short
    (runs / "a1" / ".cache.tmp").write_text("an artifact's own file: it goes")
    monkeypatch.setattr(rclone, "IDS_PER_RULE", 2)
    rules = rclone.run_rules(["a1", "c3", "d4", "e5"])
    assert sum(rule.startswith("+ /{") for rule in rules) == 2
    found = rclone.Rclone(str(tmp_path / "remote")).list_files(str(runs), rules)
    expected = ["a1/.cache.tmp", *(f"{r}/meta.json" for r in ("a1", "c3", "d4", "e5"))]
    assert sorted(f.path for f in found) == expected
    with pytest.raises(RemoteError):
        rclone.run_rules(["ok", "{a,b}"])


@pytest.mark.timeout(240)
def test_a_file_changed_in_place_with_the_same_size_is_a_conflict(
    naga: Naga, tmp_path: Path, remote: tuple[str, Path]
) -> None:
    """A rewritten checkpoint or an edited log keeps its size: contents are compared (a hash
    both sides support, else the small files read byte for byte), not sizes."""
    target, files = remote
    run = record(naga, "ckpt", "echo", "epoch-1")
    assert naga("push", target, run).returncode == 0
    rclone_write(target, f"runs/{run}/output.log", b"epoch-2\n")  # same size, other bytes

    done = naga("push", target, run)
    assert done.returncode == 1
    assert f"{run}: output.log differs" in one_error_line(done)
    assert (files / "runs" / run / "output.log").read_bytes() == b"epoch-2\n"
    done = naga("pull", target, run)
    assert done.returncode == 1
    assert f"{run}: output.log differs" in one_error_line(done)
    assert (tmp_path / "store" / "runs" / run / "output.log").read_bytes() == b"epoch-1\n"


@pytest.mark.timeout(240)
def test_without_a_common_hash_large_files_are_only_said_the_same_size(
    naga: Naga, webdav: tuple[str, Path]
) -> None:
    """WebDAV shares no hash with a local store: files over 1 MiB are compared by size alone,
    and the run is said to have files of the same size, never to be identical."""
    target, _files = webdav
    big = record(naga, "big", "head", "-c", "1100000", "/dev/zero")
    small = record(naga, "small", "echo", "small")
    assert naga("push", target, "--all").returncode == 0
    again = naga("push", target, "--all")
    assert again.returncode == 0, again.stderr
    out = again.stdout.decode()
    assert "1 run already there, identical: not copied." in out
    assert "1 run already there with files of the same size" in out
    assert "compared by size only" in out and big not in out and small not in out


def test_unknown_remote_run_and_unusable_remote_say_so_before_anything(
    naga: Naga, tmp_path: Path
) -> None:
    record(naga, "one", "true")
    record(naga, "two", "true")
    target = tmp_path / "remote dir"
    assert naga("push", str(target), "--all").returncode == 0
    done = naga("pull", str(target), "nosuchrun", env=other_store(tmp_path))
    line = one_error_line(done)
    assert f"no run matches 'nosuchrun' on {target}" in line
    assert f"`NAGA_HOME='{target}' naga ls` lists the runs there" in line
    path = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"
    listing = subprocess.run(  # the hint works as given
        ["bash", "-c", line.split("`")[1]],
        capture_output=True,
        check=True,
        env={**os.environ, "PATH": path},
    )
    assert b"one" in listing.stdout and b"two" in listing.stdout

    a_file = tmp_path / "a file"
    a_file.write_text("not a directory\n")
    done = naga("push", str(a_file), "--all")
    assert done.returncode == 1
    assert f"{a_file} is a file, not a directory" in one_error_line(done)
    assert done.stdout == b""  # nothing announced
    assert a_file.read_text() == "not a directory\n"
    done = naga("push", f"{a_file}/sub", "--all")
    assert done.returncode == 1 and done.stdout == b"", done.stdout
    assert "not a directory" in one_error_line(done)


def edited(naga: Naga, run_id: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    (found,) = [r for r in listed(naga, env) if r["id"] == run_id]
    return found


@pytest.mark.timeout(240)
def test_edits_merge_on_push_and_pull(naga: Naga, tmp_path: Path, remote: tuple[str, Path]) -> None:
    """Renaming, tagging and noting a run already pushed is no conflict: the edits travel both
    ways and merge (the newest edit of each field wins), and every later push still works."""
    target, _files = remote
    first = record(naga, "first", "echo", "one")
    other = record(naga, "other", "echo", "two")
    assert naga("push", target, "--all").returncode == 0
    for args in (("rename", first, "baseline"), ("tag", first, "keep"), ("note", first, "lr 3e-4")):
        assert naga(*args).returncode == 0
    done = naga("push", target, "--all")
    assert done.returncode == 0, done.stderr
    assert f"{first}  1 file" not in done.stdout.decode()  # the edits alone travel
    assert "(edits: name, tags, note)" in done.stdout.decode()
    assert "1 run already there, identical" in done.stdout.decode()  # the other run

    second = other_store(tmp_path)  # a teammate's store pulls the edited run
    assert naga("pull", target, "--all", env=second).returncode == 0
    theirs = edited(naga, first, second)
    assert (theirs["name"], theirs["tags"], theirs["note"]) == (
        "baseline",
        ["t", "keep"],
        "lr 3e-4",
    )
    # Both sides edit the same run (other fields, and the note on both: the newer wins).
    assert naga("untag", "baseline", "t", env=second).returncode == 0
    assert naga("note", "baseline", "lr 1e-3 in fact", env=second).returncode == 0
    assert naga("tag", first, "mine").returncode == 0
    assert naga("push", target, "--all", env=second).returncode == 0
    done = naga("push", target, "--all")  # theirs are on the remote, not here: no conflict
    assert done.returncode == 0, done.stderr
    assert f"1 run edited on {target} since" in done.stdout.decode()
    done = naga("pull", target, "--all")
    assert done.returncode == 0, done.stderr
    assert "(edits: name, tags, note)" in done.stdout.decode()
    ours = edited(naga, first)
    assert (ours["tags"], ours["note"]) == (["keep", "mine"], "lr 1e-3 in fact")
    assert naga("pull", target, "--all", env=second).returncode == 0
    theirs = edited(naga, first, second)
    assert (theirs["name"], theirs["tags"], theirs["note"]) == (
        ours["name"],
        ours["tags"],
        ours["note"],
    )
    assert edited(naga, other, second)["name"] == "other"
    shown = naga("show", first, env=second).stdout.decode()
    assert "Note      lr 1e-3 in fact" in shown and "6 edits" in shown
    again = naga("push", target, "--all")  # settled: nothing left to move either way
    assert again.returncode == 0 and "2 runs already there, identical" in again.stdout.decode()


@pytest.mark.timeout(120)
def test_meta_json_edited_by_an_earlier_naga_is_adopted(naga: Naga, tmp_path: Path) -> None:
    """Runs renamed or tagged by a naga that rewrote meta.json (before edits/ existed) are no
    conflict: the sending side's name and tags are adopted as edits, on push and on pull."""
    from naga.store.files import save_meta
    from naga.store.layout import StoreLayout

    target = str(tmp_path / "remote")
    first = record(naga, "first", "echo", "one")
    assert naga("push", target, first).returncode == 0
    meta = json.loads((tmp_path / "store" / "runs" / first / "meta.json").read_text())
    save_meta(StoreLayout(str(tmp_path / "store")), {**meta, "name": "old-style", "tags": ["x"]})
    for _ in range(2):  # the second push finds the edits there: nothing new
        done = naga("push", target, "--all")
        assert done.returncode == 0, done.stderr
    remote = {"NAGA_HOME": target}
    (there,) = listed(naga, {**os.environ, **remote})
    assert (there["name"], there["tags"]) == ("old-style", ["x"])
    assert "an edit made in meta.json by an earlier naga" in there["edited"]["by"]

    second = record(naga, "second", "echo", "two")  # the other way: edited over there
    assert naga("push", target, second).returncode == 0
    theirs = json.loads((tmp_path / "remote" / "runs" / second / "meta.json").read_text())
    save_meta(StoreLayout(target), {**theirs, "name": "renamed-there", "tags": []})
    done = naga("pull", target, "--all")
    assert done.returncode == 0, done.stderr
    here = {r["id"]: r for r in listed(naga)}
    assert (here[second]["name"], here[second]["tags"]) == ("renamed-there", [])
    assert (here[first]["name"], here[first]["tags"]) == ("old-style", ["x"])
