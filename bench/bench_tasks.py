"""100 tiny tasks on 2 local processes: naga's --tasks --n_jobs 2 vs Hydra's joblib launcher.

Target (issue 6): naga's overhead per task (total minus the tasks' own work) <= 100 ms.

The same program in each tool: a config ``{x: 0, work: 0.02}``, a task function that sleeps
``work`` seconds (its own work), 100 tasks setting ``x`` to 0..99, two worker processes.

- naga: ``python task.py --tasks tasks.json --task-to x --n_jobs 2 --new-sweep``: each task is a
  naga run (meta, git state, params, metrics stream) with its own save_dir, experiment.log and
  run.lock (config + the launch's git snapshot), tagged with the sweep; the pool on disk.
- Hydra: ``python task.py -m x=range(0,100) hydra/launcher=joblib hydra.launcher.n_jobs=2``:
  each job gets its output directory, .hydra/ config files and a log file.
- joblib alone (context): ``Parallel(n_jobs=2)(delayed(time.sleep)(0.02) ...)`` in one process,
  what any launcher on joblib pays at least.

Both run in a fresh committed git repository. ``overhead/task`` is (wall - 100 x work / 2) / 100:
the wall-clock time each task costs beyond its own work, as the user waits for it;
``per worker`` is the same seen from one worker (x 2), which runs half the tasks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import NAGA_VENV, PEERS_VENV, installed, print_rows, project, venv_bin

N_TASKS, WORK, N_JOBS = 100, 0.02, 2

NAGA_PROGRAM = f"""
import time

import naga


@naga.clicfg({{"x": 0, "work": {WORK}, "save_dir": "out/${{x}}"}})
def main(cfg):
    time.sleep(cfg.work)


if __name__ == "__main__":
    main()
"""

HYDRA_PROGRAM = f"""
import time

import hydra
from hydra.core.config_store import ConfigStore

ConfigStore.instance().store(name="cfg", node={{"x": 0, "work": {WORK}}})


@hydra.main(config_path=None, config_name="cfg", version_base=None)
def main(cfg):
    time.sleep(cfg.work)


if __name__ == "__main__":
    main()
"""

JOBLIB_PROGRAM = f"""
import time
from joblib import Parallel, delayed

Parallel(n_jobs={N_JOBS})(delayed(time.sleep)({WORK}) for _ in range({N_TASKS}))
"""


def timed(proj: Path, env: dict[str, str], cmd: list[str], rounds: int) -> list[float]:
    walls = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return walls


def measure_naga(rounds: int) -> list[float]:
    files = {"task.py": NAGA_PROGRAM, "tasks.json": json.dumps(list(range(N_TASKS)))}
    with project("naga", files) as p:
        python = str(venv_bin(NAGA_VENV, "python"))
        cmd = [python, "task.py", "--tasks", "tasks.json", "--task-to", "x"]
        cmd += ["--n_jobs", str(N_JOBS), "--new-sweep"]
        walls = timed(p.proj, p.env(), cmd, rounds)
        check = p.run([python, "-m", "naga", "ls", "--all", "--json"])
        runs = json.loads(check.stdout)
        assert len(runs) == N_TASKS * rounds, len(runs)
        assert all(r["status"] == "completed" for r in runs)
        return walls


def measure_hydra(rounds: int) -> list[float] | None:
    python = venv_bin(PEERS_VENV, "python")
    if not installed(python, "hydra"):
        return None
    probe = subprocess.run([str(python), "-c", "import hydra_plugins.hydra_joblib_launcher"])
    if probe.returncode != 0:
        print("skip hydra: hydra-joblib-launcher missing (bench/setup_peers.sh installs it)")
        return None
    with project("hydra", {"task.py": HYDRA_PROGRAM}) as p:
        cmd = [str(python), "task.py", "-m", f"x=range(0,{N_TASKS})"]
        cmd += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={N_JOBS}"]
        walls = timed(p.proj, p.env(), cmd, rounds)
        jobs = list((p.proj / "multirun").glob("*/*/*/.hydra"))
        assert len(jobs) == N_TASKS * rounds, len(jobs)
        return walls


def measure_joblib(rounds: int) -> list[float]:
    with project("joblib", {"alone.py": JOBLIB_PROGRAM}) as p:
        return timed(p.proj, p.env(), [str(venv_bin(NAGA_VENV, "python")), "alone.py"], rounds)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    ideal = N_TASKS * WORK / N_JOBS
    print(
        f"{N_TASKS} tasks of {WORK * 1000:.0f} ms work, {N_JOBS} processes:"
        f" {ideal:.1f} s of work per process; medians of {rounds} rounds"
    )
    results = {"naga --tasks --n_jobs 2": measure_naga(rounds)}
    hydra = measure_hydra(rounds)
    if hydra is not None:
        results["hydra joblib launcher"] = hydra
    results["joblib alone (context)"] = measure_joblib(rounds)
    rows, overhead = [], {}
    for label, walls in results.items():
        wall = statistics.median(walls)
        per_task = (wall - ideal) / N_TASKS
        overhead[label] = per_task
        rows.append(
            [label, f"{wall:.2f}", f"{per_task * 1000:.1f}", f"{per_task * N_JOBS * 1000:.1f}"]
        )
    print_rows(
        "100 tiny tasks, 2 local processes",
        ["tool", "wall s", "overhead/task ms", "per worker ms"],
        rows,
    )
    naga = overhead["naga --tasks --n_jobs 2"]
    verdict = "meets" if naga <= 0.100 else "MISSES"
    print(f"naga overhead per task: {naga * 1000:.1f} ms ({verdict} the 100 ms target)")
    if "hydra joblib launcher" in overhead:
        ratio = overhead["hydra joblib launcher"] / naga
        print(f"hydra / naga overhead per task: {ratio:.1f}x")
    return 0 if naga <= 0.100 else 1


if __name__ == "__main__":
    sys.exit(main())
