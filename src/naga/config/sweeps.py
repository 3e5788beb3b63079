"""``python train.py --tasks ... [--task-to KEY] [--n_jobs N | --slurm_config FILE]``: the
config side of a ``clicfg`` program's sweep. It turns the call into a sweep of
``naga.parallel`` (which knows the program only as a ``TaskProgram``) and loads the program
again in a worker (:func:`load_program`, named in ``sweep.json``); what the user sees of it is
:mod:`naga.config.frontend`'s.

A ``clicfg`` program's call becomes a sweep: one naga run per task, each with the base command
line's config plus the task's item injected, and its own ``save_dir``. Everything is checked
before anything runs: the options (``--n_jobs`` without tasks, an empty list, a ``--task-to``
key the config lacks, a bad tasks file) and every task's config, so a typo in task 37 stops the
launch instead of failing task 37 an hour later.

Injection: an item that is a mapping sets several keys (dotted or nested), under ``--task-to``
when given (``--task-to model`` with ``{lr: 0.1}`` sets ``model.lr``); any other item is the
value of ``--task-to`` itself.

``save_dir``: each task's is the config's ``save_dir`` resolved with the task's values (so
``runs/${model.lr}`` differs per task); when two tasks would share one, every task gets
``<save_dir>/task-<i>``. ``${naga.now}`` is the sweep's creation time for all tasks.

Resume: the same program, command line, base config (as it resolves now: an edited ``--config``
file is another sweep) and tasks make the same sweep; launching it again runs only the tasks
not completed (failed ones run again), unless ``--new-sweep``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, UsageError
from ..notices import Reporter, log_notice
from ..parallel.sweepdir import Sweep, create_sweep, sweep_key
from .overrides import Invocation, Override
from .taskopts import TaskOptions

if TYPE_CHECKING:
    from ..parallel.dispatch import Dispatched
    from .clicfg import ConfiguredMain

    Main = ConfiguredMain[Any]

_FILE_SUFFIXES = (".yaml", ".yml", ".json")
LOADER = "naga.config.sweeps:load_program"


def launch_tasks(
    main: Main, invocation: Invocation, *, report: Reporter = log_notice
) -> tuple[Sweep, Dispatched]:
    """Run (or submit, or print) the tasks of ``invocation``: the sweep and how it went."""
    sweep, reopened = prepare_sweep(main, invocation)
    options: TaskOptions = invocation.parallel
    if not options.dry_run:
        take_snapshot(main, sweep)
    from ..parallel.dispatch import dispatch

    dispatched = dispatch(
        sweep,
        reopened=reopened,
        n_jobs=options.n_jobs,
        slurm=options.slurm_config,
        after=options.after,
        dry_run=options.dry_run,
        program=main,
        report=report,
    )
    return sweep, dispatched


def take_snapshot(main: Main, sweep: Sweep) -> None:
    """Snapshot the program's repositories once for all the tasks of this launch (their
    run.lock records it; ``refs/naga/snapshots/<sweep_id>`` keeps it), into snapshot.json."""
    repos = main.recorded_repos()
    if repos is None:
        return
    from ..lock.runlock import snapshot_repos

    sweep.write_snapshot(snapshot_repos(repos, run_id=sweep.id) if repos else {})


def load_program(description: dict[str, Any]) -> Main:
    """The clicfg main ``description`` names, imported in this process (a worker); a bare
    ``main()`` at the program's top level does nothing meanwhile."""
    from ..parallel.program import import_program
    from .clicfg import ConfiguredMain

    with ConfiguredMain.loading():
        main = import_program(description)
    if not isinstance(main, ConfiguredMain):
        where = description["module"] or description["script"]
        raise UsageError(f"{where} no longer defines the clicfg main {description['attr']!r}")
    return main


def prepare_sweep(main: Main, invocation: Invocation) -> tuple[Sweep, bool]:
    """Check everything, then create the sweep (or reopen the same one launched before)."""

    options: TaskOptions = invocation.parallel
    argv = _base_argv(invocation)
    if options.search is not None or options.trials or options.params:
        return prepare_search_sweep(main, options, argv)
    _check_options(options, lambda: _base_config(main, argv))
    base = _base_config(main, argv)
    items = load_items(options.tasks or "", base)
    if options.task_to is not None:
        _check_key(options.task_to, base)
    program, definition, backend = _program_sweep(main, argv, options, base)
    definition.update(items=items, task_to=options.task_to)
    key = sweep_key(definition)
    if not options.new_sweep:  # the same sweep again: its tasks were checked when it was made
        from ..parallel.sweepdir import find_by_key

        found = find_by_key(key)
        if found is not None:  # dispatch() reopens its failed tasks (unless a dry run)
            return found, True
    now = time.time()
    tasks = build_tasks(main, argv, items, options.task_to, now)
    return create_sweep(
        "clicfg", tasks, key=key, program=program, backend=backend, new=True, now=now
    )


