"""``@unsafe_debug``: a post-mortem debugger on an uncaught exception, only under ``NAGA_DEBUG``.

"Unsafe" because a debugger waits for a person at the keyboard: on a cluster node or in CI it
would hold the job, so it stays off unless ``NAGA_DEBUG`` is set (to anything but ``0``,
``false``, ``no``, ``off`` or empty). The variable is read when the function raises, not when it
is decorated, so a launcher can set it for one run. The exception is raised again after the
session, so tracebacks and exit codes stay as they would be; ``KeyboardInterrupt`` and
``SystemExit`` pass straight through. ``ipdb`` is used when installed, else ``pdb``.

Before the debugger opens, a warning on the ``naga`` logger says why it did (with no logging
set up, Python shows a warning on stderr by itself): the library never prints.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, overload

ENV = "NAGA_DEBUG"
_OFF = ("", "0", "false", "no", "off")
_SEEN = "__naga_debugged__"  # set on an exception once debugged: nested decorators skip it

F = TypeVar("F", bound=Callable[..., Any])


@overload
def unsafe_debug(func: F) -> F: ...
@overload
def unsafe_debug(func: None = None) -> Callable[[F], F]: ...
def unsafe_debug(func: F | None = None) -> F | Callable[[F], F]:
    """Decorate ``func`` (``@unsafe_debug`` or ``@unsafe_debug()``) to open a post-mortem
    debugger where it raised, when ``NAGA_DEBUG=1``; otherwise it changes nothing."""
    if func is None:
        return _decorate
    return _decorate(func)


def debug_enabled() -> bool:
    return os.environ.get(ENV, "").strip().lower() not in _OFF


def _decorate(func: F) -> F:
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except Exception as e:
                _post_mortem(e)
                raise

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as e:
            _post_mortem(e)
            raise

    return wrapper  # type: ignore[return-value]


def _post_mortem(exc: Exception) -> None:
    if not debug_enabled() or getattr(exc, _SEEN, False):
        return
    try:
        setattr(exc, _SEEN, True)
    except (AttributeError, TypeError):  # an exception type with __slots__
        pass
    logging.getLogger("naga").warning(
        "%s is set: post-mortem debugger on %s: %s (c or q to let the exception go on)",
        ENV,
        type(exc).__name__,
        exc,
    )
    _debugger()(exc.__traceback__)


def _debugger() -> Callable[[TracebackType | None], Any]:
    try:
        import ipdb  # type: ignore[import-not-found]
    except ImportError:
        import pdb

        return pdb.post_mortem
    post_mortem: Callable[[TracebackType | None], Any] = ipdb.post_mortem
    return post_mortem
