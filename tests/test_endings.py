"""One run, one ending: the table of docs/endings.md, row by row, every column checked.

Each row is one real process of the stack naga is built for: a ``naga.clicfg`` program whose
main opens ``naga.mlflow_lock`` (a real ``sqlite:///`` MLflow store) and trains a tiny
PyTorch Lightning model with ``NagaLogger``; at step 3 it is stopped the row's way (a real
signal sent to itself, an exception, ``sys.exit``). Lightning's own handlers do what they do:
Ctrl-C ends in ``sys.exit(1)``, SIGTERM in its code-less ``SIGTERMException``, SIGUSR1 under
``SLURMEnvironment(auto_requeue=True)`` saves an hpc checkpoint and asks ``scontrol`` to requeue.
The columns: naga's run record, run.lock's status, MLflow's run status, the process's exit
code, and, for a row run as a one-task sweep, the task's state in the pool.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, runs_json

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("lightning") is None or importlib.util.find_spec("mlflow") is None,
    reason="needs pip install 'naga-runs[lightning,mlflow]'",
)

DOCS = Path(__file__).parent.parent / "docs" / "endings.md"

PROGRAM = """
import os
import signal
import sys
import time
from dataclasses import dataclass

import torch
from lightning import LightningModule, Trainer
from lightning.fabric.plugins.environments import SLURMEnvironment
from torch.utils.data import DataLoader, TensorDataset

import naga
from naga.integrations.lightning import NagaLogger


class Model(LightningModule):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        if self.global_step == 3:
            self.act()
        if self.how == "slurm-usr1" and self.global_step == 5:
            os.kill(os.getpid(), signal.SIGTERM)  # what Slurm sends after the warning
        if self.how.startswith("sig") or self.how.startswith("slurm"):
            time.sleep(0.02)  # room for Lightning to see the signal at its next check
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("loss", loss)
        return loss

    def act(self) -> None:
        if os.path.exists("stopped-once"):  # a later attempt of the task trains to the end
            return
        open("stopped-once", "w").close()
        how = self.how
        if how == "error":
            raise RuntimeError("diverged")
        if how == "exit0":
            sys.exit(0)
        if how == "exit3":
            sys.exit(3)
        if how == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
        if how in ("sigterm", "slurm-sigterm"):
            os.kill(os.getpid(), signal.SIGTERM)
        if how == "slurm-usr1":
            os.kill(os.getpid(), signal.SIGUSR1)
        if how == "wait":  # for a person at the terminal to press Ctrl-C
            print("training at step 3", flush=True)
            time.sleep(120)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def loader() -> DataLoader:
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)


@dataclass
class Config:
    how: str = "normal"
    save_dir: str = "runs/${how}"


@naga.clicfg(Config, run="train")
def main(cfg: Config) -> None:
    plugins = [SLURMEnvironment(auto_requeue=True)] if cfg.how.startswith("slurm") else None
    with naga.mlflow_lock(cfg.save_dir):
        trainer = Trainer(logger=NagaLogger(), max_steps=12, log_every_n_steps=1,
                          enable_progress_bar=False, enable_checkpointing=False,
                          enable_model_summary=False, plugins=plugins)
        trainer.fit(Model(cfg.how), loader())


if __name__ == "__main__":
    main()
"""

SLURM_ENV = {  # a single-task Slurm job step, as Lightning's SLURMEnvironment reads it
    "SLURM_JOB_ID": "4711",
    "SLURM_JOB_NAME": "train",
    "SLURM_NTASKS": "1",
    "SLURM_NTASKS_PER_NODE": "1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_NODELIST": "localhost",
}


def table() -> dict[str, dict[str, str]]:
    """The rows of docs/endings.md's table of endings, by their `how`."""
    rows: dict[str, dict[str, str]] = {}
    lines = DOCS.read_text().split("<!-- endings table -->")[1].strip().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        row = dict(zip(header, cells, strict=True))
        rows[re.sub(r"[`*]", "", row["how"])] = row
    return rows


ROWS = table()


def mlflow_status(database: Path) -> str:
    """The status of the one MLflow run, read from the tracking store's own database."""
    import sqlite3

    with sqlite3.connect(database) as db:
        [(status,)] = db.execute("SELECT status FROM runs").fetchall()
    return str(status)