def prepare_search_sweep(main: Main, options: TaskOptions, argv: list[str]) -> tuple[Sweep, bool]:
    """``--search``: a sweep of ``--trials`` slots whose values Optuna chooses as it goes
    (:mod:`naga.parallel.search`); the same search launched again continues its study."""
    from ..parallel.search import SearchSpec, check_search, prepare_search, slots
    from ..sdk.trial import optuna_module

    if options.search is None:
        raise ConfigError("--trials and --param go with --search tpe|random|grid|cmaes")
    if options.tasks is not None:
        raise ConfigError("--tasks and --search choose tasks two ways: give one of them")
    if options.after and not options.slurm_config:
        raise ConfigError("--after chains Slurm jobs: it needs --slurm_config FILE")
    objective, direction = check_search(
        options.search,
        options.trials,
        options.minimize,
        options.maximize,
        options.prune,
        options.params,
    )
    optuna_module()
    base = _base_config(main, argv)
    for text in options.params:
        _check_key(text.partition("=")[0], base, option="--param")
    save_dir = base.get("save_dir")
    assert options.trials is not None
    spec = SearchSpec(
        options.search,
        options.trials,
        objective,
        direction,
        tuple(options.params),
        options.prune,
        options.search_seed,
        save_dir=str(save_dir) if isinstance(save_dir, str) and save_dir else None,
    )
    program, definition, backend = _program_sweep(main, argv, options, base)
    return prepare_search(
        spec,
        definition,
        program=program,
        tasks=slots(spec.trials, "clicfg"),
        backend=backend,
        new=options.new_sweep,
    )


def _program_sweep(
    main: Main, argv: list[str], options: TaskOptions, base: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The program a clicfg sweep runs (checked loadable where other processes import it), the
    definition its sweep key is made of, and where its workers run: grid and search alike."""
    from ..parallel.program import check_loadable, describe_program

    program = describe_program(main, main.fn, argv, loader=LOADER)
    if options.slurm_config or (options.n_jobs or 1) > 1:
        check_loadable(program)
    definition = {
        "kind": "clicfg",
        "program": {k: program[k] for k in ("module", "script", "attr", "argv")},
        "cwd": os.getcwd(),
        "config": base,  # the base config itself: an edited --config file or default counts
    }
    backend = {"name": "slurm" if options.slurm_config else "local", "n_jobs": options.n_jobs}
    return program, definition, backend


def _check_options(options: TaskOptions, config: Callable[[], dict[str, Any]]) -> None:
    if options.tasks is None:
        asked = next(o for o in options.given if o != "--tasks")
        raise ConfigError(
            f"{asked} needs tasks: name them with --tasks KEY (a list in the config) or"
            f" --tasks FILE (a YAML or JSON list of items){_own_key_hint(asked, config)}"
        )
    if options.after and not options.slurm_config:
        raise ConfigError("--after chains Slurm jobs: it needs --slurm_config FILE")


def _own_key_hint(option: str, config: Callable[[], dict[str, Any]]) -> str:
    """The program's config may have a key of the same name, which KEY=VALUE still sets."""
    key = option[2:].replace("-", "_")
    try:
        found = key in config()
    except ConfigError:
        return ""
    return f"; to set the config key {key}, write {key}=VALUE" if found else ""


def _base_argv(invocation: Invocation) -> list[str]:
    """The command line without the task options, as a worker parses it again."""
    argv: list[str] = []
    for name in invocation.files:
        argv += ["--config", str(Path(name).expanduser().resolve())]
    return argv + [override.text for override in invocation.overrides]


def _resolve(main: Main, argv: list[str], extra: list[Override], now: float) -> dict[str, Any]:
    return main.resolve(argv, extra, now=now)


def _base_config(main: Main, argv: list[str]) -> dict[str, Any]:
    """The config without any task: resolved, or (when a value is left for the tasks to give,
    ``???`` in the defaults) merged but unresolved, which is enough to find keys in it. The
    same every time for the same inputs (``${naga.now}`` is pinned), as the sweep's key."""
    try:
        return _resolve(main, argv, [], 0.0)
    except ConfigError as first:
        from omegaconf import OmegaConf

        from .merge import apply
        from .sources import load_mapping

        invocation = main.parse(argv)
        cfg = main.defaults().copy()
        try:
            for name in invocation.files:
                apply(
                    cfg, [Override(k, v, False, name) for k, v in load_mapping(Path(name)).items()]
                )
            apply(cfg, invocation.overrides)
        except ConfigError:
            raise first from None
        tree: dict[str, Any] = OmegaConf.to_container(cfg, resolve=False)  # type: ignore[assignment]
        return tree


def load_items(spec: str, base: Mapping[str, Any]) -> list[Any]:
    """The task items ``--tasks spec`` names: an inline list, a file, or a config key."""
    if spec.lstrip().startswith("["):
        from .overrides import parse_value

        try:
            items, where = parse_value(spec), f"--tasks {spec}"
        except ConfigError as exc:  # the parser's words, said of the option the user wrote
            raise ConfigError(f"--tasks: {exc}") from None
    elif spec.endswith(_FILE_SUFFIXES):
        items, where = _read_tasks_file(Path(spec).expanduser()), f"--tasks {spec}"
    else:
        _check_key(spec, base, option="--tasks")
        from .plain import lookup

        items, where = lookup(base, spec), f"--tasks {spec}"
    if not isinstance(items, list):
        raise ConfigError(f"{where} must be a list of tasks, not {_kind(items)}")
    if not items:
        raise ConfigError(f"{where} is an empty list: there is no task to run")
    return items


def _read_tasks_file(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"--tasks file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --tasks file {path}: {exc}") from None
    try:
        return yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        reason = str(exc).strip().splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"--tasks file {path} is not valid YAML/JSON{at}: {reason}") from None


