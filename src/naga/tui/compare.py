"""The compare screen: marked runs side by side, params and final metrics, differences lit.

The same rows as ``naga compare`` (status, duration, every param, every metric's last value),
read from the run records; a row whose values differ is highlighted, and ``d`` keeps only those.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ..present.fmt import duration, value
from ..present.inert import inert
from ..store.layout import StoreLayout
from .details import read_run

Row = tuple[str, list[Any], bool]


def comparison(metas: list[dict[str, Any]], with_sys: bool = False) -> list[Row]:
    """(label, one value per run, whether they differ), status first and duration last."""
    rows: list[tuple[str, list[Any]]] = [("status", [m.get("status") for m in metas])]
    for field, prefix in (("params", "param"), ("metrics", "metric")):
        keys = sorted({k for m in metas for k in (m.get(field) or {})})
        keys = [k for k in keys if with_sys or not k.startswith("sys/")]
        rows += [(f"{prefix}.{k}", [(m.get(field) or {}).get(k) for m in metas]) for k in keys]
    out = [(label, values, _differ(values)) for label, values in rows]
    return [*out, ("duration", [m.get("duration_s") for m in metas], False)]


def _differ(values: list[Any]) -> bool:
    texts = {json.dumps(v, sort_keys=True, default=str) for v in values}
    return len(texts) > 1


class CompareScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("d", "toggle_diff", "Only differences"),
        Binding("s", "toggle_sys", "System metrics"),
    ]

    def __init__(self, layout: StoreLayout, run_ids: list[str]) -> None:
        super().__init__()
        self.store_layout = layout
        found = [read_run(layout, r) for r in run_ids]
        self.metas = [m for m in found if isinstance(m, dict)]
        self.unreadable = [m for m in found if isinstance(m, str)]
        self.only_diff = False
        self.with_sys = False

    def compose(self) -> ComposeResult:
        yield Static(id="compare-title")
        yield DataTable(zebra_stripes=True, cursor_type="row", id="compare-table")
        yield Footer()

    def on_mount(self) -> None:
        self.fill()
        self.query_one(DataTable).focus()

    def fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_column("", key="label")
        for meta in self.metas:
            name = f" {inert(meta['name'])}" if meta.get("name") else ""
            table.add_column(Text(inert(meta["id"]) + name))  # Text: no markup read from a name
        rows = comparison(self.metas, self.with_sys)
        for label, values, differ in rows:
            if self.only_diff and not differ:
                continue
            look = "bold yellow" if differ else ""
            shown = [duration(v) if label == "duration" else value(v) for v in values]
            table.add_row(Text(inert(label), style=look), *(Text(v, style=look) for v in shown))
        differing = sum(1 for r in rows if r[2])
        title = Text(f" {len(self.metas)} runs: {differing} of {len(rows)} rows differ", "bold")
        if self.unreadable:
            title += Text("  not shown: " + inert("; ".join(self.unreadable)), style="red")
        self.query_one("#compare-title", Static).update(title)

    def action_toggle_diff(self) -> None:
        self.only_diff = not self.only_diff
        self.fill()

    def action_toggle_sys(self) -> None:
        self.with_sys = not self.with_sys
        self.fill()
