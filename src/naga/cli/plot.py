"""``naga plot``: one metric of several runs overlaid, saved as a PNG (matplotlib)."""

from __future__ import annotations

import re

import click

from ..errors import NagaError
from ..sdk import history
from ..store import Store


def default_output(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", metric).strip("._") + ".png"


def _pyplot() -> object:
    try:
        import matplotlib
    except ImportError:
        raise NagaError("naga plot needs matplotlib: pip install 'naga[plot]'") from None
    matplotlib.use("Agg")  # files only; never opens a window
    import matplotlib.pyplot as plt

    return plt


@click.command("plot")
@click.argument("runs", nargs=-1, required=True)
@click.option("--metric", "-m", required=True, help="The metric to plot (e.g. loss).")
@click.option(
    "--x",
    "x_axis",
    type=click.Choice(["step", "time"]),
    default="step",
    show_default=True,
    help="Steps, or seconds since each run's first point.",
)
@click.option("--output", "-o", help="PNG file to write [default: <metric>.png].")
def plot(runs: tuple[str, ...], metric: str, x_axis: str, output: str | None) -> None:
    """Plot METRIC of RUNS overlaid, into a PNG file."""
    store = Store.open()
    curves = []
    for selector in runs:
        run_id = store.resolve(selector, newest=True)
        meta = store.get(run_id)
        stream = "sys" if metric.startswith("sys/") else "main"
        metrics_dir = store.layout.metrics_dir(run_id)
        points = history.read_points(metrics_dir, stream, metric)
        if not len(points):
            raise NagaError(
                f"run {run_id} has no metric {metric!r}; `naga metrics {run_id}` lists them"
            )
        label = run_id + (f" {meta['name']}" if meta.get("name") else "")
        start = points.times[0]
        xs = [t - start for t in points.times] if x_axis == "time" else list(points.steps)
        curves.append((label, xs, list(points.values)))
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5))  # type: ignore[attr-defined]
    for label, xs, ys in curves:
        axes.plot(xs, ys, label=label)
    axes.set_xlabel("step" if x_axis == "step" else "seconds")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    axes.legend()
    target = output or default_output(metric)
    try:
        figure.savefig(target, format="png", dpi=120, bbox_inches="tight")
    except OSError as exc:
        raise NagaError(f"cannot write {target}: {exc.strerror or exc}") from exc
    click.echo(target)
