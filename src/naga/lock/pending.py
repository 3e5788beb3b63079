"""Hashing data in a background process while the run goes on.

The lock first records the entry as ``pending`` with a random token; a separate process
(``python -m naga.lock.pending``, in its own session so Ctrl-C to the run does not stop it)
hashes the data and completes the entry under the lock's file lock, only if the token still
matches, so a stale hasher never overwrites a newer entry. A run that ends first waits for it,
or, when it is interrupted, records the entry as ``incomplete``: never a wrong hash.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from ..store.timefmt import iso_from_ts
from . import lockfile

TYPE_CHECKING = False  # subprocess is imported only to start a hasher
if TYPE_CHECKING:
    import subprocess


def pending_entry(path: str) -> dict[str, Any]:
    return {
        "path": os.path.abspath(path),
        "status": "pending",
        "algorithm": "blake3",
        "token": os.urandom(8).hex(),
        "started_at": iso_from_ts(time.time()),
    }


def done_entry(path: str) -> dict[str, Any]:
    """Hash ``path`` now (through the persistent cache) as a finished lock entry."""
    from ..hashing import hash_data

    result = hash_data(path).as_dict()
    return {
        **result,
        "path": os.path.abspath(path),
        "status": "done",
        "hashed_at": iso_from_ts(time.time()),
    }


class Hasher:
    """A background hashing process completing one entry of one lock."""

    def __init__(
        self, lock_path: str, name: str, token: str, process: subprocess.Popen[bytes]
    ) -> None:
        self.lock_path, self.name, self.token, self.process = lock_path, name, token, process

    def finish(self, wait: bool) -> None:
        """Wait for the hash, or stop it and mark the entry incomplete."""
        if not wait and self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait()
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, record what is known
            self.process.kill()
            self.process.wait()
        self._mark_unfinished("incomplete" if not wait else "error")

    def _mark_unfinished(self, status: str) -> None:
        def change(doc: dict[str, Any] | None) -> dict[str, Any]:
            assert doc is not None
            entry = (doc.get("data") or {}).get(self.name)
            ours = isinstance(entry, dict) and entry.get("token") == self.token
            if ours and isinstance(entry, dict) and entry.get("status") == "pending":
                entry["status"] = status
                entry.setdefault("error", "the hashing process ended without a result")
            return doc

        if os.path.exists(self.lock_path):
            lockfile.update(self.lock_path, change)


def start(lock_path: str, name: str, entry: dict[str, Any]) -> Hasher:
    """Start hashing ``entry['path']`` for the pending ``entry`` already in the lock."""
    import subprocess  # 6 ms of start-up that a config without naga.track does not pay

    process = subprocess.Popen(
        [sys.executable, "-m", "naga.lock.pending", lock_path, name, entry["token"], entry["path"]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Hasher(lock_path, name, entry["token"], process)


def complete(lock_path: str, name: str, token: str, path: str) -> None:
    """The background process: hash, then fill in the entry if it is still ours."""
    try:
        result = done_entry(path)
    except Exception as exc:  # the lock records why, instead of a hash
        result = {"path": path, "status": "error", "error": str(exc) or type(exc).__name__}

    def change(doc: dict[str, Any] | None) -> dict[str, Any]:
        if doc is None:
            raise SystemExit(0)  # the lock is gone: nothing to complete
        entry = (doc.get("data") or {}).get(name)
        if isinstance(entry, dict) and entry.get("token") == token:
            doc["data"][name] = result
        return doc

    lockfile.update(lock_path, change)


if __name__ == "__main__":
    complete(*sys.argv[1:5])
