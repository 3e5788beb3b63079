"""Child side of bench_sdk.py: one tool, one workload, timed in-process, JSON on stdout.

Usage: <tool venv python> sdk_worker.py TOOL WORKLOAD N STORE [RUN_ID]

Copied into a fresh project dir by bench_sdk.py and run with the tool's own venv python, so it
may import only the stdlib and that tool. The result is the last stdout line starting with
RESULT_PREFIX (the tools print their own chatter to stdout too).

Workloads (N is calls for `single`, steps for `wide`, points for `write`):
  single  one scalar per call, N calls
  wide    WIDTH metrics per step, N steps
  write   N points of one metric, written the fastest way the tool offers (setup for `read`)
  read    read back the series written by `write` (fresh process; RUN_ID from `write`)
  count   naga only: total points over the `wide` metrics of RUN_ID (fresh process)
  onekey, alternate, cycled, several   naga only: N calls of one key, of two keys in turn, of
          1,000 keys in turn, of three keys each; mixcount: their points read back

Timed fields: `loop_s` is the logging loop; `finish_s` runs from the loop's end until the data
is on disk and the run is closed (naga also reports `flush_s`: loop end until run.flush()
returns); `open_s` + `fetch_s` are the read: the run (or client) handle, then the series.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "
WIDTH = 100
METRIC = "loss"
WIDE_NAMES = [f"m{k:03d}" for k in range(WIDTH)]
perf = time.perf_counter


def value(i: int) -> float:
    """The value logged at step i. The timed loops spell it out inline (no call overhead)."""
    return 0.5 * i


def wide_values() -> dict[str, float]:
    # Built once and logged every step: building a 100-key dict is the user's cost, not the
    # tool's. No tool keeps a reference to it (each copies or serialises it).
    return {name: 0.25 * k for k, name in enumerate(WIDE_NAMES)}


def read_result(start: float, opened: float, done: float, points: int, ok: bool) -> dict[str, Any]:
    """`open_s`: getting a handle on the run (or client); `fetch_s`: reading the series."""
    return {"open_s": opened - start, "fetch_s": done - opened, "points": points, "ok": ok}


# --- naga -----------------------------------------------------------------------------------


def naga_log(n: int, wide: bool) -> dict[str, Any]:
    import naga

    data = wide_values()
    with naga.run(name="bench") as run:
        start = perf()
        if wide:
            for i in range(n):
                run.log(data, step=i)
        else:
            for i in range(n):
                run.log({"loss": 0.5 * i}, step=i)
        loop_end = perf()
        run.flush()
        flushed = perf()
    finished = perf()
    return {
        "loop_s": loop_end - start,
        "flush_s": flushed - loop_end,
        "finish_s": finished - loop_end,
        "run_id": run.id,
    }


def naga_single(n: int, store: Path) -> dict[str, Any]:
    return naga_log(n, wide=False)


def naga_wide(n: int, store: Path) -> dict[str, Any]:
    return naga_log(n, wide=True)


def naga_write(n: int, store: Path) -> dict[str, Any]:
    return naga_log(n, wide=False)


def naga_read(n: int, store: Path, run_id: str) -> dict[str, Any]:
    import naga

    # Untimed, as for Aim (whose `import aim` pulls numpy in): someone reading metrics has numpy.
    t = perf()
    import numpy  # noqa: F401

    numpy_s = perf() - t
    start = perf()
    loaded = naga.load(run_id)
    opened = perf()
    series = loaded.metrics(METRIC)
    done = perf()
    steps, values = series.step, series.value
    ok = len(values) == n and len(steps) == n and float(values[-1]) == value(n - 1)
    return {**read_result(start, opened, done, len(values), bool(ok)), "numpy_import_s": numpy_s}


def naga_count(n: int, store: Path, run_id: str) -> dict[str, Any]:
    import naga

    loaded = naga.load(run_id)
    points = sum(len(loaded.metrics(name).value) for name in WIDE_NAMES)
    return {"points": points, "ok": points == n * WIDTH}


# --- naga: mixes of keys (bench_sdk.py `keymix`) ---------------------------------------------

# The same loop for each: one call per iteration, the key picked from a list (so one key and
# 1,000 keys cost the loop the same Python), or a dict of several keys built per call.
MIX_KEYS = {
    "onekey": ["loss"],
    "alternate": ["loss", "acc"],
    "cycled": [f"k{k:03d}" for k in range(1000)],
}


def naga_mix_loop(n: int, keys: list[str]) -> dict[str, Any]:
    import naga

    period = len(keys)
    with naga.run(name="bench") as run:
        log = run.log
        start = perf()
        for i in range(n):
            log({keys[i % period]: 0.5 * i})
        loop_end = perf()
        run.flush()
        flushed = perf()
    finished = perf()
    return {
        "loop_s": loop_end - start,
        "flush_s": flushed - loop_end,
        "finish_s": finished - loop_end,
        "run_id": run.id,
        "values": n,
    }


def naga_onekey(n: int, store: Path) -> dict[str, Any]:
    return naga_mix_loop(n, MIX_KEYS["onekey"])


def naga_alternate(n: int, store: Path) -> dict[str, Any]:
    return naga_mix_loop(n, MIX_KEYS["alternate"])


def naga_cycled(n: int, store: Path) -> dict[str, Any]:
    return naga_mix_loop(n, MIX_KEYS["cycled"])


def naga_several(n: int, store: Path) -> dict[str, Any]:
    """Three keys in each call, as ``log({"loss": l, "acc": a, "lr": r})``."""
    import naga

    with naga.run(name="bench") as run:
        log = run.log
        start = perf()
        for i in range(n):
            x = 0.5 * i
            log({"loss": x, "acc": x, "lr": x})
        loop_end = perf()
        run.flush()
        flushed = perf()
    finished = perf()
    return {
        "loop_s": loop_end - start,
        "flush_s": flushed - loop_end,
        "finish_s": finished - loop_end,
        "run_id": run.id,
        "values": 3 * n,
    }


def naga_mixcount(n: int, store: Path, run_id: str) -> dict[str, Any]:
    """Points on disk over every key of RUN_ID, read in a fresh process."""
    import naga

    loaded = naga.load(run_id)
    return {"points": sum(len(loaded.metrics(key).value) for key in loaded.summary)}


# --- mlflow ---------------------------------------------------------------------------------


def mlflow_start(store: Path) -> Any:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    return mlflow


def mlflow_single(n: int, store: Path) -> dict[str, Any]:
    mlflow = mlflow_start(store)
    with mlflow.start_run() as run:
        start = perf()
        for i in range(n):
            mlflow.log_metric("loss", 0.5 * i, step=i)
        loop_end = perf()
    return {"loop_s": loop_end - start, "finish_s": perf() - loop_end, "run_id": run.info.run_id}


def mlflow_wide(n: int, store: Path) -> dict[str, Any]:
    """100 `mlflow.log_metric` calls per step: the one-value-per-call API on a wide step."""
    mlflow = mlflow_start(store)
    data = wide_values()
    with mlflow.start_run() as run:
        start = perf()
        for i in range(n):
            for name, v in data.items():
                mlflow.log_metric(name, v, step=i)
        loop_end = perf()
    return {"loop_s": loop_end - start, "finish_s": perf() - loop_end, "run_id": run.info.run_id}


def mlflow_batches(client: Any, run_id: str, metrics: list[Any]) -> None:
    for k in range(0, len(metrics), 1000):  # MLflow caps a batch at 1,000 metrics
        client.log_batch(run_id, metrics=metrics[k : k + 1000])


def mlflow_batch_wide(n: int, store: Path) -> dict[str, Any]:
    """One `MlflowClient.log_batch` per step carrying the step's 100 metrics."""
    mlflow = mlflow_start(store)
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    data = wide_values()
    with mlflow.start_run() as run:
        run_id = run.info.run_id
        start = perf()
        for i in range(n):
            ts = int(time.time() * 1000)
            client.log_batch(run_id, metrics=[Metric(k, v, ts, i) for k, v in data.items()])
        loop_end = perf()
    return {"loop_s": loop_end - start, "finish_s": perf() - loop_end, "run_id": run_id}


