"""The log screen: a run's captured output with its colours, followed live, searchable.

``LogView`` draws only the visible lines of a ``LogWindow``; reaching the top or the bottom of the
window reads the next block, so a multi-gigabyte log opens as fast as a small one. Lines are
decoded leniently (output that is not UTF-8 shows replacement characters) and ANSI colours are
rendered; a carriage return shows what a progress bar last drew.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Input, Static

from ..present.fmt import size
from .logfile import LogWindow

EDGE_LINES = 50  # this close to an edge of the window, read the next block
FOLLOW_S = 0.25
MATCH_STYLE = Style(bgcolor="yellow", color="black")
PLAIN = Style()  # never None: Textual's monochrome filter (NO_COLOR) reads every style


@lru_cache(maxsize=4096)
def decode_line(raw: bytes) -> Text:
    """A raw output line as styled text: what the terminal would finally show on it."""
    line = raw.decode("utf-8", "replace").replace("\x00", "").rstrip("\r")
    if "\r" in line:  # progress bars redraw the line: keep the last drawing
        line = line.rsplit("\r", 1)[1]
    return Text.from_ansi(line.expandtabs(8), no_wrap=True, end="")


class LogView(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_lines(-1)", "Up", show=False),
        Binding("down,j", "scroll_lines(1)", "Down", show=False),
        Binding("pageup,b", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("left", "scroll_columns(-8)", "Left", show=False),
        Binding("right", "scroll_columns(8)", "Right", show=False),
    ]

    def __init__(self, path: str) -> None:
        super().__init__()
        self.window = LogWindow(path)
        self.follow = False
        self.pattern: str | None = None

    def reload_tail(self) -> None:
        self.window.open_tail()
        self._resize()
        self.to_end()

    def to_end(self) -> None:
        """Scroll to the last line, now and once the new size is laid out."""
        self.scroll_end(animate=False, immediate=True)
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)

    def reload_head(self) -> None:
        self.window.open_head()
        self._resize()
        self.scroll_home(animate=False, immediate=True)

    def show_offset(self, offset: int) -> None:
        """Put the line holding byte ``offset`` a few lines from the top."""
        if not self.window.lo <= offset < self.window.hi:
            self.window.open_at(offset)
            self._resize()
        line = self.window.line_at(offset)
        self.scroll_to(y=max(0, line - 3), animate=False, immediate=True)

    def _resize(self) -> None:
        lines = self.window.lines
        widest = max((len(line) for line in lines[-5000:]), default=0)
        self.virtual_size = Size(widest + 1, len(lines))
        self.refresh()

    def grow(self) -> None:
        """Show output written since the last look; keep to the end when following."""
        if self.window.grow() or self.window.open_line:
            self._resize()
        if self.follow:
            self.to_end()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        if index >= len(self.window.lines):
            return Strip.blank(width, PLAIN)
        text = decode_line(self.window.lines[index])
        if self.pattern:
            text = text.copy()
            text.highlight_regex(re.compile(re.escape(self.pattern), re.I), MATCH_STYLE)
        segments = [Segment(t, s or PLAIN, c) for t, s, c in text.render(self.app.console)]
        strip = Strip(segments)
        return strip.crop_extend(scroll_x, scroll_x + width, PLAIN)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.call_after_refresh(self._extend_at_edges)

    def _extend_at_edges(self) -> None:
        top = self.scroll_offset.y
        if top < EDGE_LINES and not self.window.at_start:
            added = self.window.load_before()
            self._resize()
            self.scroll_to(y=top + added, animate=False, immediate=True)
        elif self._near_bottom(top) and not self.follow and not self.window.at_end():
            self.grow()

    def _near_bottom(self, top: int) -> bool:
        return top + self.size.height > len(self.window.lines) - EDGE_LINES

    def action_scroll_lines(self, step: int) -> None:
        if step < 0:
            self.follow = False  # as in less +F: looking back stops following
        self.scroll_to(y=self.scroll_offset.y + step, animate=False, immediate=True)

    def action_page(self, direction: int) -> None:
        self.action_scroll_lines(direction * max(1, self.size.height - 1))

    def action_scroll_columns(self, step: int) -> None:
        self.scroll_to(x=max(0, self.scroll_offset.x + step), animate=False, immediate=True)

    def top_offset(self) -> int:
        lines = self.window.starts
        index = min(self.scroll_offset.y, len(lines) - 1)
        return lines[index] if index >= 0 else self.window.lo


class LogScreen(Screen[None]):
    """One run's output. Follows a running run until it ends (or until you scroll up)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("home,g", "start", "Start"),
        Binding("end,G", "end", "End"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match(1)", "Next"),
        Binding("N", "next_match(-1)", "Previous"),
    ]

    def __init__(self, path: str, run_id: str, running: bool, note: str | None = None) -> None:
        super().__init__()
        self.path, self.run_id, self.running, self.note = path, run_id, running, note

    def compose(self) -> ComposeResult:
        yield Static(id="log-status")
        yield LogView(self.path)
        yield Input(placeholder="search the output (Enter; Esc to cancel)", id="log-search")
        yield Footer()

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        self.query_one("#log-search").display = False
        self.view.follow = self.running
        self.view.reload_tail()
        self.view.focus()
        self.set_interval(FOLLOW_S, self._poll)
        self._show_status()

    def _poll(self) -> None:
        window = self.view.window
        if self.view.follow or self.running or window.hi == window.size():
            self.view.grow()  # new output shows even when not following (without scrolling)
        self._show_status()

    def _show_status(self, message: str | None = None) -> None:
        window = self.view.window
        total = window.size()
        where = f"{size(window.lo)}-{size(window.hi)} of {size(total)}"
        flags = "  following" if self.view.follow else ""
        line = Text(f" output of {self.run_id}  ", style="bold") + Text(where, style="dim")
        line += Text(flags, style="cyan")
        if self.view.pattern:
            line += Text(f"  search: {self.view.pattern}", style="yellow")
        if message or self.note:
            line += Text(f"  {message or self.note}", style="magenta")
        self.query_one("#log-status", Static).update(line)

    def action_back(self) -> None:
        search = self.query_one("#log-search", Input)
        if search.display:
            search.display = False
            self.view.focus()
            return
        self.app.pop_screen()

    def action_toggle_follow(self) -> None:
        self.view.follow = not self.view.follow
        if self.view.follow:
            self.action_end()
        self._show_status()

    def action_start(self) -> None:
        self.view.follow = False
        self.view.reload_head()
        self._show_status()

    def action_end(self) -> None:
        if not self.view.window.at_end():
            self.view.reload_tail()
        self.view.to_end()
        self._show_status()

    def action_search(self) -> None:
        search = self.query_one("#log-search", Input)
        search.display = True
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.view.focus()
        self.view.pattern = event.value or None
        self.view.follow = False
        if self.view.pattern:
            self._find(self.view.pattern, self.view.top_offset(), True)
        self.view.refresh()

    def action_next_match(self, direction: int) -> None:
        if not self.view.pattern:
            self._show_status("no search yet: press / to search")
            return
        view = self.view
        offset = view.top_offset()
        start = offset + 1 if direction > 0 else offset
        if direction > 0 and view.scroll_offset.y + 3 < len(view.window.starts):
            start = view.window.starts[min(view.scroll_offset.y + 4, len(view.window.starts) - 1)]
        self._find(view.pattern, start, direction > 0)

    @work(thread=True, exclusive=True, group="log-search")
    def _find(self, pattern: str, offset: int, forward: bool) -> None:
        self.app.call_from_thread(self._show_status, "searching...")
        found = self.view.window.find(pattern.encode("utf-8", "replace"), offset, forward)
        self.app.call_from_thread(self._found, pattern, found)

    def _found(self, pattern: str, offset: int | None) -> None:
        if offset is None:
            self._show_status(f"{pattern!r} not found")
            return
        self.view.show_offset(offset)
        self._show_status()
