"""Listing a large store: `naga ls` and `naga ls --all --json` with 100,000 runs.

Targets (issue: the foundation): `naga ls` (default limit 20) <= 150 ms and
`naga ls --all --json` <= 3 s with 100,000 runs in the store. Also reported: the one-off
`naga reindex` of the whole store, and `naga ls` right after a new run was recorded (the index
then re-reads only what changed).

The store is filled through naga's own writer (the same atomic meta.json and markers as
`naga run`), with records shaped like real ones, then indexed once. The fill's change markers are
then removed, as naga prunes them for a history recorded over weeks.

    bench/.venv-naga/bin/python bench/bench_ls.py --runs 100000
"""

from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import NAGA_VENV, Timing, bench_env, installed, time_command, venv_bin

STATUSES = ("completed", "completed", "completed", "failed", "cancelled")


def template() -> dict[str, object]:
    """One real run record, recorded by naga itself, to copy."""
    with tempfile.TemporaryDirectory() as tmp:
        env = bench_env({"NAGA_HOME": tmp})
        naga = venv_bin(NAGA_VENV, "naga")
        subprocess.run(
            [str(naga), "run", "--tag", "bench", "python3", "-c", "pass"],
            env=env,
            check=True,
            capture_output=True,
        )
        import json

        out = subprocess.run(
            [str(naga), "show", "--json"], env=env, check=True, capture_output=True
        ).stdout
        meta: dict[str, object] = json.loads(out)
        return meta


def fill(store: Path, count: int) -> float:
    """Write ``count`` run directories with naga's writer; returns seconds taken."""
    from naga.store.files import create_run_dir, save_meta
    from naga.store.layout import StoreLayout
    from naga.store.timefmt import iso_from_ts

    layout = StoreLayout(str(store))
    base = template()
    start = time.perf_counter()
    t0 = time.time() - count * 60
    for i in range(count):
        meta = copy.deepcopy(base)
        meta["id"] = create_run_dir(layout)
        meta["name"] = f"exp-{i}" if i % 3 == 0 else None
        meta["status"] = STATUSES[i % len(STATUSES)]
        meta["started_at"] = iso_from_ts(t0 + i * 60)
        meta["finished_at"] = iso_from_ts(t0 + i * 60 + 30)
        meta["command"] = f"python train.py --lr {0.001 * (i % 97):.3f} --seed {i}"
        meta["tags"] = ["bench", f"sweep{i % 10}"]
        save_meta(layout, meta, fsync=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--n", type=int, default=15, help="timed repetitions of `naga ls`")
    parser.add_argument("--keep", type=Path, help="keep the store in this directory")
    args = parser.parse_args()
    naga = venv_bin(NAGA_VENV, "naga")
    if not installed(naga, "naga"):
        sys.exit(1)
    root = args.keep or Path(tempfile.mkdtemp(prefix="naga-bench-ls-"))
    store = root / "store"
    try:
        if not (store / "runs").is_dir():
            print(f"writing {args.runs:,} runs into {store} ...", flush=True)
            print(f"  fill: {fill(store, args.runs):.1f} s")
        # The history was recorded over weeks: its change markers have long been pruned.
        shutil.rmtree(store / "touched", ignore_errors=True)
        env = bench_env({"NAGA_HOME": str(store)})
        t0 = time.perf_counter()
        subprocess.run([str(naga), "reindex"], env=env, check=True, capture_output=True)
        reindex = time.perf_counter() - t0
        timings = [
            time_command("naga ls", [naga, "ls"], env, root, args.n),
            time_command("naga ls --all --json", [naga, "ls", "--all", "--json"], env, root, 3),
            time_command(
                "naga ls --status failed --tag sweep3",
                [naga, "ls", "--status", "failed", "--tag", "sweep3"],
                env,
                root,
                args.n,
            ),
        ]
        after_new = []
        for _ in range(5):
            subprocess.run([str(naga), "run", "true"], env=env, check=True, capture_output=True)
            after_new.append(time_command("", [naga, "ls"], env, root, 1, warmup=0).samples[0])
        timings.append(Timing("naga ls right after a new run", tuple(after_new)))
        report(args.runs, reindex, timings)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def report(runs: int, reindex: float, timings: list[Timing]) -> None:
    targets = {"naga ls": 0.150, "naga ls --all --json": 3.0}
    print(f"\nListing {runs:,} runs (median of repeated runs, wall time)")
    print(f"  {'naga reindex (one-off, full rebuild)':42s} {reindex * 1000:9.1f} ms")
    for t in timings:
        target = targets.get(t.label)
        verdict = (
            ""
            if target is None
            else f"  target <= {target * 1000:.0f} ms: "
            + (f"ok ({target / t.median:.1f}x headroom)" if t.median <= target else "MISSED")
        )
        print(f"  {t.label:42s} {t.median * 1000:9.1f} ms  (p90 {t.p90 * 1000:.1f}){verdict}")


if __name__ == "__main__":
    main()
