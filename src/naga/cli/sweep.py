"""``naga sweep``: run any command over a grid or a random sample of parameters, each point a
recorded run (the work is in ``naga.parallel``)."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError

EXAMPLE = "naga sweep lr=0.1,0.01 batch=32,64 -- python train.py --lr {lr} --batch {batch}"


@click.command("sweep", context_settings={"allow_interspersed_args": False})
@click.option(
    "--random", "n_random", type=click.IntRange(min=1), metavar="N", help="Draw N random points."
)
@click.option(
    "--seed",
    type=int,
    metavar="S",
    help="Seed of the random draw (default: a fresh one, recorded).",
)
@click.option(
    "--n-jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Points run at once here (or Slurm workers).",
)
@click.option(
    "--slurm",
    metavar="FILE[:NAME]",
    help="Submit to Slurm with this resource profile: FILE or FILE:NAME.",
)
@click.option(
    "--after",
    multiple=True,
    metavar="JOB|SWEEP",
    help="On Slurm: start after this job or sweep succeeded.",
)
@click.option("--dry-run", is_flag=True, help="Print the points (or the Slurm job); run nothing.")
@click.option(
    "--metric", "metrics", multiple=True, metavar="NAME", help="A metric to show in the summary."
)
@click.option("--new", is_flag=True, help="A new sweep, even if this one ran before.")
@click.argument(
    "args", nargs=-1, required=True, type=click.UNPROCESSED, metavar="NAME=VALUES... -- COMMAND..."
)
def sweep(
    n_random: int | None,
    seed: int | None,
    n_jobs: int | None,
    slurm: str | None,
    after: tuple[str, ...],
    dry_run: bool,
    metrics: tuple[str, ...],
    new: bool,
    args: tuple[str, ...],
) -> None:
    """Run COMMAND once per point of the parameters, each point a recorded run.

    \b
    naga sweep lr=0.1,0.01 batch=32,64 -- python train.py --lr {lr} --batch {batch}
    naga sweep --random 20 lr='log(1e-4,1e-1)' depth='int(2,8)' -- python train.py ...
    naga sweep --n-jobs 4 --metric loss lr=0.1,0.01 -- python train.py --lr {lr}

    Parameters: NAME=V1,V2 (values), NAME=log(LOW,HIGH), NAME=range(LOW,HIGH),
    NAME=int(LOW,HIGH) (ranges, with --random). {NAME} in the command is the point's value.
    Launched again, the same sweep runs only the points not completed; naga ls --sweep ID
    lists its runs.
    """
    from ..config.frontend import show_dispatched, stderr_reporter
    from ..parallel.commands import prepare_command_sweep
    from ..parallel.dispatch import dispatch

    specs, command = _split(list(args))
    if after and not slurm:
        raise UsageError("--after chains Slurm jobs: it needs --slurm FILE")
    backend = {"name": "slurm" if slurm else "local", "n_jobs": n_jobs}
    found, reopened = prepare_command_sweep(
        specs,
        command,
        n_random=n_random,
        seed=seed,
        new=new,
        backend=backend,
        report=stderr_reporter,
    )
    dispatched = dispatch(
        found,
        reopened=reopened,
        n_jobs=n_jobs,
        slurm=slurm,
        after=after,
        dry_run=dry_run,
        report=stderr_reporter,
    )
    sys.exit(show_dispatched(found, dispatched, metrics))


def _split(args: list[str]) -> tuple[list[str], list[str]]:
    """The parameters before ``--`` and the command after it."""
    if "--" not in args:
        raise UsageError(f"naga sweep needs parameters, then -- and the command: {EXAMPLE}")
    at = args.index("--")
    specs, command = args[:at], args[at + 1 :]
    for spec in specs:
        if spec.startswith("-"):
            raise UsageError(
                f"{spec}: naga sweep's options go before the parameters: naga sweep --n-jobs 2"
                " lr=0.1,0.01 -- CMD"
            )
    if not specs:
        raise UsageError(f"naga sweep needs parameters before --: {EXAMPLE}")
    return specs, command
