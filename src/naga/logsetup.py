"""Standard ``logging`` to the console and to ``<save_dir>/experiment.log``, in one call.

Only the root logger is configured, so every ``logging.getLogger(__name__)`` in the user's code
and libraries lands in both places. naga's handlers carry names starting with ``naga.``: a second
call replaces them rather than adding more (a script run twice in one process, a library and its
caller both asking), and leaves alone the handlers others installed (pytest's, the user's own).

The console gets short lines with the level coloured when the stream is a terminal and
``NO_COLOR`` is unset; the file gets full timestamps, levels and logger names, appended to, so a
resumed run keeps one log. ``experiment.log`` is the file ``mlflow_lock`` uploads.
"""

from __future__ import annotations

import logging
import os
import sys

from .errors import NagaError, UsageError, describe_os_error

HANDLER_PREFIX = "naga."
FILE_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
CONSOLE_FORMAT = "%(asctime)s {start}%(levelname)-8s{end} %(name)s: %(message)s"
CONSOLE_DATE = "%H:%M:%S"
COLOURS = {
    logging.DEBUG: "\x1b[2m",  # dim
    logging.INFO: "\x1b[32m",  # green
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[1;31m",  # bold red
}
RESET = "\x1b[0m"

PathArg = str | os.PathLike[str]


def setup_logging(
    save_dir: PathArg | None = None,
    level: int | str = "INFO",
    *,
    console: bool = True,
    filename: str = "experiment.log",
) -> logging.Logger:
    """Send the root logger to the console (stderr) and to ``save_dir/filename``; returns it.

    ``level`` is a level name (``"debug"``, ``"INFO"``, ...) or number. ``save_dir`` is created
    when missing; without it only the console is set up. Calling again replaces naga's handlers.
    """
    numeric = _level(level)
    handlers: list[logging.Handler] = []
    if console:
        handlers.append(_console_handler())
    if save_dir is not None:
        handlers.append(_file_handler(save_dir, filename))
    root = logging.getLogger()
    _remove_naga_handlers(root)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(numeric)
    return root


def _level(level: int | str) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise UsageError(f"log level must be a name like 'INFO' or a number, not {level!r}")
    if isinstance(level, int):
        return level
    text = level.strip().upper()
    if text.isdigit():
        return int(text)
    numeric = logging.getLevelName(text)  # a name gives its number, custom levels too
    if not isinstance(numeric, int):
        names = "DEBUG, INFO, WARNING, ERROR, CRITICAL"
        raise UsageError(f"unknown log level {level!r}; use one of {names} or a number")
    return numeric


def _console_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_PREFIX + "console")
    handler.setFormatter(ConsoleFormatter(colour=_wants_colour(sys.stderr)))
    return handler


def _file_handler(save_dir: PathArg, filename: str) -> logging.Handler:
    if not filename or os.path.basename(filename) != filename:
        raise UsageError(f"log filename must be a plain file name, not {filename!r}")
    directory = os.fspath(save_dir)
    try:
        os.makedirs(directory, exist_ok=True)
        handler = logging.FileHandler(os.path.join(directory, filename), encoding="utf-8")
    except OSError as e:
        raise NagaError(
            f"cannot write the log in {directory}: {describe_os_error(e)}; pass a writable save_dir"
        ) from e
    handler.set_name(HANDLER_PREFIX + "file")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    return handler


def _remove_naga_handlers(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        if (handler.get_name() or "").startswith(HANDLER_PREFIX):
            logger.removeHandler(handler)
            handler.close()


def _wants_colour(stream: object) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


class ConsoleFormatter(logging.Formatter):
    """Short times; with ``colour``, the level name in its colour. The record itself is left as
    it is, since the file handler formats the same record."""

    def __init__(self, colour: bool) -> None:
        super().__init__(CONSOLE_FORMAT.format(start="", end=""), CONSOLE_DATE)
        self._by_level: dict[int, logging.Formatter] = {}
        if colour:
            self._by_level = {
                lvl: logging.Formatter(CONSOLE_FORMAT.format(start=c, end=RESET), CONSOLE_DATE)
                for lvl, c in COLOURS.items()
            }

    def format(self, record: logging.LogRecord) -> str:
        formatter = self._by_level.get(record.levelno)
        return formatter.format(record) if formatter else super().format(record)
