"""How single values read: statuses, durations, sizes, times, param and metric values.

Imported by ``naga run``'s hot path (its end line), so it imports nothing heavy at the top.
Every helper that may carry record text returns it ``inert``.
"""

from __future__ import annotations

import time

from ..store.timefmt import parse_iso
from .inert import inert

# status: (symbol, colour name, ANSI colour code)
STATUS_LOOK = {
    "running": ("●", "cyan", 36),
    "completed": ("✓", "green", 32),
    "failed": ("✗", "red", 31),
    "cancelled": ("⊘", "yellow", 33),
    "crashed": ("!", "magenta", 35),
    "pruned": ("✂", "blue", 34),
}
UNKNOWN_LOOK = ("?", "white", 37)

_LONGEST = 1e9  # ~31 years: beyond it (or NaN, inf) a duration is shown as a plain number


def status_look(status: object) -> tuple[str, str]:
    """The symbol and colour of a status; a status naga does not know gets '?'."""
    symbol, colour, _ = STATUS_LOOK.get(status if isinstance(status, str) else "", UNKNOWN_LOOK)
    return symbol, colour


def status_text(status: object) -> str:
    """'✓ completed': the symbol and the status, inert (a record may hold any status)."""
    return f"{status_look(status)[0]} {inert(status)}"


def duration(seconds: object) -> str:
    if seconds is None:
        return "-"
    if not isinstance(seconds, (int, float)) or not -_LONGEST < seconds < _LONGEST:
        return inert(f"{seconds:.3g}s" if isinstance(seconds, (int, float)) else seconds)
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


def started(iso: str | None, now: float | None = None) -> str:
    """When a run started, relative while recent ('3m ago'), else a local date."""
    return Started(time.time() if now is None else now)(iso)


class Started:
    """``started`` for many runs at once (``naga ls --all``: 100k of them): the current time
    read once, ISO times parsed in C, and local dates formatted once per hour of runs (a zone
    whose offset is whole hours, as nearly all are, shifts whole hours: the minute is the UTC
    minute). ``%b`` is English in Python's default C locale for times; the names match it."""

    MONTHS = (
        "",
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
        "Nov",
        "Dec",
    )
    MINUTES = tuple(f"{m:02d}" for m in range(60))
    MINUTE_SET = frozenset(MINUTES)

    def __init__(self, now: float) -> None:
        from datetime import datetime

        self.now = now
        self.parse = datetime.fromisoformat
        self.epoch = datetime(1970, 1, 1)
        self.hours: dict[tuple[int, bool], str | None] = {}
        self.by_text: dict[str, tuple[str, bool]] = {}

    def __call__(self, iso: str | None) -> str:
        # naga's own times ('2025-03-01T10:00:00.123456Z') in an hour seen before: the hour's
        # prefix and the minute as written, with no parsing at all.
        if type(iso) is str and iso[-1:] == "Z" and iso[13:14] == ":":
            seen = self.by_text.get(iso[:13])
            if seen is not None and iso[14:16] in self.MINUTE_SET:
                shared, all_old = seen
                return shared if all_old else shared + iso[14:16]
        ts = self.timestamp(iso)
        if ts is None:
            return "-"
        ago = self.now - ts
        if ago < 86400:
            return self.recent(ago)
        old = ago >= 300 * 86400
        key = (int(ts // 3600), old)
        prefix: str | None = self.hours.get(key, "")
        if prefix == "":
            prefix = self.hours[key] = self.hour_prefix(key[0] * 3600, old)
        if prefix is None:  # a zone that is not whole hours off UTC at that time
            return self.local(ts, old)
        self.remember(iso, key[0] * 3600, prefix, old)
        return prefix if old else prefix + self.MINUTES[int(ts // 60) % 60]

    def remember(self, iso: object, hour_ts: float, prefix: str, old: bool) -> None:
        """Keep the prefix by the hour's text when every time in that hour reads the same way
        (none of it within the last day, all of it on one side of the 300 days)."""
        if type(iso) is not str or iso[-1:] != "Z" or iso[13:14] != ":":
            return
        first_ago, last_ago = self.now - hour_ts, self.now - hour_ts - 3600
        if last_ago >= 86400 and (last_ago >= 300 * 86400) == (first_ago >= 300 * 86400):
            self.by_text[iso[:13]] = (prefix, old)

    @staticmethod
    def recent(ago: float) -> str:
        if ago < 10:
            return "just now"
        if ago < 3600:
            return f"{int(ago // 60)}m ago" if ago >= 60 else f"{int(ago)}s ago"
        return f"{int(ago // 3600)}h ago"

    def hour_prefix(self, hour_ts: float, old: bool) -> str | None:
        """What every start within this UTC hour shares: the date (old runs) or the date and
        local hour, up to the minutes; None where the zone's offset is not whole hours."""
        try:
            t = time.localtime(hour_ts)
        except (OverflowError, OSError, ValueError):
            return "-"
        if t.tm_gmtoff is None or t.tm_gmtoff % 3600:
            return None
        full = self.local(hour_ts, old)
        return full if old else full[:-2]

    def local(self, ts: float, old: bool) -> str:
        try:
            t = time.localtime(ts)
        except (OverflowError, OSError, ValueError):  # a year naga cannot show
            return "-"
        if old:
            return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        return f"{self.MONTHS[t.tm_mon]} {t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}"

    def timestamp(self, iso: str | None) -> float | None:
        """As ``store.timefmt.parse_iso``: 'Z' or an offset, naive times taken as UTC."""
        if not iso or not isinstance(iso, str):
            return None
        try:
            parsed = self.parse(iso[:-1] if iso[-1] == "Z" else iso)
            if parsed.tzinfo is None:
                return (parsed - self.epoch).total_seconds()
            return parsed.timestamp()
        except (ValueError, OverflowError):
            return None


def clock(ts: float) -> str:
    """A wall time as local HH:MM:SS.mmm (the date is in `naga show`)."""
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]


def local_time(iso: str | None) -> str:
    ts = parse_iso(iso)
    if ts is None:
        return "-"
    from datetime import datetime

    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def size(n: object) -> str:
    if n is None:
        return "-"
    if not isinstance(n, (int, float)):
        return inert(n)
    amount = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{n} B"


def short_commit(commit: str | None, dirty: int | bool | None) -> str:
    """'a4f2c1d*': the commit, starred when the tree was dirty; '-' outside git."""
    if dirty is None:
        return "-"
    return inert((commit or "")[:7] or "(none)") + ("*" if dirty else "")


def value(found: object) -> str:
    """A param or metric value in a table cell: compact numbers, '-' when absent, inert."""
    if found is None:
        return "-"
    if isinstance(found, float):
        return f"{found:.6g}"
    if isinstance(found, (list, dict)):
        import json

        return inert(json.dumps(found))
    return inert(found)


def truncate(text: str, width: int) -> str:
    if width <= 1:
        return text[:width]
    return text if len(text) <= width else text[: width - 1] + "…"


def parse_columns(text: str | None) -> list[str]:
    """``--columns param.lr,loss`` (and the dashboard's column box) as a list of keys."""
    from ..errors import UsageError

    columns = [c.strip() for c in (text or "").split(",") if c.strip()]
    for column in columns:
        if column.startswith(("param.", "metric.")) and not column.partition(".")[2]:
            raise UsageError(
                f"--columns {inert(column)!r} names no key: write param.lr or metric.loss"
            )
    return columns
