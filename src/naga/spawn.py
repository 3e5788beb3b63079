"""Start helper programs (git, nvidia-smi, an interpreter) and read their output.

``posix_spawn`` rather than ``subprocess``: it is all ``naga run`` needs, and importing
``subprocess`` would add tens of milliseconds to every run's start-up on a slow machine.
"""

from __future__ import annotations

import os
import select
import time

from ._lean import signals as signal

# Python ignores SIGPIPE and SIGXFSZ for itself; children must get the defaults back.
RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)


def which(program: str, path: str | None = None) -> str | None:
    """Like ``shutil.which`` without importing shutil."""
    if "/" in program:
        return program if os.access(program, os.X_OK) else None
    for directory in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class Helper:
    """A started helper program whose stdout is collected by ``result()``."""

    def __init__(
        self, argv: list[str], env: dict[str, str] | None = None, stdout_fd: int | None = None
    ) -> None:
        """With ``stdout_fd`` the output goes straight to that file and ``result()`` is b""."""
        if stdout_fd is None:
            read_end, write_end = os.pipe()
        else:
            read_end, write_end = os.open(os.devnull, os.O_RDONLY), os.dup(stdout_fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            self.pid = os.posix_spawnp(
                argv[0],
                argv,
                os.environ if env is None else env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull, 0),
                    (os.POSIX_SPAWN_DUP2, write_end, 1),
                    (os.POSIX_SPAWN_DUP2, devnull, 2),
                ],
                setsigdef=RESET_SIGNALS,
            )
        except OSError:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
            os.close(devnull)
        self._read_end = read_end

    def result(self, timeout: float = 30.0) -> bytes | None:
        """Its whole stdout, or None when it failed or took longer than ``timeout``."""
        chunks = []
        deadline = time.monotonic() + timeout
        poller = select.poll()
        poller.register(self._read_end, select.POLLIN)
        try:
            while poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
                chunk = os.read(self._read_end, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(self._read_end)
        try:
            status = self._wait(deadline)
        except ChildProcessError:  # reaped by someone else (SIGCHLD ignored): outcome unknown
            return None
        return b"".join(chunks) if os.waitstatus_to_exitcode(status) == 0 else None

    def _wait(self, deadline: float) -> int:
        """Its exit status; killed once ``deadline`` has passed."""
        delay = 0.001
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return status
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                return os.waitpid(self.pid, 0)[1]
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def start(
    argv: list[str], env: dict[str, str] | None = None, stdout_fd: int | None = None
) -> Helper | None:
    """Start ``argv``; None when the program cannot be started."""
    try:
        return Helper(argv, env, stdout_fd)
    except OSError:
        return None
