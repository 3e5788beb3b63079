"""Output throughput: `python gen.py > file` vs `naga run -- python gen.py > file`.

gen.py writes --mb MiB of 80-byte text lines through sys.stdout with default buffering.
naga's stdout is a regular file, so naga runs in pipe mode (captures and tees the child).
While naga runs, the driver samples naga's own VmRSS (not the child's) every 20 ms.
Finally naga's captured $NAGA_HOME/runs/<id>/output.log must be byte-for-byte as large as
the baseline file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common import (
    NAGA_VENV,
    Project,
    command_failed,
    installed,
    naga_python,
    project,
    venv_bin,
)

GEN_PY = """\
import sys

LINE = 80
total = int(float(sys.argv[1]) * 1024 * 1024) // LINE
write = sys.stdout.write
pad = "x" * (LINE - 14)
for i in range(total):
    write(f"{i:012d} {pad}\\n")
"""
POLL_S = 0.020
TARGET_RATIO = 1.2
TARGET_RSS_MB = 60.0


@dataclass(frozen=True)
class Sample:
    wall_s: float
    max_rss_mb: float


def vm_rss_mb(pid: int) -> float | None:
    """VmRSS of `pid` in MiB, or None once the process is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run_sampled(cmd: Sequence[str | Path], out: Path, env: Mapping[str, str], cwd: Path) -> Sample:
    """Run `cmd` with stdout to `out`, polling the launched process's RSS every POLL_S."""
    peak = 0.0
    # Start every run with no dirty pages left by the previous one (or by bench_ls's 100,000
    # files): writeback of someone else's data would otherwise land on whichever run is next.
    os.sync()
    with out.open("wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )
        while proc.poll() is None:
            peak = max(peak, vm_rss_mb(proc.pid) or 0.0)
            time.sleep(POLL_S)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise command_failed(cmd, env, cwd, proc.returncode)
    return Sample(wall, peak)


def captured_log(store: Path) -> Path:
    """The single output.log naga wrote under $NAGA_HOME/runs/<id>/."""
    logs = sorted(store.glob("runs/*/output.log"))
    if len(logs) != 1:
        raise RuntimeError(f"expected exactly one runs/*/output.log under {store}, found {logs}")
    return logs[0]


def naga_once(p: Project, naga: Path, python: Path, mb: float, expected: int) -> Sample:
    """One naga run in pipe mode; checks and then deletes the captured log and the tee file."""
    out = p.root / "naga.out"
    sample = run_sampled([naga, "run", "--", python, "gen.py", f"{mb:g}"], out, p.env(), p.proj)
    log_size = captured_log(p.store).stat().st_size
    tee_size = out.stat().st_size
    print(
        f"  naga     {sample.wall_s:7.2f} s  naga max RSS {sample.max_rss_mb:5.1f} MB  "
        f"output.log {log_size} B  stdout file {tee_size} B"
    )
    if log_size != expected or tee_size != expected:
        raise AssertionError(
            f"size mismatch: baseline {expected} B, output.log {log_size} B, "
            f"naga stdout {tee_size} B"
        )
    out.unlink()
    shutil.rmtree(p.store / "runs")
    return sample


def baseline_once(p: Project, python: Path, mb: float) -> tuple[Sample, int]:
    out = p.root / "baseline.out"
    sample = run_sampled([python, "gen.py", f"{mb:g}"], out, p.env(), p.proj)
    size = out.stat().st_size
    out.unlink()
    print(f"  baseline {sample.wall_s:7.2f} s  ({size} B)")
    return sample, size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=200, help="MiB the child writes (default 200)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions, median (default 3)")
    args = parser.parse_args(argv)

    python, naga = naga_python(), venv_bin(NAGA_VENV, "naga")
    if not installed(naga, "naga"):
        return 1
    print(f"output throughput: {args.mb:g} MiB of 80-byte lines, {args.reps} reps, interleaved")
    try:
        base, wrapped, size = measure(python, naga, args.mb, args.reps)
    except (RuntimeError, AssertionError) as exc:
        print(f"FAILED: {exc}")
        return 1
    report(base, wrapped, size)
    return 0


def measure(
    python: Path, naga: Path, mb: float, reps: int
) -> tuple[list[Sample], list[Sample], int]:
    """Interleaved baseline/naga runs; returns both sample lists and the baseline size."""
    base: list[Sample] = []
    wrapped: list[Sample] = []
    size = 0
    with project("naga", {"gen.py": GEN_PY}) as p:
        for _ in range(reps):
            sample, size = baseline_once(p, python, mb)
            base.append(sample)
            wrapped.append(naga_once(p, naga, python, mb, size))
    return base, wrapped, size


def report(base: Sequence[Sample], wrapped: Sequence[Sample], size: int) -> None:
    b = statistics.median(s.wall_s for s in base)
    w = statistics.median(s.wall_s for s in wrapped)
    rss = max(s.max_rss_mb for s in wrapped)
    ratio = w / b
    print("\n== output throughput ==")
    print(f"python gen.py > file              median {b:7.2f} s")
    print(f"naga run -- python gen.py > file  median {w:7.2f} s")
    print(
        f"ratio {ratio:.2f}x (target <= {TARGET_RATIO}x): "
        f"{'OK' if ratio <= TARGET_RATIO else 'OVER TARGET'}"
    )
    print(
        f"naga max RSS {rss:.1f} MB (target < {TARGET_RSS_MB:.0f} MB): "
        f"{'OK' if rss < TARGET_RSS_MB else 'OVER TARGET'}"
    )
    print(f"captured output.log {size} B == baseline file size: OK")


if __name__ == "__main__":
    raise SystemExit(main())
