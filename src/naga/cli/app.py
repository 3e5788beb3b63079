"""The click application: the command group, lazy subcommands and error reporting.

Subcommands are imported only when invoked, so ``naga run`` pays for nothing it does not use.
Every ``NagaError`` becomes one line on stderr and the exit code the error carries.
"""

from __future__ import annotations

import importlib
import sqlite3
from typing import Any

import click

from .._version import __version__
from ..errors import NagaError, describe_os_error

COMMANDS = {
    "run": "naga.cli.run:run",
    "ls": "naga.cli.ls:ls",
    "show": "naga.cli.show:show",
    "logs": "naga.cli.logs:logs",
    "rm": "naga.cli.rm:rm",
    "reindex": "naga.cli.reindex:reindex",
    "metrics": "naga.cli.metrics:metrics",
    "compare": "naga.cli.compare:compare",
    "plot": "naga.cli.plot:plot",
    "hash": "naga.cli.hash:hash_",
    "tui": "naga.cli.tui:tui",
    "lineage": "naga.cli.lineage:lineage",
    "lock": "naga.cli.lockcmd:lock",
    "sweep": "naga.cli.sweep:sweep",
    "export": "naga.cli.export:export",
    "push": "naga.cli.share:push",
    "pull": "naga.cli.share:pull",
    "gc": "naga.cli.gc:gc",
    "archive": "naga.cli.archive:archive",
    "unarchive": "naga.cli.archive:unarchive",
    "rerun": "naga.cli.rerun:rerun",
    "diff": "naga.cli.diff:diff",
    "branch": "naga.cli.branch:branch",
    "tag": "naga.cli.edit:tag",
    "untag": "naga.cli.edit:untag",
    "rename": "naga.cli.edit:rename",
    "note": "naga.cli.edit:note",
    "ui": "naga.cli.ui:ui",
    "report": "naga.cli.report:report",
}


def fail(message: str, code: int) -> click.exceptions.Exit:
    from ..present.inert import inert  # messages quote record text (names, paths): inert

    click.echo(f"naga: error: {inert(message, multiline=True)}", err=True)
    return click.exceptions.Exit(code)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NagaError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except BrokenPipeError:
            raise
        except sqlite3.Error as exc:
            raise fail(f"the run index failed ({exc}); `naga reindex` rebuilds it", 1) from None
        except OSError as exc:  # a full disk, a permission problem: one line, never a traceback
            raise fail(describe_os_error(exc), 1) from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None


@click.group(cls=LazyGroup, invoke_without_command=True)
@click.version_option(__version__, prog_name="naga")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """naga: record every run of any command, with zero configuration.

    \b
    naga run python train.py --lr 0.1   record a run
    naga ls                             list runs, newest first
    naga show ID                        everything recorded about a run
    naga logs ID -f                     its output, following it live
    naga                                the live dashboard (on a terminal; or naga tui)
    """
    if ctx.invoked_subcommand is None:
        import sys

        if sys.stdin.isatty() and sys.stdout.isatty():  # pipes and scripts still get the help
            ctx.invoke(get_tui())
            return
        click.echo(ctx.get_help())


def get_tui() -> click.Command:
    from .tui import tui

    return tui
