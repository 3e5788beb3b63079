"""Child process of bench_sysmetrics.py: one idle run with system-metric sampling on or off.

    python sysmetrics_worker.py TOOL CHILDREN INTERVAL WINDOW STORE

TOOL is `naga` (the SDK's in-process sampler), `naga-cli` (`naga run --sys-interval ...`, this
process only starts it and reads its rusage) or `mlflow` (`mlflow.start_run` with system
metrics). CHILDREN extra `sleep` processes are in the sampled tree; INTERVAL is the sampling
interval in seconds (0: sampling off, the baseline); the run's body sleeps WINDOW seconds.

Set-up (imports, the store, a warm-up run, the children) happens first; then the worker prints
READY and waits for a line on stdin, so that the driver starts every window at once. The
measured CPU is this process's (all threads: time.process_time) from just before the run is
opened until it is closed; for naga-cli it is the `naga` process's rusage from os.wait4, which
includes the children it reaped (the `sleep`s, `sh` and git: the same with sampling on or off).
Afterwards, untimed, the samples are counted in the store. One JSON line, prefixed with
RESULT_PREFIX, goes to stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "  # keep in sync with bench_sysmetrics.py
READY = "READY"
NAGA_CPU = "sys/cpu_percent"
NAGA_RSS = "sys/rss_mib"
MLFLOW_CPU = "system/cpu_utilization_percentage"

perf = time.perf_counter
cpu = time.process_time  # user + sys of every thread of this process, ns resolution


def wait_for_go() -> None:
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()
    sys.stdin.readline()


def start_children(n: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    """`n` sleeping children, in the tree from before the run starts until after it ends."""
    return [subprocess.Popen(["sleep", f"{seconds:g}"]) for _ in range(n)]


def stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        child.kill()
        child.wait()


# --- naga (SDK) -------------------------------------------------------------------------------


def naga_sdk(children: int, interval: float, window: float, store: Path) -> dict[str, Any]:
    import naga

    # Untimed, as in sdk_worker.py: the modules the sampler imports on its first sample, and a
    # warm-up run for the SDK's own lazy imports and the store's creation.
    import naga.capture.proctree
    import naga.sdk.stream
    import naga.sdk.sysmetrics

    with naga.run(name="warm-up", sys_interval=0):
        pass
    kids = start_children(children, window + 60)
    try:
        wait_for_go()
        c0, t0 = cpu(), perf()
        with naga.run(name="sysmetrics", sys_interval=interval) as run:
            time.sleep(window)
        c1, t1 = cpu(), perf()
    finally:
        stop_children(kids)
    return {"cpu_s": c1 - c0, "wall_s": t1 - t0, **naga_samples(run.id)}


def naga_samples(run_id: str) -> dict[str, Any]:
    """Untimed: samples in the run's sys stream, values per sample, the tree's median RSS."""
    import naga

    record = naga.load(run_id)
    keys = [k for k in record.metric_keys() if k.startswith("sys/")]
    if NAGA_CPU not in keys:
        return {"samples": 0, "keys": len(keys), "rss_mib": None}
    rss = sorted(float(v) for v in record.metrics(NAGA_RSS).value)
    samples = len(record.metrics(NAGA_CPU))
    return {"samples": samples, "keys": len(keys), "rss_mib": rss[len(rss) // 2]}


# --- naga run (CLI wrapper) -------------------------------------------------------------------


def naga_cli(children: int, interval: float, window: float, store: Path) -> dict[str, Any]:
    naga = Path(sys.executable).with_name("naga")
    if children:
        command = ["sh", "-c", f"sleep {window:g} & " * children + "wait"]
    else:
        command = ["sleep", f"{window:g}"]
    argv = [str(naga), "run", "--sys-interval", f"{interval:g}", "--", *command]
    wait_for_go()
    t0 = perf()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)  # rusage of naga and of the children it reaped
    t1 = perf()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(argv)}")

    (run_id,) = os.listdir(store / "runs")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": t1 - t0, **naga_samples(run_id)}


# --- mlflow -----------------------------------------------------------------------------------


def mlflow_run(children: int, interval: float, window: float, store: Path) -> dict[str, Any]:
    # Untimed: the monitor's modules (psutil, the CPU/disk/network/GPU monitors), and a warm-up
    # run that creates the sqlite schema and loads start_run's lazy imports.
    import mlflow
    import mlflow.system_metrics.system_metrics_monitor
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    mlflow.disable_system_metrics_logging()
    with mlflow.start_run(run_name="warm-up"):
        pass
    if interval > 0:
        mlflow.enable_system_metrics_logging()
        mlflow.set_system_metrics_sampling_interval(interval)
        mlflow.set_system_metrics_samples_before_logging(1)
    kids = start_children(children, window + 60)
    try:
        wait_for_go()
        c0, t0 = cpu(), perf()
        with mlflow.start_run(run_name="sysmetrics") as run:
            time.sleep(window)
        c1, t1 = cpu(), perf()
    finally:
        stop_children(kids)
    client = MlflowClient()
    run_id = run.info.run_id
    keys = [k for k in client.get_run(run_id).data.metrics if k.startswith("system/")]
    samples = len(client.get_metric_history(run_id, MLFLOW_CPU))
    return {"cpu_s": c1 - c0, "wall_s": t1 - t0, "samples": samples, "keys": len(keys)}


TOOLS = {"naga": naga_sdk, "naga-cli": naga_cli, "mlflow": mlflow_run}


def main(argv: list[str]) -> int:
    tool, children, interval, window, store = argv
    result = TOOLS[tool](int(children), float(interval), float(window), Path(store))
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
