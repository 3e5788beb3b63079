"""Formatting that the hot path needs too, so it imports nothing heavy."""

from __future__ import annotations

# status: (symbol, colour name, ANSI colour code)
STATUS_LOOK = {
    "running": ("●", "cyan", 36),
    "completed": ("✓", "green", 32),
    "failed": ("✗", "red", 31),
    "cancelled": ("⊘", "yellow", 33),
    "crashed": ("!", "magenta", 35),
}
UNKNOWN_LOOK = ("?", "white", 37)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"
