"""NagaLogger vs Lightning's own loggers: what logging costs a training loop.

Two measurements, each logger in a fresh directory, all in this process (torch and Lightning
are imported once, before any timing):

- ``log_metrics``: the call Lightning makes at every logging step, 4 metrics a call, timed
  per call (including the logger's ``finalize``, which writes what it buffered). A logger too
  slow for ``--calls`` calls is timed for ``--seconds`` and its rate reported.
- ``fit``: a tiny real model (docs/integrations.md's ``Regressor``) trained for ``--steps``
  steps with ``log_every_n_steps=1``; the time over ``logger=False`` is the logger's cost.

Peers: CSVLogger (Lightning's built-in, in memory then one CSV), TensorBoardLogger when
tensorboard is installed, MLFlowLogger (SQLite tracking store) when mlflow is. Run it in the
dev venv, which has the lightning extra (the bench venvs have no torch):

.venv/bin/python bench/bench_lightning.py
.venv/bin/python bench/bench_lightning.py --calls 20000 --steps 300
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def make_loggers(directory: Path) -> dict[str, Callable[[], Any]]:
    from lightning.pytorch.loggers import CSVLogger

    from naga.integrations.lightning import NagaLogger

    loggers: dict[str, Callable[[], Any]] = {
        "naga": lambda: NagaLogger(run_name="bench"),
        "csv": lambda: CSVLogger(str(directory / "csv")),
    }
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers["tensorboard"] = lambda: TensorBoardLogger(str(directory / "tb"))
    if importlib.util.find_spec("mlflow"):
        from lightning.pytorch.loggers import MLFlowLogger

        uri = f"sqlite:///{directory / 'mlflow.db'}"
        loggers["mlflow"] = lambda: MLFlowLogger(experiment_name="bench", tracking_uri=uri)
    return loggers


@contextlib.contextmanager
def fresh_store() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-lightning-") as tmp:
        here = os.getcwd()
        os.environ["NAGA_HOME"] = os.path.join(tmp, "store")
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(here)


def time_log_metrics(name: str, calls: int, seconds: float) -> tuple[float, int]:
    """Seconds per call and the number of calls made."""
    with fresh_store() as directory:
        logger = make_loggers(directory)[name]()
        logger.log_hyperparams({"lr": 0.1})
        done = 0
        start = time.perf_counter()
        while done < calls:
            logger.log_metrics({"loss": 1.0 / (done + 1), "acc": 0.5, "lr": 0.1, "epoch": 0}, done)
            done += 1
            if done % 100 == 0 and time.perf_counter() - start > seconds:
                break
        logger.finalize("success")
        elapsed = time.perf_counter() - start
        _end_naga_runs()
        return elapsed / done, done


def time_fit(name: str | None, steps: int) -> float:
    from lightning import Trainer
    from regressor import Regressor, loader

    with fresh_store() as directory:
        logger: Any = False if name is None else make_loggers(directory)[name]()
        trainer = Trainer(
            logger=logger,
            max_steps=steps,
            log_every_n_steps=1,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        start = time.perf_counter()
        trainer.fit(Regressor(), loader(0, size=256))
        elapsed = time.perf_counter() - start
        _end_naga_runs()
        return elapsed


def _end_naga_runs() -> None:
    """A NagaLogger's run stays open after fit (for a trainer.test()); end it before the next."""
    import naga

    run = naga.active_run()
    while run is not None:
        run.complete()
        run = naga.active_run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000, help="log_metrics calls per logger")
    parser.add_argument("--seconds", type=float, default=5.0, help="at most this long per logger")
    parser.add_argument("--steps", type=int, default=500, help="training steps per fit")
    parser.add_argument("--reps", type=int, default=3, help="fits per logger (the best counts)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import logging

    for noisy in ("lightning.pytorch", "lightning.fabric", "mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from integration_docs import save_doc_files

    models = Path(tempfile.mkdtemp(prefix="bench-lightning-model-"))
    save_doc_files(models, "regressor.py")
    sys.path.insert(0, str(models))
    with fresh_store() as directory:
        names = list(make_loggers(directory))

    print(f"log_metrics: 4 metrics a call, up to {args.calls} calls or {args.seconds:.0f} s")
    per_call = {name: time_log_metrics(name, args.calls, args.seconds) for name in names}
    naga_cost = per_call["naga"][0]
    print(f"{'logger':<12} {'calls':>7} {'µs/call':>10} {'vs naga':>9}")
    for name, (cost, calls) in per_call.items():
        print(f"{name:<12} {calls:>7} {cost * 1e6:>10.1f} {cost / naga_cost:>8.1f}x")

    print(f"\nfit: {args.steps} steps of a tiny model, log_every_n_steps=1")
    time_fit(None, 20)  # warm up: first-use costs of torch and Lightning
    best: dict[str | None, float] = {}
    for _ in range(args.reps):  # interleaved, the best of each: the machine's noise is shared
        for name in [None, *names]:
            best[name] = min(best.get(name, float("inf")), time_fit(name, args.steps))
    baseline = best[None]
    print(f"{'logger':<12} {'fit s':>8} {'over no logger':>15} {'ms/step':>8}")
    print(f"{'(none)':<12} {baseline:>8.2f} {'-':>15} {'-':>8}")
    for name in names:
        extra = best[name] - baseline
        print(f"{name:<12} {best[name]:>8.2f} {extra:>14.2f}s {extra / args.steps * 1e3:>8.3f}")


if __name__ == "__main__":
    main()
