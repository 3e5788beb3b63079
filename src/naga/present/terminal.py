"""Text for a terminal: ANSI styles and left-aligned tables, returned as strings.

The command line and the sweep report print these; nothing here prints. Styles are only added
when the stream is a terminal and ``NO_COLOR`` is unset, so piped output is plain text. Cells
hold text that is already inert (``present.fmt`` and ``present.inert`` make it so): the only
escape sequences in the result are the styles added here.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from .fmt import status_look, status_text, truncate

# No click here: `naga ls` renders on a fast path that does not import it.
_FG = {"red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36, "white": 37}

Cell = tuple[str, str | None]  # plain text, and the colour to paint it (None: plain)


def painting(stream: TextIO | None = None) -> bool:
    """Whether styles are drawn on ``stream`` (default stdout): a terminal, NO_COLOR unset."""
    stream = sys.stdout if stream is None else stream
    return not os.environ.get("NO_COLOR") and stream.isatty()


def style(
    text: str,
    *,
    fg: str | None = None,
    bold: bool = False,
    dim: bool = False,
    stream: TextIO | None = None,
) -> str:
    """ANSI colours for a terminal; plain text when piped or when NO_COLOR is set."""
    if not painting(stream):
        return text
    return _paint(text, _codes(fg, bold, dim))


def _codes(fg: str | None, bold: bool, dim: bool) -> str:
    codes = [str(_FG[fg])] if fg else []
    codes += ["1"] if bold else []
    codes += ["2"] if dim else []
    return ";".join(codes)


def _paint(text: str, codes: str) -> str:
    return f"\033[{codes}m{text}\033[0m" if codes else text


def styled(text: str, look: str, stream: TextIO | None = None) -> str:
    """``text`` in a look named as the record layout names it: 'bold yellow', 'dim', 'red'."""
    words = look.split()
    fg = next((w for w in words if w in _FG), None)
    return style(text, fg=fg, bold="bold" in words, dim="dim" in words, stream=stream)


def status_label(status: str, *, word: bool = True) -> str:
    _, colour = status_look(status)
    return style(status_text(status) if word else status_look(status)[0], fg=colour)


def status_cell(status: str) -> Cell:
    return status_text(status), status_look(status)[1]


def table(headers: list[str], rows: list[list[Cell]], max_width: int) -> str:
    """Left-aligned columns, padded on plain text then painted; the last is cut to fit."""
    cols = len(headers)
    col_w = [len(h) for h in headers]
    for row in rows:
        for i, (text, _) in enumerate(row[:-1]):
            col_w[i] = max(col_w[i], len(text))
    used = sum(col_w[:-1]) + 2 * (cols - 1)
    last_w = max(10, max_width - used)
    paint = painting()
    head = "  ".join(h.ljust(col_w[i]) for i, h in enumerate(headers))
    lines = [_paint(head, "1") if paint else head]  # one style for the whole header line
    pads = col_w[:-1]
    codes = {colour: str(_FG[colour]) for colour in _FG}
    for row in rows:
        cells = [text.ljust(w) for (text, _), w in zip(row, pads, strict=False)]
        last = row[-1][0]
        cells.append(last if len(last) <= last_w else truncate(last, last_w))
        if paint:
            cells = [
                cell if colour is None else _paint(cell, codes[colour])
                for cell, (_, colour) in zip(cells, row, strict=True)
            ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
