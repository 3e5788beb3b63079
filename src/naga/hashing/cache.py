"""The persistent file-hash cache: unchanged files are never read twice.

One SQLite file per host (``$NAGA_HASH_CACHE``, else ``$XDG_CACHE_HOME/naga/hashes-<host>.sqlite``,
else ``~/.cache/naga/hashes-<host>.sqlite``), keyed by inode::

    (dev, ino) -> size, mtime_ns, ctime_ns, checked_ns, hash

stored 256 inodes to a row: ``buckets(dev, ino >> 8) -> entries``, each entry packed as
``<QqqqQ32s`` (ino, size, mtime_ns, ctime_ns, checked_ns, BLAKE3 digest). Filesystems hand out
neighbouring inode numbers to files created together, so the 20,000 files of a data set live in
a hundred rows or so: Python's sqlite3 spends more than a microsecond on every row it returns,
which a row per file would pay 20,000 times on every re-hash. A write merges its entries into
the stored buckets in one transaction, so concurrent writers never lose each other's entries.

An entry is used only when the file's ``lstat`` still shows the same size, mtime_ns and ctime_ns.
ctime cannot be set by a user, so a same-size rewrite whose mtime was put back (``touch -d``,
``cp -p``, ``rsync -t``, ``tar x``) still misses. Entries are written only for files that were not
*racy* when read (git's term): a file whose mtime or ctime lies less than ``RACY_NS`` before the
moment naga first looked at it may be rewritten in the same timestamp tick after it was read (at
most 2 s on FAT/exFAT, 1 s on ext3/HFS+, a clock tick on ext4/xfs), so its entry could not tell the
two contents apart. Such a file is read again next time; by then it is old enough to be kept.

Why per host, keyed by (dev, ino): st_dev is assigned by the local kernel (the same NFS export has
different numbers on different machines), so a key is meaningful on one host only, and SQLite in
WAL mode must not be shared between hosts. On a network filesystem the key still works on its
host (NFS file ids are stable, a remount may change st_dev: the entries then simply miss); mtimes
come from the server's clock, so a client clock running more than ``RACY_NS`` ahead of the server
could keep a racy entry. SQLite's locks over NFS are unreliable: where ``~/.cache`` is on a
network filesystem, point ``NAGA_HASH_CACHE`` (or ``XDG_CACHE_HOME``) at a local disk.

WAL mode with a busy timeout lets several processes read and write at once; every failure of
the cache (locked, read-only, full disk) only costs a re-read. Writes are not fsync-ed
(``synchronous=OFF``): a crash of naga cannot damage the file, a power cut may, and a corrupt
file is deleted and rebuilt with a warning (``warnings.warn``), never an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import struct
import warnings
from collections.abc import Iterable, Iterator

from ..store.schema import is_corrupt

SCHEMA_VERSION = 2  # 1 was a row per inode, never released
RACY_NS = 2_000_000_000
BUCKET_BITS = 8
_SIGN = 1 << 63
_WRAP = 1 << 64
ENTRY = struct.Struct("<QqqqQ32s")

# ino, size, mtime_ns, ctime_ns, checked_ns, hash
Entry = tuple[int, int, int, int, int, bytes]
# dev, ino, size, mtime_ns, ctime_ns, checked_ns, hash
NewRow = tuple[int, int, int, int, int, int, bytes]


class CacheWarning(UserWarning):
    """The hash cache could not be used as it was (corrupt, unwritable); hashing went on."""


def default_path() -> str:
    override = os.environ.get("NAGA_HASH_CACHE")
    if override:
        return override
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    host = "".join(c if c.isalnum() or c in "-_." else "_" for c in os.uname().nodename)
    return os.path.join(base, "naga", f"hashes-{host or 'host'}.sqlite")


def signed(n: int) -> int:
    """st_dev and st_ino are unsigned 64-bit; SQLite integers are signed."""
    return n - _WRAP if n >= _SIGN else n


def trusted(mtime_ns: int, ctime_ns: int, checked_ns: int) -> bool:
    """A row may be used only if the file was not racy when it was read (see the docstring)."""
    return max(mtime_ns, ctime_ns) + RACY_NS <= checked_ns


class HashCache:
    """An open cache file; every method swallows the cache's own failures (see the docstring)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or default_path()
        self.conn: sqlite3.Connection | None = None
        try:
            self.conn = self._open()
        except (sqlite3.Error, OSError) as exc:
            self._warn(f"cannot use the hash cache {self.path} ({exc}); hashing without it")

    def _warn(self, message: str) -> None:
        warnings.warn(message, CacheWarning, stacklevel=4)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self._create(conn)
            conn.execute("PRAGMA synchronous=OFF")  # see the docstring: a cache needs no fsync
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                conn.execute("DROP TABLE IF EXISTS files")  # schema 1
                conn.execute("DROP TABLE IF EXISTS buckets")
                conn.execute(
                    "CREATE TABLE buckets (dev INTEGER NOT NULL, bucket INTEGER NOT NULL,"
                    " entries BLOB NOT NULL, PRIMARY KEY (dev, bucket)) WITHOUT ROWID"
                )
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _open(self) -> sqlite3.Connection:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc, foreign_schema=True):
                raise
            with self._exclusive():
                try:  # another process may have rebuilt it while this one waited
                    return self._connect()
                except sqlite3.DatabaseError as again:
                    if not is_corrupt(again, foreign_schema=True):
                        raise
                    self._warn(f"the hash cache {self.path} was corrupt; rebuilt it")
                    self._delete_files()
                    return self._connect()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _delete_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")

    def _failed(self, exc: sqlite3.Error | struct.error) -> None:
        if isinstance(exc, struct.error) or (
            isinstance(exc, sqlite3.DatabaseError) and is_corrupt(exc, foreign_schema=True)
        ):
            self._warn(f"the hash cache {self.path} was corrupt; rebuilt it")
            self.close()
            with self._exclusive():
                self._delete_files()
            with contextlib.suppress(sqlite3.Error, OSError):
                self.conn = self._connect()
        elif "locked" not in str(exc) and "busy" not in str(exc):
            self._warn(f"the hash cache {self.path} failed ({exc}); hashing without it")
            self.close()

    def _stored(self, dev: int, buckets: Iterable[int]) -> dict[int, bytes]:
        """The packed entries of these buckets of ``dev`` that exist."""
        assert self.conn is not None
        rows = self.conn.execute(
            "SELECT bucket, entries FROM buckets"
            " WHERE dev = ? AND bucket IN (SELECT value FROM json_each(?))",
            (signed(dev), "[" + ",".join(map(str, buckets)) + "]"),
        ).fetchall()
        return dict(rows)

    def lookup(self, stats: Iterable[tuple[int, ...]]) -> dict[int, dict[int, Entry]]:
        """The stored entries near the (dev, ino, ...) of ``stats`` (as lstat gives them), as
        ``{dev: {ino: entry}}`` (it may hold more inodes than asked for; an inode without an
        entry is absent)."""
        if self.conn is None:
            return {}
        wanted: dict[int, set[int]] = {}
        for dev, bucket in {(s[0], s[1] >> BUCKET_BITS) for s in stats}:
            wanted.setdefault(dev, set()).add(bucket)
        found: dict[int, dict[int, Entry]] = {}
        unpack = ENTRY.iter_unpack
        try:
            for dev, buckets in wanted.items():
                blobs = self._stored(dev, buckets).values()
                found[dev] = {entry[0]: entry for blob in blobs for entry in unpack(blob)}
        except (sqlite3.Error, struct.error) as exc:
            self._failed(exc)
            return {}
        return found

    def store(self, rows: list[NewRow]) -> None:
        """Add or replace entries; a busy or broken cache just keeps fewer of them."""
        if self.conn is None or not rows:
            return
        pack = ENTRY.pack
        new: dict[tuple[int, int], dict[int, bytes]] = {}
        for dev, ino, size, mtime_ns, ctime_ns, checked_ns, digest in rows:
            key = (dev, ino >> BUCKET_BITS)
            group = new.get(key)
            if group is None:
                group = new[key] = {}
            group[ino] = pack(ino, size, mtime_ns, ctime_ns, checked_ns, digest)
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")  # read, merge and write with no writer in between
            try:
                merged = []
                for dev in {dev for dev, _ in new}:
                    buckets = [b for d, b in new if d == dev]
                    old = self._stored(dev, buckets)
                    for bucket in buckets:
                        entries = new[(dev, bucket)]
                        if bucket in old:  # keep the other inodes of the bucket
                            kept = {e[0]: pack(*e) for e in ENTRY.iter_unpack(old[bucket])}
                            entries = {**kept, **entries}
                        merged.append((signed(dev), bucket, b"".join(entries.values())))
                conn.executemany(
                    "INSERT OR REPLACE INTO buckets (dev, bucket, entries) VALUES (?, ?, ?)",
                    merged,
                )
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, struct.error) as exc:
            self._failed(exc)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
