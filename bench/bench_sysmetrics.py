"""CPU cost of system-metric sampling: naga's sampler side by side with MLflow's.

The spec: a run's process tree is sampled (CPU %, RSS, GPU) every 10 s by default, and
"sampling costs the run < 1% CPU". Sampling every 10 s costs too little to measure over a short
window, so each tool samples fast (--interval, default 0.5 s) during an idle window (--window,
default 20 s: the run's body only sleeps, so ~40 samples), and the CPU time of the process that
samples is compared with the same run with sampling off. The difference over the number of
samples found in the store is the cost of one sample; at the default 10 s interval that is
cost / 10 s of one core. A third run samples 4x slower: the slope between the two gives the
cost of one more sample, the intercept what sampling costs besides its samples ("rest": the
one-off start; naga's sys stream has no writer thread of its own: the sampler writes it).

Rows (each worker is bench/sysmetrics_worker.py, run by the tool's own venv python in a fresh
project and store):

  naga      `with naga.run(sys_interval=S)`: the sampler is a thread of the run's own process;
            CPU of that process (time.process_time) while the run is open; baseline S=0
  naga-cli  `naga run --sys-interval S -- sleep W`: the sampler is a thread of the naga
            process; its rusage from os.wait4 (which includes the reaped `sleep`); baseline S=0
  mlflow    `mlflow.start_run()` with enable_system_metrics_logging(), sampling interval S and
            samples_before_logging(1); CPU of the process; baseline: system metrics disabled

Each row runs with the tree alone and with --children (default 8) extra `sleep` processes in it
(naga walks the tree; MLflow reads machine-wide figures, so its cost does not depend on it).
All the workers of a round set up (imports, store, a warm-up run) first, then their windows
start together. --rounds (default 3) rounds; medians are reported.

Direct check, in the background from the start (so it adds no time): each tool on one process,
sampling every 10 s and off, over --direct-window (default 100 s, ~9 samples), one run. No
extrapolation, but noisier: a few ms of baseline noise is spread over ~9 samples.

About 2.5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from common import BENCH_DIR, NAGA_VENV, PEERS_VENV, Project, print_rows, project, venv_bin

WORKER = BENCH_DIR / "sysmetrics_worker.py"
RESULT_PREFIX = "BENCH_RESULT "  # keep in sync with sysmetrics_worker.py
READY = "READY"  # sysmetrics_worker.READY
SETUP_TIMEOUT_S = 180
DEFAULT_INTERVAL_S = 10.0  # naga's default sampling interval (the spec)
CEILING_PERCENT = 1.0  # "sampling costs the run < 1% CPU", of one core at the default interval
SLOW_FACTOR = 4  # the second interval, for the cost of one more sample (the slope)
DIRECT_WINDOW_S = 100.0  # the direct check: sampling at the default interval, while rounds run


@dataclass(frozen=True)
class Tool:
    name: str
    label: str
    venv: Path
    store_tool: str  # key of common.STORE_ENV

    @property
    def python(self) -> Path:
        return venv_bin(self.venv, "python")


TOOLS = {
    "naga": Tool("naga", "naga SDK (in-process)", NAGA_VENV, "naga"),
    "naga-cli": Tool("naga-cli", "naga run (wrapper)", NAGA_VENV, "naga"),
    "mlflow": Tool("mlflow", "mlflow system metrics", PEERS_VENV, "mlflow"),
}


Key = tuple[str, int]  # (tool, extra children)


@dataclass(frozen=True)
class Case:
    tool: str
    children: int
    interval: float  # 0: sampling off

    @property
    def key(self) -> Key:
        return (self.tool, self.children)


@dataclass
class Worker:
    case: Case
    project: Project
    proc: subprocess.Popen[str]
    stderr: IO[str]
    ready: bool = False


@dataclass
class Bench:
    interval: float
    window: float
    trees: tuple[int, ...]
    tools: list[str]
    skipped: dict[str, str] = field(default_factory=dict)  # tool -> reason, printed once
    started: float = field(default_factory=time.perf_counter)

    def progress(self, text: str) -> None:
        print(f"  [{time.perf_counter() - self.started:6.1f}s] {text}", flush=True)

    def skip(self, tool: str, reason: str) -> None:
        if tool not in self.skipped:
            self.skipped[tool] = reason
            print(f"skip {tool}: {reason}", flush=True)

    def cases(self) -> list[Case]:
        out = []
        for tool in self.tools:
            if tool in self.skipped:
                continue
            if not TOOLS[tool].python.exists():
                self.skip(tool, f"{TOOLS[tool].python} not found (see bench/results/setup.log)")
                continue
            for children in self.trees:
                for interval in (self.interval, self.interval * SLOW_FACTOR, 0.0):
                    out.append(Case(tool, children, interval))
        return out


def last_line(stderr: IO[str], code: int | None) -> str:
    stderr.seek(0)
    lines = [ln.strip() for ln in stderr.read().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit {code}, no output"


def start(case: Case, p: Project, window: float, stack: ExitStack) -> Worker:
    tool = TOOLS[case.tool]
    # Closed by `stack`, before the project is removed.
    stderr = stack.enter_context(open(p.root / "stderr.txt", "w+", encoding="utf-8"))  # noqa: SIM115
    cmd = [str(tool.python), "worker.py", case.tool, str(case.children), f"{case.interval:g}"]
    proc = subprocess.Popen(
        [*cmd, f"{window:g}", str(p.store)],
        cwd=p.proj,
        env=p.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        errors="replace",
    )
    return Worker(case, p, proc, stderr)


Results = dict[Case, dict[str, Any]]


def run_group(bench: Bench, name: str, cases: Sequence[Case], window: float) -> Results:
    """Every case set up in parallel, then all windows started at once."""
    results: Results = {}
    with ExitStack() as stack:
        workers = []
        for case in cases:
            p = stack.enter_context(
                project(TOOLS[case.tool].store_tool, {"worker.py": WORKER.read_text()})
            )
            workers.append(start(case, p, window, stack))
        bench.progress(f"{name}: {len(workers)} workers setting up")
        # Each worker blocks in its set-up until READY; one that dies (or is killed for taking
        # too long) gives an empty line.
        timer = threading.Timer(SETUP_TIMEOUT_S, lambda: [w.proc.kill() for w in workers])
        timer.start()
        try:
            for w in workers:
                line = w.proc.stdout.readline() if w.proc.stdout else ""
                w.ready = line.strip() == READY
        finally:
            timer.cancel()
        bench.progress(f"{name}: {window:g} s windows start")
        for w in workers:
            if w.ready and w.proc.stdin:
                w.proc.stdin.write("go\n")
                w.proc.stdin.flush()
        for w in workers:
            try:
                out, _ = w.proc.communicate(timeout=window + 120)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                out, _ = w.proc.communicate()
            found = [ln for ln in out.splitlines() if ln.startswith(RESULT_PREFIX)]
            if w.proc.returncode != 0 or not found:
                bench.skip(w.case.tool, last_line(w.stderr, w.proc.returncode))
                continue
            results[w.case] = json.loads(found[-1][len(RESULT_PREFIX) :])
    bench.progress(f"{name}: done")
    return results


class Direct(threading.Thread):
    """The direct check, in the background while the rounds run: each tool on one process,
    sampling every DEFAULT_INTERVAL_S and off, over `window` s."""

    def __init__(self, bench: Bench, window: float) -> None:
        super().__init__(daemon=True)
        self.bench, self.window = bench, window
        self.results: Results = {}

    def cases(self) -> list[Case]:
        usable = {c.tool for c in self.bench.cases()}
        return [
            Case(t, 0, i)
            for t in self.bench.tools
            if t in usable
            for i in (DEFAULT_INTERVAL_S, 0.0)
        ]

    def run(self) -> None:
        self.results = run_group(self.bench, "direct check", self.cases(), self.window)


# --- report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """Sampling cost of one (tool, tree) in one round, from its three runs."""

    off_s: float  # CPU with sampling off
    fast_s: float  # CPU sampling every `interval`
    slow_s: float  # CPU sampling every SLOW_FACTOR * `interval`
    fast_n: int  # samples found in the store
    slow_n: int
    keys: int  # values per sample
    rss_mib: float | None

    @property
    def all_in_s(self) -> float:
        """(on - off) / samples: everything sampling costs, spread over the samples."""
        return (self.fast_s - self.off_s) / self.fast_n if self.fast_n else float("nan")

    @property
    def marginal_s(self) -> float:
        """Cost of one more sample: the slope between the two intervals."""
        extra = self.fast_n - self.slow_n
        return (self.fast_s - self.slow_s) / extra if extra > 0 else float("nan")

    @property
    def rest_s(self) -> float:
        """What sampling costs besides its samples, over the window: the intercept."""
        return self.slow_s - self.off_s - self.marginal_s * self.slow_n


def costs(rounds: Sequence[dict[Case, dict[str, Any]]], interval: float) -> dict[Key, list[Cost]]:
    out: dict[Key, list[Cost]] = {}
    for results in rounds:
        for case, fast in results.items():
            if case.interval != interval:
                continue
            off = results.get(Case(case.tool, case.children, 0.0))
            slow = results.get(Case(case.tool, case.children, interval * SLOW_FACTOR))
            if off is None or slow is None:
                continue
            if off["samples"]:
                print(f"warning: {case.tool} sampled {off['samples']} times with sampling off")
            cost = Cost(
                off["cpu_s"],
                fast["cpu_s"],
                slow["cpu_s"],
                fast["samples"],
                slow["samples"],
                fast["keys"],
                fast.get("rss_mib"),
            )
            out.setdefault(case.key, []).append(cost)
    return out


def fmt_ratio(x: float) -> str:
    if x != x:  # nan
        return "n/a"
    return f"{x:,.0f}x" if x >= 10 else f"{x:.1f}x"


def fmt_span(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}-{fmt.format(hi)}"


def median_ms(cs: Sequence[Cost], attr: str) -> float:
    return float(statistics.median(getattr(c, attr) for c in cs)) * 1000


def percent_of_core(ms_per_sample: float) -> float:
    """Share of one core when sampling every DEFAULT_INTERVAL_S."""
    return ms_per_sample / (DEFAULT_INTERVAL_S * 1000) * 100


def report(bench: Bench, by_key: dict[Key, list[Cost]]) -> None:
    rows = []
    for children in bench.trees:
        for tool in bench.tools:
            cs = by_key.get((tool, children))
            if not cs:
                continue
            naga = by_key.get(("naga", children))
            all_in, marginal = median_ms(cs, "all_in_s"), median_ms(cs, "marginal_s")
            ratios = ["-", "-"]
            if tool != "naga" and naga:
                ratios = [
                    fmt_ratio(all_in / median_ms(naga, "all_in_s")),
                    fmt_ratio(marginal / median_ms(naga, "marginal_s")),
                ]
            rss = [c.rss_mib for c in cs if c.rss_mib is not None]
            rows.append(
                [
                    TOOLS[tool].label,
                    str(1 + children),
                    f"{fmt_span([c.fast_n for c in cs])} / {fmt_span([c.slow_n for c in cs])}",
                    str(cs[0].keys),
                    f"{median_ms(cs, 'off_s'):.1f}",
                    f"{median_ms(cs, 'fast_s'):.1f}",
                    f"{all_in:.2f}",
                    fmt_span([c.all_in_s * 1000 for c in cs], "{:.2f}"),
                    f"{marginal:.2f}",
                    f"{median_ms(cs, 'rest_s'):.0f}",
                    f"{percent_of_core(all_in):.3f}",
                    *ratios,
                    f"{statistics.median(rss):.1f}" if rss else "-",
                ]
            )
    n_rounds = max((len(v) for v in by_key.values()), default=0)
    slow = bench.interval * SLOW_FACTOR
    print_rows(
        f"system-metric sampling, CPU of the sampling process: {bench.window:g} s idle window, "
        f"median of {n_rounds} rounds",
        [
            "sampler",
            "procs",
            f"samples @{bench.interval:g}s / @{slow:g}s",
            "values",
            "CPU ms off",
            f"on @{bench.interval:g}s",
            "ms/sample",
            "range",
            "marginal ms",
            "rest ms",
            f"% core @{DEFAULT_INTERVAL_S:g}s",
            "vs naga SDK",
            "marginal",
            "tree RSS MiB",
        ],
        rows,
    )
    fast, default = f"{bench.interval:g}", f"{DEFAULT_INTERVAL_S:g}"
    print(
        f"""(procs: processes in the sampled tree. samples: counted in the store (naga:
 sys/cpu_percent, MLflow: system/cpu_utilization_percentage). values: metrics per sample.
 CPU ms: user+sys of the sampling process over the window, sampling off and every {fast} s.
 ms/sample = (on - off) / samples @{fast}s; range: over the rounds.
 marginal = (on @{fast}s - on @{slow:g}s) / (difference in samples): one more sample.
 rest = the intercept, what the window cost besides its samples: the one-off start (thread,
 GPU probe; for `naga run` the sampler's imports).
 % core @{default}s = ms/sample / {default} s. That spreads the one-off part over too few
 samples: the direct check below has the real figure. vs naga SDK: ms/sample, then marginal, over
 naga SDK's in the same tree. tree RSS: median of naga's sys/rss_mib, a check that the
 tree is walked.)"""
    )
    for children in bench.trees:
        for tool in ("naga", "naga-cli"):
            label = f"{TOOLS[tool].label}, {1 + children} procs"
            cs = by_key.get((tool, children))
            if tool not in bench.tools:
                continue
            if not cs:
                print(f"{label}: not measured; ceiling < {CEILING_PERCENT:g}%: n/a")
                continue
            percent = percent_of_core(median_ms(cs, "all_in_s"))
            ok = "PASS" if percent < CEILING_PERCENT else "FAIL"
            print(
                f"{label}: {percent:.3f}% of a core at {DEFAULT_INTERVAL_S:g} s, "
                f"ceiling < {CEILING_PERCENT:g}%: {ok}"
            )


def report_direct(bench: Bench, direct: Direct) -> None:
    res = direct.results
    rows, per_sample = [], {}
    for tool in bench.tools:
        on, off = res.get(Case(tool, 0, DEFAULT_INTERVAL_S)), res.get(Case(tool, 0, 0.0))
        if on is None or off is None or not on["samples"]:
            continue
        ms = (on["cpu_s"] - off["cpu_s"]) / on["samples"] * 1000
        per_sample[tool] = ms
        ratio = "-"
        if tool != "naga" and per_sample.get("naga", 0) > 0:
            ratio = fmt_ratio(ms / per_sample["naga"])
        rows.append(
            [
                TOOLS[tool].label,
                str(on["samples"]),
                f"{off['cpu_s'] * 1000:.1f}",
                f"{on['cpu_s'] * 1000:.1f}",
                f"{ms:.2f}",
                f"{percent_of_core(ms):.3f}",
                ratio,
            ]
        )
    print_rows(
        f"direct check: sampling every {DEFAULT_INTERVAL_S:g} s over {direct.window:g} s, "
        "1 process, one run",
        ["sampler", "samples", "CPU ms off", "on", "ms/sample", "% core", "vs naga SDK"],
        rows,
    )
    print(
        """(nothing extrapolated: (on - off) / samples, everything included. One run, started
 with round 1, so its window overlaps the rounds' set-ups (imports on both cores): a busy
 machine, as in training. With ~9 samples, a few ms of baseline noise moves ms/sample by
 ~0.5 ms.)"""
    )
    for tool in ("naga", "naga-cli"):
        if tool in per_sample:
            percent = percent_of_core(per_sample[tool])
            ok = "PASS" if percent < CEILING_PERCENT else "FAIL"
            print(
                f"{TOOLS[tool].label}, direct: {percent:.3f}% of a core, "
                f"ceiling < {CEILING_PERCENT:g}%: {ok}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--interval", type=float, default=0.5, help="seconds (default 0.5)")
    parser.add_argument("--window", type=float, default=20.0, help="seconds (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="default 3")
    parser.add_argument(
        "--direct-window",
        type=float,
        default=DIRECT_WINDOW_S,
        help=f"seconds of the direct check at {DEFAULT_INTERVAL_S:g} s, 0: none "
        f"(default {DIRECT_WINDOW_S:g})",
    )
    parser.add_argument(
        "--children", type=int, default=8, help="extra processes in the big tree (default 8)"
    )
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma list (default {','.join(TOOLS)})"
    )
    args = parser.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    if not args.interval > 0 or not args.window > args.interval:
        parser.error("need 0 < --interval < --window")
    if 0 < args.direct_window <= DEFAULT_INTERVAL_S:
        parser.error(f"--direct-window must be 0 or more than {DEFAULT_INTERVAL_S:g} s")
    if not venv_bin(NAGA_VENV, "python").exists():
        raise SystemExit(f"{venv_bin(NAGA_VENV, 'python')} missing: run bench/setup_peers.sh first")

    trees = (0, args.children) if args.children > 0 else (0,)
    bench = Bench(args.interval, args.window, trees, tools)
    print(
        f"system-metric sampling cost; interval {args.interval:g} s, window {args.window:g} s, "
        f"{args.rounds} rounds, trees of {' and '.join(str(1 + c) for c in trees)} processes"
    )
    direct = Direct(bench, args.direct_window) if args.direct_window > 0 else None
    if direct:
        direct.start()
    rounds = [
        run_group(bench, f"round {n + 1}", bench.cases(), args.window) for n in range(args.rounds)
    ]
    if direct:
        direct.join()
    report(bench, costs(rounds, args.interval))
    if direct:
        report_direct(bench, direct)
    print(f"\ntotal {time.perf_counter() - bench.started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
