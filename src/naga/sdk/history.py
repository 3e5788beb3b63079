"""A metric's history across a run's attempts: one value per step, the latest attempt's.

A sweep task that Slurm preempts, or a job that Slurm requeues, is one run with several
attempts (``meta.json``'s ``attempts``). Attempt N > 1 of a run writes its metrics into streams
of its own, ``metrics/<stream>~N/``, beside the first attempt's ``metrics/<stream>/``: nothing an
earlier attempt wrote is ever rewritten or deleted.

Readers see one history. When an attempt logs step ``s`` of a metric, the points that earlier
attempts logged at steps >= ``s`` are *superseded*: a program that resumed from the checkpoint of
step 100 replaces what the first attempt logged after step 100, and a program that started over
at step 0 replaces everything. Superseded points stay readable (``superseded=True``, or the raw
stream ``<stream>~N`` by name).
"""

from __future__ import annotations

import os
from array import array

from ..store.sdkstate import attempt_stream, split_stream
from . import series


def attempts_of(metrics_dir: str, stream: str) -> list[str]:
    """The directories of ``stream`` in ``metrics_dir``, first attempt first."""
    try:
        names = os.listdir(metrics_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        base, attempt = split_stream(name)
        if base == stream:
            found.append((attempt, name))
    return [name for _, name in sorted(found)]


def list_keys(metrics_dir: str, stream: str) -> list[str]:
    keys: set[str] = set()
    for name in attempts_of(metrics_dir, stream):
        keys.update(series.list_keys(os.path.join(metrics_dir, name)))
    return sorted(keys)


def series_files(metrics_dir: str, stream: str, key: str) -> list[str]:
    """The files holding ``key`` of ``stream``, one per attempt that logged it, in order."""
    name = series.file_name(key)
    paths = [os.path.join(metrics_dir, d, name) for d in attempts_of(metrics_dir, stream)]
    return [p for p in paths if os.path.isfile(p)]


def read_points(
    metrics_dir: str, stream: str, key: str, *, superseded: bool = False
) -> series.Points:
    """The history of ``key``: every attempt's points, minus what later attempts superseded
    (with ``superseded``, every point ever logged, attempt after attempt)."""
    parts = [series.read_points(path) for path in series_files(metrics_dir, stream, key)]
    if len(parts) == 1:
        return parts[0]
    if not superseded:
        parts = _current(parts)
    merged = series.Points()
    for part in parts:
        merged.steps.extend(part.steps)
        merged.times.extend(part.times)
        merged.values.extend(part.values)
    return merged


def _current(parts: list[series.Points]) -> list[series.Points]:
    """Each attempt's points below the first step any later attempt logged."""
    kept: list[series.Points] = []
    cut: int | None = None
    for part in reversed(parts):
        if cut is None:
            kept.append(part)
        else:
            kept.append(_below(part, cut))
        if len(part.steps):
            first = min(part.steps)
            cut = first if cut is None else min(cut, first)
    return kept[::-1]


def _below(part: series.Points, cut: int) -> series.Points:
    if not len(part.steps) or max(part.steps) < cut:
        return part
    out = series.Points()
    keep = [i for i, step in enumerate(part.steps) if step < cut]
    out.steps = array("q", (part.steps[i] for i in keep))
    out.times = array("d", (part.times[i] for i in keep))
    out.values = array("d", (part.values[i] for i in keep))
    return out


__all__ = [
    "attempt_stream",
    "attempts_of",
    "list_keys",
    "read_points",
    "series_files",
    "split_stream",
]
