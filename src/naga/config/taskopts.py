"""The command-line options that turn a ``clicfg`` program's call into parallel tasks.

::

    --tasks KEY|FILE|[...]   the task list: a config key holding a list, a .yaml/.yml/.json
                             file holding one, or an inline YAML list ('[0.1, 0.01]')
    --task-to KEY            where each item goes in the config (an item that is a mapping
                             sets keys under KEY; without --task-to, items must be mappings
                             of dotted keys)
    --n_jobs N               N local worker processes; with --slurm_config, N Slurm
                             workers
    --slurm_config FILE      run the tasks as a Slurm job array (submitit)
    --after JOB|SWEEP        on Slurm: start once that job or sweep succeeded (afterok)
    --dry-run                print what would run (or be submitted) and run nothing
    --new-sweep              a new sweep even if the same one ran before (no resume)
    --search tpe|random|grid|cmaes   an adaptive search (Optuna) instead of --tasks, with
    --trials N --minimize METRIC|--maximize METRIC --param KEY=SPEC ... [--prune median|asha|
    hyperband] [--search-seed S]; SPEC as naga sweep's: V1,V2 or log(LOW,HIGH),
    range(LOW,HIGH), int(LOW,HIGH)

``--n-jobs``, ``--task_to`` and ``--slurm-config`` are accepted too. These names are naga's in a
``clicfg`` program's command line: a config key of the same name is set as ``n_jobs=4``. Their
values are checked here; whether they make sense together, by ``naga.config.sweeps``.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

_ALIASES = {
    "--task_to": "--task-to",
    "--n-jobs": "--n_jobs",
    "--slurm-config": "--slurm_config",
}
_FLAGS = ("--dry-run", "--new-sweep")


class TaskOptions:
    """What the parallel options asked for."""

    def __init__(self) -> None:
        self.tasks: str | None = None
        self.task_to: str | None = None
        self.n_jobs: int | None = None
        self.slurm_config: str | None = None
        self.after: list[str] = []
        self.dry_run = False
        self.new_sweep = False
        self.search: str | None = None
        self.trials: int | None = None
        self.minimize: str | None = None
        self.maximize: str | None = None
        self.prune: str | None = None
        self.params: list[str] = []
        self.search_seed: int | None = None
        self.given: list[str] = []  # the options as written, for error messages


def take_option(found: Any, arg: str, args: list[str], i: int) -> int:
    """Record ``arg`` (at ``args[i - 1]``) in ``found.parallel``; returns the next index."""
    options = found.parallel = found.parallel or TaskOptions()
    name, eq, value = arg.partition("=")
    name = _ALIASES.get(name, name)
    options.given.append(name)
    if name in _FLAGS:
        if eq:
            raise ConfigError(f"{name} takes no value")
        setattr(options, name[2:].replace("-", "_"), True)
        return i
    if not eq:
        if i >= len(args) or (args[i].startswith("--") and len(args[i]) > 2):
            raise ConfigError(f"{name} needs a value: {name} {_METAVARS[name]}")
        value, i = args[i], i + 1
    if not value.strip():
        raise ConfigError(f"{name} needs a value: {name} {_METAVARS[name]}")
    if name == "--n_jobs":
        options.n_jobs = _positive_int(name, value)
    elif name == "--trials":
        options.trials = _positive_int(name, value, "a number of trials")
    elif name == "--after":
        options.after.append(value)
    elif name == "--param":
        options.params.append(value)
    elif name == "--search-seed":
        try:
            options.search_seed = int(value)
        except ValueError:
            raise ConfigError(f"--search-seed expects a whole number, not {value!r}") from None
    else:
        setattr(options, name[2:].replace("-", "_"), value)
    return i


_METAVARS = {
    "--tasks": "KEY|FILE",
    "--task-to": "KEY",
    "--n_jobs": "N",
    "--slurm_config": "FILE",
    "--after": "JOB|SWEEP",
    "--search": "tpe|random|grid|cmaes",
    "--trials": "N",
    "--minimize": "METRIC",
    "--maximize": "METRIC",
    "--prune": "median|asha|hyperband",
    "--param": "KEY=SPEC",
    "--search-seed": "S",
}


def _positive_int(name: str, text: str, what: str = "a number of processes") -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} expects {what} (1 or more), not {text!r}")
    return value
