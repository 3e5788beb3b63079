"""Stat-ing and hashing many files on every core: this process plus helper processes.

``lstat``-ing, reading and hashing a 4 KB file is a handful of system calls of a microsecond or
two each, and each one releases and re-takes the GIL: threads would spend their time handing
the GIL over. So when a tree has many files, ``Pool`` starts ``cores - 1`` helper interpreters
(``python -S -c``, about 15 ms each: they import blake3 and nothing of naga) that live for one
``hash_data`` call. Each job (the ``lstat`` of every file, then the reading of the files that
the cache did not know) is cut into chunks handed out from one counter, to this process and to
a thread per helper that feeds its helper a chunk at a time: a helper that starts late, or a
core that is busy elsewhere, only takes fewer chunks.

A helper runs the source of ``_helper.py``, which describes the protocol. Large files never go
to helpers: this process reads them, a thread per core (``files.hash_large_files``).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import blake3

from ._helper import SMALL, STAT
from .files import (
    LARGE_MIN,
    cores,
    hash_files,
    hash_large_files,
    stat_files,
    stat_hash_files,
    unreadable,
)

CHUNK = 1024  # files per chunk: 1-3 ms of work, so a round trip costs ~1-2%
MIN_PER_HELPER = 2000  # a helper costs ~15 ms to start
DIGEST = 32

_HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_helper.py")

Tick = Callable[[int, int], None]
_BLAKE3_FILE = os.path.abspath(blake3.__file__ or "")
# the sys.path entry blake3 was found in (blake3 is a package, or a single extension module)
_BLAKE3_PATH = os.path.dirname(
    os.path.dirname(_BLAKE3_FILE)
    if os.path.basename(_BLAKE3_FILE).startswith("__init__.")
    else _BLAKE3_FILE
)
_code: list[str] = []


def _helper_code() -> str:
    """``_helper.py``'s source, after a line that finds blake3 where this process found it."""
    if not _code:
        with open(_HELPER, encoding="utf-8") as f:
            _code.append("import sys; sys.path[:1] = [sys.argv[1]]\n" + f.read())
    return _code[0]


def _locked(tick: Tick) -> Tick:
    """``tick`` for several threads at once."""
    lock = threading.Lock()

    def locked_tick(files: int, nbytes: int) -> None:
        with lock:
            tick(files, nbytes)

    return locked_tick


class _Job:
    """One list of files to stat or hash, claimed chunk by chunk by every participant."""

    def __init__(
        self, op: bytes, paths: list[str], sizes: list[int], helpers: int, tick: Tick | None
    ) -> None:
        self.op, self.paths, self.sizes, self.tick = op, paths, sizes, tick
        self.results: list[Any] = [None] * len(paths)
        self.next = 0
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.busy_helpers = helpers
        self.helpers_done = threading.Condition(self.lock)

    def claim(self) -> tuple[int, int] | None:
        with self.lock:
            if self.error is not None or self.next >= len(self.paths):
                return None
            start = self.next
            self.next = min(len(self.paths), start + CHUNK)
            return start, self.next

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = exc

    def helper_finished(self) -> None:
        with self.lock:
            self.busy_helpers -= 1
            self.helpers_done.notify_all()

    def wait_for_helpers(self) -> None:
        with self.lock:
            while self.busy_helpers:
                self.helpers_done.wait()


