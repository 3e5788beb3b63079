"""Content hashes of data files and directories, with a persistent cache: ``hash_data``.

The hash of a **file** is the BLAKE3 of its bytes (256 bits, hex), the same as ``b3sum FILE``.

The hash of a **directory** is the BLAKE3 of this byte string, reimplementable from here alone::

    b"naga-tree-v1\\0" + record + record + ...

with one record for every entry below the directory at any depth (the directory itself has
none, so an empty directory hashes ``b"naga-tree-v1\\0"``), the records in ascending byte order.
A record begins with the entry's relative path: the raw bytes of the names (``os.fsencode``)
joined by ``/``, with no leading ``./``, then a NUL, a kind byte and what the kind needs::

    path + b"\\0f" + the file's 32-byte BLAKE3 digest     regular file
    path + b"\\0d"                                         directory (so empty ones count)
    path + b"\\0l" + the link's target bytes + b"\\0"       symlink, recorded, not followed

NUL sorts below every byte a path can hold, so records in byte order are paths in byte order.
Nothing else enters it: not permissions, owners, times, or the directory's own name, so a copy
or a move of the tree, a ``chmod`` or a ``touch`` leaves the hash unchanged. A path or target
never contains NUL, so the string parses back unambiguously. A symlink *given* as the path is
followed (``hash_data("data")`` with ``data -> /scratch/data`` hashes the tree it points at);
symlinks found inside are recorded as links and never followed, so a link out of the tree or a
cycle cannot change or hang the hash. Sockets, FIFOs and devices are an error.

``size`` is the total of the regular files' sizes and ``files`` their count (links and
directories are not counted). Unchanged files are not read again: see ``naga.hashing.cache``
for the cache and when an entry is trusted.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .tree import HashProgress, Reporter, Scan, digest_scan, file_info, tree_digest, walk_tree

__all__ = ["DataHash", "HashProgress", "hash_data"]

ALGORITHM = "blake3"


@dataclass(frozen=True)
class DataHash:
    """What ``hash_data`` found: ``hash`` carries its algorithm (``blake3:<hex>``, as every hash
    naga records does), ``kind`` is "file" or "dir"."""

    path: str
    hash: str
    algorithm: str
    size: int
    files: int
    kind: str

    @property
    def hex(self) -> str:
        """The digest alone, as ``b3sum`` prints it for a file."""
        return self.hash.partition(":")[2]

    def as_dict(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "algorithm": self.algorithm,
            "size": self.size,
            "files": self.files,
            "kind": self.kind,
            "path": self.path,
        }


def hash_data(
    path: str | os.PathLike[str],
    *,
    cache: bool = True,
    progress: Callable[[HashProgress], None] | None = None,
) -> DataHash:
    """Hash a file or a directory tree (format in this module's docstring).

    ``cache=False`` reads every file and leaves the cache alone. ``progress`` is called with a
    ``HashProgress`` about ten times a second at most, and once with phase "done" at the end.
    Raises ``DataError`` for a missing path or an unreadable file or directory.
    """
    given = os.fspath(path)
    absolute = os.path.abspath(given)
    started_ns = time.time_ns()  # before any stat: see cache.trusted
    st = file_info(given)
    reporter = Reporter(progress)
    from .workers import Pool

    pool = Pool()

    def found(files: int) -> None:
        pool.grow(files)
        reporter.scanning(files)

    store = None
    try:
        if stat.S_ISDIR(st.st_mode):
            kind = "dir"
            tree = walk_tree(absolute, found)
        else:
            kind = "file"
            tree = Scan([""], [os.path.realpath(absolute)], [st.st_dev], [st.st_ino], [], [])
        reporter.files_total = len(tree.abs)
        reporter.emit("hash")
        if cache:
            from .cache import HashCache

            store = HashCache()
        digests, sizes = digest_scan(tree, store, reporter, started_ns, pool)
    finally:
        pool.close()
        if store is not None:
            store.close()
    reporter.bytes_total = sum(sizes)
    reporter.emit("done")
    digest = digests[0] if kind == "file" else tree_digest(tree.rel, digests, tree.dirs, tree.links)
    return DataHash(
        path=absolute,
        hash=f"{ALGORITHM}:{digest.hex()}",
        algorithm=ALGORITHM,
        size=reporter.bytes_total,
        files=len(tree.abs),
        kind=kind,
    )