def run_program(tmp_path: Path, how: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "train.py").write_text(PROGRAM)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    if how.startswith("slurm"):
        env.update(SLURM_ENV)
        env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"  # a scontrol that says no
        (tmp_path / "bin").mkdir(exist_ok=True)
        scontrol = tmp_path / "bin" / "scontrol"
        scontrol.write_text("#!/bin/sh\necho 'scontrol: no Slurm cluster here' >&2\nexit 1\n")
        scontrol.chmod(0o755)
    return subprocess.run(
        [sys.executable, "train.py", f"how={how}", *extra],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", list(ROWS))
def test_every_layer_tells_the_same_ending(tmp_path: Path, naga_cli: Naga, how: str) -> None:
    row = ROWS[how]
    done = run_program(tmp_path, how)
    output = done.stdout[-1500:] + done.stderr[-3000:]
    assert done.returncode == int(row["exit code"]), output

    [run] = runs_json(naga_cli)
    assert run["status"] == row["naga"], output
    shown = json.loads(naga_cli("show", "--json", run["id"]).stdout)
    if row["reason"] != "-":
        assert (shown["error"] or "").startswith(row["reason"]), shown["error"]
    if row["naga"] != "completed":
        assert shown["metric_stats"]["loss"]["count"] >= 3  # what was logged before is kept

    lock = (tmp_path / "runs" / how / "run.lock").read_text()
    assert re.search(rf"^status: {row['run.lock']}$", lock, re.M), lock

    assert mlflow_status(tmp_path / "mlflow.db") == row["MLflow"]


def pool_state(store: Path) -> dict[str, Any]:
    [sweep] = (store / "sweeps").glob("sw-*")
    pool = sweep / "pool"
    done = pool / "done.0"
    if done.exists():
        return {"state": json.loads(done.read_text())["status"]}
    return {"state": "to run again", "released": any(pool.glob("released.0.*"))}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", [h for h, row in ROWS.items() if row["pool"] != "-"])
def test_a_sweep_task_keeps_the_same_ending(
    tmp_path: Path, store: Path, naga_cli: Naga, how: str
) -> None:
    row = ROWS[how]
    done = run_program(tmp_path, how, "--tasks", f"[{how}]", "--task-to", "how")
    output = done.stdout[-1500:] + done.stderr[-3000:]
    expected_exit = int(row["exit code"])
    if row["naga"] == "failed":
        expected_exit = 1  # the launcher: one task failed (its own code is in its record)
    assert done.returncode == expected_exit, output
    [run] = runs_json(naga_cli)
    assert run["status"] == row["naga"], output
    assert pool_state(store)["state"] == row["pool"], output
    assert mlflow_status(tmp_path / "mlflow.db") == row["MLflow"]


@pytest.mark.timeout(300)
def test_ctrl_c_at_a_real_terminal(
    tmp_path: Path, naga_cli: Naga, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C typed at a terminal, under ``naga run``: the program runs on naga's pty, Lightning
    shuts down gracefully and exits 1, and every record says cancelled, exit 130."""
    from test_terminal_and_signals import Terminal

    (tmp_path / "train.py").write_text(PROGRAM)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    term = Terminal(["run", sys.executable, "train.py", "how=wait"], tmp_path)
    term.read_until(b"training at step 3", timeout=180)
    term.type(b"\x03")
    assert term.finish(timeout=120) == 130, term.seen[-3000:]
    [run] = runs_json(naga_cli)
    assert (run["status"], run["exit_code"]) == ("cancelled", 130)
    lock = (tmp_path / "runs" / "wait" / "run.lock").read_text()
    assert re.search(r"^status: cancelled$", lock, re.M), lock
    assert mlflow_status(tmp_path / "mlflow.db") == "KILLED"


@pytest.mark.timeout(400)
def test_a_preempted_task_relaunched_is_one_run_in_naga_and_in_mlflow(
    tmp_path: Path, store: Path, naga_cli: Naga
) -> None:
    first = run_program(tmp_path, "slurm-sigterm", "--tasks", "[slurm-sigterm]", "--task-to", "how")
    assert first.returncode == 143, first.stderr[-3000:]
    again = run_program(tmp_path, "slurm-sigterm", "--tasks", "[slurm-sigterm]", "--task-to", "how")
    assert again.returncode == 0, again.stderr[-3000:]
    [run] = runs_json(naga_cli)
    shown = json.loads(naga_cli("show", "--json", run["id"]).stdout)
    assert shown["status"] == "completed"
    assert [a["status"] for a in shown["attempts"]] == ["cancelled", "completed"]
    assert pool_state(store)["state"] == "completed"
    lock = (tmp_path / "runs" / "slurm-sigterm" / "run.lock").read_text()
    assert re.search(r"^status: completed$", lock, re.M), lock
    assert mlflow_status(tmp_path / "mlflow.db") == "FINISHED"  # one MLflow run, finished


def test_the_docs_table_has_every_ending() -> None:
    assert {"normal", "error", "exit0", "exit3", "sigint", "sigterm"} <= set(ROWS)
    assert {"slurm-sigterm", "slurm-usr1"} <= set(ROWS)
    assert {row["naga"] for row in ROWS.values()} == {"completed", "failed", "cancelled"}


def test_the_attempts_example_prints_what_the_docs_say(tmp_path: Path) -> None:
    code = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)[0]
    promised = [line.split("# ")[1] for line in code.splitlines() if line.startswith("# [")]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert printed[0] == promised[0]
    assert printed[1] == str(list(range(8)))
    assert printed[2] == "12"
