"""Walking a tree, hashing its files and combining them: the work behind ``hash_data``.

Shaped by what each step costs in CPython, where a system call is a microsecond or two and the
Python around it as much again:

1. **Walk**: ``os.scandir`` gives names, types and inode numbers with no ``stat`` per file.
2. **Look up** those (dev, ino) in the cache, a few queries for the whole tree.
3. Files the cache may know are ``lstat``-ed and used if their entry still matches. The others
   (all of them on a first pass) are opened once: ``fstat`` and the contents through the same
   descriptor, saving a path lookup each. Small files are read into one reused buffer
   (allocating a fresh one per read costs more than the read); files of ``LARGE_MIN`` bytes or
   more are read in 4 MiB pieces by a thread per core, a file each (reading and hashing
   release the GIL), or a lone or huge file by BLAKE3's own threads. Not memory-mapped: a file
   truncated while mapped kills the process (SIGBUS). Many small files are shared with helper
   processes (``workers``): threads would only pass the GIL back and forth. How one process
   reads and hashes files is ``files.py``'s, which this module and ``workers`` both call.
4. **Combine** the digests into the tree hash (format in the package docstring).
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import blake3

from ..errors import DataError
from .files import unreadable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .cache import HashCache, NewRow
    from .workers import Pool

TREE_HEADER = b"naga-tree-v1\0"
_PROGRESS_EVERY = 0.1  # seconds between progress reports
_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


@dataclass(frozen=True)
class HashProgress:
    """Where a ``hash_data`` call is: ``phase`` is "scan" (``files_total`` still growing),
    "hash", or "done". ``bytes_total`` is known only when done (sizes come with the reads)."""

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
    devs: list[int]  # st_dev of the file's directory
    inos: list[int]  # d_ino from readdir: st_ino, on every filesystem but some overlays
    dirs: list[str]
    links: list[tuple[str, bytes]]


def walk_tree(root: str, report: Callable[[int], None] | None = None) -> Scan:
    """Every entry below ``root``, by the types and inode numbers ``readdir`` gives: no
    ``stat`` per file (one per directory)."""
    tree = Scan([], [], [], [], [], [])
    rels, abss, devs, inos, dirs, links = (
        tree.rel, tree.abs, tree.devs, tree.inos, tree.dirs, tree.links,
    )  # fmt: skip
    stack = [(root, "")]
    while stack:
        here, prefix = stack.pop()
        entry_path = here
        try:
            dev = os.stat(here).st_dev
            with os.scandir(here) as it:
                for entry in it:
                    if entry.is_symlink():
                        entry_path = entry.path
                        links.append((prefix + entry.name, os.readlink(os.fsencode(entry_path))))
                    elif entry.is_dir():
                        rel = prefix + entry.name
                        dirs.append(rel)
                        stack.append((entry.path, rel + "/"))
                    elif entry.is_file():
                        rels.append(prefix + entry.name)
                        abss.append(entry.path)
                        devs.append(dev)
                        inos.append(entry.inode())
                    else:
                        entry_path = entry.path
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
    tree: Scan, cache: HashCache | None, reporter: Reporter, started_ns: int, pool: Pool
) -> tuple[list[bytes], list[int]]:
    """A digest and a size per file of ``tree``: from the cache where it may be trusted, else
    read. Files the cache may know are ``lstat``-ed and checked first; the others are opened at
    once and ``fstat``-ed and read through the same descriptor."""
    from .cache import RACY_NS

    n = len(tree.abs)
    stats: list[tuple[int, int, int, int, int]] = [(0, 0, 0, 0, 0)] * n
    digests: list[bytes] = [b""] * n
    found = cache.lookup(list(zip(tree.devs, tree.inos, strict=True))) if cache else {}
    no_entries: dict[int, tuple[int, int, int, int, int, bytes]] = {}
    known: list[int] = []
    unknown: list[int] = []
    if not found:  # a first pass
        unknown = list(range(n))
    elif len(found) == 1 and all(dev in found for dev in set(tree.devs)):  # one filesystem
        entries = next(iter(found.values()))
        for i, ino in enumerate(tree.inos):
            (known if ino in entries else unknown).append(i)
    else:
        for i, (dev, ino) in enumerate(zip(tree.devs, tree.inos, strict=True)):
            (known if ino in found.get(dev, no_entries) else unknown).append(i)
    stale: list[int] = []
    cached_files = cached_bytes = 0
    for i, st in zip(known, pool.stat([tree.abs[i] for i in known]), strict=True):
        dev, ino, size, mtime, ctime = stats[i] = st
        entry = found.get(dev, no_entries).get(ino)
        if (
            entry is not None
            and entry[1] == size
            and entry[2] == mtime
            and entry[3] == ctime
            and mtime + RACY_NS <= entry[4]
            and ctime + RACY_NS <= entry[4]
        ):
            digests[i] = entry[5]
            cached_files += 1
            cached_bytes += size
        else:
            stale.append(i)
    reporter.advance(cached_files, cached_bytes)
    if unknown:
        results = pool.stat_hash([tree.abs[i] for i in unknown], reporter.advance)
        for i, (st, digest) in zip(unknown, results, strict=True):
            stats[i], digests[i] = st, digest
    if stale:
        fresh = pool.hash(
            [tree.abs[i] for i in stale], [stats[i][2] for i in stale], reporter.advance
        )
        for i, digest in zip(stale, fresh, strict=True):
            digests[i] = digest
    if cache is not None and (unknown or stale):
        limit = started_ns - RACY_NS
        rows: list[NewRow] = [
            (*stats[i], started_ns, digests[i])
            for i in unknown + stale
            if stats[i][3] <= limit and stats[i][4] <= limit
        ]
        cache.store(rows)
    return digests, [st[2] for st in stats]


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
