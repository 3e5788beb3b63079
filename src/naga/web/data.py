"""The documents the browser views are drawn from: plain JSON-ready dicts, read from the store.

``naga ui`` serves them one request at a time and ``naga report`` writes them all into one file,
so both front ends draw the same data with the same script. The table comes from the index
alone (``tui.query.load_rows``, the terminal dashboard's loader, with its filter language); a
run's page is ``present.record``'s layout of the record, as ``naga show`` prints it. Every
string in them is record text, untrusted: the page only ever puts it in ``textContent``.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from ..errors import UsageError
from ..lock.lineage import lineage
from ..lock.lockfile import LOCK_NAME
from ..present.fmt import short_commit
from ..present.inert import inert
from ..present.record import run_record
from ..sdk import history
from ..sdk.artifacts import artifacts_root, list_artifacts
from ..store import Store, with_elapsed
from ..store.index import public_doc
from ..tui.query import Query, RowCache, load_rows, parse_query
from .ansi import segments
from .downsample import minmax

CHART_POINTS = 2000  # per series: more than a chart is wide in pixels, a few kB of JSON
LOG_TAIL = 2 << 20  # bytes of output a run page shows (the end: what went wrong is there)
PATCH_MAX = 1 << 20
COMMAND_MAX = 300  # the table's command column; the run page has all of it
TABLE_FIELDS = [
    *("id", "name", "status", "started_at", "duration_s", "git", "command", "depth", "tags")
]
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def runs_table(
    store: Store,
    where: str = "",
    columns: str = "",
    limit: int | None = None,
    cache: RowCache | None = None,
) -> dict[str, Any]:
    """The runs ``where`` selects (the filter box's language), newest first, children under
    their parent, as rows of ``TABLE_FIELDS`` plus one value per extra column: arrays, not
    objects, so 100,000 runs are a few MB."""
    extra = tuple(c.strip() for c in columns.split(",") if c.strip())
    query = parse_query(where, extra) if where.strip() else Query(columns=extra)
    store.check_keys(query.run_filter())  # lrr=1 is an error naming lr, as in naga ls
    snapshot = load_rows(store, query, limit, cache)
    now = time.time()
    tags = _tags(store, [r.id for r in snapshot.rows] if limit is not None else None)
    rows = [
        [
            r.id,
            r.name,
            r.status,
            r.started_at,
            _finite(r.elapsed(now)),
            r.git,
            r.command[:COMMAND_MAX],
            r.depth,
            tags.get(r.id, []),
            *(jsonable(v) for v in r.values),
        ]
        for r in snapshot.rows
    ]
    return {
        "fields": TABLE_FIELDS,
        "columns": list(extra),
        "rows": rows,
        "total": snapshot.total,
        "complete": snapshot.complete,
        "warnings": snapshot.warnings,
    }


def _tags(store: Store, run_ids: list[str] | None) -> dict[str, list[str]]:
    """Each run's tags from the index: of ``run_ids``, or of every run (one scan)."""
    found: dict[str, list[str]] = {}
    if not store.exists():
        return found
    conn = store.index.conn
    if run_ids is None:
        pairs = conn.execute("SELECT run_id, tag FROM tags ORDER BY tag").fetchall()
    else:
        pairs = []
        for at in range(0, len(run_ids), 400):
            batch = run_ids[at : at + 400]
            marks = ",".join("?" * len(batch))
            sql = f"SELECT run_id, tag FROM tags WHERE run_id IN ({marks}) ORDER BY tag"  # noqa: S608
            pairs += conn.execute(sql, batch).fetchall()
    for run_id, tag in pairs:
        found.setdefault(run_id, []).append(inert(tag))
    return found


def run_page(store: Store, selector: str) -> dict[str, Any]:
    """Everything ``naga show`` says about a run, as sections of labelled spans, plus what its
    page shows beside: metric keys, artifacts, the git patch and the lineage from run.lock."""
    meta = with_elapsed(store.get(selector))
    run_id = meta["id"]
    layout = store.layout
    sections = run_record(meta, layout, store.children(run_id), full_paths=False)
    metrics_dir = layout.metrics_dir(run_id)
    return {
        "id": run_id,
        "run": public_doc(meta),
        "sections": [
            {
                "title": s.title,
                "rows": [{"label": r.label, "spans": [list(sp) for sp in r.spans]} for r in s.rows],
            }
            for s in sections
        ],
        "keys": history.list_keys(metrics_dir, "main"),
        "sys_keys": history.list_keys(metrics_dir, "sys"),
        "artifacts": [
            {"name": n, "bytes": b, "image": image_type(n) is not None}
            for n, b in list_artifacts(layout.run_dir(run_id))
        ],
        "patch": _read_text(layout.patch(run_id), PATCH_MAX),
        "lineage": _lineage(layout.run_dir(run_id)),
    }


def run_log(store: Store, selector: str) -> dict[str, Any]:
    """The end of the run's captured output as lines of (text, style) segments: colours kept
    as class names, every other escape sequence dropped."""
    run_id = store.resolve(selector)
    path = store.layout.output(run_id)
    data, size, start = b"", 0, 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        fd = -1
    if fd >= 0:
        with os.fdopen(fd, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - LOG_TAIL)
            f.seek(start)
            data = f.read(LOG_TAIL)
    text = data.decode("utf-8", "replace")
    if start:
        text = text.partition("\n")[2]  # the first line was cut: leave it out
    return {"id": run_id, "bytes": size, "truncated": start > 0, "lines": segments(text)}


def metric_keys(store: Store, run_ids: list[str]) -> list[str]:
    """Every metric key any of the runs logged (main stream first, then system metrics)."""
    found: dict[str, None] = {}
    for stream in ("main", "sys"):
        for run_id in run_ids:
            for key in history.list_keys(store.layout.metrics_dir(run_id), stream):
                found.setdefault(key if stream == "main" else f"sys/{key}", None)
    return list(found)


def metric_series(
    store: Store, selectors: list[str], key: str, points: int = CHART_POINTS
) -> dict[str, Any]:
    """``key`` of each run, downsampled to about ``points`` (min and max of each bucket, so a
    spike survives): steps, times and values, non-finite values as null."""
    stream, key = ("sys", key[4:]) if key.startswith("sys/") else ("main", key)
    out = []
    for selector in selectors:
        run_id = store.resolve(selector)
        meta = store.get(run_id)
        found = history.read_points(store.layout.metrics_dir(run_id), stream, key)
        keep = minmax(found.values, points)
        out.append(
            {
                "id": run_id,
                "name": meta.get("name") or "",
                "count": len(found),
                "step": [found.steps[i] for i in keep],
                "time": [found.times[i] for i in keep],
                "value": [_finite(found.values[i]) for i in keep],
            }
        )
    return {"key": f"{stream}/{key}" if stream == "sys" else key, "series": out}


def metric_groups(
    store: Store, selectors: list[str], key: str, over: list[str], points: int = CHART_POINTS
) -> dict[str, Any]:
    """``key`` of the runs grouped as ``naga plot --over`` groups them (``analysis.seeds``: runs
    that differ only in the ``over`` params): each group's mean at every step all its runs
    logged and, for two runs or more, the 95% interval, downsampled by the mean's min and max."""
    from ..analysis import seeds

    metas = [store.get(selector) for selector in selectors]
    groups = seeds.group_runs(metas, over)
    varying = seeds.varying_params([g.params for g in groups])
    shown = f"sys/{key[4:]}" if key.startswith("sys/") else key
    out = []
    for group in groups:
        found = seeds.band([_points(store, run_id, key) for run_id in group.run_ids])
        if not found.steps:
            raise UsageError(
                f"the runs {', '.join(group.run_ids)} share no step of {shown!r}:"
                " their mean cannot be drawn step by step"
            )
        keep = minmax(found.mean, points)
        out.append(
            {
                "label": seeds.label(group.params, varying),
                "params": {k: jsonable(v) for k, v in group.params.items()},
                "runs": list(group.run_ids),
                "n": len(group.run_ids),
                "step": [found.steps[i] for i in keep],
                "mean": [_finite(found.mean[i]) for i in keep],
                "low": None if found.low is None else [_finite(found.low[i]) for i in keep],
                "high": None if found.high is None else [_finite(found.high[i]) for i in keep],
            }
        )
    return {"key": shown, "over": over, "groups": out}


def _points(store: Store, run_id: str, key: str) -> tuple[list[int], list[float]]:
    """A run's series of ``key`` (``sys/``: a system metric); a run without it is an error, as
    a mean over fewer runs than the group has would not say so."""
    stream, name = ("sys", key[4:]) if key.startswith("sys/") else ("main", key)
    found = history.read_points(store.layout.metrics_dir(run_id), stream, name)
    if not len(found):
        raise UsageError(f"run {run_id} has no metric {key!r}; `naga metrics {run_id}` lists them")
    return list(found.steps), list(found.values)


def summaries(store: Store, selectors: list[str]) -> list[dict[str, Any]]:
    """Each run's params and last metric values: what parallel coordinates draw."""
    out = []
    for selector in selectors:
        meta = store.get(selector)
        out.append(
            {
                "id": meta["id"],
                "name": meta.get("name") or "",
                "params": {k: jsonable(v) for k, v in (meta.get("params") or {}).items()},
                "metrics": {k: jsonable(v) for k, v in (meta.get("metrics") or {}).items()},
            }
        )
    return out


def report_runs(store: Store, run_ids: list[str], points: int) -> list[dict[str, Any]]:
    """What a report holds of each run: its record's main fields and every main-stream series,
    downsampled to ``points``."""
    out = []
    for run_id in run_ids:
        meta = with_elapsed(store.get(run_id))
        git: dict[str, Any] = meta["git"] if isinstance(meta.get("git"), dict) else {}
        metrics_dir = store.layout.metrics_dir(run_id)
        series = {}
        for key in history.list_keys(metrics_dir, "main"):
            found = history.read_points(metrics_dir, "main", key)
            keep = minmax(found.values, points)
            t0 = found.times[0] if len(found) else 0.0
            series[key] = {  # compact: times from the first one in ms, values to 6 digits
                "count": len(found),
                "t0": t0,
                "step": [found.steps[i] for i in keep],
                "time": [round(found.times[i] - t0, 3) for i in keep],
                "value": [_short(found.values[i]) for i in keep],
            }
        out.append(
            {
                "id": run_id,
                "name": meta.get("name") or "",
                "status": meta.get("status"),
                "command": meta.get("command") or "",
                "started_at": meta.get("started_at"),
                "duration_s": _finite(meta.get("duration_s")),
                "git": short_commit(git.get("commit"), git.get("dirty")),
                "git_commit": git.get("commit"),
                "git_branch": git.get("branch"),
                "tags": meta.get("tags") or [],
                "params": meta.get("params") or {},
                "metrics": meta.get("metrics") or {},
                "series": series,
            }
        )
    return out


def image_type(name: str) -> str | None:
    """The content type an artifact is shown inline with, if it is an image a browser draws
    without running anything (SVG is not among them: it can hold scripts)."""
    return IMAGE_TYPES.get(os.path.splitext(name)[1].lower())


def _lineage(run_dir: str) -> dict[str, Any] | None:
    lock = os.path.join(artifacts_root(run_dir), LOCK_NAME)
    if not os.path.isfile(lock):
        return None
    from pathlib import Path

    return lineage(Path(lock)).as_dict()


def _read_text(path: str, limit: int) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _short(value: float) -> float | None:
    """A value to 6 significant digits: what a chart can show, in a third of the text."""
    return float(f"{value:.6g}") if math.isfinite(value) else None


def jsonable(value: Any) -> Any:
    """A param or metric value as the table can sort it: numbers and text stay, the rest
    (lists, dicts) becomes its text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _finite(value)
    import json

    return json.dumps(value, default=str)
