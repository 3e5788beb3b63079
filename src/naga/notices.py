"""How the library tells its user what it is doing, without writing to the terminal.

A sweep's launcher says how many workers it starts, each task says which run it opened, a
worker whose task failed says why. The library never prints that: it hands a :class:`Notice` to
a :class:`Reporter`, a plain callable passed in by whoever called it. The default,
:func:`log_notice`, sends each notice to the ``naga`` logger, so a library caller sees them as
any other log record (or not at all). Front ends (the ``naga`` command, a ``clicfg`` program's
command line, ``python -m naga.parallel.worker``) pass a reporter that writes
:func:`format_notice`'s line to stderr, which is what their users have always seen.

A notice is a kind and a text: the kind decides the prefix a terminal shows (``naga: warning:``)
and the logging level, so the text itself never carries a prefix. A notice about an exception
the user's own program raised carries it, so a front end can show its traceback as Python would.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Protocol

Kind = Literal["info", "note", "warning", "error", "start"]

_PREFIXES: dict[str, str] = {
    "info": "naga: ",
    "note": "naga: note: ",
    "warning": "naga: warning: ",
    "error": "naga: error: ",
    "start": "naga ▶ ",  # a task starts: the line a sweep's user follows
}
# logging's levels, by number: a clicfg program's start imports this module, not logging
_LEVELS = {"info": 20, "note": 20, "warning": 30, "error": 40, "start": 20}


class Notice(NamedTuple):
    """One thing to tell the user; ``exc`` is the user's own exception it is about, if any
    (shown with its traceback, as Python would show it)."""

    kind: Kind
    text: str
    exc: BaseException | None = None


class Reporter(Protocol):
    """Whatever receives the library's notices (a front end renders them)."""

    def __call__(self, notice: Notice, /) -> None: ...


def log_notice(notice: Notice) -> None:
    """The default reporter: the ``naga`` logger, at the notice's level."""
    import logging

    logger = logging.getLogger("naga")
    exc_info = notice.exc if notice.exc is not None else None
    logger.log(_LEVELS[notice.kind], "%s", notice.text, exc_info=exc_info)


def format_notice(notice: Notice) -> str:
    """The one line a terminal shows for ``notice`` (without a traceback)."""
    return f"{_PREFIXES[notice.kind]}{notice.text}"


def warn(text: str) -> None:
    """A warning of the SDK's (a full disk while logging, a stream that could not be written)
    to the program that records: through the ``naga`` logger, as ``naga: warning: TEXT``. With
    no logging set up, Python's last-resort handler writes that line to stderr, as the user has
    always seen it; a program that set up logging gets it through its own handlers."""
    import logging

    logging.getLogger("naga").warning("%s", format_notice(Notice("warning", text)))
