"""Seed groups: runs that differ only in some params (``--over seed``), and what their final
metrics and curves say once that variation is averaged out.

A group is the runs whose params are equal once the ``over`` params are set aside (and a sweep's
bookkeeping, ``sweep.id`` and ``sweep.task``, which differs in every run of a sweep). For each
final metric a group gets n, the mean, the sample standard deviation (n - 1 in the denominator)
and a 95% confidence interval of the mean from Student's t with n - 1 degrees of freedom:
``mean ± t(0.975, n-1) · std / √n``. A group of one run has no spread and no interval (None,
never a made-up 0).

Two groups whose intervals overlap are *within seed noise* for that metric. It is the
conservative reading: intervals apart are a difference these seeds show; overlapping ones are
not shown to differ (a t-test might still call some of them different, never the other way).

Strict on purpose, since a seed silently dropped or merged changes a reported number:

- a run without one of the ``over`` params is refused, with the runs named;
- metrics asked for must be a finite number in every run; by default every metric that all the
  runs logged is summarised (the others are reported as left out), and a NaN or infinite final
  value is refused, naming the run and the metric.

Sums go through ``math.fsum`` (exactly rounded), so a group's numbers do not depend on the order
its runs were listed in. Curves (``band``) are averaged over the steps every run of the group
logged, with non-finite points left out of the run that logged them.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import MissingExtra, NagaError, UsageError

IGNORED = frozenset({"sweep.id", "sweep.task"})  # differ in every run of a sweep
LEVEL = 0.95
INSTALL = "pip install 'naga-runs[analysis]'"

Run = Mapping[str, Any]  # a run record: at least "id", "params", "metrics" (last values)


@dataclass(frozen=True)
class Stats:
    """One metric over the runs of one group."""

    n: int
    mean: float
    std: float | None  # None for one run
    ci95: tuple[float, float] | None  # None for one run

    def to_json(self) -> dict[str, Any]:
        ci = list(self.ci95) if self.ci95 is not None else None
        return {"mean": self.mean, "std": self.std, "ci95": ci}


@dataclass(frozen=True)
class RunGroup:
    """Runs that differ only in the ``over`` params: what they share, and their ids."""

    params: dict[str, Any]
    run_ids: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    params: dict[str, Any]
    run_ids: tuple[str, ...]
    metrics: dict[str, Stats]

    @property
    def n(self) -> int:
        return len(self.run_ids)

    def to_json(self) -> dict[str, Any]:
        metrics = {key: stats.to_json() for key, stats in self.metrics.items()}
        return {"params": self.params, "n": self.n, "metrics": metrics}


@dataclass(frozen=True)
class SeedComparison:
    """The groups of a ``compare --over`` and the facts its renderers need."""

    over: tuple[str, ...]
    groups: list[Group]
    metrics: list[str]
    varying: list[str]  # params whose value differs between groups: what labels a group
    left_out: list[str] = field(default_factory=list)  # metrics not logged by every run

    def pairs(self, metric: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(pairs of groups within seed noise for ``metric``, pairs apart), as indexes into
        ``groups``; a group of one run has no interval and is in neither."""
        noise: list[tuple[int, int]] = []
        apart: list[tuple[int, int]] = []
        judged = [i for i, g in enumerate(self.groups) if g.metrics[metric].ci95 is not None]
        for a_pos, i in enumerate(judged):
            for j in judged[a_pos + 1 :]:
                a, b = self.groups[i].metrics[metric].ci95, self.groups[j].metrics[metric].ci95
                assert a is not None and b is not None
                (noise if overlap(a, b) else apart).append((i, j))
        return noise, apart

    def to_json(self) -> dict[str, Any]:
        return {"groups": [g.to_json() for g in self.groups]}


@lru_cache(maxsize=256)
def t_quantile(dof: int) -> float:
    """Student's t at (1 + LEVEL) / 2 for ``dof`` degrees of freedom, from scipy (an optional
    extra: a hand-rolled inverse CDF is exactly what a reviewer should not have to check).
    ``scipy.special.stdtrit`` is what ``scipy.stats.t.ppf`` computes with; importing it costs a
    fifth of importing ``scipy.stats`` (0.4 s against 2 s on a busy machine)."""
    try:
        from scipy.special import stdtrit
    except ImportError:
        raise MissingExtra(f"confidence intervals need scipy: {INSTALL}") from None
    return float(stdtrit(dof, (1 + LEVEL) / 2))


