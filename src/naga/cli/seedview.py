"""``naga compare --over``'s text: the groups, then one table per metric followed by which
differences between groups are within seed noise and which are not. No arithmetic here: every
number comes from ``analysis.seeds``."""

from __future__ import annotations

from ..analysis.seeds import SeedComparison
from ..present.fmt import value
from ..present.inert import inert
from ..present.terminal import Cell, style, table

WIDTH = 10_000  # never cut: the runs column is for reading and for scripts alike


def seed_table(found: SeedComparison) -> str:
    over = ", ".join(inert(k) for k in found.over)
    runs = sum(g.n for g in found.groups)
    lines = [
        f"{runs} runs in {_plural(len(found.groups), 'group')} over {over} (runs that differ"
        f" only in {over}); intervals: 95%, Student's t with n-1 degrees of freedom",
        _groups(found),
    ]
    for metric in found.metrics:
        lines += ["", style(inert(metric), bold=True), _metric_table(found, metric)]
        lines += _noise_lines(found, metric)
    if any(g.n == 1 for g in found.groups):
        lines += ["", "a group of one run has no std and no interval, and is not judged"]
    if found.left_out:
        left = ", ".join(inert(k) for k in found.left_out)
        lines.append(style(f"not logged by every run, left out: {left} (ask: --metric)", dim=True))
    return "\n".join(lines)


def _groups(found: SeedComparison) -> str:
    headers = ["GROUP", *(inert(k) for k in found.varying), "N", "RUNS"]
    rows: list[list[Cell]] = []
    for i, group in enumerate(found.groups):
        values = [(value(group.params.get(k)), None) for k in found.varying]
        rows.append(
            [(_name(i), "yellow"), *values, (str(group.n), None), (_ids(group.run_ids), None)]
        )
    return table(headers, rows, WIDTH)


def _metric_table(found: SeedComparison, metric: str) -> str:
    rows: list[list[Cell]] = []
    for i, group in enumerate(found.groups):
        stats = group.metrics[metric]
        if stats.ci95 is None or stats.std is None:
            spread = [("-", None), ("- (one run)", None)]
        else:
            low, high = stats.ci95
            spread = [(_num(stats.std), None), (f"[{_num(low)}, {_num(high)}]", None)]
        rows.append([(_name(i), "yellow"), (str(stats.n), None), (_num(stats.mean), None), *spread])
    return table(["GROUP", "N", "MEAN", "STD", "95% CI"], rows, WIDTH)


def _noise_lines(found: SeedComparison, metric: str) -> list[str]:
    noise, apart = found.pairs(metric)
    if not noise and not apart:
        return ["  fewer than two groups with an interval: nothing to judge"]
    return [
        f"  within seed noise (intervals overlap): {_pairs(noise)}",
        f"  beyond seed noise (intervals apart): {_pairs(apart)}",
    ]


def _pairs(pairs: list[tuple[int, int]]) -> str:
    return ", ".join(f"{_name(i)}–{_name(j)}" for i, j in pairs) or "none"


def _name(index: int) -> str:
    return f"G{index + 1}"


def _ids(run_ids: tuple[str, ...]) -> str:
    return " ".join(inert(i) for i in run_ids)


def _num(x: float) -> str:
    return f"{x:.4g}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
