"""Wake-ups when a store's change markers move: inotify through ctypes, or nothing.

Every change to a run replaces a marker in ``touched/<hour>/`` (a rename), so watching that
directory and its hour directories is enough to hear about any change made on this host, with no
dependency. Changes made on other hosts of a shared filesystem raise no event here: the watcher
polls as well, and this only makes local changes show sooner.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
MASK = IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE


class MarkerEvents:
    """An inotify descriptor watching ``touched/`` and its hour directories; ``fileno()`` is
    readable when something moved. ``open()`` returns None where inotify is unavailable."""

    def __init__(self, fd: int, libc: ctypes.CDLL, touched_dir: str) -> None:
        self._fd, self._libc, self._touched = fd, libc, touched_dir
        self.rewatch()

    @classmethod
    def open(cls, touched_dir: str) -> MarkerEvents | None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)  # the C library already loaded: no lookup
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return cls(fd, libc, touched_dir) if fd >= 0 else None

    def fileno(self) -> int:
        return self._fd

    def rewatch(self) -> None:
        """Watch ``touched/`` and every hour directory in it (adding a watch twice is a no-op)."""
        self._watch(self._touched)
        with contextlib.suppress(OSError):
            for name in os.listdir(self._touched):
                self._watch(os.path.join(self._touched, name))

    def _watch(self, path: str) -> None:
        self._libc.inotify_add_watch(self._fd, os.fsencode(path), MASK)

    def drain(self) -> None:
        """Read the pending events away; a new hour directory gets watched too."""
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while os.read(self._fd, 65536):
                pass
        self.rewatch()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
