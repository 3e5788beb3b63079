"""MLflow is never on the critical path: a real ``mlflow server`` down at the start, killed
during training and restarted, two processes starting at once on a fresh ``sqlite:///`` store,
Lightning closing the naga run on Ctrl-C with DataLoader workers logging, and ``naga export
mlflow --follow`` mirroring a run live. The training is a real ``clicfg`` program in a
subprocess, held at a step by a file the test creates."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from conftest import Naga, naga_cmd
from mlflow import MlflowClient
from mlflow_server import MlflowServer, mlflow_server

import naga
from naga.integrations.mlflow import block_ending
from naga.integrations.mlflow_store import distinct_params, mlflow_status

STEPS = 30

TRAIN = """
import os, sys, time
from dataclasses import dataclass
from pathlib import Path

import naga


def wait_for(name):
    while name and not Path(name).exists():
        time.sleep(0.05)


@dataclass
class Config:
    name: str = "fit"
    steps: int = 30
    save_dir: str = "runs/${name}"


@naga.clicfg(Config, run="train-stage")
def main(cfg):
    with naga.mlflow_lock(cfg.save_dir) as mlflow_run:
        Path(f"{cfg.name}.mlflow").write_text(mlflow_run.info.run_id if mlflow_run else "")
        for step in range(cfg.steps):
            naga.log({"loss": 1 / (step + 1)}, step=step)
            if step == 0:
                Path(f"{cfg.name}.started").touch()
                wait_for(os.environ.get("GATE_STEP"))
    print("trained", cfg.name)


if __name__ == "__main__":
    wait_for(os.environ.get("GATE_START"))
    main()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow-faults")) as started:
        yield started


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> str:
    return f"{request.node.name}-{time.time_ns()}"


def start_training(
    work: Path, uri: str, experiment: str, *args: str, **gates: str
) -> subprocess.Popen[str]:
    (work / "train.py").write_text(TRAIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME=experiment, **gates)
    return subprocess.Popen(
        [sys.executable, "train.py", *args], cwd=work, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_file(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "mlflow_lock" in line]


def the_naga_run() -> Any:
    (record,) = naga.runs()
    return record


def lock_of(client: MlflowClient, run_id: str, where: Path) -> dict[str, Any]:
    local = client.download_artifacts(run_id, "run.lock", str(where))
    doc: dict[str, Any] = yaml.safe_load(Path(local).read_text())
    return doc


def by_naga_id(client: MlflowClient, experiment: str, naga_id: str) -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return client.search_runs([found.experiment_id], f"tags.`naga.id` = '{naga_id}'")


def losses(client: MlflowClient, run_id: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, "loss"))


@pytest.mark.timeout(300)
def test_server_killed_during_training_then_export_catches_up(
    server: MlflowServer, experiment: str, tmp_path: Path, naga_cli: Naga
) -> None:
    """The server dies after the MLflow run began and is still down when training ends: the
    training ends completed, exit 0, in seconds, with one warning; the export run once the
    server is back finishes the same MLflow run with every point and the final run.lock."""
    try:
        proc = start_training(tmp_path, server.uri, experiment, GATE_STEP="go")
        wait_file(tmp_path / "fit.started", proc)
        mlflow_id = (tmp_path / "fit.mlflow").read_text()
        assert mlflow_id
        server.stop()
        (tmp_path / "go").touch()
        released = time.monotonic()
        out, err = proc.communicate(timeout=120)
        took = time.monotonic() - released
    finally:
        server.start()
    assert (proc.returncode, out) == (0, "trained fit\n"), err
    assert took < 15, took
    (warning,) = warnings_of(err)
    assert f"cannot reach the MLflow server at {server.uri}" in warning
    record = the_naga_run()
    assert record.status == "completed" and record.name == "train-stage"
    assert yaml.safe_load((tmp_path / "runs/fit/run.lock").read_text())["status"] == "completed"

    client = MlflowClient(server.uri)
    assert client.get_run(mlflow_id).info.status == "RUNNING"  # the server missed the end
    done = naga_cli(
        "export", "mlflow", record.id, "--tracking-uri", server.uri, "--experiment", experiment
    )
    assert done.returncode == 0, done.stderr
    (run,) = by_naga_id(client, experiment, record.id)
    assert run.info.run_id == mlflow_id and run.info.status == "FINISHED"
    assert run.info.run_name == "train-stage"
    assert losses(client, mlflow_id) == list(range(STEPS))
    assert lock_of(client, mlflow_id, tmp_path / "dl")["status"] == "completed"


