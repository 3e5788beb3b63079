"""What the dashboard says about one run: a few lines under the table, or a whole screen.

Both are Rich ``Text`` built from the run's record as ``naga show`` reads it (its directory, not
the index). The screen adds what ``show`` only points at: the uncommitted diff itself, coloured.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..cli.fmt import STATUS_LOOK, UNKNOWN_LOOK
from ..cli.render import duration, local_time, size, value
from ..errors import NagaError
from ..sdk.artifacts import list_artifacts
from ..store import with_elapsed
from ..store.files import load_meta
from ..store.layout import StoreLayout
from ..text import printable
from .query import clean

PATCH_LINES = 2000  # a huge diff is cut here; the file's path is shown
LABEL = 11


def read_run(layout: StoreLayout, run_id: str) -> dict[str, Any] | str:
    """The run's record, or one line saying why it cannot be read (gone, corrupt)."""
    try:
        return with_elapsed(load_meta(layout, run_id))
    except NagaError as exc:
        return str(exc)


def status_text(status: str) -> Text:
    symbol, colour, _ = STATUS_LOOK.get(status, UNKNOWN_LOOK)
    return Text(f"{symbol} {status}", style=colour)


def _outcome(meta: dict[str, Any]) -> str:
    parts = []
    if meta.get("exit_code") is not None:
        parts.append(f"exit {meta['exit_code']}")
    if meta.get("signal"):
        parts.append(f"killed by {meta['signal']}")
    return ", ".join(parts)


def _git_head(git: dict[str, Any] | None) -> Text:
    if not git:
        return Text("-")
    head = Text(f"{git.get('branch') or '(detached)'}@{(git.get('commit') or '(no commit)')[:12]}")
    if git.get("dirty"):
        head.append(" dirty", style="red")
    return head


def summary(meta: dict[str, Any] | str) -> Text:
    """The pane under the table: the selected run in a few lines."""
    if isinstance(meta, str):
        return Text(meta, style="red")
    text = Text()
    text.append(meta["id"], style="bold yellow")
    if meta.get("name"):
        text.append(f"  {clean(meta['name'])}", style="bold")
    text.append("  ")
    text.append_text(status_text(meta.get("status", "?")))
    outcome = _outcome(meta)
    text.append(f"  {outcome}" if outcome else "")
    text.append(f"  {duration(meta.get('duration_s'))}  ")
    text.append_text(_git_head(meta.get("git")))
    if meta.get("tags"):
        text.append("  " + " ".join(f"#{t}" for t in meta["tags"]), style="cyan")
    text.append("\n" + clean(meta.get("command") or ""), style="bold")
    if meta.get("error"):
        text.append("\n" + printable(str(meta["error"])), style="red")
    params = meta.get("params") or {}
    if params:
        shown = "  ".join(f"{k}={value(v)}" for k, v in sorted(params.items()))
        text.append("\nparams  ", style="dim")
        text.append(shown)
    metrics = {k: v for k, v in (meta.get("metrics") or {}).items() if not k.startswith("sys/")}
    if metrics:
        text.append("\nmetrics ", style="dim")
        text.append("  ".join(f"{k}={value(v)}" for k, v in sorted(metrics.items())))
    return text


def _field(text: Text, label: str, body: str | Text) -> None:
    text.append(f"{label:<{LABEL}}", style="bold")
    text.append_text(body if isinstance(body, Text) else Text(clean(body)))
    text.append("\n")


def _section(text: Text, title: str) -> None:
    text.append(f"\n{title}\n", style="bold underline")


def full(meta: dict[str, Any], layout: StoreLayout, children: list[dict[str, Any]]) -> Text:
    """Every field of the record, in sections, then the git patch."""
    text = Text()
    run_id = meta["id"]
    _field(text, "Run", Text(run_id, style="yellow") + Text(f"  {clean(meta.get('name') or '')}"))
    outcome = _outcome(meta)
    _field(text, "Status", status_text(meta.get("status", "?")) + Text(f"  {outcome}"))
    if meta.get("error"):
        _field(text, "Error", Text(printable(str(meta["error"])), style="red"))
    _field(text, "Command", meta.get("command") or "")
    _field(text, "Cwd", meta.get("cwd") or "-")
    _field(text, "Tags", ", ".join(meta.get("tags") or []) or "-")
    _section(text, "Timing")
    _field(text, "Started", local_time(meta.get("started_at")))
    _field(text, "Finished", local_time(meta.get("finished_at")))
    _field(text, "Duration", duration(meta.get("duration_s")))
    _field(text, "Host", f"{meta.get('host')} (user {meta.get('user')}, pid {meta.get('pid')})")
    if meta.get("parent_id"):
        _field(text, "Parent", meta["parent_id"])
    for i, child in enumerate(children):
        name = clean(child["name"] or "-")
        line = Text(f"{child['id']}  {name}  ") + status_text(child["status"])
        _field(text, "Children" if i == 0 else "", line)
    _git_section(text, meta.get("git"), layout.patch(run_id))
    _environment_section(text, meta)
    _params_section(text, meta.get("params") or {})
    _metrics_section(text, meta.get("metric_stats") or {})
    _artifacts_section(text, list_artifacts(layout.run_dir(run_id)))
    if meta.get("traceback"):
        _section(text, "Traceback")
        text.append(printable(meta["traceback"]).rstrip() + "\n", style="red")
    _patch_section(text, layout.patch(run_id))
    return text


