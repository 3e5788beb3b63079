"""Small modal screens: a yes/no question, a one-line prompt, and the help page."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ..present.inert import inert

HELP = """\
[b]Runs table[/b]
  ↑ ↓ j k  PgUp PgDn  Home End    move
  space          mark a run (for compare and plot)    u   unmark all
  enter / d      details: command, git and its patch, environment, params, metrics
  l              logs (follows a running run; / searches)
  p              plot a metric of the marked runs (or the run under the cursor)
  c              compare the marked runs side by side
  /              filter: failed  #tag  name:base*  since:2d  lr=0.01  loss<0.3  words
  escape         clear the filter
  s / S          sort by the next column / reverse the order (or click a header)
  a              add param/metric columns: param.lr,metric.loss
  r / n          rename / note   t / T  add a tag / remove one   y  copy the id
  x / delete     delete the run (asks first)
  ?              this help    q  quit

[b]Logs[/b]   f follow · g/Home start · G/End end · / search · n/N next/previous match
[b]Plot[/b]   ↑ ↓ pick a metric · x step or time on the x axis
[b]Compare[/b]   d only the rows that differ · s system metrics
Everywhere: escape goes back; the mouse works too (click a row, a header, scroll).
"""


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(inert(self.question, multiline=True)), classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PromptScreen(ModalScreen["str | None"]):
    """One line of input: Enter gives it, Escape gives None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.question, self.value, self.placeholder = question, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(inert(self.question, multiline=True)), classes="question")
            yield Input(self.value, placeholder=self.placeholder)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close")
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(HELP)
