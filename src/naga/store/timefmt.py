"""UTC timestamps as ISO 8601 strings with a ``Z``: sortable as text, readable in meta.json."""

from __future__ import annotations

import time


def iso_from_ts(ts: float) -> str:
    micros = round((ts % 1) * 1_000_000)
    if micros == 1_000_000:
        ts, micros = ts + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{micros:06d}Z"


def utc_now_iso() -> str:
    return iso_from_ts(time.time())


def parse_iso(text: str | None) -> float | None:
    """Seconds since the epoch for an ISO timestamp (naive ones are taken as UTC)."""
    if not text:
        return None
    from datetime import datetime, timezone

    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
