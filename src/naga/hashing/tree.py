"""Walking a tree, hashing its files and combining them: the work behind ``hash_data``.

Three passes, each shaped by what it costs in CPython:

1. **Scan**: ``os.scandir`` and one ``lstat`` per regular file (the cache key needs it).
2. **Look up** every (dev, ino) in the cache in a few queries, not one per file.
3. **Hash** what missed. Small files are read into one reused buffer (allocating a fresh
   buffer per read costs more than the read) and hashed in this thread; files of
   ``MMAP_MIN`` bytes or more are memory-mapped and hashed by BLAKE3's own threads, without
   the GIL. Many small files are split with helper processes (``workers``): threads would
   only pass the GIL back and forth between system calls of a few microseconds.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import blake3

from ..errors import DataError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .cache import HashCache, NewRow

MMAP_MIN = 128 * 1024  # from here on, mmap and BLAKE3's threads beat read() into a buffer
HUGE = 1 << 30  # from here on, hashed in pieces so that progress moves
HUGE_PIECE = 256 << 20
_BUF_SIZE = MMAP_MIN + 1
TREE_HEADER = b"naga-tree-v1\0"
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_PROGRESS_EVERY = 0.1  # seconds between progress reports
_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


@dataclass(frozen=True)
class HashProgress:
    """Where a ``hash_data`` call is: ``phase`` is "scan" (totals still growing), "hash", or
    "done"."""

    phase: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


Progress = Callable[[HashProgress], None]


@dataclass
class Scan:
    """A tree as found on disk. Files are parallel lists, indexed alike."""

    rel: list[str]
    abs: list[str]
    stats: list[tuple[int, int, int, int, int]]  # dev, ino, size, mtime_ns, ctime_ns
    dirs: list[str]
    links: list[tuple[str, bytes]]


def unreadable(path: str, exc: OSError) -> DataError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        hint = " (check its permissions)"
    elif exc.errno == errno.ENOENT:
        hint = " (it was removed while naga hashed it; hash again)"
    else:
        hint = ""
    return DataError(f"cannot read {path}: {reason}{hint}")


def scan_tree(root: str, report: Callable[[int], None] | None = None) -> Scan:
    tree = Scan([], [], [], [], [])
    rels, abss, stats, dirs, links = tree.rel, tree.abs, tree.stats, tree.dirs, tree.links
    stack = [(root, "")]
    while stack:
        here, prefix = stack.pop()
        entry_path = here
        try:
            with os.scandir(here) as it:
                for entry in it:
                    entry_path = entry.path
                    rel = prefix + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        dirs.append(rel)
                        stack.append((entry_path, rel + "/"))
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        rels.append(rel)
                        abss.append(entry_path)
                        stats.append(
                            (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                        )
                    elif entry.is_symlink():
                        links.append((rel, os.readlink(os.fsencode(entry_path))))
                    else:
                        raise DataError(
                            f"{entry_path} is not a regular file, directory or symlink"
                            " (a socket, FIFO or device cannot be hashed); move it out of the data"
                        )
                    entry_path = here
        except OSError as exc:
            raise unreadable(entry_path, exc) from exc
        if report is not None:
            report(len(rels))
    return tree


def hash_small(path: str | bytes, size: int, buf: bytearray, view: memoryview) -> bytes:
    """BLAKE3 of a file read through ``buf``: one read when the size is what lstat said."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        n = os.readv(fd, (buf,))
        if n == size:  # the common case: all of it in one read
            return blake3.blake3(view[:n]).digest()
        hasher = blake3.blake3(view[:n])
        while n:
            n = os.readv(fd, (buf,))
            hasher.update(view[:n])
        return hasher.digest()
    finally:
        os.close(fd)


def hash_large(path: str) -> bytes:
    return blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(path).digest()


def hash_huge(path: str, tick: Callable[[int, int], None]) -> bytes:
    """A file of gigabytes, in pieces so that progress moves (same digest as in one piece)."""
    import mmap

    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                for start in range(0, len(view), HUGE_PIECE):
                    piece = view[start : start + HUGE_PIECE]
                    hasher.update(piece)
                    tick(0, len(piece))
                    piece.release()
            finally:
                view.release()
    finally:
        os.close(fd)
    tick(1, 0)
    return hasher.digest()


