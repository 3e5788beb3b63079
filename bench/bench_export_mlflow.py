"""naga export mlflow vs MLflow's own clients: the same metric points into MLflow, two ways.

1. A local ``mlflow server`` (SQLite backend, from .venv-peers, 4 workers: its default), as
   the issue asks: the tracking store a team shares.
2. A ``sqlite:///`` tracking URI, no server: the store a researcher keeps on their own disk.

naga's side: ``--runs`` naga runs of ``--points`` points each, recorded with the SDK, then
``naga export mlflow --all`` (timed whole, process start included; then again: nothing to
send). The peers, in .venv-peers, send the same kind of data:

- ``mlflow.log_metric`` one call per point, as a training loop does: far too slow to send
  everything, so ``--sample-runs`` runs of ``--sample-points`` points are timed and the time
  for the whole data set is extrapolated from the rate (labelled as such);
- ``MlflowClient.log_batch`` with 1000 points a call, MLflow's own fastest path, on
  ``--batch-runs`` runs (extrapolated the same way), one run after another and, to the
  server, 4 runs at once from 4 threads: the most a client gets from MLflow's API.

bench/.venv-naga/bin/python bench/bench_export_mlflow.py                 # 100 x 10,000 points
bench/.venv-naga/bin/python bench/bench_export_mlflow.py --runs 10 --points 2000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import NAGA_VENV, PEERS_VENV, bench_env, installed, naga_python, venv_bin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from mlflow_server import MlflowServer  # the tests' server fixture, reused

RECORD = """
import sys, naga
runs, points = int(sys.argv[1]), int(sys.argv[2])
for r in range(runs):
    with naga.run(name=f"run{r}", params={"lr": 0.01 * (r + 1), "seed": r}, sys_interval=0) as run:
        for step in range(points):
            run.log({"loss": 1.0 / (step + 1 + r)}, step=step)
"""

PER_POINT = """
import json, sys, time, mlflow
mlflow.set_tracking_uri(sys.argv[1])
runs, points = int(sys.argv[2]), int(sys.argv[3])
mlflow.set_experiment("per-point")
start = time.perf_counter()
for r in range(runs):
    with mlflow.start_run():
        mlflow.log_params({"lr": 0.01 * (r + 1), "seed": r})
        for step in range(points):
            mlflow.log_metric("loss", 1.0 / (step + 1 + r), step=step)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

BATCHED = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from mlflow import MlflowClient
from mlflow.entities import Metric
client = MlflowClient(sys.argv[1])
runs, points, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
experiment = client.create_experiment(f"batched-{time.time()}")

def send(r):
    run_id = client.create_run(experiment).info.run_id
    now = int(time.time() * 1000)
    batch = [Metric("loss", 1.0 / (s + 1 + r), now + s, s) for s in range(points)]
    for i in range(0, points, 1000):
        client.log_batch(run_id, metrics=batch[i : i + 1000])
    client.set_terminated(run_id)

start = time.perf_counter()
with ThreadPoolExecutor(threads) as pool:
    list(pool.map(send, range(runs)))
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return elapsed


def peer(script: str, uri: str, *args: int) -> float:
    python = str(venv_bin(PEERS_VENV, "python"))
    done = subprocess.run(
        [python, "-c", script, uri, *map(str, args)],
        env=bench_env({"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"peer failed:\n{done.stderr[-2000:]}")
    seconds: float = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    return seconds


def measure(uri: str, env: dict[str, str], args: argparse.Namespace, server: bool) -> list[Row]:
    """naga's export and the peers' into one tracking URI: (label, seconds, points/s)."""
    total = args.runs * args.points
    naga_bin = str(venv_bin(NAGA_VENV, "naga"))
    export = [naga_bin, "export", "mlflow", "--all", "--tracking-uri", uri]
    first = timed(export, env)
    again = timed(export, env)
    rows: list[Row] = [
        ("naga export mlflow --all (first export)", first, total / first),
        ("naga export mlflow --all (again: nothing to send)", again, None),
    ]
    sample = args.sample_runs * args.sample_points
    rate = sample / peer(PER_POINT, uri, args.sample_runs, args.sample_points)
    label = f"mlflow.log_metric per point (extrapolated from {args.sample_runs}x"
    rows.append((f"{label}{args.sample_points:,})", total / rate, rate))
    batch_runs = min(args.batch_runs, args.runs)
    for threads in (1, 4) if server else (1,):
        rate = batch_runs * args.points / peer(BATCHED, uri, batch_runs, args.points, threads)
        how = "" if threads == 1 else f", {threads} threads"
        label = f"MlflowClient.log_batch x1000{how} (extrap. from {batch_runs} runs)"
        rows.append((label, total / rate, rate))
    return rows


Row = tuple[str, float, float | None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--sample-runs", type=int, default=2)
    parser.add_argument("--sample-points", type=int, default=1000)
    parser.add_argument("--batch-runs", type=int, default=10)
    args = parser.parse_args()
    peers_python = venv_bin(PEERS_VENV, "python")
    if not installed(peers_python, "mlflow (server and peers)"):
        return
    tables: dict[str, list[Row]] = {}
    with tempfile.TemporaryDirectory(prefix="naga-bench-mlflow-") as tmp:
        root = Path(tmp)
        env = bench_env({"NAGA_HOME": str(root / "store")})
        subprocess.run(
            [str(naga_python()), "-c", RECORD, str(args.runs), str(args.points)],
            env=env,
            check=True,
        )
        # as a researcher starts it: `mlflow server` answers with 4 workers by default
        server = MlflowServer(root / "server", python=str(peers_python), workers=4)
        server.start()
        try:
            tables["mlflow server (4 workers, SQLite)"] = measure(server.uri, env, args, True)
        finally:
            server.stop()
        uri = f"sqlite:///{root / 'mlflow.db'}"
        tables["sqlite:/// tracking URI, no server"] = measure(uri, env, args, False)
    total = args.runs * args.points
    for target, rows in tables.items():
        print(f"\n{args.runs} runs x {args.points:,} points = {total:,} points -> {target}")
        print(f"{'what':62} {'seconds':>9} {'points/s':>10} {'vs naga':>8}")
        first = rows[0][1]
        for label, seconds, rate in rows:
            shown_rate = f"{rate:10,.0f}" if rate else f"{'-':>10}"
            print(f"{label:62} {seconds:9.1f} {shown_rate} {seconds / first:7.2f}x")


if __name__ == "__main__":
    main()
