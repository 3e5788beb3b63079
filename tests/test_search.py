"""Adaptive search (``--search``) with the real Optuna: a study finds the optimum of a known
objective, its pruner stops trials early in-process, and a study whose launcher and workers are
killed mid-way ends, once launched again, with exactly ``--trials`` finished trials.

Each test is small (a few seconds): trials of a clicfg program run in the worker's own process,
so only the command-sweep tests pay a process per trial.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, naga_cmd, runs_json

from naga.ending import decide
from naga.errors import Pruned

optuna = pytest.importorskip("optuna")

PROGRAM = """
import naga


@naga.clicfg({"x": 0.0, "opt": "adam", "steps": 4, "save_dir": "out"})
def main(cfg):
    for step in range(cfg["steps"]):
        penalty = 0.5 if cfg["opt"] == "sgd" else 0.0
        naga.log({"loss": (cfg["x"] - 2) ** 2 + penalty + 1 / (step + 1)}, step=step)


if __name__ == "__main__":
    main()
"""

PRUNED = """
from pathlib import Path

import naga


@naga.clicfg({"x": 0.0, "steps": 20})
def main(cfg):
    seen = Path("seen")
    before = len(seen.read_text()) if seen.exists() else 0
    seen.write_text("x" * (before + 1))
    level = 1.0 if before < 2 else 10.0  # the first two trials are the best
    for step in range(cfg.steps):
        naga.log({"loss": level + cfg.x * 0 + 1 / (step + 1)}, step=step)


if __name__ == "__main__":
    main()
"""

SLOW = """
import sys
import time
import naga

x = float(sys.argv[1])
with naga.run():
    time.sleep(float(sys.argv[2]))
    naga.log({"loss": (x - 2) ** 2})
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(PROGRAM)
    (tmp_path / "slow.py").write_text(SLOW)
    (tmp_path / "pruned.py").write_text(PRUNED)
    return tmp_path


def launch(
    project: Path, *args: str, program: str = "train.py"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, program, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def study_of(store: Path) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    (sweep_dir,) = [p for p in (store / "sweeps").iterdir() if p.name.startswith("sw-")]
    storage = JournalStorage(JournalFileBackend(str(sweep_dir / "study.journal")))
    return optuna.load_study(study_name="naga", storage=storage)


def test_a_study_finds_the_optimum_of_a_known_objective(project: Path, store: Path) -> None:
    done = launch(
        project,
        *("--search", "tpe", "--trials", "24", "--minimize", "loss", "--search-seed", "5"),
        *("--param", "x=range(-10,10)", "--param", "opt=adam,sgd"),
    )
    assert done.returncode == 0, done.stderr
    best = next(line for line in done.stderr.splitlines() if line.startswith("naga: best:"))
    study = study_of(store)
    assert len(study.trials) == 24
    assert abs(study.best_params["x"] - 2) < 1.5, best  # random points alone rarely get there
    assert study.best_params["opt"] == "adam"
    assert f"trial {study.best_trial.number}," in best
    assert f" x={study.best_params['x']:.6g} opt=adam " in best  # 6 digits, as the table
    run_id = study.best_trial.user_attrs["naga.run"]
    assert f"(run {run_id})" in best
    assert "naga: importance: x " in done.stderr  # Optuna's own, x far ahead of opt
    saved = sorted(p.name for p in (project / "out").iterdir())
    assert saved[:3] == ["trial-0", "trial-1", "trial-10"]  # each trial its own save_dir


def test_the_pruner_stops_a_trial_in_process_and_the_run_ends_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, naga: Naga
) -> None:
    import naga as sdk

    journal = str(tmp_path / "study.journal")
    study = _study_with_two_good_trials(journal)  # far better than the third
    third = study.ask()
    found = {"journal": journal, "trial_id": third._trial_id, "objective": "loss"}
    monkeypatch.setenv("NAGA_TRIAL", json.dumps({**found, "pruner": "median"}))
    reached = -1
    with sdk.run() as run:
        for step in range(10):
            sdk.log({"loss": 5.0, "other": 1.0}, step=step)
            reached = step
    assert reached == 0  # step 1 raised naga.Pruned, which naga.run ends cleanly
    assert run.status == "pruned"
    assert sdk.load(run.id).status == "pruned"
    told = study_of_journal(journal).trials[2]
    assert told.user_attrs["naga.pruned_at"] == 1
    assert told.intermediate_values == {0: 5.0, 1: 5.0}
    listed = runs_json(naga, "--status", "pruned")
    assert [r["id"] for r in listed] == [run.id]
    assert decide(Pruned("pruned at step 3", step=3))[:3] == ("pruned", 0, "pruned at step 3")
    if _has("mlflow"):
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        exported = naga("export", "mlflow", run.id, "--tracking-uri", uri, "--experiment", "e")
        assert exported.returncode == 0, exported.stderr
        import warnings

        from mlflow.tracking import MlflowClient

        with warnings.catch_warnings():  # SQLAlchemy's deprecations inside MLflow's own store
            warnings.simplefilter("ignore")
            client = MlflowClient(uri)
            (found,) = client.search_runs([client.get_experiment_by_name("e").experiment_id])
        assert found.info.status == "KILLED" and found.data.tags["naga.pruned"] == "true"


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def study_of_journal(journal: str) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return optuna.load_study(study_name="naga", storage=JournalStorage(JournalFileBackend(journal)))


