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

Each tool runs N1 and N2 trials; ``per trial`` is the marginal cost, (wall(N2) - wall(N1)) /
(N2 - N1), so start-up and the final report (naga's importances import scikit-learn) cancel out;
``overhead/trial`` is that minus the trial's own work shared by 2 workers (WORK / 2); ``trials
/min`` is 60 / per trial. hydra-optuna-sweeper pins an old Optuna (2.10), so Hydra runs in a
venv of its own, made on first use under ``~/.cache/naga-bench/venv-hydra-optuna``; naga runs
in this interpreter (which needs Optuna: ``pip install 'naga-runs[search]'``).

    python bench/bench_search.py [--n1 10] [--n2 40]
"""

from __future__ import annotations

import argparse
import os
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


def measure_naga(trials: int) -> float:
    with project("naga", {"obj.py": NAGA_PROGRAM}) as p:
        env = {**p.env(), "PYTHONPATH": str(REPO / "src")}
        cmd = [sys.executable, "obj.py", "--search", "tpe", "--trials", str(trials)]
        cmd += ["--minimize", "loss", "--n_jobs", "2", "--new-sweep"]
        cmd += ["--param", "x=range(-5,5)", "--param", "y=range(-5,5)"]
        return wall(cmd, p.proj, env)


def measure_hydra(python: Path, trials: int) -> float:
    files = {"obj.py": HYDRA_PROGRAM, "config.yaml": HYDRA_CONFIG}
    with project("hydra", files) as p:
        cmd = [str(python), "obj.py", "-m", f"hydra.sweeper.n_trials={trials}"]
        took = wall(cmd, p.proj, p.env())
        jobs = list((p.proj / "multirun").glob("*/*/*/.hydra"))
        assert len(jobs) == trials, len(jobs)
        return took


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n1", type=int, default=10)
    parser.add_argument("--n2", type=int, default=40)
    args = parser.parse_args()
    python = peer_python()
    results = {
        "naga --search tpe --n_jobs 2": [measure_naga(n) for n in (args.n1, args.n2)],
        "hydra optuna sweeper, joblib 2": [measure_hydra(python, n) for n in (args.n1, args.n2)],
    }
    rows, per_trial = [], {}
    for label, (small, large) in results.items():
        marginal = (large - small) / (args.n2 - args.n1)
        per_trial[label] = marginal
        overhead = marginal - WORK / 2
        rows.append(
            [
                label,
                f"{small:.2f}",
                f"{large:.2f}",
                f"{marginal * 1000:.0f}",
                f"{overhead * 1000:.0f}",
                f"{60 / marginal:.0f}",
            ]
        )
    print(f"{os.cpu_count()} cores; each trial works {WORK * 1000:.0f} ms; 2 workers")
    print_rows(
        f"adaptive search, {args.n1} and {args.n2} trials",
        ["tool", f"wall {args.n1} s", f"wall {args.n2} s", "per trial ms", "overhead ms", "/min"],
        rows,
    )
    naga, hydra = per_trial.values()
    print(f"hydra / naga time per trial: {hydra / naga:.2f}x (trials per minute: naga / hydra)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
