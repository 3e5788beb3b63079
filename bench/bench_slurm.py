"""A sweep of tiny tasks on a real (single-node) Slurm cluster: naga vs submitit used directly.

Both submit through submitit to the same cluster, with the same resources (1 CPU, 300 MB) and
at most ``--workers`` array tasks running at once; the clock runs from the launch command until
Slurm's queue holds none of the sweep's jobs any more (polled every 50 ms):

- naga: ``python task.py --tasks tasks.json --task-to x --slurm_config slurm.yaml --n_jobs W``:
  W array tasks, each a worker pulling tasks from the sweep's pool; every task is a naga run
  (record, params, save_dir, experiment.log, run.lock) with its Slurm job recorded.
- submitit: ``executor.map_array(task, range(N))`` with ``array_parallelism=W``: one array
  task (one Python start on the node) per task, nothing recorded.

``overhead/task`` is (wall - N x work / W) / N: what each task costs beyond its own work.

Needs root, Debian's slurm-wlm and munge (``scripts/test`` installs them), and a Python with
naga and submitit (``.venv/bin/python bench/bench_slurm.py``). Starts its own cluster with
``scripts/slurm/up.sh`` and stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import print_rows, project

REPO = Path(__file__).resolve().parent.parent

NAGA_PROGRAM = """
import time

import naga


@naga.clicfg({"x": 0, "work": 0.0, "save_dir": "out/${x}"})
def main(cfg):
    time.sleep(cfg.work)


if __name__ == "__main__":
    main()
"""

SUBMITIT_PROGRAM = """
import sys
import time

import submitit

n, work, workers = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])


def task(x):
    time.sleep(work)
    return x


executor = submitit.SlurmExecutor(folder="submitit-logs")
executor.update_parameters(time=10, cpus_per_task=1, mem="300M", array_parallelism=workers)
jobs = executor.map_array(task, range(n))
print(jobs[0].job_id.split("_")[0])
"""


def start_cluster(state: Path) -> dict[str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "NAGA_SLURM_DIR": str(state), "NAGA_SLURM_PORT": str(port)}
    subprocess.run([REPO / "scripts/slurm/up.sh"], env=env, check=True, stdout=subprocess.DEVNULL)
    return env


def wait_gone(job: str, env: dict[str, str]) -> None:
    while True:
        found = subprocess.run(
            ["squeue", "-h", "-j", job], env=env, capture_output=True, text=True, check=False
        )
        if (found.returncode == 0 and not found.stdout.strip()) or "Invalid" in found.stderr:
            return
        time.sleep(0.05)


def timed_sweep(cmd: list[str], cwd: Path, env: dict[str, str], job_from: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{done.stderr}")
    text = done.stderr if job_from == "stderr" else done.stdout
    job = text.split("submitted Slurm job ")[1].split(";")[0] if job_from == "stderr" else text
    wait_gone(job.strip(), env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="tasks per sweep")
    parser.add_argument("--work", type=float, default=0.2, help="seconds of work per task")
    parser.add_argument("--workers", type=int, default=4, help="array tasks at once")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="naga-bench-slurm-"))
    cluster = start_cluster(state)
    try:
        run(args, cluster)
    finally:
        subprocess.run([REPO / "scripts/slurm/down.sh", "--clean"], env=cluster, check=False)


def run(args: argparse.Namespace, cluster: dict[str, str]) -> None:
    python = sys.executable
    conf = {"SLURM_CONF": cluster["NAGA_SLURM_DIR"] + "/slurm.conf"}
    profile = f"time: 10\ncpus_per_task: 1\nmem: 300M\narray_parallelism: {args.workers}\n"
    tasks = json.dumps(list(range(args.n)))
    times: dict[str, list[float]] = {"naga": [], "submitit": []}
    files = {"task.py": NAGA_PROGRAM, "slurm.yaml": profile, "tasks.json": tasks}
    files["plain.py"] = SUBMITIT_PROGRAM
    with project("naga", files) as p:
        env = {**p.env(), **conf}
        naga_cmd = [python, "task.py", "--tasks", "tasks.json", "--task-to", "x"]
        naga_cmd += [f"work={args.work}", "--slurm_config", "slurm.yaml"]
        naga_cmd += ["--n_jobs", str(args.workers), "--new-sweep"]
        plain_cmd = [python, "plain.py", str(args.n), str(args.work), str(args.workers)]
        for _ in range(args.reps):
            times["naga"].append(timed_sweep(naga_cmd, p.proj, env, "stderr"))
            times["submitit"].append(timed_sweep(plain_cmd, p.proj, env, "stdout"))
        runs = subprocess.run(
            [python, "-m", "naga", "ls", "--all", "--json"],
            cwd=p.proj,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        completed = sum(r["status"] == "completed" for r in json.loads(runs.stdout))
        assert completed == args.n * args.reps, f"{completed} runs completed"
    work = args.n * args.work / args.workers
    rows = []
    for label, samples in times.items():
        wall = statistics.median(samples)
        over = (wall - work) / args.n
        rows.append([label, f"{wall:.2f} s", f"{over * 1000:.0f} ms"])
    ratio = (statistics.median(times["naga"]) - work) / (
        statistics.median(times["submitit"]) - work
    )
    rows.append(["naga / submitit", "", f"{ratio:.2f}x"])
    title = f"{args.n} tasks of {args.work} s, {args.workers} at once, median of {args.reps}"
    print_rows(title, ["tool", "wall", "overhead/task"], rows)


if __name__ == "__main__":
    main()
