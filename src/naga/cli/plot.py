"""``naga plot``: one metric of several runs overlaid, saved as a PNG (matplotlib); with
``--over seed``, each seed group's mean as a line and its 95% interval as a band (the groups and
the statistics come from ``analysis.seeds``)."""

from __future__ import annotations

import os
import re
from typing import Any

import click

from ..errors import NagaError, UsageError
from ..sdk import history
from ..store import Store
from .groups import group_options, selected_runs

Curve = tuple[str, list[float], list[float], list[float] | None, list[float] | None]


def default_output(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", metric).strip("._") + ".png"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise NagaError("naga plot needs matplotlib: pip install 'naga-runs[plot]'") from None
    matplotlib.use("Agg")  # files only; never opens a window
    import matplotlib.pyplot as plt

    return plt


@click.command("plot")
@group_options
@click.option("--metric", "-m", required=True, help="The metric to plot (e.g. loss).")
@click.option(
    "--x",
    "x_axis",
    type=click.Choice(["step", "time"]),
    default="step",
    show_default=True,
    help="Steps, or seconds since each run's first point.",
)
@click.option(
    "--output", "-o", help="The file: .png, .svg or .pdf, by its name [default: <metric>.png]."
)
def plot(
    runs: tuple[str, ...],
    over: tuple[str, ...],
    metric: str,
    x_axis: str,
    output: str | None,
    **selection: Any,
) -> None:
    """Plot METRIC of RUNS (or --sweep ID, or ls's filters) overlaid, into a PNG file.

    With --over seed: one line per group of runs that differ only in the seed, its mean at each
    step, with the 95% interval as a band.
    """
    if over and x_axis != "step":
        raise UsageError("--over averages runs step by step: it goes with --x step, not --x time")
    target = output or default_output(metric)
    kind = image_format(target)
    store = Store.open()
    metas = selected_runs(store, runs, selection, verb="plot")
    curves = _bands(store, metas, over, metric) if over else _curves(store, metas, metric, x_axis)
    _draw(curves, metric, "step" if x_axis == "step" else "seconds", target, kind)
    click.echo(target)


FORMATS = ("png", "svg", "pdf")


def image_format(target: str) -> str:
    """The format the file's name asks for (``-o loss.svg`` was a PNG named .svg); a name
    without a suffix is a PNG."""
    suffix = os.path.splitext(target)[1].lower().lstrip(".")
    if not suffix:
        return "png"
    if suffix not in FORMATS:
        raise UsageError(f"-o {target}: naga plot writes .png, .svg or .pdf files, not .{suffix}")
    return suffix


def _curves(store: Store, metas: list[dict[str, Any]], metric: str, x_axis: str) -> list[Curve]:
    curves: list[Curve] = []
    stream = "sys" if metric.startswith("sys/") else "main"
    for meta in metas:
        run_id = meta["id"]
        points = history.read_points(store.layout.metrics_dir(run_id), stream, metric)
        if not len(points):
            raise NagaError(
                f"run {run_id} has no metric {metric!r}; `naga metrics {run_id}` lists them"
            )
        label = run_id + (f" {meta['name']}" if meta.get("name") else "")
        start = points.times[0]
        steps = list(map(float, points.steps))
        xs = [t - start for t in points.times] if x_axis == "time" else steps
        curves.append((label, xs, list(points.values), None, None))
    return curves


def _bands(
    store: Store, metas: list[dict[str, Any]], over: tuple[str, ...], metric: str
) -> list[Curve]:
    from ..analysis.seeds import group_bands, group_runs, label, varying_params

    groups = group_runs(metas, over)
    dirs = {m["id"]: store.layout.metrics_dir(m["id"]) for m in metas}
    varying = varying_params([g.params for g in groups])
    return [
        (f"{label(g.params, varying)} (n={len(g.run_ids)})", list(b.steps), b.mean, b.low, b.high)
        for g, b in zip(groups, group_bands(dirs, groups, metric), strict=True)
    ]


def _draw(curves: list[Curve], metric: str, x_label: str, target: str, kind: str) -> None:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5))
    for label, xs, ys, low, high in curves:
        (line,) = axes.plot(xs, ys, label=label, marker="o" if len(xs) == 1 else None)
        if low is not None and high is not None:
            axes.fill_between(xs, low, high, color=line.get_color(), alpha=0.25, linewidth=0)
    axes.set_xlabel(x_label)
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    axes.legend()
    try:
        figure.savefig(target, format=kind, dpi=120, bbox_inches="tight")
    except OSError as exc:
        raise NagaError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        plt.close(figure)
