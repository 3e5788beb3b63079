"""The plot screen: one metric of the selected runs overlaid, drawn in the terminal by plotext.

Series are read straight from their files (``sdk.series``, no numpy) and thinned to a few
thousand points per run, which is more than a terminal has cells. While a plotted run is running
the plot redraws every second.
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

from ..present.inert import inert
from ..sdk import history
from ..store.layout import StoreLayout
from .details import read_run

MAX_POINTS = 2000
REFRESH_S = 1.0


@dataclass
class Curve:
    label: str
    xs: list[float]
    ys: list[float]


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


class PlotScreen(Screen[None]):
    """Pick a metric on the left; the selected runs' curves on the right."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("x", "toggle_x", "Step/time"),
        Binding("tab", "focus_next", "Focus", show=False),
    ]

    def __init__(self, layout: StoreLayout, run_ids: list[str]) -> None:
        super().__init__()
        self.store_layout, self.run_ids = layout, run_ids
        self.keys = metric_keys(layout, run_ids)
        self.metric: str | None = self.keys[0] if self.keys else None
        self.x_axis = "step"

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
