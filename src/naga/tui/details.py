"""What the dashboard says about one run: a few lines under the table, or a whole screen.

Both are Rich ``Text`` built from the run's record as ``naga show`` reads it (its directory, not
the index). The screen adds what ``show`` only points at: the uncommitted diff itself, coloured.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..errors import NagaError
from ..present.fmt import duration, status_look, status_text, value
from ..present.inert import inert
from ..present.record import lines, outcome, run_record
from ..store import with_elapsed
from ..store.files import load_meta
from ..store.layout import StoreLayout

PATCH_LINES = 2000  # a huge diff is cut here; the file's path is shown


def read_run(layout: StoreLayout, run_id: str) -> dict[str, Any] | str:
    """The run's record, or one line saying why it cannot be read (gone, corrupt)."""
    try:
        return with_elapsed(load_meta(layout, run_id))
    except NagaError as exc:
        return str(exc)


def status_label(status: object) -> Text:
    return Text(status_text(status), style=status_look(status)[1])


def _git_head(git: dict[str, Any] | None) -> Text:
    if not git:
        return Text("-")
    branch = inert(git.get("branch") or "(detached)")
    head = Text(f"{branch}@{inert(git.get('commit') or '(no commit)')[:12]}")
    if git.get("dirty"):
        head.append(" dirty", style="red")
    return head


def summary(meta: dict[str, Any] | str) -> Text:
    """The pane under the table: the selected run in a few lines."""
    if isinstance(meta, str):
        return Text(inert(meta), style="red")
    text = Text()
    text.append(inert(meta["id"]), style="bold yellow")
    if meta.get("name"):
        text.append(f"  {inert(meta['name'])}", style="bold")
    text.append("  ")
    text.append_text(status_label(meta.get("status", "?")))
    ended = outcome(meta)
    text.append(f"  {ended}" if ended else "")
    text.append(f"  {duration(meta.get('duration_s'))}  ")
    text.append_text(_git_head(meta.get("git")))
    if meta.get("tags"):
        text.append("  " + " ".join(f"#{inert(t)}" for t in meta["tags"]), style="cyan")
    text.append("\n" + inert(meta.get("command") or ""), style="bold")
    if meta.get("note"):
        first, *rest = str(meta["note"]).splitlines() or [""]
        text.append("\nnote    ", style="dim")
        text.append(inert(first) + (" ..." if rest else ""), style="italic")
    if meta.get("error"):
        text.append("\n" + inert(meta["error"]), style="red")
    params = meta.get("params") or {}
    if params:
        shown = "  ".join(f"{inert(k)}={value(v)}" for k, v in sorted(params.items()))
        text.append("\nparams  ", style="dim")
        text.append(shown)
    metrics = {k: v for k, v in (meta.get("metrics") or {}).items() if not k.startswith("sys/")}
    if metrics:
        text.append("\nmetrics ", style="dim")
        text.append("  ".join(f"{inert(k)}={value(v)}" for k, v in sorted(metrics.items())))
    return text


def full(meta: dict[str, Any], layout: StoreLayout, children: list[dict[str, Any]]) -> Text:
    """The record as ``naga show`` lays it out (``present.record``), then the git patch."""
    text = Text()
    for line in lines(run_record(meta, layout, children, full_paths=False)):
        for span, look in line:
            text.append(span, style=look or None)
        text.append("\n")
    _patch_section(text, layout.patch(meta["id"]))
    return text


def _patch_section(text: Text, path: str) -> None:
    try:
        with open(path, "rb") as f:
            found = f.read(4 << 20).decode("utf-8", "replace").splitlines()
    except OSError:
        return
    text.append("\nUncommitted changes (git.patch)\n", style="bold underline")
    for line in found[:PATCH_LINES]:
        text.append(inert(line.expandtabs()) + "\n", style=_diff_style(line))
    if len(found) > PATCH_LINES:
        more = f"... cut at {PATCH_LINES} lines; the whole patch is {inert(path)}\n"
        text.append(more, style="dim")


def _diff_style(line: str) -> str:
    if line.startswith(("+++", "---", "diff ", "index ")):
        return "bold"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return "cyan" if line.startswith("@@") else ""


class DetailsScreen(Screen[None]):
    """Everything about one run, scrollable."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("l", "app.open_logs", "Logs"),
        Binding("p", "app.open_plot", "Plot"),
        Binding("y", "app.copy_id", "Copy id"),
        Binding("home,g", "scroll('home')", "Top", show=False),
        Binding("end,G", "scroll('end')", "Bottom", show=False),
    ]

    def __init__(self, layout: StoreLayout, run_id: str, children: list[dict[str, Any]]) -> None:
        super().__init__()
        self.store_layout, self.run_id, self.run_children = layout, run_id, children

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="details-scroll"):
            yield Static(self._body(), id="details-body")
        yield Footer()

    def _body(self) -> Text:
        meta = read_run(self.store_layout, self.run_id)
        if isinstance(meta, str):
            return Text(inert(meta), style="red")
        return full(meta, self.store_layout, self.run_children)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        self.sub_title = f"run {self.run_id}"

    def action_scroll(self, where: str) -> None:
        scroll = self.query_one(VerticalScroll)
        scroll.scroll_home(animate=False) if where == "home" else scroll.scroll_end(animate=False)
