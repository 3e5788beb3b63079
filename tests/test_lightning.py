"""``NagaLogger``: a tiny real LightningModule trained on the CPU, in subprocesses.

torch and Lightning take seconds to import, so each case is one training script run the way a
user runs it (alone, under ``naga run``, inside ``naga.run()``), read back through the CLI and
``naga.load``; the scripts are those of ``docs/integrations.md``.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, only_run, runs_json
from integration_docs import save_doc_files, without

import naga

# found, not imported: the tests run it in subprocesses; scripts/test installs the extra
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("lightning") is None, reason="needs pip install 'naga-runs[lightning]'"
)

SCRIPT_TIMEOUT = 120


def python(script: str | Path, cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def show(naga_cli: Naga, selector: str, cwd: Path) -> dict[str, Any]:
    done = naga_cli("show", selector, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    run: dict[str, Any] = json.loads(done.stdout)
    return run


def check_regressor_run(run: dict[str, Any]) -> None:
    """What train_lightning.py records: hyperparameters, metrics with steps, checkpoints."""
    assert run["status"] == "completed"
    params = run["params"]
    assert params["lr"] == 0.05 and params["features"] == 8
    assert params["checkpoint.monitor"] == "val/loss"
    best, last = Path(params["checkpoint.best"]), Path(params["checkpoint.last"])
    checkpoints = Path(params["checkpoint.dir"])
    assert best.is_file() and last.is_file() and last.name == "last.ckpt"
    assert best.parent == last.parent == checkpoints
    assert checkpoints.parts[-4:] == ("artifacts", "lightning", run["id"], "checkpoints")
    assert isinstance(params["checkpoint.best_score"], float)
    names = {a["name"] for a in run["artifacts"]}
    assert f"lightning/{run['id']}/checkpoints/last.ckpt" in names
    listing = json.loads((checkpoints.parents[2] / "lightning" / "checkpoints.json").read_text())
    [entry] = listing.values()  # one ModelCheckpoint
    assert entry["top_k"] == {str(best): params["checkpoint.best_score"]}
    record = naga.load(run["id"])
    steps, losses = record.metrics("train/loss")
    assert steps.tolist() == list(range(12)) and len(losses) == 12
    assert record.metrics("val/loss").step.tolist() == [3, 7, 11]  # 4 batches an epoch
    assert len(record.metrics("test/loss")) == 1


@pytest.mark.timeout(240)
def test_doc_example_alone_then_read_from_python(tmp_path: Path, naga_cli: Naga) -> None:
    save_doc_files(tmp_path, "regressor.py", "train_lightning.py", "best_checkpoint.py")
    out = python("train_lightning.py", tmp_path)
    run = show(naga_cli, "regressor", tmp_path)
    assert f"recorded run {run['id']}" in out
    assert run["tags"] == ["lightning-demo"] and run["source"] == "sdk"
    check_regressor_run(run)
    out = python("best_checkpoint.py", tmp_path)
    assert out.startswith(
        f"{run['params']['checkpoint.best']} {run['params']['checkpoint.best_score']}"
    )
    assert "12 steps, last train/loss" in out


@pytest.mark.timeout(240)
def test_doc_example_under_naga_run(tmp_path: Path, naga_cli: Naga) -> None:
    save_doc_files(tmp_path, "regressor.py", "train_lightning.py")
    done = naga_cli("run", sys.executable, "train_lightning.py", timeout=SCRIPT_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    run = only_run(naga_cli)  # the wrapper's run, not a second one
    check_regressor_run(run)
    assert run["name"] is None and "source" not in run
    assert f"recorded run {run['id']}" in naga_cli("logs", run["id"]).stdout.decode()


@pytest.mark.timeout(240)
def test_doc_example_inside_a_run_of_ones_own(tmp_path: Path, naga_cli: Naga) -> None:
    save_doc_files(tmp_path, "regressor.py", "train_in_run.py")
    out = python("train_in_run.py", tmp_path)
    assert out.splitlines()[-1] == "0.1 completed"
    run = only_run(naga_cli)
    assert run["name"] == "prepared"
    assert run["params"]["data.size"] == 64 and run["params"]["lr"] == 0.1
    assert run["metrics"]["train/loss"] > 0 and run["metric_stats"]["train/loss"]["count"] == 4
    assert "weights.json" in {a["name"] for a in run["artifacts"]}


SCENARIOS = """
import gc
import os
import sys

import pytorch_lightning
import torch
from pathlib import Path

from lightning import Callback, Trainer
from regressor import Regressor, loader

import naga
from naga.integrations.lightning import NagaLogger


def trainer(logger, steps=4, trainer_class=Trainer, callbacks=()):
    return trainer_class(logger=logger, max_steps=steps, log_every_n_steps=1,
                         enable_progress_bar=False, enable_checkpointing=False,
                         callbacks=list(callbacks))


