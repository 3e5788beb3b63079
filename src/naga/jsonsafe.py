"""Strict JSON for what naga prints: NaN and infinities become the strings "NaN", "Infinity"
and "-Infinity", which every JSON parser reads (Python's json would write bare NaN, which
strict parsers such as jq and JavaScript's JSON.parse reject)."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by its name."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if obj != obj else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, **options: Any) -> str:
    try:
        return json.dumps(obj, allow_nan=False, **options)
    except ValueError:  # only when there is a NaN or an infinity somewhere: walk it then
        return json.dumps(finite(obj), allow_nan=False, **options)
