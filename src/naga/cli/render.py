"""Formatting shared by the commands: statuses, durations, times, sizes and tables."""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from typing import TextIO

from ..store.timefmt import parse_iso
from .fmt import STATUS_LOOK, UNKNOWN_LOOK, duration

__all__ = ["duration"]


# No click here: `naga ls` renders on a fast path that does not import it.
_FG = {"red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36, "white": 37}


def style(
    text: str,
    *,
    fg: str | None = None,
    bold: bool = False,
    dim: bool = False,
    stream: TextIO | None = None,
) -> str:
    """ANSI colours for a terminal; plain text when piped or when NO_COLOR is set."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR") or not stream.isatty():
        return text
    codes = [str(_FG[fg])] if fg else []
    codes += ["1"] if bold else []
    codes += ["2"] if dim else []
    return f"\033[{';'.join(codes)}m{text}\033[0m" if codes else text


def status_label(status: str, *, word: bool = True) -> str:
    symbol, colour, _ = STATUS_LOOK.get(status, UNKNOWN_LOOK)
    return style(f"{symbol} {status}" if word else symbol, fg=colour)


def started(iso: str | None, now: float | None = None) -> str:
    ts = parse_iso(iso)
    if ts is None:
        return "-"
    ago = (time.time() if now is None else now) - ts
    if ago < 10:
        return "just now"
    if ago < 3600:
        return f"{int(ago // 60)}m ago" if ago >= 60 else f"{int(ago)}s ago"
    if ago < 86400:
        return f"{int(ago // 3600)}h ago"
    local = datetime.fromtimestamp(ts)
    return local.strftime("%b %d %H:%M" if ago < 300 * 86400 else "%Y-%m-%d")


def clock(ts: float) -> str:
    """A wall time as local HH:MM:SS.mmm (the date is in `naga show`)."""
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]


def local_time(iso: str | None) -> str:
    ts = parse_iso(iso)
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def short_commit(commit: str | None, dirty: int | bool | None) -> str:
    """'a4f2c1d*': the commit, starred when the tree was dirty; '-' outside git."""
    if dirty is None:
        return "-"
    return ((commit or "")[:7] or "(none)") + ("*" if dirty else "")


def value(found: object) -> str:
    """A param or metric value in a table cell: compact numbers, '-' when absent."""
    if found is None:
        return "-"
    if isinstance(found, float):
        return f"{found:.6g}"
    if isinstance(found, (list, dict)):
        import json

        return json.dumps(found)
    return str(found)


def truncate(text: str, width: int) -> str:
    if width <= 1:
        return text[:width]
    return text if len(text) <= width else text[: width - 1] + "…"


Cell = tuple[str, str | None]  # plain text, and the colour to paint it (None: plain)


def status_cell(status: str) -> Cell:
    symbol, colour, _ = STATUS_LOOK.get(status, UNKNOWN_LOOK)
    return f"{symbol} {status}", colour


def table(headers: list[str], rows: list[list[Cell]], max_width: int) -> str:
    """Left-aligned columns, padded on plain text then painted; the last is cut to fit."""
    cols = len(headers)
    col_w = [len(h) for h in headers]
    for row in rows:
        for i, (text, _) in enumerate(row[:-1]):
            col_w[i] = max(col_w[i], len(text))
    used = sum(col_w[:-1]) + 2 * (cols - 1)
    last_w = max(10, max_width - used)
    lines = ["  ".join(style(h.ljust(col_w[i]), bold=True) for i, h in enumerate(headers))]
    for row in rows:
        cells = []
        for i, (text, colour) in enumerate(row):
            padded = truncate(text, last_w) if i == cols - 1 else text.ljust(col_w[i])
            cells.append(padded if colour is None else style(padded, fg=colour))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
