"""A terminal log as lines of (text, style) segments a browser can show without markup.

Captured output holds colour codes (SGR) and also cursor moves, titles and progress-bar carriage
returns. The page gets text and class names only (``fg1`` .. ``fg15``, ``b`` for bold): the
script puts the text in ``textContent`` and the class on a span, so nothing in a log becomes
markup. Other escape sequences are dropped; a carriage return keeps what was written after it
(the last state of a progress bar).
"""

from __future__ import annotations

import re

# CSI sequences (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte escapes
_ESCAPE = re.compile(r"\x1b(?:\[([0-9;?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
Segment = list[str]  # [text, classes]


def segments(text: str) -> list[list[Segment]]:
    """``text`` as lines, each a list of [text, classes] with the colour state carried on."""
    state: dict[str, int | bool] = {}
    out = []
    for raw in text.split("\n"):
        if "\r" in raw:
            raw = _last_overwrite(raw)
        out.append(_line(raw, state))
    if out and out[-1] == []:
        out.pop()
    return out


def _last_overwrite(line: str) -> str:
    pieces = [p for p in line.split("\r") if p]
    return pieces[-1] if pieces else ""


def _line(raw: str, state: dict[str, int | bool]) -> list[Segment]:
    line: list[Segment] = []
    at = 0
    for match in _ESCAPE.finditer(raw):
        _add(line, raw[at : match.start()], state)
        at = match.end()
        if match.group(2) == "m":
            _apply(match.group(1) or "0", state)
    _add(line, raw[at:], state)
    return line


def _add(line: list[Segment], text: str, state: dict[str, int | bool]) -> None:
    text = _CONTROLS.sub("", text)
    if not text:
        return
    classes = []
    if state.get("fg") is not None:
        classes.append(f"fg{state['fg']}")
    if state.get("bold"):
        classes.append("b")
    line.append([text, " ".join(classes)])


def _apply(params: str, state: dict[str, int | bool]) -> None:
    codes = [int(p) if p.isdigit() else 0 for p in params.split(";")]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code == 0:
            state.clear()
        elif code == 1:
            state["bold"] = True
        elif code == 22:
            state["bold"] = False
        elif 30 <= code <= 37:
            state["fg"] = code - 30
        elif 90 <= code <= 97:
            state["fg"] = code - 90 + 8
        elif code == 39:
            state.pop("fg", None)
        elif code in (38, 48):  # 256 colours or RGB: skip their arguments
            i += 2 if i + 1 < len(codes) and codes[i + 1] == 5 else 4
        i += 1
