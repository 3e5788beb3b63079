"""Wrapper overhead: how much wall time a tracker adds around a script that does nothing.

Baseline is `<.venv-naga python> pass.py`. Each tool runs in its own fresh temp git project
(everything committed) with its store env var pointed into the temp dir.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import (
    GUILD_VENV,
    NAGA_VENV,
    PEERS_VENV,
    Timing,
    installed,
    naga_python,
    print_table,
    project,
    time_command,
    venv_bin,
)

PASS_PY = "pass\n"
MLFLOW_PY = "import mlflow\n\nmlflow.start_run()\nmlflow.end_run()\n"
MLFLOW_LABEL = "mlflow start/end_run in-script (not a wrapper)"
NAGA_LABEL = "naga run -- python pass.py"
INFO_LABELS = ("bare python (.venv-peers)", "bare python (.venv-guild)")
TARGET_MS = 50.0


@dataclass(frozen=True)
class Case:
    """One timed command, run in a fresh project whose store env var belongs to `tool`."""

    label: str
    tool: str
    argv: tuple[str | Path, ...]

    @property
    def executable(self) -> Path:
        return Path(self.argv[0])


def cases(python: Path) -> list[Case]:
    peers_py, guild_py = venv_bin(PEERS_VENV, "python"), venv_bin(GUILD_VENV, "python")
    return [
        Case(INFO_LABELS[0], "bare", (peers_py, "pass.py")),
        Case(INFO_LABELS[1], "bare", (guild_py, "pass.py")),
        Case(NAGA_LABEL, "naga", (venv_bin(NAGA_VENV, "naga"), "run", "--", python, "pass.py")),
        Case("yanex run pass.py", "yanex", (venv_bin(PEERS_VENV, "yanex"), "run", "pass.py")),
        Case(
            "guild run pass.py -y", "guild", (venv_bin(GUILD_VENV, "guild"), "run", "pass.py", "-y")
        ),
        Case(MLFLOW_LABEL, "mlflow", (peers_py, "mlflow_run.py")),
    ]


def measure(case: Case, n: int) -> Timing:
    files = {"pass.py": PASS_PY, "mlflow_run.py": MLFLOW_PY}
    with project(case.tool, files) as p:
        return time_command(case.label, case.argv, p.env(), p.proj, n)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=30, help="timed runs per command (default 30)")
    args = parser.parse_args(argv)

    python = naga_python()
    print(f"wrapper overhead, n={args.n} (+1 warm-up each); child interpreter: {python}")
    baseline = measure(Case("bare python pass.py (baseline)", "bare", (python, "pass.py")), args.n)
    rows: list[Timing] = []
    for case in cases(python):
        if installed(case.executable, case.label):
            print(f"  timing: {case.label}", flush=True)
            try:
                rows.append(measure(case, args.n))
            except RuntimeError as exc:  # one broken peer must not sink the whole table
                print(f"  FAILED: {exc}")

    print_table("wrapper overhead", rows, baseline, reference=NAGA_LABEL, info=INFO_LABELS)
    report_target(rows, baseline)
    return 0


def report_target(rows: Sequence[Timing], baseline: Timing) -> None:
    naga = next((r for r in rows if r.label == NAGA_LABEL), None)
    if naga is None:
        print("\nnaga: not measured")
        return
    overhead_ms = (naga.median - baseline.median) * 1000
    verdict = "OK" if overhead_ms <= TARGET_MS else "OVER TARGET"
    print(f"\nnaga wrapper overhead {overhead_ms:.1f} ms (target <= {TARGET_MS:.0f} ms): {verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