# A loop over configs in one program: one run per training.
def train(lr):
    logger = NagaLogger(run_name=f"loop-{lr}")
    trainer(logger).fit(Regressor(lr=lr), loader(0))
    return logger.version


versions = []
for lr in (0.01, 0.02):
    versions.append(train(lr))
    gc.collect()  # the logger is gone; its run is still to be completed by the next one
print("loop", *[naga.load(version).status for version in versions])


# A training that fails ends its run at once, with the error.
class Exploding(Regressor):
    def training_step(self, batch, batch_idx):
        if self.global_step == 2:
            raise RuntimeError("loss is NaN")
        return super().training_step(batch, batch_idx)


logger = NagaLogger(run_name="exploding")
try:
    trainer(logger).fit(Exploding(), loader(0))
except RuntimeError:
    print("failed", logger.version, naga.load(logger.version).status)


# Hyperparameters of every shape Lightning may hand over.
class Shapes(Regressor):
    def __init__(self, nested, config, arch=torch.nn.Linear, **kwargs):
        super().__init__(**kwargs)
        self.save_hyperparameters()


from dataclasses import dataclass
from omegaconf import OmegaConf


@dataclass
class Optim:
    name: str = "sgd"
    betas: tuple = (0.9, 0.99)


class Notes(Callback):
    def on_train_start(self, trainer, pl_module):
        Path(trainer.log_dir, "notes.txt").write_text("written to trainer.log_dir")


config = OmegaConf.create({"width": 3, "double": "${width}x2"})
logger = NagaLogger(run_name="shapes")
model = Shapes({"optim": Optim(), "scale": torch.tensor(2.5)}, config)
trainer(logger, steps=1, callbacks=[Notes()]).fit(model, loader(0))


