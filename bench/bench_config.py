"""Config parse + resolve of a 200-key config: naga.clicfg vs Hydra's @hydra.main.

Target (issue 4): clicfg parse and resolve of a 200-key config <= 50 ms.

Each tool runs the same program shape in its own venv: 20 groups x 10 keys (ints, floats,
strings, bools, lists, 20 interpolations), a save_dir template, and 10 command-line overrides.
Inside the process we time from calling ``main()`` to the first line of the task function, with
the config library already imported, and, separately, the whole process (``wall``, imports
included). The issue's target is parse + resolve: ``main.compose(...)``. The full row adds what
clicfg does by default before main runs: save_dir created, logging set up, run.lock written;
Hydra's row includes its own output dir and logging.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import NAGA_VENV, PEERS_VENV, bench_env, installed, print_rows, venv_bin

ROUNDS = 15
GROUPS, KEYS = 20, 10


def defaults() -> dict[str, object]:
    cfg: dict[str, object] = {}
    for g in range(GROUPS):
        group: dict[str, object] = {}
        for k in range(KEYS):
            kind = k % 5
            group[f"k{k}"] = (
                k * g
                if kind == 0
                else 0.5 * k
                if kind == 1
                else f"value-{g}-{k}"
                if kind == 2
                else bool(k % 2)
                if kind == 3
                else [g, k, g + k]
            )
        group["k9"] = "${g0.k2}" if g else "base"  # 20 interpolations
        cfg[f"g{g}"] = group
    cfg["save_dir"] = "out/${g0.k2}/${g1.k0}"
    return cfg


OVERRIDES = [f"g{g}.k1={g / 10}" for g in range(10)]

NAGA_PROGRAM = """
import json, sys, time
import omegaconf  # imported before timing: the figure is parse + resolve, not the import
import naga
DEFAULTS = json.loads(sys.argv[1])
marks = {}

@naga.clicfg(DEFAULTS, repos=None)
def main(cfg):
    marks["start"] = time.perf_counter()
    assert cfg.g3.k1 == 0.3 and cfg.g5.k9 == "value-0-2"

t0 = time.perf_counter()
main.cli(sys.argv[2:])
print(json.dumps({"resolve_ms": (marks["start"] - t0) * 1000}))
"""

NAGA_COMPOSE = """
import json, sys, time
import omegaconf
import naga
DEFAULTS = json.loads(sys.argv[1])
main = naga.clicfg(DEFAULTS, repos=None)(lambda cfg: None)
t0 = time.perf_counter()
cfg = main.compose(*sys.argv[2:])
print(json.dumps({"resolve_ms": (time.perf_counter() - t0) * 1000}))
"""

HYDRA_PROGRAM = """
import json, sys, time
import hydra
from hydra.core.config_store import ConfigStore
DEFAULTS = json.loads(sys.argv.pop(1))
ConfigStore.instance().store(name="cfg", node=DEFAULTS)
marks = {}

@hydra.main(config_path=None, config_name="cfg", version_base=None)
def main(cfg):
    marks["start"] = time.perf_counter()
    assert cfg.g3.k1 == 0.3 and cfg.g5.k9 == "value-0-2"

t0 = time.perf_counter()
main()
print(json.dumps({"resolve_ms": (marks["start"] - t0) * 1000}))
"""


def measure(python: Path, program: str, workdir: Path) -> tuple[float, float]:
    """Median in-process resolve time and median process wall time, in ms."""
    script = workdir / "prog.py"
    script.write_text(program)
    resolve, wall = [], []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        done = subprocess.run(
            [str(python), str(script), json.dumps(defaults()), *OVERRIDES],
            cwd=workdir,
            capture_output=True,
            text=True,
            env=bench_env(),
            check=False,
        )
        wall.append((time.perf_counter() - t0) * 1000)
        if done.returncode != 0:
            raise SystemExit(f"{python} failed:\n{done.stderr}")
        resolve.append(json.loads(done.stdout.strip().splitlines()[-1])["resolve_ms"])
    return statistics.median(resolve), statistics.median(wall)


def main() -> None:
    keys = sum(len(v) for v in defaults().values() if isinstance(v, dict)) + 1
    print(f"config: {keys} keys, {len(OVERRIDES)} command-line overrides; medians of {ROUNDS}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        naga_py = venv_bin(NAGA_VENV, "python")
        naga_full = measure(naga_py, NAGA_PROGRAM, work)
        naga_compose = measure(naga_py, NAGA_COMPOSE, work)
        rows.append(("naga clicfg (save_dir, logging, run.lock)", *naga_full))
        rows.append(("naga compose only", *naga_compose))
        peers_py = venv_bin(PEERS_VENV, "python")
        hydra = None
        if installed(peers_py, "hydra") and _has(peers_py, "hydra"):
            hydra = measure(peers_py, HYDRA_PROGRAM, work)
            rows.append(("hydra @hydra.main", *hydra))
    print_rows(
        "200-key config, 10 overrides",
        ["tool", "parse+resolve ms", "process wall ms"],
        [[name, f"{r:.1f}", f"{w:.0f}"] for name, r, w in rows],
    )
    target = "meets" if naga_compose[0] <= 50 else "MISSES"
    print(
        f"naga parse+resolve (compose): {naga_compose[0]:.1f} ms ({target} the 50 ms target);"
        f" everything before main starts: {naga_full[0]:.1f} ms"
    )
    if hydra:
        print(
            f"hydra / naga: before the task function runs {hydra[0] / naga_full[0]:.1f}x,"
            f" process wall {hydra[1] / naga_full[1]:.1f}x"
        )


def _has(python: Path, module: str) -> bool:
    probe = subprocess.run(
        [str(python), "-c", f"import {module}"], capture_output=True, check=False
    )
    if probe.returncode:
        print(f"skip {module}: not installed in {python} (bench/setup_peers.sh installs it)")
    return probe.returncode == 0


if __name__ == "__main__":
    sys.exit(main())
