"""What ``naga hash PATH...`` prints (its click command is ``cli/hash.py``).

Each line is ``<hash>  <path>``, as ``b3sum`` prints it (a file's hash is its BLAKE3, so the two
agree on files); ``--json`` prints an array of ``DataHash.as_dict()`` objects instead. On a
terminal, anything that takes more than half a second (``NAGA_PROGRESS_DELAY``) gets a progress
line on stderr (files, bytes, rate), replaced by a one-line summary at the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

from ..errors import NagaError
from ..hashing import DataHash, HashProgress, hash_data

SHOW_AFTER = 0.5  # seconds of hashing before a progress line appears (NAGA_PROGRESS_DELAY)


def _show_after() -> float:
    try:
        return float(os.environ.get("NAGA_PROGRESS_DELAY", SHOW_AFTER))
    except ValueError:
        return SHOW_AFTER


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError  # unreachable


class ProgressLine:
    """A progress line on a terminal's stderr, drawn only once hashing has lasted a while."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.delay = _show_after()
        self.started = time.monotonic()
        self.shown = False
        self.label = ""

    def __call__(self, p: HashProgress) -> None:
        elapsed = time.monotonic() - self.started
        if not self.enabled or elapsed < self.delay or p.phase == "done":
            return
        if p.phase == "scan":
            text = f"{self.label}: scanning, {p.files_total:,} files"
        else:
            rate = _size(p.bytes_done / elapsed) + "/s" if elapsed > 0 else ""
            done = f"{p.files_done:,}/{p.files_total:,} files  {_size(p.bytes_done)}"
            text = f"{self.label}: {done}  {rate}"
        self._draw(text)

    def _draw(self, text: str) -> None:
        width = max(20, _columns() - 1)
        sys.stderr.write("\r\x1b[K" + text[:width])
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()

    def finish(self, total_files: int, total_bytes: int) -> None:
        if not self.shown:
            return
        elapsed = time.monotonic() - self.started
        sys.stderr.write(
            f"\r\x1b[K{total_files:,} files, {_size(total_bytes)} in {elapsed:.1f} s"
            f" ({_size(total_bytes / elapsed if elapsed else 0)}/s)\n"
        )
        sys.stderr.flush()


def _columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except OSError:
        return 80


def _hash_one(path: str, use_cache: bool, line: ProgressLine) -> DataHash | None:
    """Hash one PATH; its error and the cache's warnings become ``naga:`` lines on stderr."""
    line.label = path
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: DataHash | None = hash_data(path, cache=use_cache, progress=line)
        except NagaError as exc:
            result, error = None, str(exc)
    line.clear()
    for warning in caught:
        sys.stderr.write(f"naga: warning: {warning.message}\n")
    if error is not None:
        sys.stderr.write(f"naga: error: {error}\n")
    return result


def hash_paths(paths: list[str] | tuple[str, ...], as_json: bool, use_cache: bool) -> int:
    """Hash each PATH and print the results; the exit code (1 if any PATH failed)."""
    line = ProgressLine(sys.stderr.isatty())
    results: list[DataHash] = []
    failed = False
    for path in paths:
        result = _hash_one(path, use_cache, line)
        if result is None:
            failed = True
            continue
        results.append(result)
        if not as_json:
            sys.stdout.write(f"{result.hash}  {path}\n")
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    sys.stdout.flush()
    line.finish(sum(r.files for r in results), sum(r.size for r in results))
    return 1 if failed else 0