def _check_key(key: str, base: Mapping[str, Any], option: str = "--task-to") -> None:
    from .plain import all_keys, lookup

    missing = object()
    if lookup(base, key, missing) is missing:
        import difflib

        close = difflib.get_close_matches(key, list(all_keys(base)), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"{option} {key} is not a key of the config{hint}")


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    return "null" if value is None else f"{type(value).__name__} {value!r}"


def task_overrides(item: Any, task_to: str | None, index: int) -> list[tuple[str, Any, bool]]:
    """The (key, value, add) overrides that inject ``item``."""
    if isinstance(item, Mapping) and item:
        prefix = f"{task_to}." if task_to else ""
        return [
            (f"{prefix}{key.lstrip('+')}", value, key.startswith("+"))
            for key, value in _leaves(item)
        ]
    if task_to is None:
        raise ConfigError(
            f"task {index} is {_kind(item)}, not a mapping of config keys: say where it goes"
            " with --task-to KEY"
        )
    return [(task_to, item, False)]


def _leaves(item: Mapping[Any, Any], prefix: str = "") -> list[tuple[str, Any]]:
    leaves: list[tuple[str, Any]] = []
    for key, value in item.items():
        if not isinstance(key, str):
            raise ConfigError(f"task keys are strings, not {key!r}")
        if isinstance(value, Mapping) and value:
            leaves += _leaves(value, f"{prefix}{key}.")
        else:
            leaves.append((f"{prefix}{key}", value))
    return leaves


def build_tasks(
    main: Main, argv: list[str], items: list[Any], task_to: str | None, now: float
) -> list[dict[str, Any]]:
    """Every task's overrides and save_dir, each task's config resolved (and so checked)."""
    tasks: list[dict[str, Any]] = []
    save_dirs: list[Any] = []
    for index, item in enumerate(items):
        overrides = task_overrides(item, task_to, index)
        extra = [Override(k, v, add, f"{k}={v!r}") for k, v, add in overrides]
        try:
            config = _resolve(main, argv, extra, now)
        except ConfigError as exc:
            raise ConfigError(f"task {index} ({_short(item)}): {exc}") from None
        tasks.append({"index": index, "item": item, "overrides": overrides})
        save_dirs.append(config.get("save_dir"))
    if any(save_dirs):
        distinct = len({str(d) for d in save_dirs}) == len(save_dirs)
        for task, save_dir in zip(tasks, save_dirs, strict=True):
            own = (
                str(save_dir) if distinct else os.path.join(str(save_dir), f"task-{task['index']}")
            )
            task["save_dir"] = own
            task["overrides"] = [*task["overrides"], ("save_dir", own, False)]
    return tasks


def _short(item: Any, width: int = 60) -> str:
    text = repr(item)
    return text if len(text) <= width else text[: width - 3] + "..."
