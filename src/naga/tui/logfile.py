"""A window of lines over a log file of any size, grown on demand in either direction.

A run's ``output.log`` can be gigabytes. Opening it reads only the last ``TAIL_BYTES``; scrolling
near the top of the window reads the block before it, near the bottom the block after it, and a
running run's new output is appended as it arrives. Lines are kept as bytes (raw output, any
encoding) and decoded only when drawn. Search scans the file in blocks from a byte offset, so it
needs no index of the whole file either.
"""

from __future__ import annotations

import os

TAIL_BYTES = 1 << 20
BLOCK_BYTES = 256 << 10
GROWTH_BYTES = 8 << 20  # most read per poll of a running run's output (the rest comes next poll)
SEARCH_BLOCK = 4 << 20


class LogWindow:
    """Lines of ``path`` between byte offsets ``lo`` and ``hi``; ``starts[i]`` is where line i
    begins. The last line may be unfinished (no newline yet): more output extends it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lo = self.hi = 0
        self.lines: list[bytes] = []
        self.starts: list[int] = []
        self.open_line = False  # the last line has no newline yet

    def size(self) -> int:
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def _read(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:
            with open(self.path, "rb") as f:
                f.seek(start)
                return f.read(end - start)
        except OSError:
            return b""

    @property
    def at_start(self) -> bool:
        return self.lo == 0

    def at_end(self) -> bool:
        return self.hi >= self.size()

    # -- opening -----------------------------------------------------------------------------

    def open_tail(self) -> None:
        end = self.size()
        self._reset(max(0, end - TAIL_BYTES), end)

    def open_head(self) -> None:
        self._reset(0, min(self.size(), TAIL_BYTES))

    def open_at(self, offset: int) -> int:
        """A window around byte ``offset``; returns the index of the line that holds it."""
        end = self.size()
        self._reset(max(0, offset - BLOCK_BYTES), min(end, offset + BLOCK_BYTES))
        return self.line_at(offset)

    def line_at(self, offset: int) -> int:
        import bisect

        return max(0, bisect.bisect_right(self.starts, offset) - 1)

    def _reset(self, start: int, end: int) -> None:
        data = self._read(start, end)
        if start > 0:  # begin at a line start: drop the tail of the line cut in half
            cut = data.find(b"\n")
            data, start = (b"", end) if cut < 0 else (data[cut + 1 :], start + cut + 1)
        self.lo = self.hi = start
        self.lines, self.starts, self.open_line = [], [], False
        self._append(data)

    # -- growing -----------------------------------------------------------------------------

    def _append(self, data: bytes) -> int:
        """Add bytes read at ``hi``; returns how many lines were added (an extended open line
        counts as none)."""
        before, position, consumed = len(self.lines), self.hi, len(data)
        if data and self.open_line and self.lines:
            head, newline, data = data.partition(b"\n")
            self.lines[-1] += head
            position += len(head) + len(newline)
            self.open_line = not newline
        if data:
            parts = data.split(b"\n")
            self.open_line = parts[-1] != b""
            if not self.open_line:
                parts.pop()
            for part in parts:
                self.starts.append(position)
                self.lines.append(part)
                position += len(part) + 1
        self.hi += consumed
        return len(self.lines) - before

    def grow(self) -> int:
        """Read what was written after the window (a running run's output); lines added."""
        end = min(self.size(), self.hi + GROWTH_BYTES)
        return self._append(self._read(self.hi, end))

    def load_before(self) -> int:
        """Read the block before the window; returns how many lines were put in front."""
        if self.lo == 0:
            return 0
        start = max(0, self.lo - BLOCK_BYTES)
        data = self._read(start, self.lo)
        if start > 0:
            cut = data.find(b"\n")
            if cut < 0:  # one line longer than a block: take it whole, from further back
                start, data = 0, self._read(0, self.lo)
            else:
                data, start = data[cut + 1 :], start + cut + 1
        parts = data.split(b"\n")[:-1]  # it ends with the newline before self.lo
        starts, position = [], start
        for part in parts:
            starts.append(position)
            position += len(part) + 1
        self.lines[:0], self.starts[:0] = parts, starts
        self.lo = start
        return len(parts)

    # -- searching ---------------------------------------------------------------------------

    def find(self, needle: bytes, offset: int, forward: bool) -> int | None:
        """The byte offset of the next (or previous) match of ``needle`` after (before)
        ``offset``, scanning the whole file in blocks; case-insensitive for ASCII."""
        needle = needle.lower()
        end = self.size()
        overlap = len(needle) - 1
        if forward:
            start = offset
            while start < end:
                block = self._read(start, min(end, start + SEARCH_BLOCK)).lower()
                found = block.find(needle)
                if found >= 0:
                    return start + found
                start += max(1, len(block) - overlap)
            return None
        stop = offset
        while stop > 0:
            start = max(0, stop - SEARCH_BLOCK)
            block = self._read(start, stop + overlap if stop < end else stop).lower()
            found = block.rfind(needle)
            if found >= 0 and start + found < stop:
                return start + found
            stop = start
        return None