class Pool:
    """Helper processes for one ``hash_data`` call (none for a small tree or a single core)."""

    def __init__(self) -> None:
        self.helpers: list[_Helper] = []
        self.most = cores() - 1 if sys.executable else 0

    def grow(self, files: int) -> None:
        """Start the helpers worth starting for ``files`` files (called while the walk goes on,
        so that they start up while it ends)."""
        while len(self.helpers) < min(self.most, files // MIN_PER_HELPER):
            self.helpers.append(_Helper())

    def stat(self, paths: list[str]) -> list[tuple[int, int, int, int, int]]:
        return self._run(b"S", paths, [], lambda p, s, t: stat_files(p), None)

    def stat_hash(
        self, paths: list[str], tick: Tick
    ) -> list[tuple[tuple[int, int, int, int, int], bytes]]:
        """(stat, digest) of each path, from one open; the large files that helpers leave
        unread (``b""``) are hashed here afterwards, on all cores."""
        if not self.helpers:
            return stat_hash_files(paths, tick)
        tick = _locked(tick)
        results = self._run(b"B", paths, [], lambda p, s, t: stat_hash_files(p, t), tick)
        large = [k for k, (_, digest) in enumerate(results) if not digest]
        if large:
            sizes = [results[k][0][2] for k in large]
            digests = hash_large_files([paths[k] for k in large], sizes, tick)
            for k, digest in zip(large, digests, strict=True):
                results[k] = (results[k][0], digest)
        return results

    def hash(self, paths: list[str], sizes: list[int], tick: Tick) -> list[bytes]:
        """Digests of ``paths``: the large files here (on all cores through BLAKE3's threads),
        while the helpers start on the small ones."""
        if not self.helpers:
            return hash_files(paths, sizes, tick)
        locked_tick = _locked(tick)
        small = [i for i, size in enumerate(sizes) if size < LARGE_MIN]
        large = [i for i, size in enumerate(sizes) if size >= LARGE_MIN]
        out: list[bytes] = [b""] * len(paths)
        if len(small) == len(paths):
            return self._run(b"H", paths, sizes, hash_files, locked_tick)
        job = self._start(b"H", [paths[i] for i in small], [sizes[i] for i in small], locked_tick)
        try:
            digests = hash_files([paths[i] for i in large], [sizes[i] for i in large], locked_tick)
        except BaseException as exc:
            job.fail(exc)
            self._finish(job, hash_files)
            raise
        for i, digest in zip(large, digests, strict=True):
            out[i] = digest
        for i, digest in zip(small, self._finish(job, hash_files), strict=True):
            out[i] = digest
        return out

    def _run(
        self,
        op: bytes,
        paths: list[str],
        sizes: list[int],
        local: Callable[[list[str], list[int], Tick | None], list[Any]],
        tick: Tick | None,
    ) -> list[Any]:
        return self._finish(self._start(op, paths, sizes, tick), local)

    def _start(self, op: bytes, paths: list[str], sizes: list[int], tick: Tick | None) -> _Job:
        job = _Job(op, paths, sizes, len(self.helpers), tick)
        for helper in self.helpers:
            helper.jobs.put(job)
        return job

    def _finish(
        self, job: _Job, local: Callable[[list[str], list[int], Tick | None], list[Any]]
    ) -> list[Any]:
        """Take chunks here too until none is left, then wait for the helpers' last ones."""
        try:
            while (claimed := job.claim()) is not None:
                start, end = claimed
                job.results[start:end] = local(job.paths[start:end], job.sizes[start:end], job.tick)
        except BaseException as exc:
            job.fail(exc)
        job.wait_for_helpers()
        if job.error is not None:
            raise job.error
        return job.results

    def close(self) -> None:
        helpers, self.helpers = self.helpers, []
        for helper in helpers:
            helper.close()


class _Helper:
    """A helper process and the thread that feeds it chunks of the jobs it is given. If the
    process cannot start or dies, the thread does its chunks in this process instead."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.proc: subprocess.Popen[bytes] | None = None
        self.thread = threading.Thread(target=self._loop, name="naga-hash-helper", daemon=True)
        self.thread.start()

    def _start(self) -> None:
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _helper_code(), _BLAKE3_PATH],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # a helper that fails is replaced, not reported
                close_fds=True,
            )
        except OSError:
            self.proc = None

    def _loop(self) -> None:
        self._start()
        while (job := self.jobs.get()) is not None:
            try:
                while (claimed := job.claim()) is not None:
                    self._chunk(job, *claimed)
            except BaseException as exc:
                job.fail(exc)
            finally:
                job.helper_finished()
        self._stop(kill=False)

    def _chunk(self, job: _Job, start: int, end: int) -> None:
        tick = job.tick
        paths, sizes = job.paths[start:end], job.sizes[start:end]
        reply = self._ask(job.op, paths, sizes) if self.proc is not None else None
        if reply is None:  # no helper process (any more): do the chunk in this process
            if job.op == b"S":
                job.results[start:end] = stat_files(paths)
            elif job.op == b"B":
                job.results[start:end] = stat_hash_files(paths, tick)
            else:
                job.results[start:end] = hash_files(paths, sizes, tick)
            return
        if job.op == b"S":
            job.results[start:end] = list(STAT.iter_unpack(reply))
        elif job.op == b"B":
            unpack, width, nbytes = STAT.unpack_from, STAT.size + DIGEST, 0
            for k in range(end - start):
                st = unpack(reply, k * width)
                small = st[2] < SMALL
                nbytes += st[2] if small else 0
                digest = reply[k * width + STAT.size : (k + 1) * width] if small else b""
                job.results[start + k] = (st, digest)
            if tick is not None:
                tick(end - start, nbytes)
        else:
            job.results[start:end] = [reply[k : k + DIGEST] for k in range(0, len(reply), DIGEST)]
            if tick is not None:
                tick(end - start, sum(sizes))

    def _ask(self, op: bytes, paths: list[str], sizes: list[int]) -> bytes | None:
        """The helper's answer for one chunk, or None if it is gone (killed, out of memory)."""
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        body = b"\0".join(map(os.fsencode, paths))
        if op == b"H":
            body = " ".join(map(str, sizes)).encode() + b"\n" + body
        expected = {b"S": STAT.size, b"B": STAT.size + DIGEST}.get(op, DIGEST) * len(paths)
        try:
            proc.stdin.write(op + b"%d\n" % len(body) + body)
            proc.stdin.flush()
            status = proc.stdout.read(1)
            if status == b"+":
                data = proc.stdout.read(expected)
                if len(data) == expected:
                    return data
            elif status == b"-":
                errno_text, _, path = proc.stdout.readline().rstrip(b"\n").partition(b"\0")
                code = int(errno_text)
                raise unreadable(os.fsdecode(path), OSError(code, os.strerror(code)))
        except (BrokenPipeError, ValueError):
            pass
        self._stop(kill=True)
        return None

    def _stop(self, kill: bool) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if kill:
            proc.kill()
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        proc.wait()

    def close(self) -> None:
        """End the helper: EOF on its stdin, and the thread reaps it, so nobody waits for the
        interpreter to shut down (a daemon thread: at exit, init reaps it instead)."""
        self.jobs.put(None)