def summarize(values: Sequence[float]) -> Stats:
    """n, mean, sample standard deviation and the 95% t interval of the mean of ``values``."""
    n = len(values)
    if n == 0:
        raise ValueError("summarize() needs at least one value")
    scale = _scale(values)
    scaled = [v / scale for v in values]  # exact: a power of two; nothing overflows below
    # n equal values: their mean is that value, not fsum's correctly rounded 3 * 0.1 / 3
    mean_s = scaled[0] + 0.0 if scaled.count(scaled[0]) == n else math.fsum(scaled) / n
    mean = mean_s * scale
    if n == 1:
        return Stats(1, mean, None, None)
    std = math.sqrt(math.fsum((v - mean_s) * (v - mean_s) for v in scaled) / (n - 1)) * scale
    half = t_quantile(n - 1) * std / math.sqrt(n)
    return Stats(n, mean, std, (mean - half, mean + half))


def _scale(values: Sequence[float]) -> float:
    """A power of two near the largest magnitude. Dividing by it is exact, so the mean and std
    come out as the plain formulas give them, but a record holding 1e308 (records are untrusted)
    cannot overflow a sum into an exception."""
    largest = max(abs(v) for v in values)
    if largest == 0 or not math.isfinite(largest):
        return 1.0
    return math.ldexp(1.0, math.frexp(largest)[1] - 1)


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def group_runs(runs: Sequence[Run], over: Sequence[str]) -> list[RunGroup]:
    """The runs in groups that differ only in the ``over`` params, in a fixed order (by the
    params that tell the groups apart), whatever order the runs came in."""
    if not runs:
        raise NagaError("no runs to group: name runs, a sweep (--sweep ID) or filters")
    if not over:
        raise UsageError("name the param(s) to group over: --over seed")
    _check_over(runs, over)
    drop = IGNORED.union(over)
    found: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for run in runs:
        params = {k: v for k, v in _params(run).items() if k not in drop}
        key = json.dumps(params, sort_keys=True, default=str)
        found.setdefault(key, (params, []))[1].append(str(run["id"]))
    groups = [RunGroup(params, tuple(sorted(ids))) for params, ids in found.values()]
    varying = varying_params([g.params for g in groups])
    return sorted(groups, key=lambda g: _order(g.params, varying))


def varying_params(params: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys whose value (or presence) is not the same in every mapping, sorted."""
    keys = sorted({k for p in params for k in p})
    return [k for k in keys if len({_canon(p[k]) if k in p else "\0" for p in params}) > 1]


def compare_over(
    runs: Sequence[Run],
    over: Sequence[str],
    metrics: Sequence[str] = (),
    *,
    with_sys: bool = False,
) -> SeedComparison:
    """Group ``runs`` over the ``over`` params and summarise each final metric per group:
    ``metrics`` if given, else every metric all the runs logged (system metrics with
    ``with_sys``)."""
    groups = group_runs(runs, over)
    chosen, left_out = _choose_metrics(runs, metrics, with_sys)
    by_id = {str(run["id"]): run for run in runs}
    summarised = []
    for group in groups:
        stats = {key: summarize([_final(by_id[i], key) for i in group.run_ids]) for key in chosen}
        summarised.append(Group(group.params, group.run_ids, stats))
    varying = varying_params([g.params for g in groups])
    return SeedComparison(tuple(over), summarised, chosen, varying, left_out)


@dataclass(frozen=True)
class Band:
    """A group's curve: at each step every run of the group logged, the mean and (for two runs
    or more) the 95% interval."""

    steps: list[int]
    mean: list[float]
    low: list[float] | None
    high: list[float] | None


def band(curves: Sequence[tuple[Sequence[int], Sequence[float]]]) -> Band:
    """Average curves (steps, values) step by step; a step logged twice counts its last value."""
    points = [
        {s: v for s, v in zip(steps, values, strict=True) if math.isfinite(v)}
        for steps, values in curves
    ]
    common = sorted(set.intersection(*(set(p) for p in points))) if points else []
    stats = [summarize([p[step] for p in points]) for step in common]
    if len(points) < 2:
        return Band(common, [s.mean for s in stats], None, None)
    low = [s.ci95[0] if s.ci95 else s.mean for s in stats]
    high = [s.ci95[1] if s.ci95 else s.mean for s in stats]
    return Band(common, [s.mean for s in stats], low, high)


def group_bands(
    metrics_dirs: Mapping[str, str], groups: Sequence[RunGroup], metric: str
) -> list[Band]:
    """Each group's ``band`` of ``metric``, read from its runs' series (``metrics_dirs``: run id
    to its metrics directory). A run that never logged the metric, or a group whose runs share
    no step, is an error: a mean over fewer seeds than the group has would not say so."""
    from ..sdk import history

    stream = "sys" if metric.startswith("sys/") else "main"
    bands = []
    for group in groups:
        curves = []
        for run_id in group.run_ids:
            points = history.read_points(metrics_dirs[run_id], stream, metric)
            if not len(points):
                raise NagaError(
                    f"run {run_id} has no metric {metric!r}; `naga metrics {run_id}` lists them"
                )
            curves.append((points.steps, points.values))
        found = band(curves)
        if not found.steps:
            raise NagaError(
                f"the runs {', '.join(group.run_ids)} share no step of {metric!r}:"
                " their mean cannot be drawn step by step"
            )
        bands.append(found)
    return bands


def seed_params(runs: Sequence[Run]) -> list[str]:
    """The params the runs have that name a seed (``seed``, ``train.seed``): what the dashboard
    groups over when asked to, with no place to type a name."""
    keys = {k for run in runs for k in _params(run)}
    return sorted(k for k in keys if k == "seed" or k.endswith(".seed"))


def label(params: Mapping[str, Any], varying: Sequence[str]) -> str:
    """A group's name in a legend or a table: its values of the params that vary."""
    shown = [f"{k}={_text(params[k]) if k in params else '-'}" for k in varying]
    return " ".join(shown) or "all runs"


