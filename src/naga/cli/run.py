"""``naga run``: run any command as a recorded run."""

from __future__ import annotations

import sys

import click

from .run_fast import run_fast


@click.command(
    "run",
    context_settings={"allow_interspersed_args": False},
)
@click.option("--name", help="A name for the run; selects it like an id.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option(
    "--sys-interval",
    type=float,
    help="Seconds between system-metric samples (CPU, memory, GPU); 0 turns them off."
    "  [default: $NAGA_SYS_INTERVAL or 10]",
)
@click.option(
    "--require-clean",
    is_flag=True,
    help="Refuse to start unless the git working tree is clean (exit 2).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    name: str | None,
    tags: tuple[str, ...],
    sys_interval: float | None,
    require_clean: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND as a recorded run and exit with its exit code.

    \b
    naga run python train.py --lr 0.1
    naga run --name baseline --tag sweep1 -- make train
    """
    sys.exit(run_fast(name, list(tags), list(command), sys_interval, require_clean))