def mlflow_write(n: int, store: Path) -> dict[str, Any]:
    mlflow = mlflow_start(store)
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    ts = int(time.time() * 1000)
    with mlflow.start_run() as run:
        start = perf()
        metrics = [Metric(METRIC, value(i), ts, i) for i in range(n)]
        mlflow_batches(MlflowClient(), run.info.run_id, metrics)
        loop_end = perf()
    return {"loop_s": loop_end - start, "finish_s": perf() - loop_end, "run_id": run.info.run_id}


def mlflow_read(n: int, store: Path, run_id: str) -> dict[str, Any]:
    mlflow_start(store)
    from mlflow.tracking import MlflowClient

    start = perf()
    client = MlflowClient()  # opens the store: ~1 s on this machine
    opened = perf()
    history = client.get_metric_history(run_id, METRIC)
    done = perf()
    last = max(history, key=lambda m: m.step)
    ok = len(history) == n and last.value == value(n - 1)
    return read_result(start, opened, done, len(history), ok)


# --- aim ------------------------------------------------------------------------------------


def aim_open(store: Path) -> Any:
    import aim

    # Aim's defaults also sample system metrics and capture the terminal in threads; both are
    # switched off so only metric tracking is measured.
    return aim.Run(
        repo=str(store), experiment="bench", system_tracking_interval=None, log_system_params=False,
        capture_terminal_logs=False,
    )  # fmt: skip


def aim_close(run: Any, loop_end: float) -> dict[str, Any]:
    run_hash = run.hash
    run.close()
    finish = perf() - loop_end
    # Untimed: put the run in the repo index, as `aim up` / `aim storage reindex` would, so a
    # later read-only Run can see its metadata.
    from aim.sdk.index_manager import RepoIndexManager

    RepoIndexManager.get_index_manager(run.repo).index(run_hash)
    return {"finish_s": finish, "run_id": run_hash}


