"""Recording installed packages: what naga pays per run, next to what the usual tools cost.

1. Listing the packages of an environment: `pip freeze` and `pip list --format=json` (what one
   would run, or a tracker would call), naga's cold listing (one interpreter started with
   importlib.metadata: what a cache miss costs, on a thread once the command runs), and
   naga's cached listing (stat of each sys.path directory plus reading one JSON file).
2. `naga run true`, whose end waits for the listing: with the per-interpreter cache warm (every
   run after the first), and cold (a fresh cache each time: a run after a pip install).

Runs with the bench naga venv when its naga has the packages capture, else with the
interpreter running this script (the dev venv: `.venv/bin/python bench/bench_packages.py`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from common import NAGA_VENV, Timing, bench_env, print_table, project, time_command, venv_bin


def interpreter() -> Path:
    """The bench naga venv's python when its naga has the packages capture, else this one."""
    python = venv_bin(NAGA_VENV, "python")
    check = [str(python), "-c", "import naga.capture.packages"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    return Path(sys.executable)


def cached_listing_s(python: Path, n: int) -> Timing:
    """naga's cache hit, timed in-process (it runs on naga's thread, not as a command)."""
    from naga.capture.packages import list_packages

    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["NAGA_PACKAGES_CACHE"] = cache
        list_packages(str(python), env)  # fills the cache
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            listed = list_packages(str(python), env)
            samples.append(time.perf_counter() - start)
            assert listed is not None and listed[2]  # a cache hit
    del os.environ["NAGA_PACKAGES_CACHE"]
    return Timing("naga cached listing (in naga's thread)", tuple(samples))


def listing_rows(python: Path, n: int, cwd: Path) -> list[Timing]:
    from naga.capture.packages import LISTING_CODE

    env = bench_env()
    rows = [
        time_command(
            f"naga cold listing ({python.name} -c ...)",
            [python, "-c", LISTING_CODE, python],
            env,
            cwd,
            n,
        ),
        cached_listing_s(python, n),
    ]
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    if subprocess.run([*pip, "--version"], capture_output=True).returncode == 0:
        rows.insert(
            0, time_command("pip list --format=json", [*pip, "list", "--format=json"], env, cwd, n)
        )
        rows.insert(0, time_command("pip freeze", [*pip, "freeze"], env, cwd, n))
    return rows


def cold_runs(naga: Sequence[str | Path], env: dict[str, str], cwd: Path, n: int) -> Timing:
    samples = []
    for _ in range(n):
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            subprocess.run(
                [*map(str, naga), "run", "true"],
                cwd=cwd,
                check=True,
                env={**env, "NAGA_PACKAGES_CACHE": cache},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            samples.append(time.perf_counter() - start)
    return Timing("naga run true (packages cache cold)", tuple(samples))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20, help="timed runs per command (default 20)")
    args = parser.parse_args(argv)
    python = interpreter()
    naga = [python, "-m", "naga"]
    print(f"packages capture, n={args.n}; interpreter: {python}")
    with project("naga", {"pass.py": "pass\n"}) as p:
        rows = listing_rows(python, args.n, p.proj)
        nothing = Timing("(nothing)", (0.0,))
        print_table("listing an environment's packages", rows, nothing, "pip freeze")
        env = {**p.env(), "NAGA_PACKAGES_CACHE": str(p.root / "packages-cache")}
        baseline = time_command("true (baseline)", ["true"], env, p.proj, args.n)
        warm = time_command(
            "naga run true (packages cache warm)", [*naga, "run", "true"], env, p.proj, args.n
        )
        cold = cold_runs(naga, env, p.proj, args.n)
        print_table("naga run true", [warm, cold], baseline, "naga run true (packages cache warm)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
