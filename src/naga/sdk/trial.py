"""A run that is a trial of a search: its objective goes to the study, and the study's pruner
may stop it (:class:`naga.Pruned`).

Only a search sweep's processes come here: the worker that runs a program's trial in its own
process hooks the trial's run (:func:`set_in_process`), and a command's process finds its trial
through ``$NAGA_TRIAL`` (the study's journal file, the trial, the objective and the pruner, as
JSON), which ``naga.log``'s run reads once when it opens. The hook wraps the run's writer, so a
run that is not a trial pays nothing on ``naga.log``. Optuna is an optional extra (the one line
saying how to install it is here); the study itself is :mod:`naga.parallel.search`'s.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from ..errors import MissingExtra, NagaError, Pruned

PRUNERS = ("median", "asha", "hyperband")
TRIAL_ENV = "NAGA_TRIAL"
STUDY_NAME = "naga"
INSTALL_HINT = "pip install 'naga-runs[search]'"


def optuna_module() -> Any:
    """Optuna, or the one line saying how to install it."""
    try:
        import optuna
    except ModuleNotFoundError as exc:
        if exc.name != "optuna":
            raise
        raise MissingExtra(f"adaptive search (--search) needs Optuna: {INSTALL_HINT}") from None
    # Optuna tells every trial on stderr through its own handler: naga's summary says it once
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def pruner_of(name: str | None, optuna: Any) -> Any:
    """The pruner ``--prune`` names (None: none)."""
    pruners = optuna.pruners
    if name == "median":
        return pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if name == "asha":
        return pruners.SuccessiveHalvingPruner()
    if name == "hyperband":
        return pruners.HyperbandPruner()
    return pruners.NopPruner()


class TrialReporter:
    """Reports a run's values of the objective to its trial, and raises :class:`Pruned` when
    the study's pruner says the trial will not beat the others. Wraps the run's writer, so a
    run that is not a trial pays nothing."""

    def __init__(self, study: Any, trial_id: int, objective: str) -> None:
        import optuna

        self.trial = optuna.trial.Trial(study, trial_id)
        self.objective = objective
        self.reported: set[int] = set()

    def env(self, journal: str, pruner: str | None) -> str:
        """The ``$NAGA_TRIAL`` that lets a command's own process find this trial."""
        found = {"journal": journal, "trial_id": self.trial._trial_id, "pruner": pruner}
        return json.dumps({**found, "objective": self.objective})

    def wrap(self, extend: Any) -> Any:
        def extend_and_report(entry: tuple[int, float, dict[str, Any]]) -> None:
            extend(entry)
            step, _, metrics = entry
            value = metrics.get(self.objective)
            if value is not None:
                self.report(float(value), step)

        return extend_and_report

    def report(self, value: float, step: int) -> None:
        if step in self.reported or not math.isfinite(value):
            return  # Optuna keeps one value per step (a resumed attempt logs a step again)
        self.reported.add(step)
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.trial.set_user_attr("naga.pruned_at", step)
            raise Pruned(f"pruned at step {step} ({self.objective}={value:.6g})", step=step)


def reporter_from_env(value: str) -> TrialReporter | None:
    """The trial a command's process reports to (``$NAGA_TRIAL``), or None when unreadable."""
    try:
        found = json.loads(value)
        journal, trial_id = str(found["journal"]), int(found["trial_id"])
        objective, pruner = str(found["objective"]), found.get("pruner")
        optuna = optuna_module()
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        storage = JournalStorage(JournalFileBackend(journal))
        study = optuna.load_study(
            study_name=STUDY_NAME, storage=storage, pruner=pruner_of(pruner, optuna)
        )
        return TrialReporter(study, trial_id, objective)
    except (ValueError, KeyError, TypeError, NagaError, OSError) as exc:
        from ..notices import warn

        # the trial still runs and its final value is still told: only pruning is lost
        warn(f"this trial cannot report to its study, so it is never pruned: {exc}")
        return None


def attach_reporter(run: Any) -> None:
    """Hook ``run`` (a run of this process) to its trial, when this process runs one."""
    found = _in_process
    if found is None and os.environ.get(TRIAL_ENV):
        found = reporter_from_env(os.environ[TRIAL_ENV])
    if found is not None:
        run._extend = found.wrap(run._extend)


_in_process: TrialReporter | None = None  # the trial a program task runs in this process


def set_in_process(reporter: TrialReporter | None) -> None:
    global _in_process
    _in_process = reporter


def in_process() -> TrialReporter | None:
    """The trial this process's worker runs now (a command's printed objective reports to it)."""
    return _in_process
