"""Metric series on disk: one append-only file per metric and stream, read back in bulk.

A series file is a sequence of chunks, one per flush of the background writer::

    b"NGM1"  uint32 n  |  n x int64 step  |  n x float64 wall time  |  n x float64 value

all little-endian. Columns within a chunk make writing a flush a few ``array.tobytes()`` calls and
reading a million points a few ``frombytes``: no per-point Python work either way. A chunk cut
short by a kill or a full disk is ignored by readers; every chunk before it is intact.

Metric keys become file names by percent-encoding everything but ``[A-Za-z0-9_-]`` (and a dot
not in first place), so ``train/loss`` is ``train%2Floss.bin`` and no key can name a path.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from typing import Any

MAGIC = b"NGM1"
HEADER = struct.Struct("<4sI")
SUFFIX = ".bin"
MAX_KEY_BYTES = 200
MAX_FILE_NAME = 250  # most filesystems allow 255 bytes
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_BIG_ENDIAN = sys.byteorder == "big"


def check_key(key: object) -> str:
    """A metric key as given, or a TypeError/ValueError saying what is wrong with it."""
    if not isinstance(key, str):
        raise TypeError(f"metric keys must be strings, not {type(key).__name__} ({key!r})")
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ValueError(f"metric key {key!r} must be 1 to {MAX_KEY_BYTES} bytes long")
    if len(file_name(key)) > MAX_FILE_NAME:  # percent-encoding triples non-ASCII bytes
        raise ValueError(f"metric key {key!r} is too long once encoded as a file name")
    return key


def file_name(key: str) -> str:
    out = []
    for i, char in enumerate(key):
        if char in _SAFE or (char == "." and i):
            out.append(char)
        else:
            out.extend(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
    return "".join(out) + SUFFIX


def key_of(name: str) -> str | None:
    """The key a series file holds, or None for a file that is not a series."""
    if not name.endswith(SUFFIX) or name.startswith("."):
        return None
    stem = name[: -len(SUFFIX)]
    raw = bytearray()
    i = 0
    try:
        while i < len(stem):
            if stem[i] == "%":
                raw.append(int(stem[i + 1 : i + 3], 16))
                i += 3
            else:
                raw.extend(stem[i].encode("ascii"))
                i += 1
        return raw.decode("utf-8", "surrogatepass")
    except (ValueError, UnicodeError):
        return None


def chunk_parts(steps: array, times: array, values: array) -> list[Any]:  # type: ignore[type-arg]
    """A chunk as buffers for ``os.writev``: the header, then the three columns, uncopied."""
    columns = [steps, times, values]
    if _BIG_ENDIAN:
        columns = [array(c.typecode, c) for c in columns]
        for column in columns:
            column.byteswap()
    return [HEADER.pack(MAGIC, len(values)), *columns]


def encode_chunk(steps: array, times: array, values: array) -> bytes:  # type: ignore[type-arg]
    return b"".join(bytes(part) for part in chunk_parts(steps, times, values))


class Points:
    """One series read back: parallel arrays of steps, wall times (s since the epoch), values."""

    __slots__ = ("steps", "times", "values")

    def __init__(self) -> None:
        self.steps = array("q")
        self.times = array("d")
        self.values = array("d")

    def __len__(self) -> int:
        return len(self.values)


def read_chunks(path: str) -> tuple[bytearray, list[tuple[int, int]]]:
    """The file's bytes and (offset of the columns, point count) of every complete chunk (a
    missing file has none; a chunk cut short by a kill ends the list, what came before is
    intact)."""
    try:
        with open(path, "rb") as f:
            data = bytearray(os.fstat(f.fileno()).st_size)  # writable: numpy views of it too
            data = data[: f.readinto(data)]
    except FileNotFoundError:
        return bytearray(), []
    chunks = []
    offset, end = 0, len(data)
    while offset + HEADER.size <= end:
        magic, n = HEADER.unpack_from(data, offset)
        body = offset + HEADER.size
        if magic != MAGIC or body + 24 * n > end:
            break
        chunks.append((body, n))
        offset = body + 24 * n
    return data, chunks


def read_points(path: str) -> Points:
    """Every complete chunk of a series file, as arrays."""
    return gather(*read_chunks(path))


def gather(data: bytearray, chunks: list[tuple[int, int]]) -> Points:
    points = Points()
    view = memoryview(data)
    for body, n in chunks:
        points.steps.frombytes(view[body : body + 8 * n])
        points.times.frombytes(view[body + 8 * n : body + 16 * n])
        points.values.frombytes(view[body + 16 * n : body + 24 * n])
    if _BIG_ENDIAN:
        for column in (points.steps, points.times, points.values):
            column.byteswap()
    return points


# A finished series in more chunks than this (a slow logger: one chunk per writer tick) is
# rewritten as one chunk, up to COMPACT_MAX_BYTES, so reading it back is a few slices.
COMPACT_MIN_CHUNKS = 64
COMPACT_MAX_BYTES = 256 * 2**20


def compact(path: str) -> bool:
    """Rewrite a series file as a single chunk (atomically: temp file, fsync, rename) when it
    has many small ones; True if it did. Best effort: a file it cannot rewrite stays valid."""
    try:
        if os.path.getsize(path) > COMPACT_MAX_BYTES or _count_chunks(path) < COMPACT_MIN_CHUNKS:
            return False
    except OSError:
        return False
    points = read_points(path)
    from ..errors import StoreError
    from ..store.files import write_atomic

    try:
        write_atomic(path, encode_chunk(points.steps, points.times, points.values))
    except StoreError:
        return False
    return True


def _count_chunks(path: str, enough: int = COMPACT_MIN_CHUNKS) -> int:
    """Chunks in a file, counted up to ``enough`` by reading headers only."""
    count = 0
    with open(path, "rb") as f:
        while count < enough:
            header = f.read(HEADER.size)
            if len(header) < HEADER.size:
                break
            magic, n = HEADER.unpack(header)
            if magic != MAGIC:
                break
            f.seek(24 * n, os.SEEK_CUR)
            count += 1
    return count


def list_keys(directory: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(k for k in map(key_of, names) if k is not None)
