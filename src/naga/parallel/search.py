"""Adaptive search: Optuna chooses each task's parameters at the moment a worker is free.

A search sweep is a sweep like any other (``sweep.json``, a task pool, local or Slurm workers)
whose ``--trials`` tasks are empty *slots*. A worker that claims slot i (the pool's link(2)
claim: no two workers ever hold one) asks the study for a trial, runs it as slot i's run (a
command filled with the trial's values, or a clicfg task with them as overrides), reads the
objective from the run's final value of the metric, and tells the study. So there is no batch
barrier: each worker asks for the next trial when its last one ended, and the sampler sees every
result told so far (TPE with a constant liar for the trials still running).

The study lives in the sweep directory, ``study.journal``: Optuna's file journal storage, an
append-only log guarded by a lock file made with symlink(2), safe on a shared filesystem and
with no database server. ``sweep.json``'s ``search`` entry (:class:`SearchSpec`) says how to
open it again in any worker.

Slots and trials: a trial carries its slot as user attributes (``naga.task``, ``naga.attempt``,
``naga.run``). A slot whose earlier attempt never told its trial (the run ended ``cancelled``:
preempted, Ctrl-C; or its worker was killed) finds that trial still RUNNING: it is told FAIL
with ``naga.requeued`` and a new trial with the very same parameters is made for the slot, in
one storage call (the template trial of ``enqueue_trial``, created RUNNING so that no other
worker can take it meanwhile). The slot's run is continued as a new attempt, as for any
preempted task. Since a slot is done exactly once, a study ends with exactly ``--trials``
finished trials that are not ``naga.requeued``; a trial that failed counts as one (Optuna's own
``n_trials`` counts them too) and a relaunch does not run it again.

Pruning: while a trial runs, the run that records it reports each value of the objective to
the study (:class:`naga.sdk.trial.TrialReporter`, hooked into that run's writer) and raises
:class:`naga.Pruned` when the pruner says so; the run ends ``pruned`` and the trial is told
PRUNED. A command's process finds its trial through ``$NAGA_TRIAL``.

Optuna is an optional extra, imported here only, and only by a search sweep's processes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import MissingExtra, NagaError, UsageError
from ..sdk.trial import INSTALL_HINT, PRUNERS, STUDY_NAME, TrialReporter, optuna_module, pruner_of
from .grammar import Param, fill_command, parse_params, typed
from .sweepdir import Sweep

SAMPLERS = ("tpe", "random", "grid", "cmaes")


@dataclass(frozen=True)
class SearchSpec:
    """What ``--search`` asked for, as ``sweep.json`` records it."""

    sampler: str
    trials: int
    objective: str
    direction: str  # "minimize" or "maximize"
    space: tuple[str, ...]  # the parameter texts: lr=log(1e-5,1e-1) ...
    pruner: str | None = None
    seed: int | None = None
    save_dir: str | None = None  # a clicfg program's base save_dir: each trial gets its own

    def doc(self) -> dict[str, Any]:
        found = asdict(self)
        found["space"] = list(self.space)
        return found

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> SearchSpec:
        known = {f.name for f in fields(cls)}  # what a newer naga added is not read here
        found = {key: value for key, value in doc.items() if key in known}
        found["space"] = tuple(found.get("space") or ())
        return cls(**found)

    def params(self) -> list[Param]:
        return parse_params(self.space)


def check_search(
    sampler: str,
    trials: int | None,
    minimize: str | None,
    maximize: str | None,
    pruner: str | None,
    space: Sequence[str],
) -> tuple[str, str]:
    """The objective and its direction; a search asked for wrongly is refused in one line."""
    if sampler not in SAMPLERS:
        raise UsageError(f"--search {sampler!r}: choose one of {', '.join(SAMPLERS)}")
    if pruner is not None and pruner not in PRUNERS:
        raise UsageError(f"--prune {pruner!r}: choose one of {', '.join(PRUNERS)}")
    if trials is None or trials < 1:
        raise UsageError("--search needs --trials N (N >= 1): how many trials to run")
    if (minimize is None) == (maximize is None):
        raise UsageError("--search needs one objective: --minimize METRIC or --maximize METRIC")
    if not space:
        raise UsageError(
            "--search needs parameters to search: lr='log(1e-4,1e-1)' opt=adam,sgd ... (on a"
            " clicfg program: --param lr='log(1e-4,1e-1)')"
        )
    params = parse_params(space)
    if sampler == "grid":
        size = math.prod(len(values) for values in grid_space(params).values())
        if trials > size:  # Optuna would run points again once the grid is done
            raise UsageError(
                f"--search grid: the grid has {size} points, so --trials {trials} would run some"
                f" twice; give --trials {size} (or fewer)"
            )
    return (minimize or maximize or ""), ("minimize" if minimize else "maximize")


def distributions(params: Sequence[Param]) -> dict[str, Any]:
    """naga's value grammar as Optuna's distributions: a list of values is categorical (its
    texts, as the command receives them), ``log(a,b)`` a log-uniform float, ``range(a,b)`` a
    uniform float, ``int(a,b)`` an integer."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    found: dict[str, Any] = {}
    for param in params:
        if param.kind == "list":
            found[param.name] = CategoricalDistribution(list(param.values))
        elif param.kind == "int":
            found[param.name] = IntDistribution(int(param.low), int(param.high))
        else:
            found[param.name] = FloatDistribution(param.low, param.high, log=param.kind == "log")
    return found


