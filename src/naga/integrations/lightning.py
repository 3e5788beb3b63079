"""``NagaLogger``: a PyTorch Lightning logger that records into a naga run.

``Trainer(logger=NagaLogger())`` records the hyperparameters as params, every logged metric
with its step, and the checkpoints ModelCheckpoint saves. Which run:

* the run already open in the program (``with naga.run():``), which the logger ends only when
  training is interrupted (Lightning hides Ctrl-C and SIGTERM from the block);
* else a run the logger starts on first use: under ``naga run`` that is the wrapper's run (the
  SDK attaches to it), otherwise a new run.

A run the logger started ends with the training when that fails (``failed``, with the error and
its traceback) or is interrupted (Ctrl-C, SIGTERM: ``cancelled``). After a successful ``fit`` it
stays open, so a following ``trainer.test()`` logs into the same run; it is completed when the
program exits, or when another ``NagaLogger`` starts a run (a loop over configs gives one run
per training), or by hand with ``logger.experiment.complete()``.

Lightning's ``save_dir`` and ``log_dir`` are the run's artifact directory: checkpoints (by
default ``<name>/<version>/checkpoints`` in it) and whatever a callback writes to
``trainer.log_dir`` become artifacts of the run, listed by ``naga show``.

Only rank zero records, as with every Lightning logger. Works with the ``lightning`` package
and, without it, with the older ``pytorch_lightning`` one.
"""

from __future__ import annotations

import json
import os
import sys
from argparse import Namespace
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import Pruned
from ..store.layout import artifacts_dir as artifacts_of
from . import MissingExtra, require_extra
from .plain import plain, plain_params

if TYPE_CHECKING:
    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch import Callback, Trainer
    from lightning.pytorch.loggers import Logger
    from lightning.pytorch.utilities import rank_zero_only

    from ..sdk.run import Run
else:
    try:
        _pl = require_extra("lightning.pytorch", "lightning")
    except MissingExtra:
        try:  # the pre-2.0 package name, still installed on its own by many projects
            _pl = require_extra("pytorch_lightning", "lightning")
        except MissingExtra:
            raise MissingExtra(
                "NagaLogger needs PyTorch Lightning, which is not installed:"
                " pip install 'naga-runs[lightning]'"
            ) from None
    Logger = _pl.loggers.Logger
    Callback, Trainer = _pl.Callback, _pl.Trainer
    rank_zero_experiment = _pl.loggers.logger.rank_zero_experiment
    rank_zero_only = _pl.utilities.rank_zero_only

NAME = "lightning"  # Lightning's experiment name: the directory checkpoints go into
CHECKPOINTS_ARTIFACT = "lightning/checkpoints.json"

# Runs that loggers started, still open after a successful stage (for a trainer.test()), until
# another logger starts a run. The runs, not the loggers: a logger may be gone by then.
_idle: list[Run] = []


class NagaLogger(Logger):
    """Records a Lightning training into a naga run (the open one, or one it starts).

    ``run_name`` and ``tags`` apply to a run the logger starts itself.
    """

    def __init__(
        self, run_name: str | None = None, tags: list[str] | None = None, *, resume: bool = True
    ) -> None:
        super().__init__()
        self._run_name = run_name
        self._tags = list(tags or [])
        self._resume = resume  # fit(ckpt_path=...) continues the run that wrote the checkpoint
        self._run: Run | None = None
        self._owns_run = False
        self._checkpoints: dict[str, dict[str, Any]] = {}  # one entry per ModelCheckpoint

    # -- which run ---------------------------------------------------------------------------

    @property
    @rank_zero_experiment
    def experiment(self) -> Run:
        """The naga run this logger records into (started on first use)."""
        if self._run is None:
            self._run = self._open_run()
        return self._run

    def _busy(self) -> Run:
        """The run, about to be logged to: no longer idle after a finished stage."""
        run: Run = self.experiment
        if run in _idle:
            _idle.remove(run)
        return run

    def _open_run(self) -> Run:
        from ..sdk.api import active_run

        while _idle:  # an earlier training in this program is over: complete its run
            earlier = _idle.pop()
            if earlier.status == "running":
                earlier.complete()
        outer = active_run()
        if outer is not None:
            return outer
        self._owns_run = True
        trainer, ckpt_path = _calling_trainer()
        resume = _run_of_checkpoint(ckpt_path) if self._resume else None
        started: Run = _start(self._run_name, self._tags, resume)  # a no-op with NAGA_DISABLED
        if trainer is not None and started.id:
            _tag_checkpoints(trainer, started.id)
        return started

    # -- what Lightning reads ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return NAME

    @property
    def version(self) -> str | None:
        """The naga run id."""
        if not _rank_zero():
            return None
        run_id: str | None = self.experiment.id
        return run_id

    @property
    def save_dir(self) -> str | None:
        """The run's artifact directory."""
        if not _rank_zero():
            return None
        directory = artifacts_of(str(self.experiment.dir))
        os.makedirs(directory, exist_ok=True)  # callbacks write into trainer.log_dir as it is
        return directory

    @property
    def log_dir(self) -> str | None:
        return self.save_dir

    @property
    def root_dir(self) -> str | None:
        return self.save_dir

    # -- what Lightning calls ----------------------------------------------------------------

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        self._busy().log_params(plain_params(params))

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        run = self._busy()
        try:
            run.log(metrics, step=step)
        except Pruned as exc:  # a search's pruner: Lightning stops after this step, cleanly
            trainer, _ = _calling_trainer()
            if trainer is None:
                raise
            trainer.should_stop = True
            run.prune_at_end(str(exc))

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Record where the best and last checkpoints are: as params (``checkpoint.best``,
        shown by ``naga show`` and usable in ``--where``) and, with every top-k checkpoint and
        its score, in the artifact ``lightning/checkpoints.json``."""
        key = str(getattr(checkpoint_callback, "state_key", "checkpoint"))
        entry = _checkpoint_entry(checkpoint_callback)
        self._checkpoints[key] = entry
        run = self._busy()
        prefix = _param_prefix(list(self._checkpoints).index(key))
        run.log_params({prefix: {k: v for k, v in entry.items() if k != "top_k"}})
        run.log_text(json.dumps(self._checkpoints, indent=2) + "\n", CHECKPOINTS_ARTIFACT)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Lightning's ``success`` (and ``finished``, before a Slurm requeue) writes everything
        logged; ``failed`` ends a run the logger started, as the exception being handled says:
        failed with its traceback, or cancelled for Ctrl-C and SIGTERM.

        An interrupt also ends a run the logger did not start, now, with everything logged:
        Lightning turns Ctrl-C into ``sys.exit(1)`` and SIGTERM into a ``SystemExit`` without
        a code. The ending comes from naga.ending, which knows the signal behind either."""
        run = self._run
        if run is None or run.status != "running":
            return
        if status != "failed":
            run.flush()
            if self._owns_run and run not in _idle:
                _idle.append(run)
            return
        from ..ending import decide

        exc = sys.exc_info()[1]
        ending = decide(exc) if exc is not None else None
        if ending is None:
            if self._owns_run:
                run.fail("training failed")
            else:
                run.flush()
        elif self._owns_run or ending.interrupted:
            run.end(ending)  # the one decision: a signal decides, whatever Lightning raised
        else:
            run.flush()  # its owner (`with naga.run()`) sees the exception and ends it


