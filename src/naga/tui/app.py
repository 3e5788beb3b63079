"""``NagaApp``: the runs table with the selected run under it, and the screens it opens.

The table's rows come from the ``StoreWatcher`` thread (started before Textual is imported,
so loading overlaps start-up; attached when the app mounts); this module only turns key presses
into queries, screens and edits. Edits (delete, rename, tags, note) go through the store's
functions on the UI thread, then ask the watcher to reload, which it would do anyway on the markers
they touch. Rename, tag and note work on running runs too (``store.edit`` keeps them beside the
record); their keys are dimmed, and refuse before asking anything, where the run cannot take an
edit (a read-only directory, an unreadable record).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Static

from ..errors import NagaError
from ..present.fmt import parse_columns
from ..present.inert import inert
from ..store import Store
from ..store import edit as store_edit
from ..store.layout import locate_store
from .details import DetailsScreen, read_run, summary
from .messages import SnapshotReady, StoreTrouble
from .query import Query, Snapshot, parse_query
from .table import BASE_COLUMNS, RunTable
from .watch import StoreWatcher

MESSAGE_S = 6.0
FILTER_SHOWN = 32  # characters of the active filter the status line shows
CSS = """
#status { height: 1; background: $boost; padding: 0 1; }
RunTable { height: 1fr; }
#summary { height: auto; max-height: 7; border-top: solid $primary-darken-2; padding: 0 1; }
#filter { height: 3; }  /* in the flow, above the key bar of 1-3 lines at any width */
#keys { dock: bottom; height: auto; background: $footer-background; padding: 0 1; }
#log-status, #plot-title, #compare-title { height: 1; background: $boost; }
#log-search { dock: bottom; margin-bottom: 1; }
LogView { height: 1fr; }
#plot-metrics { width: 22; height: 1fr; }
#plot { height: 1fr; }
.dialog { width: 72; height: auto; max-height: 90%; border: thick $primary; background: $surface;
          padding: 1 2; }
