"""The ``naga`` command line: a thin layer that parses, calls the library and renders.

``main`` takes a fast path for ``naga run``: its few options are parsed here without importing
click, which alone would cost more than the whole wrapper is allowed to add to a run. Anything
unusual (``--help``, a bad option) falls through to the click application in ``app``.
"""

from __future__ import annotations

import os
import sys


def _fast_run_args(args: list[str]) -> tuple[str | None, list[str], list[str]] | None:
    """(name, tags, command) for ``naga run`` arguments, or None to let click handle them."""
    name: str | None = None
    tags: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return (name, tags, args[i + 1 :]) if i + 1 < len(args) else None
        if not arg.startswith("-"):
            return name, tags, args[i:]
        option, eq, value = arg.partition("=")
        if option not in ("--name", "--tag"):
            return None
        if not eq:
            if i + 1 >= len(args):
                return None
            i += 1
            value = args[i]
        if option == "--name":
            name = value
        else:
            tags.append(value)
        i += 1
    return None


def _exit_quietly_on_broken_pipe() -> None:
    # The reader of our output (head, less) went away: exit quietly, as Unix tools do.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)


def main() -> None:
    args = sys.argv[1:]
    fast = _fast_run_args(args[1:]) if args[:1] == ["run"] else None
    try:
        if fast is not None:
            from .run_fast import run_fast

            sys.exit(run_fast(*fast))
        from .app import cli

        cli(prog_name="naga")
    except BrokenPipeError:
        _exit_quietly_on_broken_pipe()