MAX_GRID = 100_000


def grid_space(params: Sequence[Param]) -> dict[str, list[Any]]:
    """The grid of ``--search grid``: value lists as they are, ``int(a,b)`` every integer;
    a float range has no grid."""
    space: dict[str, list[Any]] = {}
    for param in params:
        if param.kind == "list":
            space[param.name] = list(param.values)
        elif param.kind == "int" and param.high - param.low < MAX_GRID:
            space[param.name] = list(range(int(param.low), int(param.high) + 1))
        else:
            raise UsageError(
                f"{param.text}: --search grid needs values (or int(LOW,HIGH)); use --search"
                " tpe or random for a float range"
            )
    return space


def sampler_of(spec: SearchSpec, optuna: Any, seed: int | None = None) -> Any:
    samplers = optuna.samplers
    seed = spec.seed if seed is None else seed
    if seed is not None:  # Optuna's samplers seed numpy, which takes 0 to 2**32-1 only: a
        seed %= 2**32  # negative or larger --seed was a traceback; these seeds stay as they are
    if spec.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    if spec.sampler == "grid":
        return _grid_sampler(optuna, grid_space(spec.params()), seed)
    if spec.sampler == "cmaes":
        try:
            import cmaes  # type: ignore[import-untyped]  # noqa: F401
        except ModuleNotFoundError:
            raise MissingExtra(f"--search cmaes needs the cmaes package: {INSTALL_HINT}") from None
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    # parallel workers: a running trial counts as a bad one, so two workers do not pick the same
    return samplers.TPESampler(seed=seed, constant_liar=True)


def _grid_sampler(optuna: Any, space: dict[str, list[Any]], seed: int | None) -> Any:
    """Optuna's grid sampler, except that it never stops the study: it calls ``Study.stop()``
    once the grid is done, which raises outside ``study.optimize()`` (naga's workers ask and
    tell: the last trial's tell was a traceback). ``--trials`` ends the search."""

    class Grid(optuna.samplers.GridSampler):  # type: ignore[misc]
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return Grid(space, seed=seed)


def study_path(sweep_dir: str) -> str:
    from .sweepdir import SweepFiles

    return SweepFiles(sweep_dir).study


def open_study(sweep_dir: str, spec: SearchSpec) -> Any:
    """The sweep's study, made on first use, in its directory's journal file."""
    optuna = optuna_module()
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(study_path(sweep_dir)))
    return optuna.create_study(
        storage=storage,
        study_name=STUDY_NAME,
        direction=spec.direction,
        sampler=sampler_of(spec, optuna),
        pruner=pruner_of(spec.pruner, optuna),
        load_if_exists=True,
    )


def search_spec(sweep: Sweep) -> SearchSpec | None:
    found = sweep.doc.get("search")
    return SearchSpec.from_doc(found) if isinstance(found, dict) else None


