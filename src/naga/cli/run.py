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
@click.option(
    "--no-params",
    is_flag=True,
    help="Do not record params from the command's arguments (--lr 0.1, batch=32).",
)
@click.option(
    "--scalars",
    metavar="REGEX",
    help="Read metrics from output lines with this pattern: named groups key and value, or"
    " one group per metric (loss=(?P<loss>[0-9.]+)); step names the step.",
)
@click.option(
    "--no-scalars",
    is_flag=True,
    help="Do not read metrics from output lines (key=number, key: number).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    name: str | None,
    tags: tuple[str, ...],
    sys_interval: float | None,
    require_clean: bool,
    no_params: bool,
    scalars: str | None,
    no_scalars: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND as a recorded run and exit with its exit code.

    \b
    naga run python train.py --lr 0.1
    naga run --name baseline --tag sweep1 -- make train

    Params come from the command's arguments (--lr 0.1 is lr=0.1) and metrics from its
    output lines (loss=0.52, acc: 0.91) unless the program logs its own through naga.
    """
    sys.exit(
        run_fast(
            name,
            list(tags),
            list(command),
            sys_interval,
            require_clean,
            no_params=no_params,
            scalars=scalars,
            no_scalars=no_scalars,
        )
    )
