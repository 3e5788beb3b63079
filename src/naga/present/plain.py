"""Captured terminal output as the text a reader wants: ``naga logs --plain``.

A run's ``output.log`` holds the bytes the program wrote to its terminal: colours, cursor
movements and progress bars that redraw one line with ``\\r`` hundreds of times. ``Plain``
replays each line as a terminal would show it once it is done (``\\r`` returns to the start
and later text overwrites, ``\\b`` steps back, ``ESC[K`` erases) and drops every other escape
sequence, so ``tqdm``'s bar becomes its last state and ``\\r\\n`` (a pty's line end) a plain
newline. It works on a stream of chunks: a line, an escape sequence or a UTF-8 character cut
between two reads is carried to the next. Bytes that are not UTF-8 pass through unchanged
(surrogate escapes), so only escape sequences and overwritten text are ever lost.
"""

from __future__ import annotations

import codecs
import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), two-byte escapes, the line controls,
# and runs of ordinary text.
_TOKEN = re.compile(
    r"\x1b\[([0-?]*)[ -/]*([@-~])"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[ -/]*[0-Z\\^-~]"  # not ESC [ or ESC ]: those start the two above
    r"|([\r\n\b])"
    r"|([^\x1b\r\n\b]+)"
    r"|(\x1b)"  # an ESC that starts no complete sequence (yet)
)
_SPECIAL = re.compile(r"[\x1b\r\b]")
_PENDING_MAX = 256  # an unfinished escape sequence longer than this is no escape sequence


class Plain:
    """Feed chunks of raw output, get the finished lines back as bytes; ``finish`` gives
    the last, unterminated line."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._line = ""
        self._cursor = 0
        self._pending = ""

    def feed(self, data: bytes) -> bytes:
        return self._run(self._pending + self._decoder.decode(data), final=False)

    def finish(self) -> bytes:
        done = self._run(self._pending + self._decoder.decode(b"", final=True), final=True)
        tail, self._line, self._cursor = self._line, "", 0
        return done + tail.encode("utf-8", "surrogateescape")

    def _run(self, text: str, *, final: bool) -> bytes:
        self._pending = ""
        if not self._line and not self._cursor and not _SPECIAL.search(text):
            cut = text.rfind("\n") + 1  # plain lines, as most logs are: as they are
            self._line, self._cursor = text[cut:], len(text) - cut
            return text[:cut].encode("utf-8", "surrogateescape")
        out: list[str] = []
        for match in _TOKEN.finditer(text):
            csi_args, csi_final, control, plain, lone = match.groups()
            if plain is not None:
                self._write(plain)
            elif control == "\n":
                out.append(self._line + "\n")
                self._line, self._cursor = "", 0
            elif control == "\r":
                self._cursor = 0
            elif control == "\b":
                self._cursor = max(0, self._cursor - 1)
            elif csi_final == "K":
                self._erase(csi_args)
            elif lone is not None and not final and len(text) - match.start() < _PENDING_MAX:
                self._pending = text[match.start() :]  # the rest of it comes in the next chunk
                break
        return "".join(out).encode("utf-8", "surrogateescape")

    def _write(self, text: str) -> None:
        line, at = self._line, self._cursor
        if at >= len(line):
            self._line = line + " " * (at - len(line)) + text
        else:
            self._line = line[:at] + text + line[at + len(text) :]
        self._cursor = at + len(text)

    def _erase(self, args: str) -> None:
        """ESC[K: erase to the end of the line; ESC[1K to its start; ESC[2K all of it."""
        if args in ("", "0"):
            self._line = self._line[: self._cursor]
        elif args == "1":
            self._line = " " * self._cursor + self._line[self._cursor :]
        elif args == "2":
            self._line = ""


def plain_text(data: bytes) -> bytes:
    """``data`` as :class:`Plain` renders it, all at once."""
    plain = Plain()
    return plain.feed(data) + plain.finish()
