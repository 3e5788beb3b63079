"""Formatting shared by the commands: statuses, durations, times, sizes and tables."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

import click

from ..store.timefmt import parse_iso
from .fmt import STATUS_LOOK, UNKNOWN_LOOK, duration

__all__ = ["duration"]


def style(text: str, **styles: Any) -> str:
    """click.style, unless NO_COLOR asks for plain text (https://no-color.org)."""
    return text if os.environ.get("NO_COLOR") else click.style(text, **styles)


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
    plain = bool(os.environ.get("NO_COLOR"))
    lines = ["  ".join(style(h.ljust(col_w[i]), bold=True) for i, h in enumerate(headers))]
    for row in rows:
        cells = []
        for i, (text, colour) in enumerate(row):
            padded = truncate(text, last_w) if i == cols - 1 else text.ljust(col_w[i])
            cells.append(padded if plain or colour is None else click.style(padded, fg=colour))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