@pytest.mark.timeout(300)
def test_server_down_at_start_and_back_before_the_end(
    server: MlflowServer, experiment: str, tmp_path: Path
) -> None:
    """Nothing answers when the training starts: it trains anyway; the server is back by the
    end, so mlflow_lock's exit makes the MLflow run then, with everything and the final lock."""
    server.stop()
    try:
        proc = start_training(tmp_path, server.uri, experiment, GATE_STEP="go")
        wait_file(tmp_path / "fit.started", proc)
        assert (tmp_path / "fit.mlflow").read_text() == ""  # the block ran without MLflow
    finally:
        server.start()
    (tmp_path / "go").touch()
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out) == (0, "trained fit\n"), err
    assert len(warnings_of(err)) == 1, err
    record = the_naga_run()
    client = MlflowClient(server.uri)
    (run,) = by_naga_id(client, experiment, record.id)
    assert run.info.status == "FINISHED" and run.info.run_name == "train-stage"
    assert run.data.tags["naga.logical_run_id"] == str(tmp_path / "runs" / "fit")
    assert run.data.params["save_dir"] == "runs/fit"
    assert losses(client, run.info.run_id) == list(range(STEPS))
    assert lock_of(client, run.info.run_id, tmp_path / "dl")["status"] == "completed"


@pytest.mark.timeout(300)
def test_nothing_answers_at_all(
    server: MlflowServer, experiment: str, tmp_path: Path, naga_cli: Naga
) -> None:
    """No server the whole time: exit 0 in seconds, one warning; a later export sends it."""
    started = time.monotonic()
    proc = start_training(tmp_path, "http://127.0.0.1:9", experiment)
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out) == (0, "trained fit\n"), err
    assert time.monotonic() - started < 60
    (warning,) = warnings_of(err)
    assert "cannot reach the MLflow server at http://127.0.0.1:9" in warning
    assert "naga export mlflow" in warning
    record = the_naga_run()
    done = naga_cli(
        "export", "mlflow", "--all", "--tracking-uri", server.uri, "--experiment", experiment
    )
    assert done.returncode == 0, done.stderr
    client = MlflowClient(server.uri)
    (run,) = by_naga_id(client, experiment, record.id)
    assert run.info.status == "FINISHED"
    assert losses(client, run.info.run_id) == list(range(STEPS))


