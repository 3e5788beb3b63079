"""``naga sweep``: run any command over a grid or a random sample of parameters, each point a
recorded run (the work is in ``naga.parallel``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..errors import NagaError, UsageError

if TYPE_CHECKING:
    from ..parallel.search import SearchSpec

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
@click.option(
    "--search",
    type=click.Choice(["tpe", "random", "grid", "cmaes"]),
    help="Adaptive search: Optuna's sampler picks each point (needs --trials, --minimize).",
)
@click.option("--trials", type=click.IntRange(min=1), metavar="N", help="Trials of --search.")
@click.option("--minimize", metavar="METRIC", help="--search: the metric to minimize.")
@click.option("--maximize", metavar="METRIC", help="--search: the metric to maximize.")
@click.option(
    "--prune",
    type=click.Choice(["median", "asha", "hyperband"]),
    help="--search: stop unpromising trials early (the metric logged through naga.log).",
)
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
    search: str | None,
    trials: int | None,
    minimize: str | None,
    maximize: str | None,
    prune: str | None,
    args: tuple[str, ...],
) -> None:
    """Run COMMAND once per point of the parameters, each point a recorded run.

    \b
    naga sweep lr=0.1,0.01 batch=32,64 -- python train.py --lr {lr} --batch {batch}
    naga sweep --random 20 lr='log(1e-4,1e-1)' depth='int(2,8)' -- python train.py ...
    naga sweep --n-jobs 4 --metric loss lr=0.1,0.01 -- python train.py --lr {lr}
    naga sweep --search tpe --trials 40 --minimize loss lr='log(1e-5,1e-1)' -- python t.py ...
    naga sweep show [--json] ID   (a search's best trial, the parameters' importances)

    Parameters: NAME=V1,V2 (values), NAME=log(LOW,HIGH), NAME=range(LOW,HIGH),
    NAME=int(LOW,HIGH) (ranges, with --random). {NAME} in the command is the point's value.
    Launched again, the same sweep runs only the points not completed; naga ls --sweep ID
    lists its runs.
    """
    from ..config.frontend import show_dispatched, stderr_reporter
    from ..parallel.commands import prepare_command_sweep
    from ..parallel.dispatch import dispatch

    if args and args[0] == "show":  # a parameter always has "=": `show` is the command
        sys.exit(_show(list(args[1:])))
    _refuse_misspelt_show(list(args))
    specs, command = _split(list(args))
    if after and not slurm:
        raise UsageError("--after chains Slurm jobs: it needs --slurm FILE")
    spec = None
    if search is not None:
        spec = _search_spec(search, trials, minimize, maximize, prune, seed, specs, n_random)
    elif trials or minimize or maximize or prune:
        raise UsageError("--trials, --minimize, --maximize and --prune go with --search SAMPLER")
    backend = {"name": "slurm" if slurm else "local", "n_jobs": n_jobs}
    found, reopened = prepare_command_sweep(
        specs,
        command,
        n_random=n_random,
        seed=seed,
        new=new,
        backend=backend,
        search=spec,
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


def _refuse_misspelt_show(args: list[str]) -> None:
    """``naga sweep shwo latest`` is a typo of the command, not a sweep missing its ``--``."""
    import difflib

    if args and "--" not in args and difflib.get_close_matches(args[0], ["show"], cutoff=0.6):
        raise UsageError(
            f"naga sweep has no command {args[0]!r}; did you mean: naga sweep show"
            f" {' '.join(args[1:]) or 'ID'}"
        )


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


def _search_spec(
    sampler: str,
    trials: int | None,
    minimize: str | None,
    maximize: str | None,
    prune: str | None,
    seed: int | None,
    specs: list[str],
    n_random: int | None,
) -> SearchSpec:
    from ..parallel.search import SearchSpec, check_search
    from ..sdk.trial import optuna_module

    if n_random is not None:
        raise UsageError("--random and --search choose points two ways: give one of them")
    objective, direction = check_search(sampler, trials, minimize, maximize, prune, specs)
    optuna_module()  # a missing extra is said before anything is made
    assert trials is not None
    return SearchSpec(sampler, trials, objective, direction, tuple(specs), prune, seed)


def _show(args: list[str]) -> int:
    """``naga sweep show ID``: a search's study (best trial, importances) and its table."""
    from ..config.frontend import show_search

    as_json = "--json" in args
    args = [a for a in args if a != "--json"]
    for arg in args:
        if arg.startswith("-") and arg != "-":
            raise UsageError(f"naga sweep show has no option {arg!r} (it has --json)")
    if len(args) != 1 or not args[0].strip():
        raise UsageError("naga sweep show takes one sweep: naga sweep show [--json] ID (or latest)")
    try:
        return show_search(args[0], as_json=as_json)
    except UsageError:
        sweep = _sweep_of_run(args[0])
        if sweep is None:
            raise
        raise UsageError(
            f"{args[0]} is a run, not a sweep; its sweep: naga sweep show {sweep}"
        ) from None


def _sweep_of_run(selector: str) -> str | None:
    """The sweep a run belongs to, when ``naga sweep show`` was given a run, not a sweep."""
    from ..store import Store

    store = Store.open()
    if not store.exists():
        return None
    try:
        sweep = store.get(selector).get("params", {}).get("sweep.id")
    except NagaError:
        return None
    return sweep if isinstance(sweep, str) else None
