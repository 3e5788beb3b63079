"""Shared helpers for the naga benchmarks: venv paths, isolated project dirs, timing, tables."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
NAGA_VENV = BENCH_DIR / ".venv-naga"
PEERS_VENV = BENCH_DIR / ".venv-peers"
GUILD_VENV = BENCH_DIR / ".venv-guild"
AIM_VENV = BENCH_DIR / ".venv-aim"

# Removed from every timed process: DONTWRITEBYTECODE would make each import recompile from
# source, UNBUFFERED would turn every sys.stdout.write into a syscall. Neither is a user default.
_STRIPPED_ENV = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")

# Where each tool keeps its store; the value is formatted with the project's store dir.
STORE_ENV: dict[str, tuple[str, str]] = {
    "naga": ("NAGA_HOME", "{store}"),
    "yanex": ("YANEX_EXPERIMENTS_DIR", "{store}"),
    "guild": ("GUILD_HOME", "{store}"),
    "mlflow": ("MLFLOW_TRACKING_URI", "sqlite:///{store}/mlflow.db"),
}


def venv_bin(venv: Path, name: str) -> Path:
    """Path of executable `name` inside `venv`."""
    return venv / "bin" / name


def naga_python() -> Path:
    """The interpreter every benchmark uses as its baseline (and as the child of naga)."""
    python = venv_bin(NAGA_VENV, "python")
    if not python.exists():
        raise SystemExit(f"{python} missing: run bench/setup_peers.sh first")
    return python


def installed(executable: Path, label: str) -> bool:
    """True if `executable` exists; otherwise print why `label` is skipped."""
    if executable.exists():
        return True
    print(f"skip {label}: {executable} not found (see bench/results/setup.log)")
    return False


def bench_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent environment minus the variables that distort timings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Project:
    """A throwaway project: `root/proj` is a committed git repo, `root/store` the tool store."""

    root: Path
    tool: str

    @property
    def proj(self) -> Path:
        return self.root / "proj"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def env(self) -> dict[str, str]:
        """Benchmark env with HOME and the tool's store pointed into the temp dir."""
        extra = {"HOME": str(self.home)}
        if self.tool in STORE_ENV:
            var, template = STORE_ENV[self.tool]
            extra[var] = template.format(store=self.store)
        return bench_env(extra)

    def run(
        self, cmd: Sequence[str | Path], timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `cmd` untimed in the project with its env; output captured as text."""
        return subprocess.run(
            [str(c) for c in cmd],
            cwd=self.proj,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )


def _git(proj: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        cwd=proj,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=bench_env({"HOME": str(proj.parent / "home")}),
    )


@contextmanager
def project(tool: str, files: Mapping[str, str]) -> Iterator[Project]:
    """Fresh temp project for `tool` with `files` written and committed (clean worktree)."""
    root = Path(tempfile.mkdtemp(prefix=f"naga-bench-{tool}-"))
    try:
        p = Project(root, tool)
        for d in (p.proj, p.store, p.home):
            d.mkdir()
        for name, text in files.items():
            (p.proj / name).write_text(text)
        _git(p.proj, "init", "-q")
        _git(p.proj, "add", "-A")
        _git(p.proj, "commit", "-q", "-m", "bench")
        yield p
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Timing:
    """Wall-clock samples (seconds) for one labelled command."""

    label: str
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        if len(self.samples) < 2:
            return self.samples[0]
        return statistics.quantiles(self.samples, n=10, method="inclusive")[-1]


def run_once(cmd: Sequence[str | Path], env: Mapping[str, str], cwd: Path) -> float:
    """Wall time of one run with all stdio on /dev/null; raises if the command fails."""
    start = time.perf_counter()
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise command_failed(cmd, env, cwd, proc.returncode)
    return elapsed


def command_failed(
    cmd: Sequence[str | Path], env: Mapping[str, str], cwd: Path, code: int
) -> RuntimeError:
    """Error for a failed timed run; re-runs `cmd` once, untimed, to show its stderr tail."""
    rerun = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        check=False,
    )
    tail = "\n    ".join(rerun.stderr.strip().splitlines()[-5:])
    return RuntimeError(f"exit {code}: {' '.join(map(str, cmd))} (cwd={cwd})\n    {tail}")


def time_command(
    label: str,
    cmd: Sequence[str | Path],
    env: Mapping[str, str],
    cwd: Path,
    n: int,
    warmup: int = 1,
) -> Timing:
    """Run `cmd` `warmup` times untimed, then `n` times timed."""
    for _ in range(warmup):
        run_once(cmd, env, cwd)
    return Timing(label, tuple(run_once(cmd, env, cwd) for _ in range(n)))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f}"


def print_table(
    title: str,
    rows: Sequence[Timing],
    baseline: Timing,
    reference: str | None,
    info: Collection[str] = (),
) -> None:
    """Print median/p90, overhead over `baseline`, and overhead ratio to row `reference`.

    Rows named in `info` are shown for context only (no ratio).
    """
    ref = next((r for r in rows if r.label == reference), None)
    ref_over = ref.median - baseline.median if ref else None
    width = max(len(r.label) for r in (baseline, *rows))
    print(f"\n== {title} ==")
    print(f"{'command':<{width}}  {'median ms':>9}  {'p90 ms':>9}  {'overhead':>9}  overhead ratio")
    for row in (baseline, *rows):
        over = row.median - baseline.median
        ratio = "-"
        if row is not baseline and row.label not in info and ref_over and ref_over > 0:
            ratio = f"{over / ref_over:.2f}x"
        over_s = "-" if row is baseline else _ms(over)
        print(f"{row.label:<{width}}  {_ms(row.median)}  {_ms(row.p90)}  {over_s:>9}  {ratio}")
    if reference:
        print(f"(overhead = median - baseline median; ratio = overhead / {reference!r} overhead)")


def print_rows(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A titled table of text cells: first and last column left-aligned, numbers right."""
    print(f"\n== {title} ==")
    if not rows:
        print("(no rows measured)")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, (c, w) in enumerate(zip(cells, widths, strict=True)):
            out.append(c.ljust(w) if i in (0, len(cells) - 1) else c.rjust(w))
        return "  ".join(out).rstrip()

    print(line(headers))
    for r in rows:
        print(line(r))
