"""Adaptive search on 2 local workers: naga's ``--search tpe`` vs Hydra's Optuna sweeper.

The same objective in each tool, ``(x - 2)^2 + (y + 1)^2`` over x, y in [-5, 5], TPE with a
fixed seed, 2 workers, each trial sleeping ``WORK`` seconds (its own work):

- naga: a clicfg program, ``python obj.py --search tpe --trials N --minimize loss --n_jobs 2
  --param x=range(-5,5) --param y=range(-5,5) --new-sweep``: every trial a naga run (record,
  git state, run.lock, metrics), the study in the sweep's journal file, the two workers asking
  for the next trial whenever they are free; at the end the best trial and the importances.
- Hydra: ``python obj.py -m hydra.sweeper.n_trials=N`` with ``hydra/sweeper: optuna`` and
  ``hydra/launcher: joblib`` (n_jobs 2): the sweeper asks for 2 trials, waits for both, asks
  again (a batch barrier); every job gets its output directory and .hydra/ files.

Each tool runs N trials; both keep the study's trial times (naga its journal file, Hydra an
SQLite storage), so ``span`` is from the first trial's start to the last one's end: start-up
and the final report (naga's importances import scikit-learn) stay out of it. ``trials/min`` is
N / span; ``overhead/trial`` is span x 2 / N minus the trial's own work: what each trial costs a
worker beyond its work. ``wall`` is the whole command, as the user waits for it.
hydra-optuna-sweeper pins an old Optuna (2.10), so Hydra runs in a venv of its own, made on
first use under ``~/.cache/naga-bench/venv-hydra-optuna``; naga runs in this interpreter (which
needs Optuna: ``pip install 'naga-runs[search]'``).

    python bench/bench_search.py [--trials 40] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import print_rows, project

WORK = 0.05
REPO = Path(__file__).resolve().parent.parent
PEER_VENV = Path.home() / ".cache" / "naga-bench" / "venv-hydra-optuna"
# the releases that work together (a newer hydra-core pre-release breaks the sweeper's sampler)
PEER_PACKAGES = (
    "hydra-core==1.3.2",
    "omegaconf==2.3.0",
    "hydra-optuna-sweeper==1.2.0",
    "hydra-joblib-launcher==1.2.0",
    "sqlalchemy<2",  # Optuna 2.10's SQLite storage (the trials' times) predates SQLAlchemy 2
    "alembic<1.14",
)

NAGA_PROGRAM = f"""
import time

import naga


@naga.clicfg({{"x": 0.0, "y": 0.0}})
def main(cfg):
    time.sleep({WORK})
    naga.log({{"loss": (cfg.x - 2) ** 2 + (cfg.y + 1) ** 2}})


if __name__ == "__main__":
    main()
"""

HYDRA_PROGRAM = f"""
import time

import hydra


@hydra.main(config_path=".", config_name="config", version_base=None)
def main(cfg):
    time.sleep({WORK})
    return (cfg.x - 2) ** 2 + (cfg.y + 1) ** 2


if __name__ == "__main__":
    main()
"""

HYDRA_CONFIG = """
defaults:
  - override hydra/sweeper: optuna
  - override hydra/sweeper/sampler: tpe
  - override hydra/launcher: joblib
x: 0.0
y: 0.0
hydra:
  sweeper:
    sampler:
      seed: 1
    direction: minimize
    n_trials: 10
    n_jobs: 2
    storage: sqlite:///study.db
    params:
      x: interval(-5, 5)
      y: interval(-5, 5)
  launcher:
    n_jobs: 2
"""


def peer_python() -> Path:
    """Hydra's interpreter, its venv made (once) with the Optuna sweeper and joblib launcher."""
    python = PEER_VENV / "bin" / "python"
    probe = "import hydra_plugins.hydra_optuna_sweeper, hydra_plugins.hydra_joblib_launcher"
    if python.exists() and subprocess.run([python, "-c", probe], check=False).returncode == 0:
        return python
    print(f"making {PEER_VENV} (hydra-optuna-sweeper pins an old optuna) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)
    return python


def wall(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return took


def naga_span(store: Path, trials: int) -> float:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    (journal,) = store.glob("sweeps/sw-*/study.journal")
    study = optuna.load_study(
        study_name="naga", storage=JournalStorage(JournalFileBackend(str(journal)))
    )
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == trials, len(done)
    return (
        max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)
    ).total_seconds()


def hydra_span(database: Path, trials: int) -> float:
    import sqlite3
    from datetime import datetime

    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT datetime_start, datetime_complete FROM trials WHERE state = 'COMPLETE'"
        ).fetchall()
    assert len(rows) == trials, len(rows)
    starts = [datetime.fromisoformat(a) for a, _ in rows]
    ends = [datetime.fromisoformat(b) for _, b in rows]
    return (max(ends) - min(starts)).total_seconds()


def measure_naga(trials: int) -> tuple[float, float]:
    with project("naga", {"obj.py": NAGA_PROGRAM}) as p:
        env = {**p.env(), "PYTHONPATH": str(REPO / "src")}
        cmd = [sys.executable, "obj.py", "--search", "tpe", "--trials", str(trials)]
        cmd += ["--minimize", "loss", "--n_jobs", "2", "--new-sweep"]
        cmd += ["--param", "x=range(-5,5)", "--param", "y=range(-5,5)"]
        return wall(cmd, p.proj, env), naga_span(p.store, trials)


def measure_hydra(python: Path, trials: int) -> tuple[float, float]:
    files = {"obj.py": HYDRA_PROGRAM, "config.yaml": HYDRA_CONFIG}
    with project("hydra", files) as p:
        cmd = [str(python), "obj.py", "-m", f"hydra.sweeper.n_trials={trials}"]
        took = wall(cmd, p.proj, p.env())
        jobs = list((p.proj / "multirun").glob("*/*/*/.hydra"))
        assert len(jobs) == trials, len(jobs)
        return took, hydra_span(p.proj / "study.db", trials)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    python = peer_python()
    n = args.trials
    results: dict[str, list[tuple[float, float]]] = {"naga --search tpe --n_jobs 2": []}
    results["hydra optuna sweeper, joblib 2"] = []
    for _ in range(args.rounds):  # interleaved: both tools see the same load
        results["naga --search tpe --n_jobs 2"].append(measure_naga(n))
        results["hydra optuna sweeper, joblib 2"].append(measure_hydra(python, n))
    rows, per_minute = [], {}
    for label, samples in results.items():
        took = statistics.median(s[0] for s in samples)
        span = statistics.median(s[1] for s in samples)
        per_minute[label] = n / span * 60
        overhead = span * 2 / n - WORK
        rows.append(
            [
                label,
                f"{took:.2f}",
                f"{span:.2f}",
                f"{per_minute[label]:.0f}",
                f"{overhead * 1000:.0f}",
            ]
        )
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {n} trials of")
    print(f"{WORK * 1000:.0f} ms work on 2 workers; medians of {args.rounds} round(s)")
    print_rows(
        "adaptive search",
        ["tool", "wall s", "span s", "trials/min", "overhead/trial ms"],
        rows,
    )
    naga, hydra = per_minute.values()
    print(f"naga / hydra trials per minute: {naga / hydra:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
