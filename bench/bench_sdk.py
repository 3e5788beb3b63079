"""Python SDK metric logging: naga's `run.log` side by side with MLflow, yanex, Sacred and Aim.

Workloads (each row in a fresh temp project and store, timed inside the child with
time.perf_counter; the child is bench/sdk_worker.py run with the tool's own venv python):

  single  one scalar per call in a tight loop: calls/s returned to the caller
  wide    100 metrics per step: values/s; naga also: loop end -> run.flush() returned, and a
          read-back (fresh process) that the point count equals what was logged
  read    one metric's series read back in a fresh process: points/s
  import  `python -c "import <tool>"`, best of 5, minus `python -c pass` in the same venv
  runs    naga only: `naga.runs()` in a fresh process beside `naga ls --all --json > /dev/null`
          with 10k and 100k runs in the store (`--runs-sizes`); also every record's params read
  keymix  naga only: 500k calls of one key, of two keys in turn (`loss` then `acc`), of 1,000
          keys in turn, of three keys per call: rate, loop end -> run.flush() returned, each
          mix's value rate over the one-key rate, and a read-back of every point

Peers are far slower than naga, so their N is scaled down (each row at most ~10 s); the table
shows N. `--scale` multiplies every N (e.g. 0.1 for a smoke test).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    AIM_VENV,
    BENCH_DIR,
    NAGA_VENV,
    PEERS_VENV,
    Project,
    print_rows,
    project,
    run_once,
    venv_bin,
)

WORKER = BENCH_DIR / "sdk_worker.py"
RESULT_PREFIX = "BENCH_RESULT "  # keep in sync with sdk_worker.py
WIDTH = 100  # metrics per step in `wide` (sdk_worker.WIDTH)
WORKER_TIMEOUT_S = 600
IMPORT_REPS = 5

# Floors from the spec, checked against naga's row.
SINGLE_FLOOR = 500_000  # calls/s
WIDE_FLOOR = 2_000_000  # values/s
DURABLE_FLOOR_S = 1.0  # loop end -> run.flush() returned, wide
READ_POINTS = 1_000_000
READ_FLOOR_S = 0.3  # for READ_POINTS points
IMPORT_FLOOR_MS = 60.0
KEYMIX_N = 500_000  # calls per mix
KEYMIX = [  # (sdk_worker.py workload, label, values per call)
    ("onekey", "one key", 1),
    ("alternate", "two keys in turn", 1),
    ("cycled", "1,000 keys in turn", 1),
    ("several", "three keys per call", 3),
]
KEYMIX_RATIO = 1.5  # any mix within 1.5x of the one-key value rate


@dataclass(frozen=True)
class Tool:
    """An importable package and the venv it lives in."""

    module: str
    venv: Path

    @property
    def python(self) -> Path:
        return venv_bin(self.venv, "python")


TOOLS = {
    "naga": Tool("naga", NAGA_VENV),
    "mlflow": Tool("mlflow", PEERS_VENV),
    "yanex": Tool("yanex", PEERS_VENV),
    "sacred": Tool("sacred", PEERS_VENV),
    "aim": Tool("aim", AIM_VENV),
}


@dataclass(frozen=True)
class Row:
    """One table row: `worker` is the sdk_worker.py function prefix, `n` the unscaled size."""

    label: str
    tool: str
    worker: str
    n: int
    note: str = ""


SINGLE = [
    Row("naga run.log", "naga", "naga", 1_000_000),
    Row("mlflow log_metric", "mlflow", "mlflow", 600, "one sqlite insert per call"),
    Row("yanex log_metrics", "yanex", "yanex", 600, "rewrites metrics.json per call: quadratic"),
    Row("sacred log_scalar", "sacred", "sacred", 300_000, "kept in memory until heartbeat/end"),
    Row("aim track", "aim", "aim", 20_000),
]
WIDE = [  # n = steps of WIDTH values
    Row("naga run.log", "naga", "naga", 20_000),
    Row("mlflow log_metric", "mlflow", "mlflow", 10, "100 log_metric calls a step"),
    Row("mlflow log_batch", "mlflow", "mlflow_batch", 200, "1 MlflowClient.log_batch a step"),
    Row("yanex log_metrics", "yanex", "yanex", 100, "rewrites metrics.json per call: quadratic"),
    Row("sacred log_scalar", "sacred", "sacred", 2_000, "100 log_scalar calls a step"),
    Row("aim track", "aim", "aim", 300, "track(dict) a step"),
]
READ = [  # n = points written (untimed, fastest writer) then read back in a fresh process
    Row("naga load().metrics", "naga", "naga", READ_POINTS, "written with run.log"),
    Row("mlflow get_metric_history", "mlflow", "mlflow", 50_000, "written with log_batch"),
    Row("aim get_metric().data", "aim", "aim", 20_000, "written with track; indexed first"),
    Row("sacred json.load", "sacred", "sacred", READ_POINTS, "no read API: metrics.json"),
    Row("yanex get_metric", "yanex", "yanex", READ_POINTS, "written with save_results"),
]


class WorkerError(RuntimeError):
    """A worker exited non-zero or printed no result; the message is its last stderr line."""


@dataclass
class Bench:
    scale: float
    tools: set[str]
    unavailable: dict[str, str] = field(default_factory=dict)  # tool -> reason, printed once
    started: float = field(default_factory=time.perf_counter)

    def n(self, row: Row) -> int:
        return max(1, round(row.n * self.scale))

    def rows(self, rows: Sequence[Row]) -> list[Row]:
        """Rows whose tool was selected and imports; prints why the others are skipped."""
        kept = []
        for row in rows:
            if row.tool not in self.tools:
                continue
            python = TOOLS[row.tool].python
            if row.tool not in self.unavailable and not python.exists():
                self.unavailable[row.tool] = f"{python} not found (see bench/results/setup.log)"
                print(f"skip {row.tool}: {self.unavailable[row.tool]}")
            if row.tool in self.unavailable:
                continue
            kept.append(row)
        return kept

    def progress(self, text: str) -> None:
        print(f"  [{time.perf_counter() - self.started:6.1f}s] {text}", flush=True)


def run_worker(row: Row, p: Project, workload: str, n: int, *extra: str) -> dict[str, Any]:
    """Run sdk_worker.py for `row` in project `p` and return its JSON result."""
    cmd = [str(TOOLS[row.tool].python), "worker.py", row.worker, workload, str(n), str(p.store)]
    try:
        proc = p.run([*cmd, *extra], timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise WorkerError(f"{workload} timed out after {WORKER_TIMEOUT_S} s") from None
    results = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not results:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        reason = lines[-1].strip() if lines else f"exit {proc.returncode}, no output"
        raise WorkerError(f"{workload}: {reason}")
    return dict(json.loads(results[-1][len(RESULT_PREFIX) :]))


def worker_project(row: Row) -> AbstractContextManager[Project]:
    """Fresh project (store env var of `row.tool`, see common.STORE_ENV) holding worker.py."""
    return project(row.tool, {"worker.py": WORKER.read_text()})


# --- formatting -------------------------------------------------------------------------------


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def fmt_s(x: float) -> str:
    return f"{x:.3f}"


def fmt_ratio(naga: float | None, peer: float, tool: str) -> str:
    """How many times faster naga is, given two rates (higher is better)."""
    if tool == "naga":
        return "-"
    if not naga or not peer:
        return "n/a"
    r = naga / peer
    return f"{r:,.0f}x" if r >= 10 else f"{r:.2f}x"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- workloads --------------------------------------------------------------------------------


def bench_log(bench: Bench, rows: Sequence[Row], workload: str) -> list[tuple[Row, int, dict]]:
    """`single` or `wide`: one worker per row; returns (row, n, result) for those that ran."""
    out = []
    for row in bench.rows(rows):
        n = bench.n(row)
        bench.progress(f"{workload}: {row.label}, n={n:,}")
        with worker_project(row) as p:
            try:
                res = run_worker(row, p, workload, n)
                if row.tool == "naga" and workload == "wide":
                    # Fresh process: are all points on disk and readable?
                    res["readback"] = run_worker(row, p, "count", n, res["run_id"])
            except WorkerError as exc:
                print(f"skip {row.tool} ({row.label}): {exc}")
                continue
        out.append((row, n, res))
    return out


def report_log(results: list[tuple[Row, int, dict]], workload: str) -> None:
    per = WIDTH if workload == "wide" else 1
    unit = "values" if workload == "wide" else "calls"
    rate = {row.label: n * per / res["loop_s"] for row, n, res in results}
    total = {row.label: n * per / (res["loop_s"] + res["finish_s"]) for row, n, res in results}
    naga = next((r.label for r, _, _ in results if r.tool == "naga"), None)
    table = []
    for row, n, res in results:
        table.append(
            [
                row.label,
                fmt_int(n) + (" steps" if workload == "wide" else ""),
                fmt_s(res["loop_s"]),
                fmt_int(rate[row.label]),
                fmt_s(res["finish_s"]),
                fmt_int(total[row.label]),
                fmt_ratio(rate[naga] if naga else None, rate[row.label], row.tool),
                fmt_ratio(total[naga] if naga else None, total[row.label], row.tool),
                row.note,
            ]
        )
    title = (
        "single: one scalar per call, calls/s returned to the caller"
        if workload == "single"
        else f"wide: {WIDTH} metrics per step (one dict), values/s"
    )
    print_rows(
        title,
        [
            "tool",
            "n",
            "loop s",
            f"{unit}/s",
            "finish s",
            "incl. finish",
            "naga Nx faster",
            "incl. finish",
            "note",
        ],
        table,
    )
    print(
        "(finish = loop end until the data is on disk and the run is closed; the first ratio is\n"
        " on the loop rate, the second on the rate including finish)"
    )
    naga_res = next(((n, res) for r, n, res in results if r.tool == "naga"), None)
    floor = SINGLE_FLOOR if workload == "single" else WIDE_FLOOR
    if naga is None or naga_res is None:
        print(f"naga: not measured; floor >= {floor:,} {unit}/s: n/a")
        return
    n, res = naga_res
    print(f"naga: {fmt_int(rate[naga])} {unit}/s, floor >= {floor:,}: ", end="")
    print(verdict(rate[naga] >= floor))
    if workload == "single":
        return
    flush_s = res["flush_s"]
    print(f"naga durable (loop end -> run.flush() returned): {flush_s:.3f} s, ", end="")
    print(f"floor <= {DURABLE_FLOOR_S:g} s: {verdict(flush_s <= DURABLE_FLOOR_S)}")
    back = res["readback"]
    print(
        f"naga read-back in a fresh process: {back['points']:,} points of {n * WIDTH:,} logged: "
        + verdict(back["ok"])
    )


def bench_read(bench: Bench) -> list[tuple[Row, int, dict]]:
    out = []
    for row in bench.rows(READ):
        n = bench.n(row)
        bench.progress(f"read: {row.label}, writing {n:,} points")
        with worker_project(row) as p:
            try:
                written = run_worker(row, p, "write", n)
                bench.progress(f"read: {row.label}, reading")
                res = run_worker(row, p, "read", n, written["run_id"])
            except WorkerError as exc:
                print(f"skip {row.tool} ({row.label}): {exc}")
                continue
        res["write_s"] = written["loop_s"] + written["finish_s"]
        out.append((row, n, res))
    return out


def report_read(results: list[tuple[Row, int, dict]]) -> None:
    def rate(res: dict, with_open: bool) -> float:
        return float(res["points"] / (res["fetch_s"] + (res["open_s"] if with_open else 0.0)))

    naga = next((res for r, _, res in results if r.tool == "naga"), None)
    table = []
    for row, n, res in results:
        note = row.note if n == READ_POINTS else f"{row.note}; {n:,} points, not {READ_POINTS:,}"
        ratios = [
            fmt_ratio(rate(naga, w) if naga else None, rate(res, w), row.tool)
            for w in (False, True)
        ]
        table.append(
            [
                row.label,
                fmt_int(res["points"]),
                fmt_s(res["write_s"]),
                fmt_s(res["open_s"]),
                fmt_s(res["fetch_s"]),
                fmt_int(rate(res, False)),
                fmt_int(rate(res, True)),
                "ok" if res["ok"] else "WRONG",
                *ratios,
                note,
            ]
        )
    print_rows(
        "read: one metric's series from a finished run, fresh process, points/s",
        [
            "tool",
            "points",
            "write s",
            "open s",
            "fetch s",
            "points/s",
            "incl. open",
            "check",
            "naga Nx faster",
            "incl. open",
            "note",
        ],
        table,
    )
    print(
        "(write: untimed setup, for context. open: naga.load(id), MlflowClient(), aim Run(...),\n"
        " yanex get_experiment(id); fetch: the series. Fewer points favour a peer's points/s\n"
        " when it has a fixed cost per read.)"
    )
    if naga is None:
        print(f"naga: not measured; floor {READ_POINTS:,} points <= {READ_FLOOR_S:g} s: n/a")
    elif naga["points"] != READ_POINTS:
        print(f"naga: {naga['points']:,} points (scaled); floor is for {READ_POINTS:,}: n/a")
    else:
        total = naga["open_s"] + naga["fetch_s"]
        ok = total <= READ_FLOOR_S and naga["ok"]
        print(f"naga: load().metrics() of {READ_POINTS:,} points in {total:.3f} s, ", end="")
        print(f"floor <= {READ_FLOOR_S:g} s: {verdict(ok)}")
        numpy_ms = naga.get("numpy_import_s", 0.0) * 1000
        print(f"(numpy was imported before the timer, as `import aim` does: {numpy_ms:.0f} ms)")


def import_reason(tool: Tool, p: Project) -> str:
    proc = p.run([tool.python, "-c", f"import {tool.module}"])
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit {proc.returncode}"


def best(cmd: Sequence[str | Path], p: Project, reps: int) -> float:
    run_once(cmd, p.env(), p.proj)  # warm-up: page cache, and any first-run bytecode
    return min(run_once(cmd, p.env(), p.proj) for _ in range(reps))


def bench_import(bench: Bench, reps: int) -> list[tuple[str, float, float]]:
    """(tool, import s minus bare, bare s); tools that cannot import are marked unavailable."""
    out = []
    bare: dict[Path, float] = {}
    for name, tool in TOOLS.items():
        if name not in bench.tools:
            continue
        if not tool.python.exists():
            bench.unavailable[name] = f"{tool.python} not found (see bench/results/setup.log)"
            print(f"skip {name}: {bench.unavailable[name]}")
            continue
        bench.progress(f"import: {name}")
        with project(name, {"pass.py": "pass\n"}) as p:  # git refuses an empty commit
            try:
                if tool.venv not in bare:
                    bare[tool.venv] = best([tool.python, "-c", "pass"], p, reps)
                t = best([tool.python, "-c", f"import {tool.module}"], p, reps)
            except RuntimeError:
                bench.unavailable[name] = import_reason(tool, p)
                print(f"skip {name}: {bench.unavailable[name]}")
                continue
        out.append((name, t - bare[tool.venv], bare[tool.venv]))
    return out


def report_import(results: list[tuple[str, float, float]], reps: int) -> None:
    naga = next((t for name, t, _ in results if name == "naga"), None)
    # Below 1 ms an import is lost in the start-up noise: compare with 1 ms instead ("> Nx").
    tiny = naga is not None and naga < 0.001
    table = []
    for name, t, bare in results:
        # Rates are 1/time: naga is (peer time / naga time)x faster.
        ratio = fmt_ratio(
            1 / max(naga, 0.001) if naga is not None else None, 1 / t if t > 0 else 0.0, name
        )
        if tiny and name != "naga":
            ratio = f"> {ratio}"
        table.append(
            [f"import {TOOLS[name].module}", f"{t * 1000:.1f}", f"{bare * 1000:.1f}", ratio]
        )
    print_rows(
        f"import: python -c 'import <tool>', best of {reps}, minus bare python in the same venv",
        ["command", "import ms", "bare python ms", "naga is Nx faster"],
        table,
    )
    if naga is None:
        print(f"naga: not measured; floor <= {IMPORT_FLOOR_MS:g} ms: n/a")
    else:
        ms = naga * 1000
        ok = verdict(ms <= IMPORT_FLOOR_MS)
        print(f"naga: import {ms:.1f} ms, floor <= {IMPORT_FLOOR_MS:g} ms: {ok}")
        if tiny:
            print("(naga's import is under 1 ms, below the start-up noise: ratios use 1 ms)")


# --- keymix: naga alone, keys mixed as training loops mix them ---------------------------------


def bench_keymix(bench: Bench) -> list[tuple[str, int, int, dict]]:
    row = Row("naga run.log", "naga", "naga", KEYMIX_N)
    if not bench.rows([row]):
        return []
    n = bench.n(row)
    out = []
    for workload, label, per in KEYMIX:
        bench.progress(f"keymix: {label}, n={n:,}")
        with worker_project(row) as p:
            try:
                res = run_worker(row, p, workload, n)
                res["readback"] = run_worker(row, p, "mixcount", n, res["run_id"])
            except WorkerError as exc:
                print(f"skip keymix {label}: {exc}")
                continue
        out.append((label, n, per, res))
    return out


def report_keymix(results: list[tuple[str, int, int, dict]]) -> None:
    rate = {label: n * per / res["loop_s"] for label, n, per, res in results}
    one = rate.get("one key")
    table = []
    worst = 0.0
    for label, n, per, res in results:
        slower = one / rate[label] if one else 0.0
        worst = max(worst, slower)
        back = res["readback"]["points"]
        table.append(
            [
                label,
                fmt_int(n),
                fmt_int(n / res["loop_s"]),
                fmt_int(rate[label]),
                f"{slower:.2f}x" if one else "n/a",
                fmt_s(res["flush_s"]),
                f"{back:,}" + ("" if back == n * per else f" of {n * per:,} FAIL"),
            ]
        )
    print_rows(
        "keymix: naga run.log with keys mixed across calls",
        ["mix", "calls", "calls/s", "values/s", "one-key rate / this", "flush s", "read back"],
        table,
    )
    if one:
        target = f"target <= {KEYMIX_RATIO}x"
        print(f"slowest mix {worst:.2f}x the one-key value rate ({target}): ", end="")
        print(verdict(worst <= KEYMIX_RATIO))
    flush = max((res["flush_s"] for *_, res in results), default=0.0)
    print(f"slowest flush {flush:.3f} s (target <= {DURABLE_FLOOR_S:g} s): ", end="")
    print(verdict(flush <= DURABLE_FLOOR_S))


# --- runs: naga.runs() beside `naga ls --all --json` --------------------------------------------

RUNS_SIZES = (10_000, 100_000)
RUNS_REPS = 3
RUNS_RATIO = 2.0  # naga.runs() within 2x of `naga ls --all --json`
RUNS_CASES = [  # label, command after the venv's python / naga
    ("naga ls --all --json", None),
    ("naga.runs()", "import naga; naga.runs()"),
    ("naga.runs(), every .params read", "import naga; [r.params for r in naga.runs()]"),
]


def bench_runs(sizes: Sequence[int], keep: Path | None) -> list[tuple[int, dict[str, float]]]:
    """``keep``: fill the stores there once and leave them, to time another build on them."""
    from bench_ls import fill, reindex

    python, naga = TOOLS["naga"].python, venv_bin(NAGA_VENV, "naga")
    out = []
    for size in sizes:
        with project("naga", {"README": "runs()\n"}) as p:
            store = p.store if keep is None else keep / str(size)
            env = {**p.env(), "NAGA_HOME": str(store)}
            if not (store / "runs").is_dir():
                print(f"  runs: writing {size:,} runs ...", flush=True)
                fill(naga, store, size)
            reindex(naga, store)
            cmds = {
                label: [naga, "ls", "--all", "--json"] if code is None else [python, "-c", code]
                for label, code in RUNS_CASES
            }
            samples: dict[str, list[float]] = {label: [] for label in cmds}
            for rep in range(RUNS_REPS + 1):  # interleaved; the first round warms up
                for label, cmd in cmds.items():
                    seconds = run_once(cmd, env, p.proj)
                    if rep:
                        samples[label].append(seconds)
            medians = {label: sorted(xs)[len(xs) // 2] for label, xs in samples.items()}
        out.append((size, medians))
    return out


def report_runs(results: list[tuple[int, dict[str, float]]]) -> None:
    table = []
    verdicts = []
    for size, medians in results:
        ls = medians["naga ls --all --json"]
        for label, seconds in medians.items():
            ratio = seconds / ls
            table.append(
                [f"{size:,}", label, fmt_s(seconds), f"{ratio:.2f}x", fmt_s(seconds / size * 1e6)]
            )
            if label == "naga.runs()":
                verdicts.append(ratio <= RUNS_RATIO)
    print_rows(
        f"runs: fresh process, median of {RUNS_REPS}, wall s",
        ["runs", "command", "s", "/ ls --all --json", "us per run"],
        table,
    )
    print(f"naga.runs() within {RUNS_RATIO:g}x of `naga ls --all --json`: ", end="")
    print(verdict(bool(verdicts) and all(verdicts)))


# ---------------------------------------------------------------------------------------------


WORKLOADS = ("single", "wide", "read", "import", "keymix", "runs")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every N (default 1)")
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma list (default {','.join(WORKLOADS)})",
    )
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma list (default {','.join(TOOLS)})"
    )
    parser.add_argument(
        "--import-reps", type=int, default=IMPORT_REPS, help="timed imports (default 5)"
    )
    parser.add_argument(
        "--runs-sizes",
        default=",".join(map(str, RUNS_SIZES)),
        help="store sizes for `runs` (default 10000,100000)",
    )
    parser.add_argument(
        "--runs-store", type=Path, help="keep the `runs` stores in this directory (reused)"
    )
    args = parser.parse_args(argv)
    workloads = [w for w in args.workloads.split(",") if w]
    tools = {t for t in args.tools.split(",") if t}
    unknown = (set(workloads) - set(WORKLOADS)) | (tools - set(TOOLS))
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    if not venv_bin(NAGA_VENV, "python").exists():
        raise SystemExit(f"{venv_bin(NAGA_VENV, 'python')} missing: run bench/setup_peers.sh first")

    bench = Bench(args.scale, tools)
    print(f"SDK metric logging; scale {args.scale:g}; workloads {','.join(workloads)}")
    # import first: it also finds the tools that cannot be imported at all, skipped afterwards.
    imports = bench_import(bench, args.import_reps) if "import" in workloads else None
    single = bench_log(bench, SINGLE, "single") if "single" in workloads else None
    wide = bench_log(bench, WIDE, "wide") if "wide" in workloads else None
    read = bench_read(bench) if "read" in workloads else None
    keymix = bench_keymix(bench) if "keymix" in workloads else None
    sizes = [int(x) for x in args.runs_sizes.split(",") if x]
    runs = bench_runs(sizes, args.runs_store) if "runs" in workloads else None

    if single is not None:
        report_log(single, "single")
    if wide is not None:
        report_log(wide, "wide")
    if read is not None:
        report_read(read)
    if imports is not None:
        report_import(imports, args.import_reps)
    if keymix is not None:
        report_keymix(keymix)
    if runs is not None:
        report_runs(runs)
    print(f"\ntotal {time.perf_counter() - bench.started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
