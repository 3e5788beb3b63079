"""The command line's names for the presentation layer (``naga.present``), where the
formatting lives so that the dashboard and the sweep report share it without importing the CLI."""

from __future__ import annotations

from ..present.fmt import (
    clock,
    duration,
    local_time,
    short_commit,
    size,
    started,
    status_look,
    truncate,
    value,
)
from ..present.inert import inert
from ..present.terminal import Cell, status_cell, status_label, style, styled, table

__all__ = [
    "Cell",
    "clock",
    "duration",
    "inert",
    "local_time",
    "short_commit",
    "size",
    "started",
    "status_cell",
    "status_label",
    "status_look",
    "style",
    "styled",
    "table",
    "truncate",
    "value",
]
