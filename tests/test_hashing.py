"""Data hashing: the documented tree format, the cache and its invalidation, the CLI.

Real files in temporary directories, real subprocesses sharing one cache, a real pty for the
progress line. Files younger than ``RACY_NS`` are never cached (their timestamps could hide a
rewrite), so the tests that need cached entries wait for their data to age once.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import blake3
import pytest
from conftest import Naga
from test_terminal_and_signals import Terminal

import naga.hashing.workers
from naga.errors import DataError
from naga.hashing import DataHash, HashProgress, hash_data
from naga.hashing.cache import RACY_NS, CacheWarning, HashCache, trusted

AGE = RACY_NS / 1e9 + 0.1
HOSTILE = "dir with 'quotes' and ünïcode"


@pytest.fixture(autouse=True)
def hash_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache" / "hashes.sqlite"
    monkeypatch.setenv("NAGA_HASH_CACHE", str(path))
    return path


def make_tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (root / "sub" / "deeper" / "c").write_bytes(b"")
    (root / "big").write_bytes(os.urandom(300_000))  # above MMAP_MIN: the mmap path
    (root / "sub" / "link").symlink_to("../a.txt")
    return root


@pytest.fixture(scope="module")
def aged_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree old enough for its files to be cached (shared: tests must not modify it)."""
    root = make_tree(tmp_path_factory.mktemp("aged") / HOSTILE)
    time.sleep(AGE)
    return root


def reference_tree_hash(root: Path) -> str:
    """The format of naga.hashing's docstring, written independently of the implementation."""
    records = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.fsencode(os.path.relpath(full, root))
            if os.path.islink(full):
                records.append(rel + b"\0l" + os.fsencode(os.readlink(full)) + b"\0")
            elif os.path.isdir(full):
                records.append(rel + b"\0d")
            else:
                with open(full, "rb") as f:
                    records.append(rel + b"\0f" + blake3.blake3(f.read()).digest())
    return blake3.blake3(b"naga-tree-v1\0" + b"".join(sorted(records))).hexdigest()