# -- helpers ----------------------------------------------------------------------------------


def _params(run: Run) -> dict[str, Any]:
    params = run.get("params")
    return dict(params) if isinstance(params, Mapping) else {}


def _check_over(runs: Sequence[Run], over: Sequence[str]) -> None:
    for key in over:
        lacking = [str(r["id"]) for r in runs if key not in _params(r)]
        if len(lacking) == len(runs):
            raise UsageError(f"--over {key}: {_no_param(runs, key)}")
        if lacking:
            shown = ", ".join(lacking[:5]) + (", ..." if len(lacking) > 5 else "")
            raise UsageError(
                f"--over {key}: {len(lacking)} of the {len(runs)} runs"
                f" {'has' if len(lacking) == 1 else 'have'} no param {key!r}"
                f" ({shown}); leave them out (name the runs, or narrow --where/--tag/--status)"
            )


def _no_param(runs: Sequence[Run], key: str) -> str:
    known = sorted({k for r in runs for k in _params(r)} - IGNORED)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    return f"none of the {len(runs)} runs has a param {key!r}{hint} (they have: {listed or 'none'})"


def _choose_metrics(
    runs: Sequence[Run], asked: Sequence[str], with_sys: bool
) -> tuple[list[str], list[str]]:
    keysets = [set(_metrics(r)) for r in runs]
    every = set.intersection(*keysets)
    anyone = set.union(*keysets)
    if asked:
        for key in asked:
            if key not in anyone:
                known = ", ".join(sorted(anyone)[:12]) or "none"
                raise UsageError(f"no run has a metric {key!r} (they have: {known})")
            lacking = [
                str(r["id"]) for r, keys in zip(runs, keysets, strict=True) if key not in keys
            ]
            if lacking:
                raise NagaError(
                    f"{len(lacking)} of the {len(runs)} runs"
                    f" {'has' if len(lacking) == 1 else 'have'} no final {key!r}"
                    f" ({', '.join(lacking[:5])}); leave them out, e.g. with --status completed"
                )
        return list(dict.fromkeys(asked)), []
    shown = sorted(k for k in every if with_sys or not k.startswith("sys/"))
    if not shown:
        raise NagaError(
            "these runs have no metric in common to summarise; `naga compare RUN RUN` shows"
            " what each logged"
        )
    left_out = sorted(k for k in anyone - every if with_sys or not k.startswith("sys/"))
    return shown, left_out


def _metrics(run: Run) -> dict[str, Any]:
    metrics = run.get("metrics")
    return dict(metrics) if isinstance(metrics, Mapping) else {}


def _final(run: Run, key: str) -> float:
    value = _metrics(run)[key]
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    shown = value if isinstance(value, (int, float)) else _text(value)[:40]
    raise NagaError(
        f"run {run['id']}'s final {key} is {shown}, not a finite number: leave the run out,"
        " or choose other metrics with --metric"
    )


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _canon(value)


def _order(params: Mapping[str, Any], varying: Sequence[str]) -> tuple[Any, ...]:
    """Sort key: numbers by value before text, a missing param last, then the whole params."""
    parts: list[tuple[int, float, str]] = []
    for key in varying:
        value = params.get(key)
        if key not in params:
            parts.append((3, 0.0, ""))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            finite = math.isfinite(value)
            parts.append((0, float(value), "") if finite else (1, 0.0, _canon(value)))
        else:
            parts.append((2, 0.0, _canon(value)))
    return (*parts, _canon(params))