def _start(name: str | None, tags: list[str], resume: str | None) -> Run:
    """A run of the logger's own: a new attempt of ``resume`` when that run is in this store,
    else a new run."""
    from ..errors import NagaError
    from ..sdk.api import run

    if resume is not None and not os.environ.get("NAGA_RUN_ID"):  # naga run's run is the run
        try:
            resumed: Run = run(name, tags=tags, resume=resume).start()
            return resumed
        except NagaError as exc:  # not in this store, or still running elsewhere
            import logging

            logging.getLogger("naga").warning(
                "naga: the checkpoint's run %s cannot be continued (%s); recording a new run",
                resume,
                exc,
            )
    started: Run = run(name, tags=tags).start()
    return started


def _calling_trainer() -> tuple[Any, Any]:
    """The Trainer whose fit/validate/test asks for the logger's run, and the checkpoint it is
    about to resume from: Lightning gives a logger no handle on either (the trainer's own
    ``ckpt_path`` is set only once the checkpoint is loaded, after the logger's first use), so
    both are found among the callers' locals (None when not found)."""
    trainer, ckpt_path = None, None
    frame: Any = sys._getframe(1)
    for _ in range(40):
        frame = frame.f_back
        if frame is None:
            break
        local = frame.f_locals
        if ckpt_path is None and isinstance(local.get("ckpt_path"), (str, os.PathLike)):
            ckpt_path = local["ckpt_path"]
        for name in ("trainer", "self"):
            if trainer is None and isinstance(local.get(name), Trainer):
                trainer = local[name]
        if trainer is not None and ckpt_path is not None:
            break
    return trainer, ckpt_path


CHECKPOINT_KEY = "naga"  # {"run_id": ...} in every checkpoint saved while the logger records


def _run_of_checkpoint(path: Any) -> str | None:
    """The naga run that wrote the checkpoint ``fit(ckpt_path=...)`` resumes from, if any."""
    if not path or not os.path.isfile(path):
        return None
    try:
        import torch

        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception:  # not a checkpoint torch reads without unpickling code: no run to find
        return None
    found = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    run_id = found.get("run_id") if isinstance(found, dict) else None
    return run_id if isinstance(run_id, str) and run_id.isalnum() else None


def _tag_checkpoints(trainer: Any, run_id: str) -> None:
    """Every checkpoint this trainer saves from now on names the run (a later fit(ckpt_path)
    in a new process continues it)."""
    if any(isinstance(c, _CheckpointTag) for c in trainer.callbacks):
        for callback in trainer.callbacks:
            if isinstance(callback, _CheckpointTag):
                callback.run_id = run_id
        return
    trainer.callbacks.append(_CheckpointTag(run_id))


class _CheckpointTag(Callback):
    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {"run_id": self.run_id}


def _rank_zero() -> bool:
    return getattr(rank_zero_only, "rank", 0) == 0


def _checkpoint_entry(callback: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "best": _absolute(getattr(callback, "best_model_path", "")),
        "best_score": plain(getattr(callback, "best_model_score", None)),
        "last": _absolute(getattr(callback, "last_model_path", "")),
        "monitor": getattr(callback, "monitor", None),
        "dir": _absolute(getattr(callback, "dirpath", None) or ""),
    }
    top_k = getattr(callback, "best_k_models", {}) or {}
    entry["top_k"] = {_absolute(path): plain(score) for path, score in top_k.items()}
    return {k: v for k, v in entry.items() if v not in (None, "")}


def _absolute(path: Any) -> str:
    return os.path.abspath(os.fspath(path)) if path else ""


def _param_prefix(index: int) -> str:
    """``checkpoint`` for the first ModelCheckpoint, ``checkpoint2``... for more."""
    return "checkpoint" if index == 0 else f"checkpoint{index + 1}"


__all__ = ["NagaLogger"]