def slots(trials: int, kind: str) -> list[dict[str, Any]]:
    """The tasks of a search sweep: empty, each filled by its trial when a worker takes it."""
    empty: dict[str, Any] = {"params": {}, "argv": []} if kind == "command" else {"overrides": []}
    return [{"index": index, "slot": True, **empty} for index in range(trials)]


class Searcher:
    """One worker's side of the study: a trial per slot it claims, told when the slot ends."""

    def __init__(self, sweep: Sweep, spec: SearchSpec) -> None:
        self.sweep, self.spec = sweep, spec
        self.optuna = optuna_module()
        self.study = open_study(sweep.dir, spec)
        self.dists = distributions(spec.params())

    def ask(self, slot: int, attempt: int) -> Any:
        """The slot's trial: its earlier trial when that one was told already (its worker
        died before the pool heard: nothing runs again), the parameters of its unfinished
        earlier trial, else new ones. A trial is made with its slot named in it, in one
        storage call, so a worker killed at any moment leaves no trial without a slot."""
        told, unfinished = self._earlier(slot)
        if told is not None:
            return told
        if self.spec.seed is not None:  # repeatable, yet not the same draws in every worker
            seed = random.Random(f"{self.spec.seed}:{slot}:{attempt}").getrandbits(32)
            self.study.sampler = sampler_of(self.spec, self.optuna, seed)
        attrs: dict[str, Any] = {"naga.task": slot, "naga.attempt": attempt}
        params: dict[str, Any] = {}
        dists: dict[str, Any] = {}
        if unfinished is not None:
            storage = self.study._storage
            storage.set_trial_user_attr(unfinished._trial_id, "naga.requeued", True)
            storage.set_trial_state_values(unfinished._trial_id, self.optuna.trial.TrialState.FAIL)
            if set(unfinished.params) == set(self.dists):  # else it died while being sampled
                params, dists = dict(unfinished.params), dict(unfinished.distributions)
                attrs["naga.retry_of"] = unfinished.number
        return self._new_trial(params, dists, attrs)

    def _earlier(self, slot: int) -> tuple[Any, Any]:
        """The slot's trial already told (not requeued), and its trial still RUNNING."""
        state = self.optuna.trial.TrialState
        told = unfinished = None
        for trial in self.study.get_trials(deepcopy=False):
            attrs = trial.user_attrs
            if attrs.get("naga.task") != slot or attrs.get("naga.requeued"):
                continue
            if trial.state == state.RUNNING:
                unfinished = trial
            elif trial.state in (state.COMPLETE, state.PRUNED, state.FAIL):
                told = trial
        return told, unfinished

    def _new_trial(
        self, params: dict[str, Any], dists: dict[str, Any], attrs: dict[str, Any]
    ) -> Any:
        """A RUNNING trial holding ``attrs`` from the start; the parameters not given are
        sampled as ``Study.ask`` samples them."""
        import datetime

        optuna = self.optuna
        template = optuna.trial.FrozenTrial(
            number=-1,
            state=optuna.trial.TrialState.RUNNING,
            value=None,
            datetime_start=datetime.datetime.now(),
            datetime_complete=None,
            params=params,
            distributions=dists,
            user_attrs=attrs,
            system_attrs={},
            intermediate_values={},
            trial_id=-1,
        )
        self.study._thread_local.cached_all_trials = None  # as Study.ask: see every trial
        trial_id = self.study._storage.create_new_trial(self.study._study_id, template)
        trial = optuna.trial.Trial(self.study, trial_id)
        for name, dist in self.dists.items():
            if name not in params:
                trial._suggest(name, dist)
        return trial

    def told(self, trial: Any) -> dict[str, Any]:
        """The outcome of a slot whose trial was told before its worker died."""
        status = {"COMPLETE": "completed", "PRUNED": "pruned"}.get(trial.state.name, "failed")
        found = {"status": status, "run_id": trial.user_attrs.get("naga.run"), "error": None}
        found.update(trial=trial.number, params=self._params(trial))
        if trial.state.name == "COMPLETE":
            found["value"] = trial.value
        elif status == "failed":
            found["error"] = trial.user_attrs.get("naga.error")
        return found

    def task(self, slot: dict[str, Any], trial: Any) -> dict[str, Any]:
        """The slot as a task of its sweep's kind, with the trial's values."""
        values = {name: trial.params[name] for name in self.dists}
        task = {**slot, "trial": trial.number}
        if self.sweep.doc["kind"] == "command":
            texts = {name: _text(value) for name, value in values.items()}
            command = self.sweep.doc["program"]["command"]
            task["params"] = {name: typed(text) for name, text in texts.items()}
            task["argv"] = fill_command(command, texts)
        else:
            overrides = [(name, _value(value), False) for name, value in values.items()]
            if self.spec.save_dir:
                overrides.append(("save_dir", f"{self.spec.save_dir}/trial-{slot['index']}", False))
            task["overrides"] = overrides
        return task

    def reporter(self, trial: Any) -> TrialReporter:
        return TrialReporter(self.study, trial._trial_id, self.spec.objective)

    def trial_env(self, reporter: TrialReporter) -> str:
        """``$NAGA_TRIAL``: how a command's own process finds its trial and the pruner."""
        return reporter.env(study_path(self.sweep.dir), self.spec.pruner)

    def tell(self, trial: Any, outcome: dict[str, Any]) -> dict[str, Any]:
        """Tell the study how the trial's run ended; returns the outcome with the trial's
        number, values and objective for the pool's record."""
        state = self.optuna.trial.TrialState
        status, run_id = outcome.get("status"), outcome.get("run_id")
        if run_id:
            trial.set_user_attr("naga.run", run_id)
        found = dict(outcome, trial=trial.number, params=self._params(trial))
        attrs = self.study._storage.get_trial(trial._trial_id).user_attrs
        if status == "completed" and "naga.pruned_at" in attrs:
            status = found["status"] = "pruned"  # the command's SDK was pruned and exited 0
        if status == "pruned":
            self.study.tell(trial, state=state.PRUNED)
            return found
        value = final_value(self.sweep.doc["store"], run_id, self.spec.objective)
        if status != "completed" or value is None:
            why = outcome.get("error") or (
                f"the run logged no finite {self.spec.objective!r} (none, or NaN/inf last)"
            )
            trial.set_user_attr("naga.error", str(why)[:500])
            self.study.tell(trial, state=state.FAIL)
            if status == "completed":
                error = f"no finite value of {self.spec.objective!r} (none logged, or NaN/inf last)"
                found.update(status="failed", error=error)
            return found
        self.study.tell(trial, value)
        found["value"] = value
        return found

    def _params(self, trial: Any) -> dict[str, Any]:
        if self.sweep.doc["kind"] == "command":
            return {name: typed(_text(trial.params[name])) for name in self.dists}
        return {name: _value(trial.params[name]) for name in self.dists}


