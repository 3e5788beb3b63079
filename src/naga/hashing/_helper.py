"""The helper process of ``workers``, and the small-file reader it shares with this process.

Self-contained on purpose: a helper runs this file's source (``python -S -c``), importing only
``os``, ``struct``, ``sys`` and ``blake3``, so it is ready in ~15 ms; importing naga would cost
a helper ~100 ms, most of what it exists to save. ``argv[1]`` is the directory holding blake3.

Protocol on stdin/stdout, one chunk at a time: ``S<length>\\n`` + paths joined by NUL asks for
``lstat``s, answered by ``+`` and 40 bytes a file (``STAT``: dev, ino, size, mtime_ns,
ctime_ns); ``B<length>\\n`` + paths asks for both, from one ``open`` (``fstat``, then the
contents), answered by 40 + 32 bytes a file (32 zero bytes for a file of ``SMALL`` bytes or
more, which is not read); ``H<length>\\n`` + sizes as decimal text + ``\\n`` + paths asks for
BLAKE3 digests, answered by ``+`` and 32 bytes a file. A file that cannot be read is answered
``-<errno>\\0<path>\\n``. EOF on stdin ends the helper.
"""

# No ``from __future__`` import: the source runs after a line that sets sys.path.
import os
import struct
import sys

import blake3

STAT = struct.Struct("<QQqqq")
# O_NONBLOCK: a file swapped for a FIFO after the walk must not hang the open
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
SMALL = 128 * 1024  # files.LARGE_MIN: larger files are read in pieces, never here
BUF_SIZE = SMALL + 1
NOT_READ = bytes(32)  # in a "B" answer: a large file, left to the caller
S_IFMT, S_IFREG = 0o170000, 0o100000  # the stat module's, without importing it


def check_regular(st: os.stat_result) -> None:
    """A path that was a file when listed may be a FIFO or a device by now (which the
    non-blocking open reads as empty)."""
    if st.st_mode & S_IFMT != S_IFREG:
        raise OSError(22, "not a regular file")  # EINVAL: see files.unreadable


def hash_small(path: str | bytes, size: int, buf: bytearray, view: memoryview) -> bytes:
    """BLAKE3 of a file read through ``buf``: one read when the size is what lstat said."""
    fd = os.open(path, OPEN_FLAGS)
    try:
        check_regular(os.fstat(fd))
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


def stat_hash(path: str | bytes, buf: bytearray, view: memoryview) -> tuple[os.stat_result, bytes]:
    """``fstat`` and BLAKE3 of a file opened once; a large file is only stat-ed (``b""``)."""
    fd = os.open(path, OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if st.st_mode & S_IFMT != S_IFREG:
            check_regular(st)  # raises
        if st.st_size >= SMALL:
            return st, b""
        n = os.readv(fd, (buf,))
        if n == st.st_size:
            return st, blake3.blake3(view[:n]).digest()
        hasher = blake3.blake3(view[:n])
        while n:
            n = os.readv(fd, (buf,))
            hasher.update(view[:n])
        return st, hasher.digest()
    finally:
        os.close(fd)


def serve() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    buf = bytearray(BUF_SIZE)
    view = memoryview(buf)
    pack = STAT.pack
    lstat = os.lstat
    while header := stdin.readline():
        body = stdin.read(int(header[1:]))
        out = [b"+"]
        path = b""
        try:
            if header[:1] == b"S":
                for path in body.split(b"\0"):
                    st = lstat(path)
                    out.append(
                        pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                    )
            elif header[:1] == b"B":
                for path in body.split(b"\0"):
                    st, digest = stat_hash(path, buf, view)
                    out.append(
                        pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                    )
                    out.append(digest or NOT_READ)
            else:
                size_text, _, path_bytes = body.partition(b"\n")
                paths = path_bytes.split(b"\0")
                for size, path in zip(map(int, size_text.split()), paths, strict=True):
                    out.append(hash_small(path, size, buf, view))
        except OSError as exc:
            out = [b"-%d\0" % (exc.errno or 0), path, b"\n"]
        stdout.write(b"".join(out))
        stdout.flush()


if __name__ == "__main__":
    serve()