class ReadSpy:
    """Counts the files ``hash_data`` actually reads (the real method still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.files = 0
        real = naga.hashing.workers.Pool.hash

        def spy(pool: naga.hashing.workers.Pool, paths: list[str], *args: Any) -> list[bytes]:
            self.files += len(paths)
            return real(pool, paths, *args)

        monkeypatch.setattr(naga.hashing.workers.Pool, "hash", spy)
        real_both = naga.hashing.workers.Pool.stat_hash

        def spy_both(pool: naga.hashing.workers.Pool, paths: list[str], *args: Any) -> Any:
            self.files += len(paths)
            return real_both(pool, paths, *args)

        monkeypatch.setattr(naga.hashing.workers.Pool, "stat_hash", spy_both)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> ReadSpy:
    return ReadSpy(monkeypatch)


# -- the format ----------------------------------------------------------------------------


def test_file_hash_is_blake3_of_its_bytes(tmp_path: Path) -> None:
    data = os.urandom(5000)
    (tmp_path / "f").write_bytes(data)
    result = hash_data(tmp_path / "f")
    assert result == DataHash(
        path=str(tmp_path / "f"),
        hash="blake3:" + blake3.blake3(data).hexdigest(),
        algorithm="blake3",
        size=5000,
        files=1,
        kind="file",
    )
    assert result.as_dict() == {
        "hash": result.hash,
        "algorithm": "blake3",
        "size": 5000,
        "files": 1,
        "kind": "file",
        "path": str(tmp_path / "f"),
    }


@pytest.mark.parametrize("size", [0, 1, 4096, 128 * 1024 - 1, 128 * 1024, 3 * 1024 * 1024 + 7])
def test_file_sizes_around_the_read_and_mmap_paths(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    assert hash_data(tmp_path / "f", cache=False).hex == blake3.blake3(data).hexdigest()


def test_dir_hash_follows_the_documented_format(tmp_path: Path) -> None:
    root = make_tree(tmp_path / HOSTILE)
    (root / "sub" / "name\nwith newline").write_bytes(b"x")
    (root / os.fsdecode(b"raw-\xff-byte")).write_bytes(b"y")  # not valid UTF-8
    (root / "a.txt.orig").write_bytes(b"z")  # sorts around "a.txt" and "sub/..."
    result = hash_data(root)
    assert result.hex == reference_tree_hash(root)
    assert (result.kind, result.files, result.algorithm) == ("dir", 7, "blake3")
    assert result.size == 6 + 10240 + 0 + 300_000 + 1 + 1 + 1
    assert result.path == str(root)


def test_empty_dir_and_empty_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_bytes(b"")
    empty = hash_data(tmp_path / "d")
    assert empty.hex == blake3.blake3(b"naga-tree-v1\0").hexdigest()
    assert (empty.files, empty.size) == (0, 0)
    assert hash_data(tmp_path / "f").hex == blake3.blake3(b"").hexdigest()
    (tmp_path / "d" / "e").mkdir()
    assert hash_data(tmp_path / "d").hash != empty.hash  # an empty subdirectory counts


def test_deterministic_across_copies_creation_order_and_times(tmp_path: Path) -> None:
    one = make_tree(tmp_path / "one")
    two = tmp_path / "two"
    two.mkdir()
    for rel in ("sub/link", "big", "empty", "sub/deeper/c", "a.txt", "sub/b.bin"):  # other order
        src, dst = one / rel, two / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        elif src.is_dir():
            dst.mkdir()
        else:
            shutil.copyfile(src, dst)
    os.utime(two / "a.txt", ns=(1, 1))
    assert hash_data(one) == DataHash(**{**hash_data(two).as_dict(), "path": str(one)})
    assert hash_data(one).hash == hash_data(one, cache=False).hash


def test_contents_and_names_change_the_hash(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    before = hash_data(root).hash
    (root / "a.txt").rename(root / "A.txt")
    renamed = hash_data(root).hash
    assert renamed != before
    (root / "A.txt").rename(root / "a.txt")
    assert hash_data(root).hash == before
    (root / "sub" / "b.bin").write_bytes(b"other")
    assert hash_data(root).hash != before


def test_permissions_are_ignored(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    before = hash_data(root, cache=False).hash
    (root / "a.txt").chmod(0o755)
    (root / "sub").chmod(0o700)
    (root / "sub" / "b.bin").chmod(0o600)
    assert hash_data(root, cache=False).hash == before
    assert hash_data(root).hash == before


def test_symlinks_are_recorded_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"outside")
    root = make_tree(tmp_path / "t")
    (root / "out").symlink_to(outside)
    (root / "dangling").symlink_to("nowhere")
    (root / "loop").symlink_to(".")  # a cycle, if it were followed
    before = hash_data(root)
    assert before.files == 4  # links are not files
    outside.write_bytes(b"changed outside")
    assert hash_data(root).hash == before.hash  # the link's target text is what counts
    (root / "out").unlink()
    (root / "out").symlink_to(tmp_path / "elsewhere")
    assert hash_data(root).hash != before.hash
    assert hash_data(root).hex == reference_tree_hash(root)


def test_a_symlink_given_as_the_path_is_followed(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    (tmp_path / "alias").symlink_to(root)
    (tmp_path / "file-alias").symlink_to(root / "a.txt")
    via_link = hash_data(tmp_path / "alias")
    assert via_link.hash == hash_data(root).hash
    assert via_link.path == str(tmp_path / "alias")
    assert hash_data(tmp_path / "file-alias").hash == hash_data(root / "a.txt").hash


def test_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path / "t")
    monkeypatch.chdir(tmp_path)
    assert hash_data("t").path == str(tmp_path / "t")


# -- errors ----------------------------------------------------------------------------------


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^\S*nope does not exist; check the path$"):
        hash_data(tmp_path / "nope")


def test_fifo_inside_a_tree_is_an_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    os.mkfifo(root / "sub" / "pipe")
    with pytest.raises(DataError, match="pipe is not a regular file, directory or symlink"):
        hash_data(root)
    with pytest.raises(DataError, match="not a regular file or directory"):
        hash_data(root / "sub" / "pipe")


@pytest.mark.parametrize("files", [1, 8000])  # read by this process, or by helper processes too
def test_a_file_replaced_by_a_fifo_or_a_directory_while_hashing_is_an_error(
    tmp_path: Path, files: int
) -> None:
    """Between the walk and the read, a file turns into a FIFO (which a non-blocking open
    reads as empty: it used to be hashed as an empty file) or into a directory."""
    root = many_small_files(tmp_path / "t") if files > 1 else make_tree(tmp_path / "t")
    target = root / ("d3" if files > 1 else "sub") / "victim"
    target.write_bytes(b"contents")
    for replace in (os.mkfifo, os.mkdir):

        def swap(p: HashProgress, replace: Any = replace) -> None:
            if p.phase == "hash" and p.files_done == 0 and target.is_file():
                target.unlink()
                replace(target)

        with pytest.raises(DataError, match=f"^cannot read {target}: not a regular file any more"):
            hash_data(root, progress=swap)
        target.rmdir() if target.is_dir() else target.unlink()
        target.write_bytes(b"contents")


def test_a_file_truncated_while_hashed_does_not_kill_the_process(tmp_path: Path) -> None:
    """A large file rewritten in place (truncated, then written) while it is hashed: a
    memory-mapped read past the new end is SIGBUS, which killed the hashing process."""
    f = tmp_path / "rewritten"
    f.write_bytes(os.urandom(16 << 20))
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys\ndata = os.urandom(16 << 20)\nwhile True:\n"
            "    with open(sys.argv[1], 'r+b') as f:\n"
            "        f.truncate(0)\n        f.write(data)\n",
            str(f),
        ]
    )
    code = (
        "import sys, time\nfrom naga.hashing import hash_data\nfrom naga.errors import DataError\n"
        "end = time.monotonic() + 3\nwhile time.monotonic() < end:\n"
        "    try:\n        hash_data(sys.argv[1], cache=False)\n"
        "    except DataError:\n        pass\nprint('alive')\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(f)], capture_output=True, text=True, timeout=60
        )
    finally:
        writer.kill()
        writer.wait()
    assert (done.returncode, done.stdout) == (0, "alive\n"), done.stderr


def _without_root_powers() -> list[str]:
    """A prefix that makes permissions bite even for root (which is what CI runs as here)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.parametrize("what", ["file", "directory", "one of many files"])