def hash_files(
    paths: list[str], sizes: list[int], tick: Callable[[int, int], None] | None = None
) -> list[bytes]:
    """Digests of ``paths`` in order, in this process; ``tick(files, bytes)`` now and then."""
    buf = bytearray(_BUF_SIZE)
    view = memoryview(buf)
    out: list[bytes] = []
    append = out.append
    files = nbytes = 0
    for path, size in zip(paths, sizes, strict=True):
        try:
            if size < MMAP_MIN:
                append(hash_small(path, size, buf, view))
            elif size < HUGE or tick is None:
                append(hash_large(path))
            else:
                append(hash_huge(path, tick))
                continue
        except OSError as exc:
            raise unreadable(path, exc) from exc
        if tick is not None:
            files += 1
            nbytes += size
            if files >= 256 or nbytes >= 64 << 20:
                tick(files, nbytes)
                files = nbytes = 0
    if tick is not None and files:
        tick(files, nbytes)
    return out


def tree_digest(
    rels: list[str], digests: list[bytes], dirs: list[str], links: list[tuple[str, bytes]]
) -> bytes:
    """The directory hash defined in ``naga.hashing``'s docstring. A record starts with its path
    and a NUL, which sorts below every other byte, so sorting the records sorts the paths."""
    records = [p + b"\0f" + d for p, d in zip(_encode_all(rels), digests, strict=True)]
    records += [p + b"\0d" for p in _encode_all(dirs)]
    records += [
        p + b"\0l" + target + b"\0"
        for p, target in zip(_encode_all([r for r, _ in links]), [t for _, t in links], strict=True)
    ]
    records.sort()
    return blake3.blake3(TREE_HEADER + b"".join(records)).digest()


def _encode_all(names: list[str]) -> list[bytes]:
    """``os.fsencode`` of each name, in one call (names never contain NUL)."""
    if not names:
        return []
    return "\0".join(names).encode(_FS_ENCODING, _FS_ERRORS).split(b"\0")


class Reporter:
    """Rate-limited progress reports, so a callback costs nothing per file."""

    def __init__(self, callback: Progress | None) -> None:
        self.callback = callback
        self.files_total = self.bytes_total = self.files_done = self.bytes_done = 0
        self.last = 0.0

    def scanning(self, files: int) -> None:
        now = time.monotonic()
        if self.callback is not None and now - self.last >= _PROGRESS_EVERY:
            self.last = now
            self.callback(HashProgress("scan", 0, files, 0, 0))

    def advance(self, files: int, nbytes: int) -> None:
        self.files_done += files
        self.bytes_done += nbytes
        now = time.monotonic()
        if self.callback is not None and now - self.last >= _PROGRESS_EVERY:
            self.last = now
            self.emit("hash")

    def emit(self, phase: str) -> None:
        if self.callback is not None:
            self.callback(
                HashProgress(
                    phase, self.files_done, self.files_total, self.bytes_done, self.bytes_total
                )
            )


def digest_scan(
    tree: Scan, cache: HashCache | None, reporter: Reporter, started_ns: int
) -> list[bytes]:
    """A digest per file of ``tree``: from the cache where it may be trusted, else read."""
    from .cache import RACY_NS, trusted

    stats = tree.stats
    found = cache.lookup([(s[0], s[1]) for s in stats]) if cache is not None else {}
    digests: list[bytes | None] = [None] * len(stats)
    todo: list[int] = []
    cached_files = cached_bytes = 0
    no_entries: dict[int, tuple[int, int, int, int, int, bytes]] = {}
    for i, (dev, ino, size, mtime, ctime) in enumerate(stats):
        entry = found.get(dev, no_entries).get(ino)
        if (
            entry is not None
            and entry[1] == size
            and entry[2] == mtime
            and entry[3] == ctime
            and trusted(mtime, ctime, entry[4])
        ):
            digests[i] = entry[5]
            cached_files += 1
            cached_bytes += size
        else:
            todo.append(i)
    reporter.advance(cached_files, cached_bytes)
    if todo:
        from .workers import hash_many

        fresh = hash_many(
            [tree.abs[i] for i in todo], [stats[i][2] for i in todo], reporter.advance
        )
        for i, digest in zip(todo, fresh, strict=True):
            digests[i] = digest
        if cache is not None:
            rows: list[NewRow] = [
                (*stats[i], started_ns, digests[i])  # type: ignore[misc]
                for i in todo
                if max(stats[i][3], stats[i][4]) + RACY_NS <= started_ns
            ]
            cache.store(rows)
    return digests  # type: ignore[return-value]


def file_info(path: str) -> os.stat_result:
    """``stat`` of the path given (a symlink given by name is followed), as a ``DataError``."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise DataError(f"{path} does not exist; check the path") from exc
    except OSError as exc:
        raise unreadable(path, exc) from exc
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise DataError(f"{path} is not a regular file or directory; naga hashes files and trees")
    return st