def test_a_search_prunes_trials_of_a_program_and_tells_them_pruned(
    project: Path, store: Path
) -> None:
    done = launch(
        project,
        *("--search", "random", "--trials", "8", "--minimize", "loss", "--prune", "median"),
        *("--param", "x=range(-10,10)"),
        program="pruned.py",
    )
    assert done.returncode == 0, done.stderr
    study = study_of(store)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE"] * 2 + ["PRUNED"] * 6
    pruned = study.trials[2]
    assert sorted(pruned.intermediate_values) == [0, 1]  # stopped at step 1 of 20
    assert "pruned" in done.stdout
    record = json.loads(
        subprocess.run(
            naga_cmd("show", "--json", pruned.user_attrs["naga.run"]),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert record["status"] == "pruned"


PRINTER = """
import sys, time
from pathlib import Path

seen = Path("seen-printer")
before = len(seen.read_text()) if seen.exists() else 0
seen.write_text("x" * (before + 1))
level = 1.0 if before < 2 else 10.0  # the first two trials are the best
for step in range(12):
    print(f"step={step} loss={level + 1 / (step + 1) + float(sys.argv[1]) * 0:.4f}", flush=True)
    time.sleep(0.15)
print("done", flush=True)
"""


def test_a_wrapped_command_without_the_sdk_is_pruned_from_its_printed_lines(
    project: Path, store: Path, naga: Naga
) -> None:
    """No naga import in the program: naga reads ``loss=`` from its output, reports it to the
    trial, and ends the command with SIGTERM when the pruner says so; the run ends pruned."""
    (project / "printer.py").write_text(PRINTER)
    args = ("--search", "random", "--trials", "3", "--minimize", "loss", "--prune", "median")
    done = naga(
        "sweep", *args, "x=range(0,1)", "--", sys.executable, "printer.py", "{x}", cwd=project
    )
    assert done.returncode == 0, done.stderr
    study = study_of(store)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    pruned = study.trials[2]
    assert sorted(pruned.intermediate_values) == [0, 1]  # stopped at step 1 of 12
    run_id = pruned.user_attrs["naga.run"]
    record = json.loads(naga("show", "--json", run_id).stdout)
    assert record["status"] == "pruned" and record["exit_code"] == 128 + signal.SIGTERM
    assert "pruned at step 1" in record["error"]
    output = naga("logs", run_id).stdout.decode()
    assert "done" not in output and "step=11" not in output  # stopped, not run to its end
    first = json.loads(naga("show", "--json", study.trials[0].user_attrs["naga.run"]).stdout)
    assert first["status"] == "completed"


def test_bad_searches_are_refused_in_one_line(project: Path, naga: Naga) -> None:
    cases = [
        (["--search", "tpe", "--trials", "3", "x=range(0,1)"], "--minimize METRIC or --maximize"),
        (["--search", "tpe", "--minimize", "l", "x=range(0,1)"], "--search needs --trials N"),
        (["--search", "grid", "--trials", "3", "--minimize", "l", "x=range(0,1)"], "grid"),
        (["--prune", "median", "x=1,2"], "go with --search SAMPLER"),
        (["--search", "tpe", "--random", "3", "--trials", "3", "--minimize", "l", "x=1,2"], "two"),
    ]
    for args, message in cases:
        done = naga("sweep", *args, "--", sys.executable, "slow.py", "{x}", "0", cwd=project)
        err = done.stderr.decode()
        assert done.returncode == 2, err
        assert err.count("\n") == 1 and err.startswith("naga: error: ") and message in err, err
    dry = naga(
        *("sweep", "--dry-run", "--search", "tpe", "--trials", "5", "--minimize", "loss"),
        *("--prune", "asha", "x=range(-5,5)", "--", sys.executable, "slow.py", "{x}", "0"),
        cwd=project,
    )
    assert dry.returncode == 0, dry.stderr
    assert "tpe search, 5 trials, minimize loss, pruned by asha: x=range(-5,5)" in str(dry.stdout)
    program = launch(project, "--search", "tpe", "--trials", "2", "--minimize", "loss")
    assert program.returncode == 2
    assert program.stderr.strip() == (
        "train.py: error: --search needs parameters to search: lr='log(1e-4,1e-1)' opt=adam,sgd"
        " ... (on a clicfg program: --param lr='log(1e-4,1e-1)')"
    )
    bare = launch(project, "--search", "tpe", "--trials", "2", "--minimize", "l", "--param", "x")
    assert bare.stderr.strip() == (  # there is no command after -- to speak of
        "train.py: error: 'x' is not a parameter: write NAME=V1,V2 or NAME=log(LOW,HIGH)"
    )
    typo = launch(
        project, "--search", "tpe", "--trials", "2", "--maximize", "loss", "--param", "y=1,2"
    )
    assert "--param y is not a key of the config" in typo.stderr


def test_a_grid_search_runs_its_grid_once_and_ends_cleanly(project: Path, naga: Naga) -> None:
    """Optuna's grid sampler stops the study when its grid is done, which raised a traceback
    after the last trial (Study.stop() outside study.optimize()); more trials than points would
    run points twice."""
    args = ("--search", "grid", "--minimize", "loss", "x=1,2", "y=int(0,1)")
    command = ("--", sys.executable, "slow.py", "{x}", "0", "{y}")  # slow.py ignores {y}
    done = naga("sweep", "--trials", "4", *args, *command, cwd=project)
    err = done.stderr.decode()
    assert done.returncode == 0 and "Traceback" not in err, err
    assert "naga: study: 4 complete (minimize loss)" in err
    ran = {(r["params"]["x"], r["params"]["y"]) for r in runs_json(naga)}
    assert ran == {(1, 0), (1, 1), (2, 0), (2, 1)}
    more = naga("sweep", "--new", "--trials", "5", *args, *command, cwd=project)
    assert (more.returncode, more.stderr.decode()) == (
        2,
        "naga: error: --search grid: the grid has 4 points, so --trials 5 would run some twice;"
        " give --trials 4 (or fewer)\n",
    )


@pytest.mark.parametrize("seed", ["-1", str(2**40)])
def test_any_integer_seed_seeds_a_search(project: Path, naga: Naga, seed: str) -> None:
    """numpy takes seeds from 0 to 2**32-1 only: --seed -1 was a traceback from Optuna."""
    args = ("--search", "random", "--trials", "1", "--seed", seed, "--minimize", "loss")
    done = naga(
        "sweep", *args, "x=range(0,1)", "--", sys.executable, "slow.py", "{x}", "0", cwd=project
    )
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    assert b"naga: study: 1 complete (minimize loss)" in done.stderr


def test_a_trial_ending_on_nan_fails_and_says_why(project: Path, naga: Naga) -> None:
    """A diverged trial (its last loss NaN) is a failed trial; the summary said "no value of
    'loss'" of a run that had logged one."""
    (project / "nan.py").write_text(
        "import naga\nnaga.log({'loss': 0.5})\nnaga.log({'loss': float('nan')})\n"
    )
    args = ("--search", "random", "--trials", "1", "--minimize", "loss", "x=1,2")
    done = naga("sweep", *args, "--", sys.executable, "nan.py", "{x}", cwd=project)
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert (
        "failed (run " in err and "no finite value of 'loss' (none logged, or NaN/inf last)" in err
    )
    assert "naga: study: 1 fail (minimize loss)" in err


def test_a_trial_without_its_metric_fails_and_sweep_show_says_so(project: Path, naga: Naga) -> None:
    args = ("--search", "random", "--trials", "2", "--minimize", "acc", "x=1,2")
    done = naga("sweep", *args, "--", sys.executable, "slow.py", "{x}", "0", cwd=project)
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "naga: study: 2 fail (minimize acc)" in err
    assert "naga: no trial completed with a value yet" in err
    shown = naga("sweep", "show", "latest", cwd=project)
    assert shown.returncode == 0, shown.stderr
    run = runs_json(naga)[0]
    by_run = naga("sweep", "show", run["id"], cwd=project)  # a run, where a sweep was meant
    assert (by_run.returncode, by_run.stderr.decode()) == (
        2,
        f"naga: error: {run['id']} is a run, not a sweep; its sweep: naga sweep show"
        f" {run['params']['sweep.id']}\n",
    )
    header = naga("ls", "--sweep", "latest", cwd=project).stdout.decode().splitlines()[0]
    assert header.split()[6:8] == ["PARAM.X", "METRIC.ACC"]  # it had no columns at all
    assert "no trial completed with a value yet" in shown.stdout.decode()
    as_json = json.loads(naga("sweep", "show", "--json", "latest", cwd=project).stdout)
    assert as_json["trials"] == {"fail": 2} and as_json["best"] is None
    assert as_json["objective"] == "acc" and as_json["direction"] == "minimize"
    plain = naga("sweep", "x=1", "--", sys.executable, "slow.py", "{x}", "0", cwd=project)
    assert plain.returncode == 0
    refused = naga("sweep", "show", "latest", cwd=project)
    assert refused.returncode == 1 and "is not a search" in refused.stderr.decode()


def _pids_holding(pool: Path) -> set[int]:
    pids = set()
    for claim in pool.glob("claim.*"):
        try:
            pids.add(int(json.loads(claim.read_text())["pid"]))
        except (ValueError, KeyError, OSError):
            continue
    return pids


@pytest.mark.timeout(120)
def test_a_relaunch_after_killing_everything_ends_with_exactly_the_trials(
    project: Path, store: Path, naga: Naga
) -> None:
    trials = 6
    args = [
        *("sweep", "--search", "random", "--trials", str(trials), "--minimize", "loss"),
        *("--n-jobs", "2", "x=range(-5,5)", "--", sys.executable, "slow.py", "{x}", "0.6"),
    ]
    launcher = subprocess.Popen(
        naga_cmd(*args),
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    pool = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # two trials done, two more running their command
        sweeps = list((store / "sweeps").glob("sw-*")) if (store / "sweeps").exists() else []
        pool = sweeps[0] / "pool" if sweeps else None
        started = len(list(pool.glob("run.*"))) if pool is not None else 0
        if started >= 4 and len(list(pool.glob("done.*"))) >= 2:  # type: ignore[union-attr]
            break
        time.sleep(0.05)
    assert pool is not None
    for pid in _pids_holding(pool) | {launcher.pid}:  # the launcher and its helper workers
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    launcher.wait()
    done_before = len(list(pool.glob("done.*")))
    assert done_before < trials
    again = naga(*args, cwd=project, timeout=90)
    assert again.returncode == 0, again.stderr
    outcomes = [json.loads(p.read_text()) for p in pool.glob("done.*")]
    assert len(outcomes) == trials
    study = study_of(store)
    kept = [t for t in study.trials if not t.user_attrs.get("naga.requeued")]
    assert len(kept) == trials and all(t.state.name == "COMPLETE" for t in kept)
    assert sorted(t.user_attrs["naga.task"] for t in kept) == list(range(trials))
    requeued = [t for t in study.trials if t.user_attrs.get("naga.requeued")]
    assert requeued  # the trials the killed workers held were run again, with their values
    by_number = {t.number: t for t in study.trials}
    for retry in (t for t in kept if "naga.retry_of" in t.user_attrs):
        assert retry.params == by_number[retry.user_attrs["naga.retry_of"]].params
    assert {t.user_attrs["naga.retry_of"] for t in kept if "naga.retry_of" in t.user_attrs} == {
        t.number for t in requeued
    }
    runs = runs_json(naga, "--status", "completed")
    assert len(runs) == trials  # a task's attempts are one run


LIGHTNING = """
import torch
import lightning.pytorch as pl

import naga
from naga.integrations.lightning import NagaLogger


class Model(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, index):
        self.log("loss", 5.0)
        return (self.w ** 2).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_train_end(self):  # Lightning's clean end only, never after an exception
        print("train ended cleanly")


with naga.run() as run:
    trainer = pl.Trainer(
        max_steps=10, logger=NagaLogger(), log_every_n_steps=1, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )
    trainer.fit(Model(), torch.utils.data.DataLoader(torch.zeros(16, 1), batch_size=1))
print("stopped at", trainer.global_step, run.id)
"""


@pytest.mark.timeout(120)
def test_lightning_stops_cleanly_when_its_trial_is_pruned(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    journal = str(tmp_path / "study.journal")
    study = _study_with_two_good_trials(journal)
    third = study.ask()
    found = {"journal": journal, "trial_id": third._trial_id, "objective": "loss"}
    (tmp_path / "fit.py").write_text(LIGHTNING)
    done = subprocess.run(
        [sys.executable, "fit.py"],
        cwd=tmp_path,
        env={**os.environ, "NAGA_TRIAL": json.dumps({**found, "pruner": "median"})},
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    _, _, step, run_id = done.stdout.split()[-4:]
    assert int(step) == 2  # should_stop after the step the pruner spoke at; fit returned
    assert "train ended cleanly" in done.stdout
    import naga as sdk

    record = sdk.load(run_id)
    assert record.status == "pruned"
    assert record.meta["error"].startswith("pruned at step 1")


def _study_with_two_good_trials(journal: str) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(journal))
    study = optuna.create_study(storage=storage, study_name="naga")
    for _ in range(2):
        trial = study.ask()
        for step in range(10):
            trial.report(0.1, step)
        study.tell(trial, 0.1)
    return study