@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_two_processes_start_at_once_on_a_fresh_sqlite_store(tmp_path: Path) -> None:
    """Both create MLflow's database at the same moment (MLflow's own migration race): both
    train and end completed; each MLflow run is there, made at exit if not at the start."""
    uri = f"sqlite:///{tmp_path}/fresh.db"
    procs = [
        start_training(tmp_path, uri, "race", f"name={name}", GATE_START="go")
        for name in ("a", "b")
    ]
    time.sleep(3)  # both imported naga and wait at the gate
    (tmp_path / "go").touch()
    ended = [proc.communicate(timeout=180) for proc in procs]
    for name, proc, (out, err) in zip("ab", procs, ended, strict=True):
        assert (proc.returncode, out) == (0, f"trained {name}\n"), err
        assert len(warnings_of(err)) <= 1, err
    client = MlflowClient(uri)
    found = client.get_experiment_by_name("race")
    assert found is not None
    runs = client.search_runs([found.experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]
    assert sorted(Path(r.data.tags["naga.logical_run_id"]).name for r in runs) == ["a", "b"]
    for run in runs:
        assert losses(client, run.info.run_id) == list(range(STEPS))


LIGHTNING = """
import sys
import torch
from torch.utils.data import DataLoader, Dataset
import lightning as L
import mlflow
import naga
from naga.integrations.lightning import NagaLogger


class Numbers(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        naga.log({"data/item": float(i)})  # in a DataLoader worker: its own stream
        return torch.tensor([float(i)]), torch.tensor([2.0 * i])


class Model(L.LightningModule):
    def __init__(self, lr=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(1, 1)

    def training_step(self, batch, index):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss)
        if self.current_epoch == 1 and index == 3:
            raise KeyboardInterrupt  # Ctrl-C mid-epoch: Lightning's graceful shutdown
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


mlflow.set_experiment("lightning")
with naga.run(name="lit", params={"model": {"lr": 0.01}}) as run:
    with naga.mlflow_lock("out") as mlflow_run:
        print(run.id, mlflow_run.info.run_id, flush=True)
        trainer = L.Trainer(
            max_epochs=3, logger=NagaLogger(), log_every_n_steps=1, enable_progress_bar=False,
            enable_checkpointing=False, enable_model_summary=False,
        )
        loader = DataLoader(Numbers(), batch_size=4, num_workers=2)
        trainer.fit(Model(), loader)
"""


@pytest.mark.timeout(300)
@pytest.mark.skipif(importlib.util.find_spec("lightning") is None, reason="needs lightning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_lightning_ctrl_c_metrics_reach_mlflow_with_the_workers(tmp_path: Path) -> None:
    """NagaLogger ends the naga run on Ctrl-C before mlflow_lock's exit: the MLflow run still
    gets every point naga has, the DataLoader workers' too, and one param per value."""
    (tmp_path / "lit.py").write_text(LIGHTNING)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run(
        [sys.executable, "lit.py"], cwd=tmp_path, env={**env, "MLFLOW_TRACKING_URI": uri},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr[-3000:]  # Lightning's sys.exit(1), after Ctrl-C
    naga_id, mlflow_id = done.stdout.split()
    record = naga.load(naga_id)
    assert record.status == "cancelled"
    client = MlflowClient(uri)
    run = client.get_run(mlflow_id)
    assert run.info.status == "KILLED"  # Ctrl-C, whatever Lightning turned it into
    steps = sorted(m.step for m in client.get_metric_history(mlflow_id, "train/loss"))
    assert steps == sorted(int(s) for s in record.metrics("train/loss").step)
    assert len(steps) >= 16  # the first epoch's, and the second's up to Ctrl-C
    workers = [s for s in record.streams() if s.startswith("pid")]
    assert workers
    logged = sum(len(record.metrics("data/item", stream=s)) for s in workers)
    assert logged > 0
    assert len(client.get_metric_history(mlflow_id, "data/item")) == logged
    assert run.data.params["model.lr"] == "0.01" and "lr" not in run.data.params


@pytest.mark.timeout(300)
def test_follow_mirrors_a_run_live_and_stops_on_ctrl_c(
    server: MlflowServer, experiment: str, tmp_path: Path
) -> None:
    """A run held at step 0 shows up RUNNING with its first point; released, it ends
    FINISHED with every point and its end time; Ctrl-C is one line and exit 130."""
    training = start_training(tmp_path, "http://127.0.0.1:9", "x", GATE_STEP="go")
    wait_file(tmp_path / "fit.started", training)
    command = [
        *naga_cmd("export", "mlflow", "--all", "--follow"),
        "--tracking-uri", server.uri, "--experiment", experiment,
    ]  # fmt: skip
    follower = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        client = MlflowClient(server.uri)
        record = the_naga_run()
        run = wait_for_run(client, experiment, record.id, lambda r: losses(client, r) == [0])
        assert run.info.status == "RUNNING"
        (tmp_path / "go").touch()
        training.communicate(timeout=120)
        assert training.returncode == 0
        run = wait_for_run(
            client, experiment, record.id, lambda r: client.get_run(r).info.status == "FINISHED"
        )
        assert losses(client, run.info.run_id) == list(range(STEPS))
        finished = naga.load(record.id).meta["finished_at"]
        from naga.store.timefmt import parse_iso

        assert client.get_run(run.info.run_id).info.end_time == int(parse_iso(finished) * 1000)
    finally:
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=60)
    assert follower.returncode == 130
    assert err.decode().splitlines() == ["naga: stopped following; run it again to go on"]
    assert record.id in out.decode()
    assert len(by_naga_id(client, experiment, record.id)) == 1


def wait_for_run(client: MlflowClient, experiment: str, naga_id: str, ready: Any) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if client.get_experiment_by_name(experiment) is not None:
            runs = by_naga_id(client, experiment, naga_id)
            if runs and ready(runs[0].info.run_id):
                return client.get_run(runs[0].info.run_id)
        time.sleep(0.2)
    raise AssertionError("the follower never sent it")


def test_in_process_name_params_and_status(
    server: MlflowServer, experiment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a naga run the MLflow run is named after the stage directory; Lightning's flat
    hyperparameters that repeat the config are not sent twice."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    mlflow.set_experiment(experiment)
    naga.runlock({"save_dir": str(tmp_path / "pretrain"), "model": {"lr": 0.1, "depth": 3}})
    with naga.mlflow_lock(tmp_path / "pretrain") as alone:
        pass
    client = MlflowClient(server.uri)
    assert client.get_run(alone.info.run_id).info.run_name == "pretrain"
    with naga.run(name="stage-b") as run, naga.mlflow_lock(tmp_path / "pretrain") as inside:
        run.log_params({"lr": 0.1, "depth": 4, "batch": 8})  # as NagaLogger logs hparams
    got = client.get_run(inside.info.run_id)
    assert got.info.run_name == "stage-b"
    assert got.data.params == {
        "save_dir": str(tmp_path / "pretrain"),
        "model.lr": "0.1",
        "model.depth": "3",
        "depth": "4",  # another value: not a repeat
        "batch": "8",
    }


def test_mlflow_lock_takes_over_the_run_an_export_made(
    server: MlflowServer, experiment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follower may send a naga run before its mlflow_lock block begins: the block takes
    that MLflow run over, and the naga run stays one MLflow run."""
    from naga.integrations.mlflow_export import Exporter

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    mlflow.set_experiment(experiment)
    with naga.run(name="early") as run:
        run.log({"loss": 1.0}, step=0)
        run.flush()
        exported = Exporter(server.uri, experiment).export(naga.load(run.id))
        with naga.mlflow_lock(tmp_path / "stage") as lock_run:
            run.log({"loss": 0.5}, step=1)
    assert lock_run.info.run_id == exported.mlflow_id
    client = MlflowClient(server.uri)
    (only,) = by_naga_id(client, experiment, run.id)
    assert only.info.status == "FINISHED" and losses(client, only.info.run_id) == [0, 1]
    assert only.data.tags["naga.logical_run_id"] == str(tmp_path / "stage")


def test_one_mapping_of_endings() -> None:
    assert [mlflow_status(s) for s in ("running", "completed", "failed")] == [
        "RUNNING",
        "FINISHED",
        "FAILED",
    ]
    assert {mlflow_status(s) for s in ("cancelled", "crashed", "preempted")} == {"KILLED"}
    assert block_ending(None) == "completed"
    assert block_ending(KeyboardInterrupt()) == "cancelled"
    assert block_ending(ValueError("x")) == "failed"
    assert block_ending(SystemExit(3)) == "failed"
    assert distinct_params({"lr": 0.1, "a.lr": 0.1, "b": 1}) == {"a.lr": 0.1, "b": 1}
