"""Output throughput, naga beside the same command without it, in the places users look.

pipe      `python gen.py > file` vs `naga run -- python gen.py > file`: gen.py writes --mb MiB
          of 80-byte text lines through sys.stdout with default buffering; naga's stdout is a
          regular file, so naga runs in pipe mode (captures and tees the child).
terminal  the same on a terminal: `script -qec CMD /dev/null` gives both a pty, so gen.py's
          stdout is line-buffered (one write per line, the chatty case) and naga runs in pty
          mode. A C relay (`script` inside `script`, the same extra pty hop naga adds) is shown
          for reference.
tmux      the same inside a real tmux session (a private server), twice: with a client attached,
          as a user watching it sees it (tmux parses every line and draws its 200x50 window on
          the client's terminal, a `script` pty), and detached, as a job left running in tmux
          (tmux parses every line, draws nothing). The C relay is shown here too.
latency   one line at a time on a pty the driver reads: time from the child's write to the
          line reaching the terminal, with and without naga.
scalars   pipe mode again, but every line is a metric line (`step 12 loss=0.1234 acc=0.5678
          ...`, 80 bytes): the cost of reading metrics from the output (naga's default), beside
          `naga run --no-scalars` and without naga; checks the points recorded.

While naga runs, the driver samples naga's own VmRSS (not the child's) every 20 ms. naga's
captured $NAGA_HOME/runs/<id>/output.log must hold exactly the bytes gen.py wrote.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import select
import shlex
import shutil
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    NAGA_VENV,
    Project,
    command_failed,
    installed,
    naga_python,
    print_rows,
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
METRIC_GEN_PY = """\
import sys

LINE = 80
total = int(float(sys.argv[1]) * 1024 * 1024) // LINE
write = sys.stdout.write
for i in range(total):
    head = f"step {i} loss={1 / (i + 1):.6f} acc={i % 1000 / 1000:.4f} "
    write(head + "x" * (LINE - 1 - len(head)) + "\\n")
"""
# Started by `script` or tmux, times the command it is given and samples that command's own
# VmRSS (naga's, when it is `naga run ...`); writes "seconds peak_MiB exit_code cpu_seconds"
# to argv[1], the CPU being the command's whole tree (naga and gen.py, or gen.py alone).
TIMED_PY = """\
import resource, subprocess, sys, time

def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0

start = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
peak = 0.0
while proc.poll() is None:
    peak = max(peak, rss(proc.pid))
    time.sleep(0.02)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    f.write(f"{wall} {peak} {proc.returncode} {usage.ru_utime + usage.ru_stime}")
"""
# One line every 20 ms, each carrying the time it was written.
LATENCY_PY = """\
import sys, time
for i in range(int(sys.argv[1])):
    time.sleep(0.02)
    print(f"LAT {time.time():.6f}", flush=True)
