"""Hashing many files on every core: this process plus helper processes, sharing chunks.

Reading and hashing a 4 KB file is a handful of system calls of a microsecond or two each, and
each one releases and re-takes the GIL: threads would spend their time handing the GIL over. So
when there are many small files to read, ``hash_many`` starts ``cores - 1`` helper interpreters
(``python -S -c``, about 20 ms each, with this process's ``sys.path``). Work is handed out in
chunks from one shared counter, so a helper that starts late or a core that is busy elsewhere
only takes fewer chunks. A thread per helper feeds it a chunk and reads back its digests.

Protocol on the helper's stdin/stdout, one chunk at a time: ``<body length>\\n`` then the body
(sizes as decimal text, ``\\n``, then the paths joined by NUL); the reply is ``+`` and 32 bytes
per file, or ``-<errno>\\0<path>\\n`` for a file it could not read. EOF on stdin ends the helper.
Large files never go to helpers: BLAKE3 hashes each of them on all cores by itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable

from .tree import MMAP_MIN, hash_files, unreadable

CHUNK = 512  # files per chunk: ~4 ms of work, so a round trip costs ~1%
MIN_PER_HELPER = 3000  # a helper costs ~20 ms to start: worth it above ~3,000 small files
DIGEST = 32

_HELPER = "import sys, json; sys.path[:0] = json.loads(sys.argv[1])\n" + (
    "from naga.hashing.workers import serve; serve()"
)

Tick = Callable[[int, int], None]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Chunks:
    """Chunks of the small files, claimed under a lock by this process and every helper."""

    def __init__(self, paths: list[str], sizes: list[int]) -> None:
        self.paths, self.sizes = paths, sizes
        self.next = 0
        self.lock = threading.Lock()
        self.digests: list[bytes] = [b""] * len(paths)
        self.error: BaseException | None = None

    def claim(self) -> tuple[int, int] | None:
        with self.lock:
            if self.error is not None or self.next >= len(self.paths):
                return None
            start = self.next
            self.next = min(len(self.paths), start + CHUNK)
            return start, self.next


def hash_many(paths: list[str], sizes: list[int], tick: Tick) -> list[bytes]:
    """BLAKE3 digests of ``paths`` (regular files of ``sizes`` bytes), in order."""
    small = [i for i, size in enumerate(sizes) if size < MMAP_MIN]
    helpers = min(_cores() - 1, len(small) // MIN_PER_HELPER)
    if helpers <= 0 or not sys.executable:
        return hash_files(paths, sizes, tick)
    large = [i for i, size in enumerate(sizes) if size >= MMAP_MIN]
    chunks = _Chunks([paths[i] for i in small], [sizes[i] for i in small])
    lock = threading.Lock()

    def locked_tick(files: int, nbytes: int) -> None:
        with lock:
            tick(files, nbytes)

    threads = [_Helper(chunks, locked_tick) for _ in range(helpers)]
    try:
        large_digests = hash_files(
            [paths[i] for i in large], [sizes[i] for i in large], locked_tick
        )
        while (claimed := chunks.claim()) is not None:
            start, end = claimed
            chunks.digests[start:end] = hash_files(
                chunks.paths[start:end], chunks.sizes[start:end], locked_tick
            )
    except BaseException as exc:
        chunks.error = exc
        raise
    finally:
        for thread in threads:
            thread.finish(abort=chunks.error is not None)
    if chunks.error is not None:
        raise chunks.error
    out: list[bytes] = [b""] * len(paths)
    for i, digest in zip(small, chunks.digests, strict=True):
        out[i] = digest
    for i, digest in zip(large, large_digests, strict=True):
        out[i] = digest
    return out


class _Helper:
    """One helper process and the thread that feeds it chunks; falls back to nothing if it
    cannot start (this process then does all the chunks itself)."""

    def __init__(self, chunks: _Chunks, tick: Tick) -> None:
        self.chunks, self.tick = chunks, tick
        self.proc: subprocess.Popen[bytes] | None = None
        self.thread = threading.Thread(target=self._run, name="naga-hash-helper", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _HELPER, json.dumps(sys.path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
            )
        except OSError:
            return
        try:
            self._feed(self.proc)
        except BaseException as exc:
            with self.chunks.lock:
                if self.chunks.error is None:
                    self.chunks.error = exc

    def _feed(self, proc: subprocess.Popen[bytes]) -> None:
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None
        chunks = self.chunks
        while (claimed := chunks.claim()) is not None:
            start, end = claimed
            sizes = chunks.sizes[start:end]
            body = (
                " ".join(map(str, sizes)).encode()
                + b"\n"
                + b"\0".join(map(os.fsencode, chunks.paths[start:end]))
            )
            try:
                stdin.write(b"%d\n" % len(body) + body)
                stdin.flush()
                status = stdout.read(1)
            except BrokenPipeError:
                status = b""
            if status == b"+":
                data = stdout.read(DIGEST * (end - start))
                if len(data) == DIGEST * (end - start):
                    chunks.digests[start:end] = [
                        data[k : k + DIGEST] for k in range(0, len(data), DIGEST)
                    ]
                    self.tick(end - start, sum(sizes))
                    continue
            if status == b"-":
                errno_text, _, path = stdout.readline().rstrip(b"\n").partition(b"\0")
                code = int(errno_text)
                raise unreadable(os.fsdecode(path), OSError(code, os.strerror(code)))
            # The helper died (killed, out of memory): this chunk is done here instead.
            chunks.digests[start:end] = hash_files(chunks.paths[start:end], sizes, self.tick)
            return

    def finish(self, abort: bool) -> None:
        if abort and self.proc is not None:
            self.proc.kill()
        self.thread.join()
        proc = self.proc
        if proc is not None:
            if abort:
                proc.kill()
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def serve() -> None:
    """The helper's main loop (see the module docstring for the protocol)."""
    from .tree import hash_small

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    buf = bytearray(MMAP_MIN + 1)
    view = memoryview(buf)
    while header := stdin.readline():
        body = stdin.read(int(header))
        size_text, _, path_bytes = body.partition(b"\n")
        out = [b"+"]
        for size, path in zip(map(int, size_text.split()), path_bytes.split(b"\0"), strict=True):
            try:
                out.append(hash_small(path, size, buf, view))
            except OSError as exc:
                out = [b"-%d\0" % (exc.errno or 0), path, b"\n"]
                break
        stdout.write(b"".join(out))
        stdout.flush()
