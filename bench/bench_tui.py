"""The dashboard with 10,000 runs: time to the first painted table, scrolling and filtering.

    unset PYTHONDONTWRITEBYTECODE; .venv/bin/python bench/bench_tui.py [--runs 10000]

First paint is measured from the process start (the parent's clock before spawning) to the
moment the headless app has drawn the table with its rows; ``naga ls`` on the same store is
the reference. Scrolling is a page-down through the table, drawn (every visible line rendered);
filtering is from a changed filter to the rows on screen, for each kind of filter.
There is no peer terminal dashboard to run side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STATUSES = ("completed", "failed", "cancelled", "crashed", "completed")
CHILD = """
import sys, time
from naga.tui.app import NagaApp

class Timed(NagaApp):
    def _painted(self):
        super()._painted()
        print(repr(time.time()), flush=True)
        self.exit()

Timed().run(headless=True, size=(120, 40))
"""


def fill(store: Path, count: int) -> None:
    """``count`` finished runs with params and metric summaries, written by naga's writer."""
    from naga.store.files import create_run_dir, save_meta
    from naga.store.layout import StoreLayout
    from naga.store.timefmt import iso_from_ts

    layout = StoreLayout(str(store))
    t0 = time.time() - count * 60
    for i in range(count):
        lr = 0.001 * (i % 97)
        loss = 1 / (1 + i % 113)
        save_meta(
            layout,
            {
                "id": create_run_dir(layout),
                "name": f"exp-{i}" if i % 3 == 0 else None,
                "status": STATUSES[i % len(STATUSES)],
                "exit_code": 0,
                "command": f"python train.py --lr {lr:.3f} --seed {i}",
                "cwd": "/project",
                "started_at": iso_from_ts(t0 + i * 60),
                "finished_at": iso_from_ts(t0 + i * 60 + 30),
                "duration_s": 30.0,
                "tags": ["bench", f"sweep{i % 10}"],
                "git": {"commit": "a4f2c1d9e8b7", "branch": "main", "dirty": i % 2 == 0},
                "output": {"bytes": 0},
                "params": {"lr": lr, "seed": i},
                "metric_stats": {"loss": {"last": loss, "min": loss, "max": 1, "count": 9}},
            },
            fsync=False,
        )


def env_for(store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "NAGA_HOME": str(store)}


def first_paint(store: Path) -> float:
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env_for(store), capture_output=True, check=True
    )
    return float(done.stdout.decode().strip().splitlines()[-1]) - start


def naga_ls(store: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "naga", "ls"], env=env_for(store), capture_output=True, check=True
    )
    return time.perf_counter() - start


async def interactive(store: Path, pages: int) -> tuple[list[float], dict[str, float]]:
    """Seconds per drawn page-down, and per filter from typing to rows on screen."""
    os.environ["NAGA_HOME"] = str(store)
    from naga.tui.app import NagaApp

    app = NagaApp()
    async with app.run_test(size=(120, 40)) as pilot:
        while app.snapshot is None or not app.table.rows:
            await pilot.pause(0.05)
        table = app.table
        per_page = []
        for _ in range(pages):
            start = time.perf_counter()
            table.action_page(1)
            for y in range(table.size.height):
                table.render_line(y)
            per_page.append(time.perf_counter() - start)
        filters = {}
        for text in ("exp-99", "failed", "#sweep3", "lr<0.01", "param.seed>=9990", ""):
            start = time.perf_counter()
            app._apply_filter(text, quiet=False)
            while app.snapshot is None or app.snapshot.query != app.query_state:
                await pilot.pause(0.005)
            filters[text or "(cleared)"] = time.perf_counter() - start
            filters[f"{text or '(cleared)'} rows"] = len(app.table.rows)
    return per_page, filters


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="naga-bench-tui-") as tmp:
        store = Path(tmp) / "store"
        fill(store, args.runs)
        subprocess.run(
            [sys.executable, "-m", "naga", "reindex"], env=env_for(store), capture_output=True
        )
        paints = [first_paint(store) for _ in range(args.repeat)]
        lss = [naga_ls(store) for _ in range(args.repeat)]
        per_page, filters = asyncio.run(interactive(store, 50))
    print(f"naga dashboard, {args.runs:,} runs in the store ({args.repeat} starts each)")
    print(
        f"  first paint of the table  median {statistics.median(paints):.3f} s"
        f"  (min {min(paints):.3f}, max {max(paints):.3f})"
    )
    print(f"  naga ls, for reference    median {statistics.median(lss):.3f} s")
    print(
        f"  page-down, drawn          median {statistics.median(per_page) * 1000:.2f} ms"
        f"  (max {max(per_page) * 1000:.2f} ms, {len(per_page)} pages)"
    )
    for text, seconds in filters.items():
        if not text.endswith(" rows"):
            rows = filters[f"{text} rows"]
            print(f"  filter {text!r:<20} {seconds * 1000:7.1f} ms to {rows:>6,.0f} rows on screen")


if __name__ == "__main__":
    main()
