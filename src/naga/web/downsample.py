"""Which points of a long series a chart needs: the min and the max of each bucket.

A chart a thousand pixels wide draws a million points as a thousand columns; keeping each
bucket's lowest and highest point (in their order) draws the same picture, spikes included,
from 2,000 points. ``min``/``max``/``index`` on array slices run in C: a million points take
tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence


def minmax(values: Sequence[float], points: int) -> list[int]:
    """Indexes of the points to keep, ascending: all when there are at most ``points``, else
    the first and last and each bucket's min and max."""
    n = len(values)
    if n <= points or points < 4:
        return list(range(n))
    buckets = max(1, (points - 2) // 2)
    keep = [0]
    width = (n - 2) / buckets
    for b in range(buckets):
        start = 1 + int(b * width)
        end = min(n - 1, 1 + int((b + 1) * width))
        if start >= end:
            continue
        window = values[start:end]
        low, high = min(window), max(window)  # a NaN among them may hide an extreme: rare
        keep.extend(sorted({start + _index(window, low), start + _index(window, high)}))
    keep.append(n - 1)
    return keep


def _index(window: Sequence[float], value: float) -> int:
    try:
        return window.index(value)
    except ValueError:  # NaN is not equal to itself: keep the bucket's first point
        return 0