def _text(value: Any) -> str:
    """A trial's value as the command receives it: floats in full (repr), others as str."""
    return repr(value) if isinstance(value, float) else str(value)


def _value(value: Any) -> Any:
    """A categorical value is the grammar's text: as a config value, YAML's reading of it."""
    return typed(value) if isinstance(value, str) else value


def final_value(store_root: str, run_id: str | None, key: str) -> float | None:
    """The last value the run logged of ``key`` (any attempt; None when none or not finite)."""
    if not run_id:
        return None
    from ..sdk import history
    from ..store.layout import StoreLayout
    from ..store.layout import metrics_dir as metrics_of

    metrics = metrics_of(StoreLayout(store_root).run_dir(run_id))
    try:
        points = history.read_points(metrics, "main", key)
    except (OSError, ValueError):
        return None
    if not len(points.values):
        return None
    value = float(points.values[-1])
    return value if math.isfinite(value) else None


def reopen_search(sweep: Sweep, trials: int, report: Any) -> Sweep:
    """A search launched again continues its study up to ``trials``: more slots when it asks
    for more (a worker still running elsewhere sees them when it loads the sweep again)."""
    from ..notices import Notice
    from .sweepdir import write_json

    have = len(sweep.tasks)
    if trials > have:
        kind = sweep.doc["kind"]
        added = [dict(t, index=have + i) for i, t in enumerate(slots(trials - have, kind))]
        sweep.doc["tasks"] = [*sweep.tasks, *added]
        sweep.doc["search"] = {**sweep.doc["search"], "trials": trials}
        write_json(sweep.files.definition, sweep.doc)
    elif trials < have:
        text = f"sweep {sweep.id} has {have} trials; it continues up to them, not {trials}"
        report(Notice("note", text))
    return sweep


