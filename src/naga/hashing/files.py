"""Hashing and ``lstat``-ing files in this process: the primitives ``tree`` and ``workers`` share.

``tree`` walks and combines, ``workers`` spreads many small files over helper processes and
hashes what stays here (a few files, or the large ones) with these. A module of its own so
that neither of them imports the other. Small files go through one reused buffer (allocating a
fresh one per read costs more than the read); files of ``LARGE_MIN`` bytes or more are read in
4 MiB pieces, a thread per core, or a lone or huge file by BLAKE3's own threads.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable

import blake3

from ..errors import DataError
from ._helper import OPEN_FLAGS, SMALL, check_regular, hash_small, stat_hash

LARGE_MIN = SMALL  # 128 KiB: from here on, read in pieces outside the one small-file buffer
HUGE = 1 << 30  # from here on, hashed alone on all cores, reporting progress as it goes
_LARGE_PIECE = 4 << 20
_BUF_SIZE = LARGE_MIN + 1
_buffers = threading.local()


def unreadable(path: str, exc: OSError) -> DataError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        hint = " (check its permissions)"
    elif exc.errno == errno.ENOENT:
        hint = " (it was removed while naga hashed it; hash again)"
    elif exc.errno in (errno.EINVAL, errno.EISDIR):  # see _helper.check_regular
        reason = "not a regular file any more"
        hint = " (it was replaced while naga hashed it; hash again)"
    else:
        hint = ""
    return DataError(f"cannot read {path}: {reason}{hint}")


def stat_files(paths: list[str]) -> list[tuple[int, int, int, int, int]]:
    """(dev, ino, size, mtime_ns, ctime_ns) of each path, not following symlinks."""
    out: list[tuple[int, int, int, int, int]] = []
    append = out.append
    lstat = os.lstat
    path = ""
    try:
        for path in paths:
            st = lstat(path)
            append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    except OSError as exc:
        raise unreadable(path, exc) from exc
    return out


def stat_hash_files(
    paths: list[str], tick: Callable[[int, int], None] | None = None
) -> list[tuple[tuple[int, int, int, int, int], bytes]]:
    """(lstat-like tuple, digest) of each path, each small file opened once; the large ones are
    hashed at the end, several at a time (``hash_large_files``)."""
    buf = bytearray(_BUF_SIZE)
    view = memoryview(buf)
    out: list[tuple[tuple[int, int, int, int, int], bytes]] = []
    append = out.append
    large: list[int] = []
    files = nbytes = 0
    for path in paths:
        try:
            st, digest = stat_hash(path, buf, view)
        except OSError as exc:
            raise unreadable(path, exc) from exc
        size = st.st_size
        if not digest:
            large.append(len(out))
        elif tick is not None:
            files += 1
            nbytes += size
            if files >= 256 or nbytes >= 64 << 20:
                tick(files, nbytes)
                files = nbytes = 0
        append(((st.st_dev, st.st_ino, size, st.st_mtime_ns, st.st_ctime_ns), digest))
    if tick is not None and files:
        tick(files, nbytes)
    if large:
        digests = hash_large_files([paths[k] for k in large], [out[k][0][2] for k in large], tick)
        for k, digest in zip(large, digests, strict=True):
            out[k] = (out[k][0], digest)
    return out


def hash_large(
    path: str, tick: Callable[[int, int], None] | None = None, threads: int = blake3.blake3.AUTO
) -> bytes:
    """BLAKE3 of a large file, read in pieces (``tick(0, bytes)`` after each). Read, not
    memory-mapped: a file truncated while it is mapped kills the process with SIGBUS."""
    buf, view = _large_buffer()
    hasher = blake3.blake3(max_threads=threads)
    fd = os.open(path, OPEN_FLAGS)
    try:
        check_regular(os.fstat(fd))
        while n := os.readv(fd, (buf,)):
            hasher.update(view[:n])
            if tick is not None:
                tick(0, n)
    finally:
        os.close(fd)
    return hasher.digest()


def _large_buffer() -> tuple[bytearray, memoryview]:
    """A read buffer per thread, allocated once (zero-filling megabytes per file costs more
    than hashing them)."""
    try:
        return _buffers.buf, _buffers.view
    except AttributeError:
        _buffers.buf = bytearray(_LARGE_PIECE)
        _buffers.view = memoryview(_buffers.buf)
        return _buffers.buf, _buffers.view


def hash_large_files(
    paths: list[str], sizes: list[int], tick: Callable[[int, int], None] | None = None
) -> list[bytes]:
    """Digests of large files, in order: a file per core at once (a thread each: reading and
    hashing release the GIL), except a lone or huge file, which BLAKE3 hashes on all cores."""
    out: list[bytes] = [b""] * len(paths)
    many = [i for i, size in enumerate(sizes) if size < HUGE]
    if len(many) < 2 or cores() < 2:
        many = []
    for i in sorted(set(range(len(paths))) - set(many)):
        try:
            out[i] = hash_large(paths[i], tick if sizes[i] >= HUGE else None)
        except OSError as exc:
            raise unreadable(paths[i], exc) from exc
        if tick is not None:
            tick(1, 0 if sizes[i] >= HUGE else sizes[i])
    if many:
        from concurrent.futures import ThreadPoolExecutor

        def one(i: int) -> bytes:
            try:
                return hash_large(paths[i], None, 1)
            except OSError as exc:
                raise unreadable(paths[i], exc) from exc

        with ThreadPoolExecutor(min(cores(), len(many)), "naga-hash-large") as pool:
            for i, digest in zip(many, pool.map(one, many), strict=True):
                out[i] = digest
                if tick is not None:
                    tick(1, sizes[i])
    return out


def hash_files(
    paths: list[str], sizes: list[int], tick: Callable[[int, int], None] | None = None
) -> list[bytes]:
    """Digests of ``paths`` in order, in this process; ``tick(files, bytes)`` now and then."""
    buf = bytearray(_BUF_SIZE)
    view = memoryview(buf)
    out: list[bytes] = []
    append = out.append
    large: list[int] = []
    files = nbytes = 0
    for path, size in zip(paths, sizes, strict=True):
        if size >= LARGE_MIN:
            large.append(len(out))
            append(b"")
            continue
        try:
            append(hash_small(path, size, buf, view))
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
    if large:
        digests = hash_large_files([paths[k] for k in large], [sizes[k] for k in large], tick)
        for k, digest in zip(large, digests, strict=True):
            out[k] = digest
    return out


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