def aim_single(n: int, store: Path) -> dict[str, Any]:
    run = aim_open(store)
    start = perf()
    for i in range(n):
        run.track(0.5 * i, name="loss", step=i)
    loop_end = perf()
    return {"loop_s": loop_end - start, **aim_close(run, loop_end)}


def aim_wide(n: int, store: Path) -> dict[str, Any]:
    run = aim_open(store)
    data = wide_values()
    start = perf()
    for i in range(n):
        run.track(data, step=i)  # a dict tracks every key at this step
    loop_end = perf()
    return {"loop_s": loop_end - start, **aim_close(run, loop_end)}


aim_write = aim_single


def aim_read(n: int, store: Path, run_id: str) -> dict[str, Any]:
    import aim
    from aim.storage.context import Context

    start = perf()
    run = aim.Run(run_hash=run_id, repo=str(store), read_only=True)
    opened = perf()
    steps, (values,) = run.get_metric(METRIC, Context({})).data.view("val").numpy()
    done = perf()
    ok = len(values) == n and steps[-1] == n - 1 and float(values[-1]) == value(n - 1)
    return read_result(start, opened, done, len(values), bool(ok))


# --- sacred ---------------------------------------------------------------------------------


def sacred_log(n: int, store: Path, wide: bool) -> dict[str, Any]:
    from sacred import Experiment
    from sacred.observers import FileStorageObserver

    ex = Experiment("bench")
    ex.observers.append(FileStorageObserver(str(store / "sacred")))
    times: dict[str, float] = {}
    data = wide_values()

    @ex.main
    def main(_run: Any) -> None:
        times["start"] = perf()
        if wide:  # Sacred has no dict API: one log_scalar per value
            for i in range(n):
                for name, v in data.items():
                    _run.log_scalar(name, v, i)
        else:
            for i in range(n):
                _run.log_scalar("loss", 0.5 * i, i)
        times["loop_end"] = perf()

    run = ex.run()  # metrics reach metrics.json on heartbeats and when the run completes
    finished = perf()
    return {
        "loop_s": times["loop_end"] - times["start"],
        "finish_s": finished - times["loop_end"],
        "run_id": str(run._id),
    }


def sacred_single(n: int, store: Path) -> dict[str, Any]:
    return sacred_log(n, store, wide=False)


def sacred_wide(n: int, store: Path) -> dict[str, Any]:
    return sacred_log(n, store, wide=True)


def sacred_write(n: int, store: Path) -> dict[str, Any]:
    return sacred_log(n, store, wide=False)


def sacred_read(n: int, store: Path, run_id: str) -> dict[str, Any]:
    """Sacred has no read API for the file store: load its metrics.json."""
    start = perf()
    with open(store / "sacred" / run_id / "metrics.json", encoding="utf-8") as f:
        values = json.load(f)[METRIC]["values"]
    done = perf()
    ok = len(values) == n and values[-1] == value(n - 1)
    return read_result(start, start, done, len(values), ok)


# --- yanex ----------------------------------------------------------------------------------


def yanex_log(n: int, store: Path, wide: bool) -> dict[str, Any]:
    import yanex

    data = wide_values()
    with yanex.create_experiment(script_path=Path(__file__), name="bench") as ctx:
        start = perf()
        if wide:
            for i in range(n):
                yanex.log_metrics(data, step=i)
        else:
            for i in range(n):
                yanex.log_metrics({"loss": 0.5 * i}, step=i)
        loop_end = perf()
    return {"loop_s": loop_end - start, "finish_s": perf() - loop_end, "run_id": ctx.experiment_id}


def yanex_single(n: int, store: Path) -> dict[str, Any]:
    return yanex_log(n, store, wide=False)


def yanex_wide(n: int, store: Path) -> dict[str, Any]:
    return yanex_log(n, store, wide=True)


def yanex_write(n: int, store: Path) -> dict[str, Any]:
    """log_metrics rewrites the whole metrics.json on every call (quadratic), so the series is
    saved in one call of the storage method log_metrics itself ends with: the same file."""
    import yanex
    from yanex.api import _get_experiment_manager

    with yanex.create_experiment(script_path=Path(__file__), name="bench") as ctx:
        start = perf()
        ts = "2026-01-01T00:00:00.000000"
        rows = [{METRIC: value(i), "step": i, "timestamp": ts} for i in range(n)]
        _get_experiment_manager().storage.save_results(ctx.experiment_id, rows)
        loop_end = perf()
    return {"loop_s": loop_end - start, "finish_s": perf() - loop_end, "run_id": ctx.experiment_id}


def yanex_read(n: int, store: Path, run_id: str) -> dict[str, Any]:
    import yanex.results

    start = perf()
    experiment = yanex.results.get_experiment(run_id)
    opened = perf()
    values = experiment.get_metric(METRIC)
    done = perf()
    ok = len(values) == n and values[-1] == value(n - 1)
    return read_result(start, opened, done, len(values), ok)


# ---------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    tool, workload, n_text, store_text, *rest = argv
    func = globals()[f"{tool.replace('-', '_')}_{workload}"]
    result = func(int(n_text), Path(store_text), *rest)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