def test_unreadable_file_or_directory_is_a_clear_error(tmp_path: Path, what: str) -> None:
    if what == "one of many files":  # read by a helper process or by this one
        root = many_small_files(tmp_path / "t")
        target = root / "d2" / "f1000"
    else:
        root = make_tree(tmp_path / "t")
        target = root / "sub" / ("b.bin" if what == "file" else "deeper")
    target.chmod(0)
    code = (
        "import sys\nfrom naga.errors import DataError\nfrom naga.hashing import hash_data\n"
        "try:\n    hash_data(sys.argv[1])\nexcept DataError as e:\n    print(e)\n"
    )
    try:
        done = subprocess.run(
            [*_without_root_powers(), sys.executable, "-c", code, str(root)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        target.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"cannot read {target}: Permission denied (check its permissions)\n"


# -- the cache -------------------------------------------------------------------------------


def cache_entries(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        blobs = conn.execute("SELECT entries FROM buckets").fetchall()
    finally:
        conn.close()
    return sum(len(b) for (b,) in blobs) // 72


def test_unchanged_files_are_not_read_again(
    aged_tree: Path, hash_cache: Path, reads: ReadSpy
) -> None:
    first = hash_data(aged_tree)
    assert reads.files == 4
    assert cache_entries(hash_cache) == 4
    second = hash_data(aged_tree)
    assert reads.files == 4  # nothing read the second time
    assert second == first
    assert hash_data(aged_tree, cache=False) == first
    assert reads.files == 8


def test_no_cache_neither_reads_nor_writes_it(aged_tree: Path, hash_cache: Path) -> None:
    hash_data(aged_tree, cache=False)
    assert not hash_cache.exists()


def test_a_same_size_rewrite_is_seen(tmp_path: Path, reads: ReadSpy) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"A" * 100)
    old = f.stat()
    os.utime(f, ns=(old.st_atime_ns, old.st_mtime_ns - 10**10))  # mtime 10 s back
    time.sleep(AGE)  # let ctime age too: now the file is cached
    first = hash_data(f)
    assert hash_data(f) == first
    assert reads.files == 1
    # Same size, a new mtime_ns.
    f.write_bytes(b"B" * 100)
    assert hash_data(f).hex == blake3.blake3(b"B" * 100).hexdigest()
    # Same size and the old mtime put back (cp -p, rsync -t): ctime still moved.
    mtime_before = f.stat().st_mtime_ns
    time.sleep(AGE)
    hash_data(f)  # cached as "B"
    f.write_bytes(b"C" * 100)
    os.utime(f, ns=(mtime_before, mtime_before))
    assert f.stat().st_mtime_ns == mtime_before
    assert hash_data(f).hex == blake3.blake3(b"C" * 100).hexdigest()


def test_racy_files_are_never_trusted(tmp_path: Path, hash_cache: Path, reads: ReadSpy) -> None:
    """A file written just before it was read could be rewritten within the same timestamp
    tick: its entry could not tell the two apart, so it is read again until it is old."""
    f = tmp_path / "fresh"
    f.write_bytes(b"fresh")
    hash_data(f)
    hash_data(f)
    assert reads.files == 2  # read both times: too young to be trusted
    assert not hash_cache.exists() or cache_entries(hash_cache) == 0
    time.sleep(AGE)
    hash_data(f)
    hash_data(f)
    assert reads.files == 3  # old enough: cached once, then trusted
    now = time.time_ns()
    assert not trusted(now - RACY_NS // 2, now - 10 * RACY_NS, now)
    assert not trusted(now - 10 * RACY_NS, now - RACY_NS // 2, now)
    assert trusted(now - RACY_NS, now - RACY_NS, now)


def test_a_racy_entry_in_the_cache_is_not_used(tmp_path: Path, hash_cache: Path) -> None:
    """Even an entry that was stored racy (by hand here, as a buggy or older writer could) is
    not used: checked_ns too close to the file's mtime means "read it again"."""
    f = tmp_path / "f"
    f.write_bytes(b"real")
    st = f.stat()
    cache = HashCache()
    bogus = blake3.blake3(b"bogus").digest()
    cache.store(
        [(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mtime_ns, bogus)]
    )
    cache.close()
    assert cache_entries(hash_cache) == 1
    assert hash_data(f).hex == blake3.blake3(b"real").hexdigest()


def test_corrupt_cache_is_rebuilt_with_a_warning(aged_tree: Path, hash_cache: Path) -> None:
    hash_cache.parent.mkdir(parents=True)
    hash_cache.write_bytes(b"this is not a database" * 100)
    with pytest.warns(CacheWarning, match="was corrupt; rebuilt it"):
        result = hash_data(aged_tree)
    assert result.hex == reference_tree_hash(aged_tree)
    assert cache_entries(hash_cache) == 4


def test_foreign_cache_schema_is_rebuilt(aged_tree: Path, hash_cache: Path) -> None:
    hash_cache.parent.mkdir(parents=True)
    conn = sqlite3.connect(hash_cache)
    conn.execute("PRAGMA user_version=2")  # the current version, but not naga's tables
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()
    with pytest.warns(CacheWarning, match="corrupt"):
        assert hash_data(aged_tree).hex == reference_tree_hash(aged_tree)
    assert cache_entries(hash_cache) == 4
    assert hash_data(aged_tree).hex == reference_tree_hash(aged_tree)


def test_unwritable_cache_location_only_warns(
    aged_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = aged_tree.parent / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("NAGA_HASH_CACHE", str(blocker / "hashes.sqlite"))
    with pytest.warns(CacheWarning, match="hashing without it"):
        assert hash_data(aged_tree).hex == reference_tree_hash(aged_tree)


def test_default_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from naga.hashing.cache import default_path

    monkeypatch.delenv("NAGA_HASH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = default_path()
    assert path.startswith(str(tmp_path / "xdg" / "naga" / "hashes-"))
    assert path.endswith(".sqlite")


def test_concurrent_processes_share_the_cache(tmp_path: Path, hash_cache: Path) -> None:
    root = tmp_path / "many"
    for d in range(8):
        (root / f"d{d}").mkdir(parents=True)
        for i in range(250):
            (root / f"d{d}" / f"f{i}").write_bytes(os.urandom(100 + i))
    time.sleep(AGE)
    code = "import sys\nfrom naga.hashing import hash_data\nprint(hash_data(sys.argv[1]).hex)\n"
    procs = [
        subprocess.Popen(
            [sys.executable, "-W", "error", "-c", code, str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outs
    assert {o for o, _ in outs} == {reference_tree_hash(root).encode() + b"\n"}
    assert all(e == b"" for _, e in outs)
    assert cache_entries(hash_cache) == 2000


def many_small_files(root: Path) -> Path:
    for d in range(4):
        (root / f"d{d}").mkdir(parents=True)
        for i in range(2000):
            (root / f"d{d}" / f"f{i}").write_bytes(b"%d-%d" % (d, i))
    return root


def test_many_small_files_use_helper_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = []
    real = naga.hashing.workers._Helper

    class Counted(real):  # type: ignore[misc, valid-type]
        def _start(self) -> None:
            super()._start()
            started.append(self.proc is not None)

    monkeypatch.setattr(naga.hashing.workers, "_Helper", Counted)
    root = many_small_files(tmp_path / "many")
    assert hash_data(root, cache=False).hex == reference_tree_hash(root)
    if (os.cpu_count() or 1) > 1:
        assert started and all(started)


def test_progress_reports(aged_tree: Path) -> None:
    seen: list[HashProgress] = []
    hash_data(aged_tree, progress=seen.append)
    assert seen[-1] == HashProgress("done", 4, 4, 310246, 310246)
    phases = [p.phase for p in seen]
    assert phases == sorted(phases, key=["scan", "hash", "done"].index)
    assert "hash" in phases
    first_hash = seen[phases.index("hash")]
    assert (first_hash.files_done, first_hash.files_total) == (0, 4)


# -- the command line ------------------------------------------------------------------------


def test_cli_prints_hash_and_path_like_b3sum(naga: Naga, tmp_path: Path) -> None:
    root = make_tree(tmp_path / HOSTILE)
    done = naga("hash", HOSTILE, f"{HOSTILE}/a.txt")
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    assert done.stdout.decode() == (
        f"blake3:{reference_tree_hash(root)}  {HOSTILE}\n"
        f"blake3:{blake3.blake3(b'alpha' + bytes([10])).hexdigest()}  {HOSTILE}/a.txt\n"
    )
    b3sum = shutil.which("b3sum")  # scripts/test installs it
    assert b3sum is not None, "b3sum missing: scripts/test installs it (Debian package b3sum)"
    same = subprocess.run([b3sum, f"{HOSTILE}/a.txt"], cwd=tmp_path, capture_output=True)
    assert done.stdout.decode().splitlines()[1] == "blake3:" + same.stdout.decode().strip()


def test_cli_json(naga: Naga, tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    done = naga("hash", "--json", "t", "--no-cache")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {
            "hash": "blake3:" + reference_tree_hash(root),
            "algorithm": "blake3",
            "size": 310246,
            "files": 4,
            "kind": "dir",
            "path": str(root),
        }
    ]


def test_cli_errors_are_one_line_and_the_rest_is_hashed(naga: Naga, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"f")
    done = naga("hash", "missing", "f")
    assert done.returncode == 1
    assert done.stderr.decode() == "naga: error: missing does not exist; check the path\n"
    assert done.stdout.decode() == f"blake3:{blake3.blake3(b'f').hexdigest()}  f\n"
    done = naga("hash", "--json", "missing")
    assert (done.returncode, json.loads(done.stdout)) == (1, [])
    done = naga("hash")
    assert done.returncode == 2
    assert b"Missing argument" in done.stderr


def test_cli_warns_about_a_corrupt_cache(naga: Naga, tmp_path: Path, hash_cache: Path) -> None:
    (tmp_path / "f").write_bytes(b"f")
    hash_cache.parent.mkdir(parents=True)
    hash_cache.write_bytes(b"garbage" * 1000)
    done = naga("hash", "f")
    assert done.returncode == 0
    assert (
        done.stderr.decode()
        == f"naga: warning: the hash cache {hash_cache} was corrupt; rebuilt it\n"
    )


def test_cli_progress_on_a_terminal_only(
    naga: Naga, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path / "t")
    monkeypatch.setenv("NAGA_PROGRESS_DELAY", "0")  # this tree takes less than the 0.5 s default
    term = Terminal(["hash", "t"], tmp_path)
    assert term.finish() == 0
    shown = term.seen.decode()
    assert "/4 files" in shown
    assert "4 files, 310.2 kB in" in shown  # the summary that replaces it
    piped = naga("hash", "t")
    assert piped.returncode == 0
    assert piped.stderr == b""
    assert piped.stdout.endswith(b"  t\n")