"""
POLL_S = 0.020
TARGET_RATIO = 1.2
TARGET_RSS_MB = 60.0
TARGET_TTY_THROUGHPUT = 0.8  # naga's throughput on a terminal / the same terminal's without naga


@dataclass(frozen=True)
class Sample:
    wall_s: float
    max_rss_mb: float
    cpu_s: float = 0.0  # terminal and tmux: CPU of the command's tree (naga + gen.py)


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
    parser.add_argument("--tty-mb", type=float, default=24, help="MiB on a terminal (default 24)")
    parser.add_argument("--tmux-mb", type=float, default=24, help="MiB inside tmux (default 24)")
    parser.add_argument(
        "--scalars-mb", type=float, default=20, help="MiB of metric lines (default 20)"
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions, median (default 3)")
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only these parts (repeatable)"
    )
    args = parser.parse_args(argv)

    python, naga = naga_python(), venv_bin(NAGA_VENV, "naga")
    if not installed(naga, "naga"):
        return 1
    failed = False
    for part in args.only or PARTS:
        try:
            PARTS[part](python, naga, args)
        except (RuntimeError, AssertionError, subprocess.TimeoutExpired) as exc:
            print(f"{part} FAILED: {exc}")
            failed = True
    return 1 if failed else 0


def bench_pipe(python: Path, naga: Path, args: argparse.Namespace) -> None:
    print(f"output throughput: {args.mb:g} MiB of 80-byte lines, {args.reps} reps, interleaved")
    base, wrapped, size = measure(python, naga, args.mb, args.reps)
    report(base, wrapped, size)


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


# -- on a terminal ---------------------------------------------------------------------------


def expected_digest(mb: float) -> tuple[int, str]:
    """Size and sha256 of what gen.py writes for ``mb``, computed here."""
    total = int(mb * 1024 * 1024) // 80
    pad = "x" * 66
    digest = hashlib.sha256()
    for first in range(0, total, 10_000):
        lines = (f"{i:012d} {pad}\n" for i in range(first, min(total, first + 10_000)))
        digest.update("".join(lines).encode())
    return total * 80, digest.hexdigest()


def check_log(store: Path, expected: tuple[int, str]) -> None:
    """naga's output.log holds exactly gen.py's bytes; then the run is removed."""
    log = captured_log(store)
    data = log.read_bytes()
    if (len(data), hashlib.sha256(data).hexdigest()) != expected:
        raise AssertionError(f"output.log: {len(data)} B, not gen.py's {expected[0]} B exactly")
    shutil.rmtree(store / "runs")


def read_timed(result: Path) -> Sample:
    wall, peak, code, cpu = result.read_text().split()
    result.unlink()
    if code != "0":
        raise RuntimeError(f"the timed command exited {code}")
    return Sample(float(wall), float(peak), float(cpu))


def in_script(p: Project, cmd: Sequence[str | Path]) -> Sample:
    """``cmd`` on a fresh pty of `script`, timed from inside (timed.py)."""
    result = p.root / "timed.out"
    inner = shlex.join([str(naga_python()), "timed.py", str(result), *map(str, cmd)])
    os.sync()
    subprocess.run(
        ["script", "-qec", inner, "/dev/null"],
        cwd=p.proj,
        env=p.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=600,
    )
    return read_timed(result)


def in_tmux(p: Project, cmd: Sequence[str | Path], attached: bool = True) -> Sample:
    """``cmd`` in a session of a private tmux server. ``attached``: with a client, as a user
    watching it sees it: tmux parses every line and draws the window on the client's terminal
    (a `script` pty, 200x50), and the command starts once the client is there. Detached, as a
    job left running in tmux: tmux parses every line and draws nothing."""
    result, go = p.root / "timed.out", p.root / "go"
    go.unlink(missing_ok=True)
    timed = shlex.join([str(naga_python()), "timed.py", str(result), *map(str, cmd)])
    inner = f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.02; done; exec {timed}"
    tmux = ["tmux", "-L", f"naga-bench-{os.getpid()}", "-f", "/dev/null"]
    env = {**p.env(), "TERM": "xterm-256color"}
    env.pop("TMUX", None)
    os.sync()
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "200", "-y", "50", "-c", str(p.proj), inner],
        env=env,
        check=True,
    )
    if not attached:
        go.touch()
    attach = f"stty cols 200 rows 50; exec {shlex.join(tmux)} attach"
    client = subprocess.Popen(
        ["script", "-qec", attach if attached else "true", "/dev/null"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 600
        while (
            attached
            and not subprocess.run(
                [*tmux, "list-clients"], env=env, capture_output=True, text=True
            ).stdout.strip()
        ):
            if time.monotonic() > deadline - 590:
                raise RuntimeError("no tmux client attached in 10 s")
            time.sleep(0.05)
        go.touch()
        while not result.exists() or not result.read_text().strip():
            if time.monotonic() > deadline:
                raise RuntimeError("tmux run did not finish in 600 s")
            time.sleep(0.05)
    finally:
        subprocess.run([*tmux, "kill-server"], env=env, check=False, stderr=subprocess.DEVNULL)
        client.wait(timeout=30)
    return read_timed(result)


def terminal_rows(
    p: Project, python: Path, naga: Path, mb: float, reps: int, runner: Any, relay: bool
) -> dict[str, list[Sample]]:
    """Interleaved runs of gen.py alone, under naga and (``relay``) under a C pty relay."""
    gen = [python, "gen.py", f"{mb:g}"]
    expected = expected_digest(mb)
    rows: dict[str, list[Sample]] = {"without naga": [], "naga run": []}
    if relay:
        rows["script relay (C)"] = []
    rows["gen.py 0 MiB"], rows["naga run -- gen.py 0 MiB"] = [], []
    empty = [python, "gen.py", "0"]
    for _ in range(reps):
        rows["without naga"].append(runner(p, gen))
        rows["naga run"].append(runner(p, [naga, "run", "--", *gen]))
        check_log(p.store, expected)
        # The same with nothing to write: naga's start and end, apart from its throughput.
        rows["gen.py 0 MiB"].append(runner(p, empty))
        rows["naga run -- gen.py 0 MiB"].append(runner(p, [naga, "run", "--", *empty]))
        shutil.rmtree(p.store / "runs")
        if relay:
            relayed = ["script", "-qec", shlex.join(map(str, gen)), "/dev/null"]
            rows["script relay (C)"].append(runner(p, relayed))
        print("  " + "  ".join(f"{k} {v[-1].wall_s:6.2f} s" for k, v in rows.items()))
    return rows


def report_terminal(title: str, mb: float, rows: dict[str, list[Sample]]) -> None:
    base = statistics.median(s.wall_s for s in rows["without naga"])
    table = []
    for label, samples in rows.items():
        wall = statistics.median(s.wall_s for s in samples)
        rss = max(s.max_rss_mb for s in samples) if label == "naga run" else None
        cpu = statistics.median(s.cpu_s for s in samples)
        table.append(
            [
                label,
                f"{wall:.2f}",
                f"{mb / wall:.1f}",
                f"{base / wall:.2f}x",
                f"{cpu:.2f}",
                "-" if rss is None else f"{rss:.1f}",
            ]
        )
    headers = ["command", "median s", "MiB/s", "throughput vs without", "CPU s", "RSS MB"]
    print_rows(title, headers, table)
    print("(CPU s: the command's whole tree, naga and gen.py; on a loaded machine the wall")
    print(" times swing, the CPU naga adds does not)")
    wrapped = rows["naga run"]
    ratio = base / statistics.median(s.wall_s for s in wrapped)
    fixed = statistics.median(s.wall_s for s in rows["naga run -- gen.py 0 MiB"])
    fixed -= statistics.median(s.wall_s for s in rows["gen.py 0 MiB"])
    streaming = base / (statistics.median(s.wall_s for s in wrapped) - fixed)
    print(
        f"naga's start and end (0 MiB rows): {fixed:.2f} s; throughput while streaming, "
        f"that taken out: {streaming:.2f}x of the same terminal without naga"
    )
    if "script relay (C)" in rows:
        relay = statistics.median(s.wall_s for s in rows["script relay (C)"])
        print(
            f"the C relay (the same extra pty hop, no Python): {base / relay:.2f}x; naga "
            f"{relay / statistics.median(s.wall_s for s in wrapped):.2f}x the relay's throughput"
        )
    rss = max(s.max_rss_mb for s in wrapped)
    print(
        f"naga throughput {ratio:.2f}x of the same terminal without naga "
        f"(target >= {TARGET_TTY_THROUGHPUT}x): "
        f"{'OK' if ratio >= TARGET_TTY_THROUGHPUT else 'UNDER TARGET'}; naga max RSS "
        f"{rss:.1f} MB (target < {TARGET_RSS_MB:.0f}): {'OK' if rss < TARGET_RSS_MB else 'OVER'}"
    )
    print("output.log == gen.py's bytes (size and sha256) in every naga run: OK")


def bench_terminal(python: Path, naga: Path, args: argparse.Namespace) -> None:
    if shutil.which("script") is None:
        print("skip terminal: `script` (util-linux) not found")
        return
    print(f"\nterminal: {args.tty_mb:g} MiB of 80-byte lines through `script`, {args.reps} reps")
    with project("naga", {"gen.py": GEN_PY, "timed.py": TIMED_PY}) as p:
        rows = terminal_rows(p, python, naga, args.tty_mb, args.reps, in_script, relay=True)
    report_terminal(f"on a terminal (script -qec), {args.tty_mb:g} MiB", args.tty_mb, rows)


def bench_tmux(python: Path, naga: Path, args: argparse.Namespace) -> None:
    if shutil.which("tmux") is None:
        print("skip tmux: tmux not found")
        return
    for attached, how in ((True, "a client attached"), (False, "detached")):
        print(f"\ntmux, {how}: {args.tmux_mb:g} MiB of 80-byte lines, {args.reps} reps")
        runner = functools.partial(in_tmux, attached=attached)
        with project("naga", {"gen.py": GEN_PY, "timed.py": TIMED_PY}) as p:
            rows = terminal_rows(p, python, naga, args.tmux_mb, args.reps, runner, relay=True)
        report_terminal(f"inside tmux, {how}, {args.tmux_mb:g} MiB", args.tmux_mb, rows)


def line_latencies(cmd: Sequence[str | Path], p: Project) -> list[float]:
    """Seconds from each LAT line's write to its arrival on a pty the driver reads."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=p.proj,
        env=p.env(),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    seen, latencies = b"", []
    while True:
        ready = select.select([master], [], [], 30)[0]
        try:
            chunk = os.read(master, 65536) if ready else b""
        except OSError:  # EIO: every writer is gone
            chunk = b""
        arrived = time.time()
        if not chunk:
            break
        seen += chunk
        *lines, seen = seen.split(b"\n")
        latencies += [arrived - float(x.split()[1]) for x in lines if x.startswith(b"LAT ")]
    os.close(master)
    if proc.wait(timeout=30) != 0:
        raise RuntimeError(f"exit {proc.returncode}: {cmd}")
    return latencies


