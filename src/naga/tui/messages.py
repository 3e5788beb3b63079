"""Messages from the watcher thread to the app (posted thread-safely, handled on the UI loop)."""

from __future__ import annotations

from textual.message import Message

from .query import Snapshot


class SnapshotReady(Message):
    """A fresh load of the table's rows."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class StoreTrouble(Message):
    """The watcher could not read the store this time (it keeps trying)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