def _git_section(text: Text, git: dict[str, Any] | None, patch_path: str) -> None:
    _section(text, "Git")
    _field(text, "Head", _git_head(git))
    for remote, url in ((git or {}).get("remotes") or {}).items():
        _field(text, "Remote", f"{remote}: {url}")
    untracked = (git or {}).get("untracked") or []
    if untracked:
        more = (git or {}).get("untracked_count", len(untracked)) - min(10, len(untracked))
        shown = ", ".join(untracked[:10]) + (f" (+{more} more)" if more > 0 else "")
        _field(text, "Untracked", shown)
    if os.path.exists(patch_path):
        _field(text, "Patch", "git.patch, below")


def _environment_section(text: Text, meta: dict[str, Any]) -> None:
    _section(text, "Environment and resources")
    python = meta.get("python")
    if python:
        _field(text, "Python", f"{python.get('executable')} ({python.get('version') or '?'})")
    res = meta.get("resources") or {}
    if res:
        cpu = f"{res.get('cpu_user_s', 0):.2f}s user + {res.get('cpu_system_s', 0):.2f}s sys"
        _field(text, "CPU", cpu)
        tree = res.get("peak_tree_rss_bytes")
        rss = size(res.get("max_rss_bytes")) + (f" (process tree {size(tree)})" if tree else "")
        _field(text, "Max RSS", rss)
    for gpu in meta.get("gpus") or []:
        name = f"{gpu.get('index')}: {gpu.get('name')} ({gpu.get('memory_total_mib')} MiB)"
        _field(text, "GPU", name)
    output = meta.get("output")
    _field(text, "Output", "-" if output is None else size(output.get("bytes")))
    for i, (key, val) in enumerate(sorted((meta.get("env") or {}).items())):
        _field(text, "Env" if i == 0 else "", f"{key}={val}")


def _params_section(text: Text, params: dict[str, Any]) -> None:
    if not params:
        return
    _section(text, "Params")
    for key, val in sorted(params.items()):
        text.append(f"  {printable(key)} = ", style="dim")
        text.append(printable(value(val)) + "\n")


def _metrics_section(text: Text, stats: dict[str, Any]) -> None:
    if not stats:
        return
    _section(text, "Metrics")
    rows = [
        [printable(key), *(value(s.get(k)) for k in ("last", "min", "max", "step", "count"))]
        for key, s in sorted(stats.items())
        if isinstance(s, dict)
    ]
    header = ["metric", "last", "min", "max", "step", "points"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    text.append(
        "  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "\n",
        style="dim",
    )
    for row in rows:
        text.append(
            "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )


def _artifacts_section(text: Text, found: list[tuple[str, int]]) -> None:
    if not found:
        return
    _section(text, "Artifacts")
    for name, nbytes in found:
        text.append(f"  {printable(name)}  ", style="bold")
        text.append(size(nbytes) + "\n", style="dim")


def _patch_section(text: Text, path: str) -> None:
    try:
        with open(path, "rb") as f:
            lines = f.read(4 << 20).decode("utf-8", "replace").splitlines()
    except OSError:
        return
    _section(text, "Uncommitted changes (git.patch)")
    for line in lines[:PATCH_LINES]:
        text.append(line + "\n", style=_diff_style(line))
    if len(lines) > PATCH_LINES:
        text.append(f"... cut at {PATCH_LINES} lines; the whole patch is {path}\n", style="dim")


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
            return Text(meta, style="red")
        return full(meta, self.store_layout, self.run_children)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        self.sub_title = f"run {self.run_id}"

    def action_scroll(self, where: str) -> None:
        scroll = self.query_one(VerticalScroll)
        scroll.scroll_home(animate=False) if where == "home" else scroll.scroll_end(animate=False)