def bench_latency(python: Path, naga: Path, args: argparse.Namespace) -> None:
    n = 100
    print(f"\nlatency: {n} lines 20 ms apart on a pty, with and without naga")
    with project("naga", {"lat.py": LATENCY_PY}) as p:
        base = line_latencies([python, "lat.py", str(n)], p)
        wrapped = line_latencies([naga, "run", "--", python, "lat.py", str(n)], p)
    if len(base) != n or len(wrapped) != n:
        raise AssertionError(f"lines seen: {len(base)} without naga, {len(wrapped)} under naga")

    def cells(label: str, xs: list[float]) -> list[str]:
        q = statistics.quantiles(xs, n=100, method="inclusive")
        return [label, f"{statistics.median(xs) * 1e3:.2f}", f"{q[98] * 1e3:.2f}"]

    print_rows(
        "one line's latency, write -> terminal",
        ["command", "median ms", "p99 ms"],
        [cells("without naga", base), cells("naga run", wrapped)],
    )


def bench_scalars(python: Path, naga: Path, args: argparse.Namespace) -> None:
    mb = args.scalars_mb
    print(f"\nscalars: {mb:g} MiB of 80-byte metric lines through pipes, {args.reps} reps")
    rows: dict[str, list[Sample]] = {"without naga": [], "naga run": [], "--no-scalars": []}
    gen = [python, "gen.py", f"{mb:g}"]
    lines = int(mb * 1024 * 1024) // 80
    with project("naga", {"gen.py": METRIC_GEN_PY}) as p:
        out = p.root / "out"
        for _ in range(args.reps):
            rows["without naga"].append(run_sampled(gen, out, p.env(), p.proj))
            rows["naga run"].append(run_sampled([naga, "run", "--", *gen], out, p.env(), p.proj))
            (state,) = p.store.glob("runs/*/metrics/main/state.json")
            summary = json.loads(state.read_text())["metrics"]
            if summary["loss"]["count"] != lines or summary["acc"]["step"] != lines - 1:
                raise AssertionError(f"points recorded: {summary}, not {lines} each")
            shutil.rmtree(p.store / "runs")
            off = [naga, "run", "--no-scalars", "--", *gen]
            rows["--no-scalars"].append(run_sampled(off, out, p.env(), p.proj))
            shutil.rmtree(p.store / "runs")
            print("  " + "  ".join(f"{k} {v[-1].wall_s:6.2f} s" for k, v in rows.items()))
    base = statistics.median(s.wall_s for s in rows["without naga"])
    table = [
        [
            label,
            f"{statistics.median(s.wall_s for s in xs):.2f}",
            f"{max(s.max_rss_mb for s in xs):.1f}",
        ]
        for label, xs in rows.items()
    ]
    print_rows(
        f"metric lines, {mb:g} MiB ({lines} lines, 2 points each)",
        ["command", "median s", "RSS MB"],
        table,
    )
    wall = statistics.median(s.wall_s for s in rows["naga run"])
    print(f"naga run reading metrics: {wall / base:.2f}x the time without naga")


PARTS: dict[str, Any] = {
    "pipe": bench_pipe,
    "terminal": bench_terminal,
    "tmux": bench_tmux,
    "latency": bench_latency,
    "scalars": bench_scalars,
}


if __name__ == "__main__":
    raise SystemExit(main())
