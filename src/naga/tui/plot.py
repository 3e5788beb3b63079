"""The plot screen: one metric of the selected runs overlaid, drawn in the terminal by plotext.

Series are read straight from their files (``sdk.series``, no numpy) and thinned to a few
thousand points per run, which is more than a terminal has cells. While a plotted run is running
the plot redraws every second. ``o`` groups the runs over their seed param (``analysis.seeds``)
and draws each group's mean with its 95% interval as two dotted lines in the group's colour
(plotext has no filled band).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from ..errors import NagaError
from ..present.inert import inert
from ..sdk import history
from ..store.layout import StoreLayout
from .details import read_run

MAX_POINTS = 2000
REFRESH_S = 1.0
COLOURS = ("blue", "red", "green", "orange", "magenta", "cyan", "yellow", "white")


@dataclass
class Curve:
    label: str
    xs: list[float]
    ys: list[float]
    low: list[float] | None = None  # a seed group's 95% interval, when it has one
    high: list[float] | None = None


def metric_keys(layout: StoreLayout, run_ids: list[str]) -> list[str]:
    """Every metric any of the runs logged: the run's own first, system metrics last."""
    keys: set[str] = set()
    for run_id in run_ids:
        for stream in ("main", "sys"):
            keys.update(history.list_keys(layout.metrics_dir(run_id), stream))
    return sorted(keys, key=lambda k: (k.startswith("sys/"), k))


def read_curve(layout: StoreLayout, run_id: str, key: str, x_axis: str) -> Curve | None:
    stream = "sys" if key.startswith("sys/") else "main"
    points = history.read_points(layout.metrics_dir(run_id), stream, key)
    if not len(points):
        return None
    stride = max(1, len(points) // MAX_POINTS)
    values = list(points.values[::stride])
    if x_axis == "time":
        start = points.times[0]
        xs = [t - start for t in points.times[::stride]]
    else:
        xs = [float(s) for s in points.steps[::stride]]
    meta = read_run(layout, run_id)
    name = meta.get("name") if isinstance(meta, dict) else None
    return Curve(run_id + (f" {inert(name)}" if name else ""), xs, values)


def read_bands(layout: StoreLayout, run_ids: list[str], key: str) -> tuple[list[Curve], str]:
    """The runs' seed groups as curves (mean, interval), and what the title says of them: which
    params they were grouped over, or why they could not be (no seed param, a run without it,
    scipy missing)."""
    from ..analysis.seeds import group_bands, group_runs, label, seed_params, varying_params

    metas = [m for m in (read_run(layout, r) for r in run_ids) if isinstance(m, dict)]
    over = seed_params(metas)
    if not over:
        return [], "none of these runs has a seed param (seed, *.seed) to group over"
    try:
        groups = group_runs(metas, over)
        dirs = {run_id: layout.metrics_dir(run_id) for g in groups for run_id in g.run_ids}
        bands = group_bands(dirs, groups, key)
    except NagaError as exc:
        return [], str(exc)
    varying = varying_params([g.params for g in groups])
    curves = []
    for group, found in zip(groups, bands, strict=True):
        stride = max(1, len(found.steps) // MAX_POINTS)
        name = f"{inert(label(group.params, varying))} (n={len(group.run_ids)})"
        low = found.low[::stride] if found.low else None
        high = found.high[::stride] if found.high else None
        xs = [float(s) for s in found.steps[::stride]]
        curves.append(Curve(name, xs, found.mean[::stride], low, high))
    return curves, f"over {', '.join(inert(k) for k in over)}, 95% intervals dotted"


class PlotScreen(Screen[None]):
    """Pick a metric on the left; the selected runs' curves on the right."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("x", "toggle_x", "Step/time"),
        Binding("o", "toggle_over", "Over seed"),
        Binding("tab", "focus_next", "Focus", show=False),
    ]

    def __init__(self, layout: StoreLayout, run_ids: list[str]) -> None:
        super().__init__()
        self.store_layout, self.run_ids = layout, run_ids
        self.keys = metric_keys(layout, run_ids)
        self.metric: str | None = self.keys[0] if self.keys else None
        self.x_axis = "step"
        self.over = False  # seed groups (mean and interval) instead of one curve per run

    def compose(self) -> ComposeResult:
        yield Static(id="plot-title")
        with Horizontal():
            options = [Option(Text(inert(k)), id=k) for k in self.keys]  # Text: no markup
            yield OptionList(*options, id="plot-metrics")
            yield PlotextPlot(id="plot")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        if self.metric is not None:
            self.query_one(OptionList).highlighted = 0
        self.draw()
        self.set_interval(REFRESH_S, self._refresh_running)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.metric = event.option.id
        self.draw()

    def action_toggle_x(self) -> None:
        self.x_axis = "time" if self.x_axis == "step" else "step"
        self.draw()

    def action_toggle_over(self) -> None:
        self.over = not self.over
        self.draw()

    def _refresh_running(self) -> None:
        for run_id in self.run_ids:
            meta = read_run(self.store_layout, run_id)
            if isinstance(meta, dict) and meta.get("status") == "running":
                self.draw()
                return

    def draw(self) -> None:
        title = self.query_one("#plot-title", Static)
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if self.metric is None:
            title.update(Text(" none of these runs logged metrics", style="yellow"))
            plot.refresh()
            return
        if self.over:
            self._draw_groups(self.metric)
            return
        curves = [read_curve(self.store_layout, r, self.metric, self.x_axis) for r in self.run_ids]
        found = [c for c in curves if c is not None]
        for curve in found:
            plt.plot(curve.xs, curve.ys, label=curve.label, marker="braille")
        plt.title(inert(self.metric))
        plt.xlabel("step" if self.x_axis == "step" else "seconds since the first point")
        missing = len(curves) - len(found)
        note = f"  ({missing} of the runs did not log it)" if missing else ""
        runs = f"{len(found)} run{'s' if len(found) != 1 else ''}"
        title.update(Text(f" {inert(self.metric)}: {runs}, x = {self.x_axis}{note}", style="bold"))
        plot.refresh()

    def _draw_groups(self, metric: str) -> None:
        """Each seed group's mean, its interval as dotted lines in the same colour; x = step."""
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        curves, note = read_bands(self.store_layout, self.run_ids, metric)
        for i, curve in enumerate(curves):
            colour = COLOURS[i % len(COLOURS)]
            plt.plot(curve.xs, curve.ys, label=curve.label, marker="braille", color=colour)
            for edge in (curve.low, curve.high):
                if edge is not None:
                    plt.plot(curve.xs, edge, marker="dot", color=colour)
        plt.title(inert(metric))
        plt.xlabel("step")
        groups = f"{len(curves)} group{'s' if len(curves) != 1 else ''}"
        text, look = (
            (f" {inert(metric)}: {groups} {note}", "bold") if curves else (f" {note}", "yellow")
        )
        self.query_one("#plot-title", Static).update(Text(text, style=look))
        plot.refresh()
