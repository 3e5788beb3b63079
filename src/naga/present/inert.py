"""Record text made inert for a terminal (or any screen): the one place that decides how.

Run records are untrusted input: a teammate's pulled run, a shared cluster store, or a name a
user typed with ``$'\\e]0;x\\a'``. A terminal acts on control characters: ``ESC ] 52`` writes
the clipboard, ``ESC ] 8`` hides a link behind text, ``ESC ] 0`` sets the window title, a lone
C1 byte (``\\x9b``) starts a sequence on some terminals, and bidi overrides make text read in
another order than it runs. Every front end passes every piece of record text through
``inert`` before it reaches a screen, so all of these are shown as visible escapes instead.

Shown escaped: C0 controls (``\\n`` and ``\\t`` kept where a field is meant to be multi-line),
DEL, C1 controls, the bidi controls (U+061C, U+200E-200F, U+202A-202E, U+2066-2069) and the
line and paragraph separators (U+2028-2029), and every other character Python does not count as
printable (format characters such as a soft hyphen or a zero-width joiner, unassigned code
points). Other text, wide or accented, stays as it is.
Bytes that were not UTF-8 (kept in records as surrogates so an argument is recorded exactly)
are shown as U+FFFD.
"""

from __future__ import annotations

from ..text import printable


def _escape(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_ONE_LINE: dict[int, str] = {
    code: _escape(code)
    for code in (
        *range(0x20),
        *range(0x7F, 0xA0),
        0x061C,
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        0x2028,
        0x2029,
    )
} | {ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"}
_MULTI_LINE = {code: esc for code, esc in _ONE_LINE.items() if code not in (0x0A, 0x09)}


def inert(text: object, *, multiline: bool = False) -> str:
    """``text`` with every control character shown as a visible escape (``\\x1b``), so
    printing it moves no cursor, sets no title and writes no clipboard. ``multiline`` keeps
    newlines and tabs (a traceback, a note); otherwise the result is one line."""
    text = text if isinstance(text, str) else str(text)
    if text.isprintable():  # the common case, in C: nothing to escape
        return text
    shown = printable(text).translate(_MULTI_LINE if multiline else _ONE_LINE)
    if shown.isprintable() or (
        multiline and shown.replace("\n", "").replace("\t", "").isprintable()
    ):
        return shown
    # what else a screen does not show: format characters (a soft hyphen, zero-width joiners,
    # tag characters), separators other than the space, unassigned code points
    keep = "\n\t" if multiline else ""
    return "".join(c if c.isprintable() or c in keep else _escape(ord(c)) for c in shown)


# In JSON text, C0 controls are always escaped by the encoder; the rest may appear raw.
_JSON = {code: f"\\u{code:04x}" for code in _ONE_LINE if code >= 0x20}


def inert_json(text: str) -> str:
    """JSON text with every character ``inert`` would escape written as a ``\\u`` escape:
    the same document (a parser reads the same strings), nothing a terminal acts on. Only
    string contents can hold such characters, so the rewrite never touches the structure."""
    if text.isascii():  # a flag CPython keeps: no scan at all, but for DEL
        return text.replace("\x7f", "\\u007f") if "\x7f" in text else text
    if text.isprintable():  # compact JSON (the index's documents): a scan in C, 100x faster
        return text  # than the regular expression, which ls --all --json cannot afford
    import re  # not at the top: `naga run` imports this module, and `re` costs it ~10 ms

    if re.search("[" + "".join(map(chr, _JSON)) + "]", text) is None:  # re caches the pattern
        return text
    return text.translate(_JSON)
