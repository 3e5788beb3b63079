"""The runs table: a virtualised ScrollView that renders only the rows on screen.

Textual's DataTable builds an object per cell and measures every one of them; with 10,000 runs
that alone takes a third of a second and scrolling slows down. Here rows stay the plain
``RunRow`` objects the query made, column widths come from their precomputed strings, and
``render_line`` draws one visible line at a time, so a load, a sort or a page-down costs the same
with 100 runs or 100,000. The header stays on the first line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..present.fmt import STATUS_LOOK, UNKNOWN_LOOK, duration, started
from ..present.inert import inert
from ..store.timefmt import parse_iso
from .query import RunRow, sort_rows

BASE_COLUMNS = ("ID", "NAME", "STATUS", "STARTED", "DURATION", "GIT", "COMMAND")
NARROW = 100  # below this many columns the GIT column goes and names are cut shorter
GAP = "  "
HEADER_STYLE = Style(bold=True)
ID_STYLE = Style(color="yellow")
DIM = Style(dim=True)
PLAIN = Style()  # never None: Textual's monochrome filter (NO_COLOR) reads every style
CURSOR_STYLE = Style(reverse=True)
MARK_STYLE = Style(color="magenta", bold=True)
STATUS_STYLES = {s: Style(color=look[1]) for s, look in STATUS_LOOK.items()}
UNKNOWN_STYLE = Style(color=UNKNOWN_LOOK[1])


def fit(text: str, width: int) -> str:
    """``text`` in exactly ``width`` terminal cells: cut with an ellipsis, or padded. Wide
    (CJK, emoji) and zero-width characters count as the terminal draws them, so the columns of
    every row stay aligned whatever the names are made of."""
    if text.isascii():
        if len(text) <= width:
            return text.ljust(width)
        return text[: width - 1] + "…" if width > 1 else text[:width]
    cells = cell_len(text)
    if cells <= width:
        return text + " " * (width - cells)
    return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)


@dataclass
class Column:
    label: str
    width: int
    at: int | None = None  # for an extra column: its place in ``RunRow.cells``


class RunTable(ScrollView, can_focus=True):
    """Rows of runs; a cursor, marks (space) for compare and plot, sort by any column."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("space", "mark", "Mark"),
    ]

    cursor = reactive(0, always_update=True)

    class Moved(Message):
        """The cursor landed on another run (or on none)."""

        def __init__(self, run_id: str | None) -> None:
            super().__init__()
            self.run_id = run_id

    class Marked(Message):
        """The set of marked runs changed."""

    class Chosen(Message):
        """Enter or a double click on a run."""

        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[RunRow] = []
        self.extra: tuple[str, ...] = ()
        self.columns: list[Column] = []
        self.marked: set[str] = set()  # kept across filters: mark, filter, mark more, compare
        self.sort_column: str | None = None  # None: newest first, children under parents
        self.sort_reverse = False
        self._unsorted: list[RunRow] = []
        self._last_id: str | None = None
        self._now = time.time()

    # -- data --------------------------------------------------------------------------------

    def set_rows(self, rows: list[RunRow], extra: tuple[str, ...], *, top: bool = False) -> None:
        """New rows from a load: the cursor stays on the run it was on, if it is still there;
        ``top``: on the first row (the answer to a new filter)."""
        keep = None if top else self.current_id
        self._unsorted, self.extra = rows, extra
        self.rows = self._sorted(rows)
        self._layout_columns()
        position = 0 if top else next((i for i, r in enumerate(self.rows) if r.id == keep), None)
        self.cursor = min(self.cursor, len(self.rows) - 1) if position is None else position
        self.cursor = max(0, self.cursor)
        self.refresh()

    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        keep = self.current_id
        self.sort_column, self.sort_reverse = column, reverse
        self.rows = self._sorted(self._unsorted)
        self.cursor = next((i for i, r in enumerate(self.rows) if r.id == keep), 0)
        self._layout_columns()
        self.refresh()

    def _sorted(self, rows: list[RunRow]) -> list[RunRow]:
        if self.sort_column is None:
            return list(reversed(rows)) if self.sort_reverse else list(rows)
        return sort_rows(rows, self.sort_column, self.extra, self.sort_reverse)

    @property
    def column_labels(self) -> list[str]:
        return [*BASE_COLUMNS[:-1], *self.extra, BASE_COLUMNS[-1]]

    @property
    def current(self) -> RunRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    @property
    def current_id(self) -> str | None:
        row = self.current
        return row.id if row else None

    def selection(self) -> list[str]:
        """The marked runs in table order (marked ones filtered out come last), else the run
        under the cursor."""
        if self.marked:
            shown = [r.id for r in self.rows if r.id in self.marked]
            return shown + sorted(self.marked - set(shown))
        return [self.current_id] if self.current_id else []

    # -- layout ------------------------------------------------------------------------------

    def _layout_columns(self) -> None:
        """Widths from the rows' text; COMMAND takes what is left and is cut to fit, so the
        table scrolls sideways only when even the other columns do not fit."""
        narrow = self.size.width and self.size.width < NARROW
        first = min((r.started_at for r in self.rows if r.started_at), default=None)
        oldest = parse_iso(first) or self._now  # ISO text orders as the times do
        widths = {
            "ID": max([8, *(len(r.id) + 2 * min(r.depth, 1) for r in self.rows[:2000])]),
            "NAME": min(16 if narrow else 24, max([4, *(len(r.name) for r in self.rows)])),
            "STATUS": 11,
            "STARTED": 8 if self._now - oldest < 86000 else 12,
            "DURATION": 8,
            "GIT": 0 if narrow else 8,
        }
        self.columns = []
        for label in self.column_labels[:-1]:
            width, at = widths.get(label), None
            if width is None:  # an extra param/metric column
                at = self.extra.index(label)
                longest = max((len(r.cells[at]) for r in self.rows), default=0)
                width = min(14, max(len(label) + 1, longest))
            if width:
                self.columns.append(Column(label, width, at))
        used = 1 + sum(c.width + len(GAP) for c in self.columns)
        longest = max([7, *(len(r.command) for r in self.rows)])
        command = max(7, min(longest, self.size.width - used - len(GAP)))
        self.columns.append(Column("COMMAND", command))
        self.virtual_size = Size(used + command + len(GAP), len(self.rows) + 1)

    def on_resize(self, event: events.Resize) -> None:
        self._layout_columns()
        self._scroll_to_cursor()

    # -- drawing -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Redraw the lines whose text moves with the clock (started ago, running durations)."""
        self._now = time.time()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        shown, skipped = self._visible_columns(scroll_x, scroll_x + width)
        if y == 0:
            strip = Strip(self._header(shown, skipped))
        else:
            index = scroll_y + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, PLAIN)
            strip = Strip(self._cells(self.rows[index], index == self.cursor, shown, skipped))
        start = scroll_x - skipped  # the strip begins where the first column drawn does
        return strip.crop_extend(start, start + width, PLAIN)

    def _visible_columns(self, left: int, right: int) -> tuple[list[Column], int]:
        """The columns in view between cells ``left`` and ``right`` (with hundreds of extra
        columns only a screenful is drawn), and the width of those skipped on the left."""
        shown, skipped, x = [], 0, 1
        for column in self.columns:
            end = x + column.width + len(GAP)
            if end <= left:
                skipped = end
            elif x < right:
                shown.append(column)
            x = end
        return shown, skipped

    def _header(self, columns: list[Column], skipped: int) -> list[Segment]:
        segments = [Segment(" " if not skipped else "", PLAIN)]
        for column in columns:
            label = column.label
            if label == self.sort_column:
                label += " ▼" if self.sort_reverse else " ▲"
            segments.append(Segment(fit(label, column.width) + GAP, HEADER_STYLE))
        return segments

    def _cells(
        self, row: RunRow, under_cursor: bool, columns: list[Column], skipped: int
    ) -> list[Segment]:
        mark = Segment("*" if row.id in self.marked else " ", MARK_STYLE)
        segments = [] if skipped else [mark]
        for column in columns:
            text, style = self._cell(row, column)
            segments.append(Segment(fit(text, column.width) + GAP, style or PLAIN))
        if under_cursor:
            segments = [Segment(s.text, (s.style or PLAIN) + CURSOR_STYLE) for s in segments]
        return segments

    def _cell(self, row: RunRow, column: Column) -> tuple[str, Style | None]:
        if column.at is not None:
            return row.cells[column.at], None
        label = column.label
        if label == "ID":
            return ("└ " if row.depth else "") + inert(row.id), ID_STYLE
        if label == "NAME":
            return row.name, None
        if label == "STATUS":
            symbol = STATUS_LOOK.get(row.status, UNKNOWN_LOOK)[0]
            return f"{symbol} {row.status}", STATUS_STYLES.get(row.status, UNKNOWN_STYLE)
        if label == "STARTED":
            return started(row.started_at, self._now), DIM
        if label == "DURATION":
            return duration(row.elapsed(self._now)), None
        if label == "GIT":
            return row.git, DIM
        return row.command, None

    # -- moving ------------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        if self.current_id != self._last_id:
            self._last_id = self.current_id
            self.post_message(self.Moved(self.current_id))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = max(0, len(self.rows) - 1)

    def action_mark(self) -> None:
        run_id = self.current_id
        if run_id is None:
            return
        self.marked ^= {run_id}
        self.post_message(self.Marked())
        self.action_cursor(1)
        self.refresh()

    def key_enter(self) -> None:
        if self.current_id:
            self.post_message(self.Chosen(self.current_id))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            self._sort_at(event.x + self.scroll_offset.x)
            return
        index = self.scroll_offset.y + event.y - 1
        if 0 <= index < len(self.rows):
            self.cursor = index
            if event.chain >= 2:
                self.post_message(self.Chosen(self.rows[index].id))

    def _sort_at(self, x: int) -> None:
        """A click on a header sorts by that column; a second click reverses it."""
        left = 1
        for column in self.columns:
            if left <= x < left + column.width + len(GAP):
                reverse = column.label == self.sort_column and not self.sort_reverse
                self.sort_by(column.label, reverse)
                return
            left += column.width + len(GAP)
