"""What the click-free fast paths (``naga run``, ``naga ls``) share: one-line errors."""

from __future__ import annotations

import os

from ..errors import NagaError, describe_os_error


def say(line: str) -> None:
    """A line on stderr, written at once (no buffering to lose if naga is killed)."""
    os.write(2, (line + "\n").encode("utf-8", "replace"))


def report(exc: Exception) -> int:
    """``naga: error: ...`` for what a user can act on; the exit code to exit with."""
    from ..present.inert import inert  # messages quote record text (names, paths): inert

    if isinstance(exc, NagaError):
        say(f"naga: error: {inert(str(exc), multiline=True)}")
        return exc.exit_code
    if isinstance(exc, OSError):
        say(f"naga: error: {inert(describe_os_error(exc), multiline=True)}")
        return 1
    raise exc
