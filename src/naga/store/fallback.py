"""Where the index of a store naga cannot write is kept: the user's cache directory.

A store on a read-only mount (a teammate's, ``NAGA_HOME=<mounted remote> naga ls``) or on a full
disk is still read. Its index goes to ``$XDG_CACHE_HOME/naga/index-<hash>.sqlite`` (one file per
store path and host), rebuilt from the run directories like any index; nothing is written into
the store.
"""

from __future__ import annotations

import hashlib
import os

from .layout import safe_host
from .liveness import hostname


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "naga")


def cache_index_path(store_root: str) -> str:
    """The index file for the store at ``store_root`` (its directory made if missing)."""
    digest = hashlib.sha256(os.path.abspath(store_root).encode("utf-8", "surrogateescape"))
    directory = cache_dir()
    os.makedirs(directory, exist_ok=True)
    name = f"index-{digest.hexdigest()[:16]}-{safe_host(hostname())}.sqlite"
    return os.path.join(directory, name)
