"""Text from the outside world made safe to print, index and lay out in a table."""

from __future__ import annotations

_CONTROL = {c: f"\\x{c:02x}" for c in range(32)} | {
    ord("\n"): "\\n",
    ord("\t"): "\\t",
    ord("\r"): "\\r",
}


def printable(text: str) -> str:
    """Text safe to print or index: bytes that were not UTF-8 (kept in records as surrogates,
    so an argument is recorded exactly) are shown as U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def one_line(text: str) -> str:
    """``printable``, with control characters shown as escapes: one table row stays one line."""
    return printable(text).translate(_CONTROL)
