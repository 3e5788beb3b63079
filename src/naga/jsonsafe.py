"""Strict JSON in and out of naga.

Out: NaN and infinities become the strings "NaN", "Infinity" and "-Infinity", which every JSON
parser reads (Python's json would write bare NaN, which strict parsers such as jq and
JavaScript's JSON.parse reject). naga reads these strings back as floats where a number is
expected (metric values: ``number``).

In: a record may come from anyone (``naga pull``, a shared store), so ``loads_record`` turns
everything a hostile file can do to a parser (invalid UTF-8, numbers with 100,000 digits,
nesting deep enough to exhaust the stack) into one ``UnsafeJSON`` that callers report and skip.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Deeper than any record naga writes (params nest a few levels) and shallow enough for every
# recursive reader and writer of a record (renderers, the encoder, ``finite``).
MAX_DEPTH = 64
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class UnsafeJSON(ValueError):
    """A document naga will not read: not JSON, or JSON no reader should have to walk."""


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


def number(value: Any) -> Any:
    """A stored number as a float again: the strings written for NaN and the infinities."""
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    return value


def loads_record(raw: bytes | str) -> Any:
    """Parse a file from a run directory; ``UnsafeJSON`` if it is not JSON or nests deeper
    than ``MAX_DEPTH``."""
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise UnsafeJSON("nested too deeply") from None
    except ValueError as exc:  # bad JSON, invalid UTF-8, an integer of more than 4300 digits
        raise UnsafeJSON(str(exc)) from None
    if _openings(raw) > MAX_DEPTH and _depth_exceeds(doc, MAX_DEPTH):  # most records: no walk
        raise UnsafeJSON(f"nested more than {MAX_DEPTH} levels deep")
    return doc


def _openings(raw: bytes | str) -> int:
    """How many objects and arrays open in ``raw`` (strings included): a bound on its depth
    counted in C, so the walk below runs only for the rare record that could be too deep."""
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{")
    return raw.count(b"[") + raw.count(b"{")


def _depth_exceeds(doc: Any, limit: int) -> bool:
    """Iteratively (a recursive walk is what a deep document would break)."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