# pytorch_lightning, the older package name, drives the same logger.
class Old(pytorch_lightning.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        loss = torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])
        self.log("old/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


logger = NagaLogger(run_name="old-package")
trainer(logger, steps=3, trainer_class=pytorch_lightning.Trainer).fit(Old(), loader(0))


# NAGA_DISABLED=1: the same code trains and records nothing.
os.environ["NAGA_DISABLED"] = "1"
trainer(NagaLogger(run_name="disabled")).fit(Regressor(), loader(0))
"""


@pytest.mark.timeout(240)
def test_a_loop_a_failure_odd_hyperparameters_and_pytorch_lightning(
    tmp_path: Path, naga_cli: Naga
) -> None:
    save_doc_files(tmp_path, "regressor.py")
    (tmp_path / "scenarios.py").write_text(SCENARIOS)
    out = python("scenarios.py", tmp_path)
    runs = {r["name"]: r for r in runs_json(naga_cli)}
    assert set(runs) == {"loop-0.01", "loop-0.02", "exploding", "shapes", "old-package"}
    # The first loop run was completed when the second logger started its own.
    first, second = runs["loop-0.01"], runs["loop-0.02"]
    assert "loop completed running\n" in out  # the second still open, until the program ended
    assert first["status"] == second["status"] == "completed"
    assert (first["params"]["lr"], second["params"]["lr"]) == (0.01, 0.02)
    assert first["metric_stats"]["train/loss"]["count"] == 4
    assert first["parent_id"] is None and second["parent_id"] is None

    exploding = show(naga_cli, "exploding", tmp_path)
    assert f"failed {exploding['id']} failed" in out
    assert exploding["error"] == "RuntimeError: loss is NaN"
    assert "in training_step" in exploding["traceback"]
    assert exploding["metric_stats"]["train/loss"]["count"] == 2

    params = runs["shapes"]["params"]
    assert params["nested.optim.name"] == "sgd" and params["nested.optim.betas"] == [0.9, 0.99]
    assert params["nested.scale"] == 2.5
    assert params["config.double"] == "3x2"  # OmegaConf resolved
    assert params["arch"] == "torch.nn.modules.linear.Linear"
    shapes = show(naga_cli, "shapes", tmp_path)
    assert "notes.txt" in {a["name"] for a in shapes["artifacts"]}  # trainer.log_dir: the run's

    old = runs["old-package"]
    assert old["status"] == "completed" and old["metric_stats"]["old/loss"]["count"] == 3


SLOW = """
import sys
import time
from pathlib import Path

import naga

from lightning import Trainer
from regressor import Regressor, loader

from naga.integrations.lightning import NagaLogger


class Slow(Regressor):
    def training_step(self, batch, batch_idx):
        if self.global_step == 3:
            Path("training").touch()
        time.sleep(0.05)
        return super().training_step(batch, batch_idx)


def train():
    trainer = Trainer(logger=NagaLogger(run_name="slow"), max_steps=100000, log_every_n_steps=1,
                      enable_progress_bar=False, enable_checkpointing=False)
    trainer.fit(Slow(), loader(0))


if sys.argv[1:] == ["inside"]:  # the logger's run is not its own, and still ends cancelled
    with naga.run(name="slow"):
        train()
else:
    train()
"""


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("signum", "where", "error", "exit_code"),
    [
        # as Slurm stops a job, into a run of the logger's own
        (signal.SIGTERM, "alone", "terminated by SIGTERM", 128 + signal.SIGTERM),
        # Ctrl-C inside `with naga.run()`: Lightning's sys.exit(1) would read as a failure;
        # the signal decides, and the process exits 130 as it would without Lightning
        (signal.SIGINT, "inside", "interrupted by SIGINT", 130),
    ],
)
def test_training_stopped_by_a_signal_is_cancelled(
    tmp_path: Path, naga_cli: Naga, signum: int, where: str, error: str, exit_code: int
) -> None:
    save_doc_files(tmp_path, "regressor.py")
    (tmp_path / "slow.py").write_text(SLOW)
    proc = subprocess.Popen(
        [sys.executable, "slow.py", where],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + SCRIPT_TIMEOUT
        while not (tmp_path / "training").exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the training never started"
            time.sleep(0.1)
        proc.send_signal(signum)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == exit_code, output[-2000:]
    run = only_run(naga_cli)
    assert (run["status"], run["error"]) == ("cancelled", error), output[-2000:]
    assert run["metric_stats"]["train/loss"]["count"] >= 3


def blocked_import(module: str, *packages: str) -> subprocess.CompletedProcess[str]:
    code = without(*packages) + f"import {module}\nprint({module}.NagaLogger.__mro__[1])"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=SCRIPT_TIMEOUT
    )


def test_missing_extra_is_one_line_naming_it() -> None:
    done = blocked_import("naga.integrations.lightning", "lightning", "pytorch_lightning")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "naga.errors.MissingExtra: NagaLogger needs PyTorch Lightning, which is not"
        " installed: pip install 'naga-runs[lightning]'"
    )
    assert "During handling" not in done.stderr


@pytest.mark.timeout(120)
def test_without_lightning_the_pytorch_lightning_package_serves() -> None:
    done = blocked_import("naga.integrations.lightning", "lightning")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "<class 'pytorch_lightning.loggers.logger.Logger'>"


def test_importing_naga_imports_no_integration_library() -> None:
    code = (
        "import sys, naga, naga.integrations\n"
        "print(sorted(m for m in ('torch', 'lightning', 'hydra') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


RESUMABLE = """
import os
import sys

from lightning import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from regressor import Regressor, loader

from naga.integrations.lightning import NagaLogger


class Preempted(Regressor):
    def training_step(self, batch, batch_idx):
        if sys.argv[1] == "first" and self.global_step == 6:
            raise SystemExit(3)  # the job is gone half-way (its checkpoint of step 4 stays)
        return super().training_step(batch, batch_idx)


every_2 = ModelCheckpoint(dirpath="ckpt", every_n_train_steps=2, save_top_k=-1)
trainer = Trainer(logger=NagaLogger(run_name="resumable", resume=sys.argv[1] != "fresh"),
                  max_steps=12, log_every_n_steps=1, enable_progress_bar=False,
                  callbacks=[every_2])
trainer.fit(Preempted(), loader(0), ckpt_path=sys.argv[2] if len(sys.argv) > 2 else None)
print("run", trainer.logger.version)
"""


@pytest.mark.timeout(240)
def test_fit_from_a_checkpoint_continues_the_run_that_wrote_it(
    tmp_path: Path, naga_cli: Naga
) -> None:
    save_doc_files(tmp_path, "regressor.py")
    (tmp_path / "resumable.py").write_text(RESUMABLE)
    python("resumable.py", tmp_path, "first", check=False)
    [first] = runs_json(naga_cli)
    assert first["status"] == "failed"
    checkpoint = str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt")
    out = python("resumable.py", tmp_path, "again", checkpoint)
    assert f"run {first['id']}" in out
    run = show(naga_cli, first["id"], tmp_path)
    assert run["status"] == "completed"
    assert [a["status"] for a in run["attempts"]] == ["failed", "completed"]
    steps, _ = naga.load(first["id"]).metrics("train/loss")
    assert steps.tolist() == list(range(12))  # one value per step: 4 and 5 from the second attempt
    assert len(naga.load(first["id"]).metrics("train/loss", superseded=True)) == 6 + 8

    out = python("resumable.py", tmp_path, "fresh", checkpoint)  # opted out: a run of its own
    assert f"run {first['id']}" not in out
    assert len(runs_json(naga_cli)) == 2