.help { width: 90%; }
.buttons { height: auto; margin-top: 1; }
.buttons Button { margin-right: 2; }
ConfirmScreen, PromptScreen, HelpScreen { align: center middle; }
"""


# Keys that edit the run under the cursor: shown dimmed where the edit cannot be written.
EDIT_ACTIONS = ("app.rename", "app.add_tag", "app.remove_tag", "app.note")


class KeyBar(Widget):
    """Every key of the main screen, wrapped onto more lines when the terminal is narrow
    (Textual's footer cuts what does not fit on one)."""

    def __init__(self, bindings: list[BindingType]) -> None:
        super().__init__(id="keys")
        shown = [Binding("space", "", "Mark"), *bindings]
        self.items = [
            (
                b.key.split(",")[0].replace("question_mark", "?").replace("slash", "/"),
                b.description,
                b.action,
            )
            for b in shown
            if isinstance(b, Binding) and b.show
        ]

    def render(self) -> Text:
        width, column = max(20, self.size.width - 2), 0
        text = Text()
        blocked = bool(getattr(self.app, "edit_block", None))
        for key, description, action in self.items:
            cell = len(key) + len(description) + 3
            if column and column + cell > width:
                text.append("\n")
                column = 0
            off = blocked and action in EDIT_ACTIONS  # the run under the cursor cannot take it
            text.append(key, style="dim" if off else "bold")
            text.append(f" {description}  ", style="dim strike" if off else "")
            column += cell
        return text


class RunsScreen(Screen[None]):
    """The main screen: status line, runs table, the selected run, filter box, footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help"),
        Binding("slash", "app.filter", "Filter"),
        Binding("escape", "app.clear_filter", "Clear", show=False),
        Binding("d", "app.details", "Details"),
        Binding("l", "app.open_logs", "Logs"),
        Binding("p", "app.open_plot", "Plot"),
        Binding("c", "app.compare", "Compare"),
        Binding("s", "app.sort_next", "Sort"),
        Binding("S", "app.sort_reverse", "Reverse"),
        Binding("a", "app.columns", "Columns"),
        Binding("r", "app.rename", "Rename"),
        Binding("t", "app.add_tag", "Tag"),
        Binding("T", "app.remove_tag", "Untag"),
        Binding("n", "app.note", "Note"),
        Binding("y", "app.copy_id", "Copy id"),
        Binding("u", "app.unmark", "Unmark"),
        Binding("x,delete", "app.delete", "Delete"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield RunTable(id="runs")
        yield Static(id="summary")
        yield Input(
            placeholder="filter: failed #tag name:base* since:2d lr=0.01 words", id="filter"
        )
        yield KeyBar(self.BINDINGS)

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.query_one(RunTable).focus()
        app = self.app
        assert isinstance(app, NagaApp)
        app.connect()  # rows already loaded go in before the first paint


class NagaApp(App[None]):
    TITLE = "naga"
    CSS = CSS
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self, root: str | None = None, *, watch: bool = True, watcher: StoreWatcher | None = None
    ) -> None:
        """``watcher``: one already loading this store's rows (``naga.tui.start_loading``)."""
        super().__init__()
        self.root = root or locate_store()
        self.store = Store(self.root)  # the UI thread's own connection, for edits
        self.query_state = Query()
        self.edit_block: str | None = None  # why the run under the cursor cannot be edited
        self.filter_text = ""  # as typed, for the status line
        self._to_top = False  # the next rows answer a new filter: the cursor goes to the top
        self.snapshot: Snapshot | None = None
        self.message: tuple[Text, float] | None = None
        self.trouble: str | None = None
        self.first_paint: float | None = None  # when the first rows were on screen (bench)
        self.watcher = watcher or StoreWatcher(self.root, self.query_state)
        if watch and watcher is None:
            self.watcher.start()  # loading overlaps the rest of Textual's start-up

    # -- building ----------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return RunsScreen()

    @property
    def table(self) -> RunTable:
        return self.screen_stack[0].query_one(RunTable)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def connect(self) -> None:
        """Take the rows the watcher found so far, and have it post the rest as messages (only
        once the app runs: a message posted from another thread before could be lost)."""
        for item in self.watcher.attach(self._post_snapshot, self._trouble):
            if isinstance(item, str):
                self.trouble = item
            elif item.query == self.query_state:
                self.snapshot, self.trouble = item, None
        self.action_show_snapshot()

    def on_unmount(self) -> None:
        self.watcher.stop()
        self.store.close()

    def _runs_ready(self) -> bool:
        base = self.screen_stack[0] if self.screen_stack else None
        return isinstance(base, RunsScreen) and bool(base.query(RunTable))  # composed

    def _tick(self) -> None:
        if not self._runs_ready():
            return
        self.table.tick()
        self._show_summary()  # the run's own record moves too (or is removed by hand)
        if self.message and time.time() - self.message[1] > MESSAGE_S:
            self.message = None
            self._show_status()

    # -- data from the watcher ---------------------------------------------------------------

    def _post_snapshot(self, snapshot: Snapshot) -> None:
        self.post_message(SnapshotReady(snapshot))

    def _trouble(self, text: str) -> None:
        self.post_message(StoreTrouble(text))

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        snapshot = message.snapshot
        if snapshot.query != self.query_state:
            return  # an answer to a filter already replaced
        self.snapshot, self.trouble = snapshot, None
        self.action_show_snapshot()

    def action_show_snapshot(self) -> None:
        if not self._runs_ready():
            return  # the screen shows it when it mounts
        if self.snapshot is not None:
            top = self._to_top and self.snapshot.query == self.query_state
            self.table.set_rows(self.snapshot.rows, self.snapshot.query.columns, top=top)
            self._to_top = self._to_top and not top
            if self.first_paint is None:
                self.call_after_refresh(self._painted)
        self._show_summary()
        self._show_status()

    def _painted(self) -> None:
        self.first_paint = time.time()
        self.watcher.painted()

    def on_store_trouble(self, message: StoreTrouble) -> None:
        self.trouble = message.text
        self.action_show_snapshot()

    # -- the lines around the table ----------------------------------------------------------

    def say(self, text: str, style: str = "green") -> None:
        """A message on the status line (or a toast over another screen). Messages quote
        record text (names, errors): inert, and never read as Rich markup."""
        text = inert(text, multiline=True)
        self.message = (Text(text, style=style), time.time())
        self._show_status()
        if not isinstance(self.screen, RunsScreen):  # the status line is under this screen
            severity: SeverityLevel = (
                "error" if style == "red" else "warning" if style == "yellow" else "information"
            )
            self.notify(text, severity=severity, timeout=MESSAGE_S, markup=False)

    def _show_status(self) -> None:
        line = Text("naga ", style="bold")
        snap = self.snapshot
        if snap is None or not snap.complete:
            line += Text("loading... ", style="dim")
        if snap is not None:
            shown = len(snap.rows)
            line += Text(f"{snap.total} run{'s' if snap.total != 1 else ''}")
            if self.query_state.filtered:
                line += Text(f" · {shown} shown", style="cyan")
                line += Text(" · filter: ", style="cyan") + Text(self._filter_label())
        if self.table.marked:
            line += Text(f" · {len(self.table.marked)} marked", style="magenta")
        if self.table.sort_column:
            order = "▼" if self.table.sort_reverse else "▲"
            line += Text(f" · by {self.table.sort_column} {order}", style="dim")
        extra = self._status_note()
        if extra is not None:
            line += Text("  ") + extra
        self.screen_stack[0].query_one("#status", Static).update(line)

    def _filter_label(self) -> str:
        """The filter as typed, on one line and cut to leave room for the rest of the line."""
        text = inert(" ".join(self.filter_text.split()))
        return text if len(text) <= FILTER_SHOWN else text[: FILTER_SHOWN - 1] + "…"

    def _status_note(self) -> Text | None:
        if self.trouble:
            return Text(inert(self.trouble), style="red")
        if self.message:
            return self.message[0]
        if self.snapshot and self.snapshot.warnings:
            first = self.snapshot.warnings[0]
            more = len(self.snapshot.warnings) - 1
            return Text(inert(first) + (f" (+{more} more)" if more else ""), style="yellow")
        return None

    def _show_summary(self) -> None:
        pane = self.screen_stack[0].query_one("#summary", Static)
        run_id = self.table.current_id
        if run_id is None:
            if self.snapshot is None:
                pane.update("")
            elif self.query_state.filtered:
                pane.update(Text("No runs match this filter (escape clears it).", style="yellow"))
            else:
                pane.update(Text("No runs yet. Start one with: naga run python train.py"))
            return
        meta = read_run(self.store.layout, run_id)
        pane.update(summary(meta))
        self._check_editable(run_id, meta)

    @on(RunTable.Moved)
    def _moved(self) -> None:
        self._show_summary()

    @on(RunTable.Marked)
    def _marked(self) -> None:
        self._show_status()

    @on(RunTable.Chosen)
    def _chosen(self) -> None:
        self.action_details()

    # -- filter, sort, columns ---------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.screen_stack[0].query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        self._apply_filter(event.value, quiet=True)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self._apply_filter(event.value, quiet=False)
        event.input.display = bool(event.value)
        self.table.focus()

    def _apply_filter(self, text: str, *, quiet: bool) -> None:
        try:
            query = parse_query(text, self.query_state.columns)
            # a key no run has (lrr=1) would show an empty table and say nothing, as naga ls
            # refuses it; while typing, the table keeps the last filter that names real keys
            self.store.check_keys(query.run_filter())
        except NagaError as exc:
            if not quiet:
                self.say(str(exc), "red")
            return
        self.filter_text = text
        if query != self.query_state:
            self._to_top = self._to_top or query.run_filter() != self.query_state.run_filter()
            self.query_state = query
            self.watcher.request(query)
        self._show_status()

    def action_clear_filter(self) -> None:
        box = self.screen_stack[0].query_one("#filter", Input)
        box.value = ""
        box.display = False
        self._apply_filter("", quiet=True)
        self.table.focus()

    def action_sort_next(self) -> None:
        labels = [c.label for c in self.table.columns]
        current = self.table.sort_column
        at = labels.index(current) + 1 if current in labels else 0
        self.table.sort_by(labels[at] if at < len(labels) else None, False)
        self._show_status()

    def action_sort_reverse(self) -> None:
        self.table.sort_by(self.table.sort_column, not self.table.sort_reverse)
        self._show_status()

    def action_columns(self) -> None:
        from .dialogs import PromptScreen

        current = ",".join(self.query_state.columns)
        prompt = PromptScreen("Extra columns (params and metrics, comma-separated):", current)
        self.push_screen(prompt, self._set_columns)

    def _set_columns(self, text: str | None) -> None:
        if text is None:
            return
        try:
            columns = tuple(parse_columns(text))
        except NagaError as exc:
            self.say(str(exc), "red")
            return
        clashes = [c for c in columns if c.upper() in BASE_COLUMNS or c in BASE_COLUMNS]
        if clashes:
            self.say(f"{clashes[0]} is a column already; write param.{clashes[0]}", "red")
            return
        self.query_state = Query(**{**self.query_state.__dict__, "columns": columns})
        self.watcher.request(self.query_state)

    # -- screens -----------------------------------------------------------------------------

    def _run_in_view(self) -> str | None:
        """The run a key refers to: the one a screen shows, else the one under the cursor."""
        shown: str | None = getattr(self.screen, "run_id", None)
        return shown or self.table.current_id

    def _need_run(self) -> str | None:
        run_id = self._run_in_view()
        if run_id is None:
            self.say("no run selected", "yellow")
        return run_id

    def action_help(self) -> None:
        from .dialogs import HelpScreen

        self.push_screen(HelpScreen())

    def action_details(self) -> None:
        run_id = self._need_run()
        if run_id is None:
            return
        try:
            children = self.store.children(run_id)
        except NagaError:
            children = []
        self.push_screen(DetailsScreen(self.store.layout, run_id, children))

    def action_open_logs(self) -> None:
        run_id = self._need_run()
        if run_id is None:
            return
        meta = read_run(self.store.layout, run_id)
        if isinstance(meta, str):
            self.say(meta, "red")
            return
        from .logview import LogScreen

        note = None
        if meta.get("output") is None:
            note = "no captured output: recorded by naga.run(); `naga run` captures it"
        running = meta.get("status") == "running"
        self._push_over(LogScreen(self.store.layout.output(run_id), run_id, running, note))

    def action_open_plot(self) -> None:
        from .plot import PlotScreen

        run_ids = self._selection()
        if run_ids:
            self._push_over(PlotScreen(self.store.layout, run_ids))

    def action_compare(self) -> None:
        run_ids = self._selection()
        if len(run_ids) < 2:
            self.say("mark two or more runs with space to compare them", "yellow")
            return
        from .compare import CompareScreen

        self.push_screen(CompareScreen(self.store.layout, run_ids))

    def _selection(self) -> list[str]:
        shown = getattr(self.screen, "run_id", None)
        selection = [shown] if isinstance(shown, str) else self.table.selection()
        if not selection:
            self.say("no run selected", "yellow")
        return selection

    def _push_over(self, screen: Screen[Any]) -> None:
        """Open a view of a run, replacing another view of it rather than stacking them."""
        if len(self.screen_stack) > 1 and type(self.screen).__name__ in ("LogScreen", "PlotScreen"):
            self.pop_screen()
        self.push_screen(screen)

    # -- actions on runs ---------------------------------------------------------------------

    def action_copy_id(self) -> None:
        run_id = self._need_run()
        if run_id:
            self.copy_to_clipboard(run_id)
            self.say(f"copied {run_id}")
            self.notify(f"copied {run_id}", timeout=2)

    def action_unmark(self) -> None:
        self.table.marked.clear()
        self.table.refresh()
        self._show_status()

    def action_delete(self) -> None:
        from .dialogs import ConfirmScreen

        run_ids = self.table.selection()
        if not run_ids:
            self.say("no run selected", "yellow")
            return
        names = ", ".join(run_ids[:5]) + (
            f" and {len(run_ids) - 5} more" if len(run_ids) > 5 else ""
        )
        question = f"Delete {len(run_ids)} run{'s' if len(run_ids) > 1 else ''} ({names})?"
        question += "\nTheir directories (output, metrics, artifacts) are removed for good."
        self.push_screen(ConfirmScreen(question), lambda yes: self._delete(run_ids, yes))

    def _delete(self, run_ids: list[str], yes: bool | None) -> None:
        if not yes:
            self.say("nothing deleted", "dim")
            return
        try:
            self.store.remove(run_ids)
        except NagaError as exc:
            self.say(str(exc).replace("add --force", "use `naga rm --force`"), "red")
            return
        self.table.marked -= set(run_ids)
        self.say(f"deleted {', '.join(run_ids)}")
        self.watcher.request()

    def _check_editable(self, run_id: str, meta: dict[str, Any] | str) -> None:
        """Dim the edit keys when the run under the cursor cannot take an edit."""
        block = meta if isinstance(meta, str) else store_edit.read_only(self.store.layout, run_id)
        if block != self.edit_block:
            self.edit_block = block
            for bar in self.screen_stack[0].query(KeyBar):
                bar.refresh()

    def _editable_run(self) -> tuple[str, dict[str, Any]] | None:
        """The run to edit and its record, or None (and why, said) when it cannot be edited:
        checked before any question is asked. A running run can be edited (``store.edit``)."""
        run_id = self._need_run()
        if run_id is None:
            return None
        meta = read_run(self.store.layout, run_id)
        block = meta if isinstance(meta, str) else store_edit.read_only(self.store.layout, run_id)
        if block is not None or isinstance(meta, str):
            self.say(str(block), "red")
            return None
        return run_id, meta

    def action_rename(self) -> None:
        from .dialogs import PromptScreen

        found = self._editable_run()
        if found is None:
            return
        run_id, meta = found
        prompt = PromptScreen(
            f"New name for run {run_id} (empty: no name):", inert(meta.get("name") or "")
        )
        self.push_screen(prompt, lambda name: self._edit(store_edit.rename, run_id, name))

    def action_add_tag(self) -> None:
        from .dialogs import PromptScreen

        found = self._editable_run()
        if found is not None:
            run_id = found[0]
            prompt = PromptScreen(f"Tag to add to run {run_id}:")
            self.push_screen(prompt, lambda tag: self._edit(store_edit.add_tag, run_id, tag))

    def action_remove_tag(self) -> None:
        from .dialogs import PromptScreen

        found = self._editable_run()
        if found is None:
            return
        run_id, meta = found
        tags = meta.get("tags") or []
        if not tags:
            self.say(f"run {run_id} has no tags", "yellow")
            return
        shown = ", ".join(inert(t) for t in tags)
        prompt = PromptScreen(f"Tag to remove from run {run_id} ({shown}):", inert(tags[0]))
        self.push_screen(prompt, lambda tag: self._edit(store_edit.remove_tag, run_id, tag))

    def action_note(self) -> None:
        from .dialogs import PromptScreen

        found = self._editable_run()
        if found is None:
            return
        run_id, meta = found
        current = inert(" ".join(str(meta.get("note") or "").split()))  # one line, edited in place
        prompt = PromptScreen(f"Note for run {run_id} (empty: no note):", current)
        self.push_screen(prompt, lambda text: self._edit(store_edit.set_note, run_id, text))

    def _edit(self, change: Any, run_id: str, text: str | None) -> None:
        if text is None:
            return
        try:
            changed = change(self.store.layout, run_id, text)
        except NagaError as exc:
            self.say(str(exc), "red")
            return
        if changed is False:  # add_tag: the run had that tag already
            self.say(f"run {run_id} has that tag already", "yellow")
            return
        self.say(f"run {run_id} updated")
        self.watcher.request()
        self._show_summary()