# -- the result --------------------------------------------------------------------------------


def summary(sweep: Sweep) -> dict[str, Any]:
    """The study's result: counts by state, the best trial (number, value, params, run) and
    the parameters' importances (Optuna's own; ``importance_error`` says why there are none)."""
    spec = search_spec(sweep)
    if spec is None:
        raise UsageError(f"sweep {sweep.id} is not a search (naga sweep --search ...)")
    import os.path

    found: dict[str, Any] = {"sweep": sweep.id, "objective": spec.objective}
    found["direction"] = spec.direction
    if not os.path.exists(study_path(sweep.dir)):
        return {**found, "trials": {}, "best": None, "importances": None}
    study = open_study(sweep.dir, spec)
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("naga.requeued")]
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    found["trials"] = states
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    best = None
    if complete:
        pick = min if spec.direction == "minimize" else max
        top = pick(complete, key=lambda t: t.value)
        best = {
            "trial": top.number,
            "value": top.value,
            "params": dict(top.params),
            "run_id": top.user_attrs.get("naga.run"),
        }
    found["best"] = best
    found["importances"], found["importance_error"] = _importances(study, spec)
    return found


def _importances(study: Any, spec: SearchSpec) -> tuple[dict[str, float] | None, str | None]:
    if len(spec.space) < 2:
        return None, "needs 2 or more parameters"
    complete = study.get_trials(deepcopy=False, states=(optuna_module().trial.TrialState.COMPLETE,))
    if len(complete) < 3:
        return None, f"needs 3 or more completed trials ({len(complete)} so far)"
    import warnings

    try:
        from optuna.importance import get_param_importances

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = get_param_importances(study)
    except Exception as exc:  # Optuna's own reason, in one line
        return None, (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return {name: round(float(value), 4) for name, value in found.items()}, None


def best_lines(sweep: Sweep) -> list[str]:
    """The result as the lines a front end prints under the sweep's table."""
    try:
        found = summary(sweep)
    except NagaError as exc:
        return [f"naga: {exc}"]
    counts = ", ".join(f"{n} {state}" for state, n in sorted(found["trials"].items()))
    lines = [f"naga: study: {counts or 'no trial yet'} ({found['direction']} {found['objective']})"]
    best = found["best"]
    if best is None:
        lines.append("naga: no trial completed with a value yet")
    else:
        # as the summary table shows them (6 digits); the run and --json have them in full
        values = " ".join(
            f"{k}={format(v, '.6g') if isinstance(v, float) else v}"
            for k, v in best["params"].items()
        )
        lines.append(
            f"naga: best: trial {best['trial']}, {found['objective']}={best['value']:.6g},"
            f" {values} (run {best['run_id']})"
        )
    if found["importances"]:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in found["importances"].items())
        lines.append(f"naga: importance: {shown}")
    else:
        lines.append(f"naga: importance: not computed ({found['importance_error']})")
    return lines


def prepare_search(
    search: SearchSpec,
    definition: Mapping[str, Any],
    *,
    program: Mapping[str, Any],
    tasks: list[dict[str, Any]],
    backend: dict[str, Any] | None,
    new: bool,
    report: Any = None,
) -> tuple[Sweep, bool]:
    """A search sweep: ``--trials`` slots and the study's definition. The same search
    launched again (whatever its ``--trials``) reopens it, with as many slots as it asks."""
    from ..notices import log_notice
    from .sweepdir import create_sweep, find_by_key, sweep_key

    key = sweep_key({**definition, "search": {**search.doc(), "trials": None}})
    if not new:
        found = find_by_key(key)
        if found is not None:
            return reopen_search(found, search.trials, report or log_notice), True
    kind = str(definition["kind"])
    extra = {"search": search.doc()}
    return create_sweep(
        kind, tasks, key=key, program=program, backend=backend, extra=extra, new=True
    )
