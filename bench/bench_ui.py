"""naga ui against MLflow's UI, in a real headless Chromium: the runs table, a big chart, live.

    .venv/bin/python bench/bench_ui.py [--runs 100000] [--points 100000] [--mlflow-runs 2000]

1. A store of ``--runs`` finished runs (bench_tui's filler: params, metric summaries) and 10 runs
   of ``--points`` points of ``loss`` each, logged through ``naga.run``.
2. ``naga ui`` on it; Chromium (Debian's, through Playwright) opens the page: the time from
   ``goto`` to the first rows painted, and to the whole table loaded (every run sortable); the
   time to a chart of the 10 runs x ``--points`` points drawn; the time from a new run written
   to the store to its row on the page, with no reload.
3. ``naga export mlflow`` sends ``--mlflow-runs`` filler runs and the same 10 series runs to a
   local ``mlflow server`` (SQLite); Chromium opens MLflow's UI: the experiment's runs table
   (first rows painted), the metric page of the 10 runs (a plot drawn), and whether a run
   created through the MLflow client shows up without a reload (waited for up to 40 s).
   MLflow gets fewer runs because exporting 100,000 takes hours here; it is said in the output.

Each browser figure is the median of ``--rounds`` fresh page loads (a new browser context each,
nothing cached). On the shared 2-core machine (load 6-12), 2026-12-06:

                                         naga ui, 100,000 runs    MLflow 3.17.2 UI, 2,000 runs
    table: first rows painted                  0.83 s                   5.30 s
    table: all rows loaded                     1.06 s                   -
    chart: 10 runs x 100,000 points            0.81 s                   9.71 s
    live: a new run on the page                0.26 s                  29 s (its 30 s refresh)
    naga report, 100 runs x 3 x 10,000 points: 3.2 MB, written in 1.1 s, drawn in 0.6 s
    (exporting 2,000 runs + 10 x 100,000 points to mlflow server took 554 s)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_tui import fill
from mlflow_server import MlflowServer  # the tests' server fixture, reused

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERIES = """
import sys, naga
points, index = int(sys.argv[1]), int(sys.argv[2])
with naga.run(name=f"series-{index}", params={"index": index}):
    for step in range(points):
        naga.log({"loss": 1.0 / (1 + step * (index + 1) * 1e-4) + (step % 97) * 1e-4}, step=step)
"""
SWEEP = """
import math, sys, naga
runs, points = int(sys.argv[1]), int(sys.argv[2])
for r in range(runs):
    with naga.run(name=f"task-{r}", params={"lr": 10 ** -(1 + r % 4), "seed": r}):
        for step in range(points):
            x = step / points
            loss = math.exp(-5 * x) + 0.01 * math.sin(step)
            naga.log({"loss": loss, "acc": x, "lr": 0.1 * (1 - x)}, step=step)
"""
LIVE_MLFLOW = """
import sys, mlflow
client = mlflow.MlflowClient(sys.argv[1])
run = client.create_run(sys.argv[2], run_name=sys.argv[3])
client.set_terminated(run.info.run_id)
"""


def env_for(store: Path) -> dict[str, str]:
    return {**os.environ, "NAGA_HOME": str(store), "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "1"}


def make_store(store: Path, runs: int, points: int) -> list[str]:
    """Fill ``store`` (unless it has runs already) and return the ids of the 10 series runs."""
    started = time.perf_counter()
    if not (store / "runs").is_dir():
        fill(store, runs)
        age_markers(store)
    if not _series(store):
        for index in range(10):
            subprocess.run(
                [sys.executable, "-c", SERIES, str(points), str(index)],
                env=env_for(store),
                check=True,
                capture_output=True,
            )
    print(f"store: {runs:,} runs + 10 x {points:,} points in {time.perf_counter() - started:.0f} s")
    return _series(store)


def age_markers(store: Path, hours: int = 3) -> None:
    """Move the filler's change markers ``hours`` back: a real store of 100,000 runs was
    recorded over weeks, so the hour a new run lands in does not hold every other run's marker
    too (the index re-reads the markers of an hour that changed)."""
    from naga.store.layout import current_bucket

    touched = store / "touched"
    for bucket in os.listdir(touched):
        older = current_bucket(time.time() - hours * 3600)
        if bucket != older and not (touched / older).exists():
            os.rename(touched / bucket, touched / older)


def _series(store: Path) -> list[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "naga", "ls", "--name", "series-*", "--json", "-n", "10"],
        env=env_for(store),
        check=True,
        capture_output=True,
    )
    return [run["id"] for run in json.loads(listed.stdout)]


@contextmanager
def naga_ui(store: Path) -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "naga", "ui"],
        env=env_for(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()
        yield server.stdout.readline().decode().strip()
    finally:
        server.terminate()
        server.wait(timeout=20)
        if server.stdout is not None:
            server.stdout.close()


def timed(browser: Any, rounds: int, step: Callable[[Any], float]) -> list[float]:
    found = []
    for _ in range(rounds):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            found.append(step(context.new_page()))
        finally:
            context.close()
    return found


def naga_figures(
    browser: Any, url: str, ids: list[str], runs: int, rounds: int, store: Path
) -> dict[str, list[float]]:
    base = url.split("/?")[0]
    figures: dict[str, list[float]] = {}

    def table(page: Any) -> float:
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("#rows .trow.data")
        page.evaluate("() => new Promise(requestAnimationFrame)")
        painted = time.perf_counter() - start
        page.wait_for_selector(LOADED, timeout=120_000)
        figures.setdefault("table: all rows loaded", []).append(time.perf_counter() - start)
        return painted

    figures["table: first rows painted"] = timed(browser, rounds, table)

    def chart(page: Any) -> float:
        page.goto(url)  # the token, then the chart page itself is timed
        page.wait_for_selector("#rows .trow.data")
        start = time.perf_counter()
        page.goto(f"{base}/?x=1#/chart?runs={','.join(ids)}&key=loss")
        page.wait_for_selector("#chart[data-series='10'] canvas", timeout=60_000)
        page.evaluate("() => new Promise(requestAnimationFrame)")
        return time.perf_counter() - start

    figures[f"chart: 10 runs x {POINTS:,} points drawn"] = timed(browser, rounds, chart)

    def live(page: Any) -> float:
        page.goto(url)
        page.wait_for_selector(LOADED, timeout=120_000)
        name = f"live-{time.time_ns()}"
        start = time.perf_counter()
        write_run(store, name)
        page.wait_for_selector(f"#rows a:text-is('{name}')", timeout=30_000)
        return time.perf_counter() - start

    figures["live: a new run on the page"] = timed(browser, rounds, live)
    return figures


def write_run(store: Path, name: str) -> None:
    """A finished run written as naga's recorder writes one (meta.json and its marker)."""
    from naga.store.files import create_run_dir, save_meta
    from naga.store.layout import StoreLayout
    from naga.store.timefmt import iso_from_ts

    layout = StoreLayout(str(store))
    now = time.time()
    save_meta(
        layout,
        {
            "id": create_run_dir(layout),
            "name": name,
            "status": "completed",
            "exit_code": 0,
            "command": "python train.py",
            "cwd": "/project",
            "started_at": iso_from_ts(now + 3600),  # newest: the top row
            "finished_at": iso_from_ts(now + 3601),
            "duration_s": 1.0,
            "tags": [],
            "output": {"bytes": 0},
        },
        fsync=False,
    )


def mlflow_figures(
    browser: Any, root: Path, runs: int, points: int, rounds: int
) -> dict[str, list[float]]:
    store = root / "mlflow-source"
    fill(store, runs)
    for index in range(10):
        subprocess.run(
            [sys.executable, "-c", SERIES, str(points), str(index)],
            env=env_for(store),
            check=True,
            capture_output=True,
        )
    server = MlflowServer(root / "mlflow", workers=4)
    server.start()
    figures: dict[str, list[float]] = {}
    try:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "naga",
                "export",
                "mlflow",
                "--all",
                "--tracking-uri",
                server.uri,
                "--experiment",
                "bench",
            ],
            env=env_for(store),
            check=True,
            capture_output=True,
        )
        print(f"mlflow: exported {runs:,} + 10 runs in {time.perf_counter() - started:.0f} s")
        import mlflow

        client = mlflow.MlflowClient(server.uri)
        experiment = client.get_experiment_by_name("bench").experiment_id
        exp_url = f"{server.uri}/#/experiments/{experiment}/runs?workflowType=machine_learning"

        def table(page: Any) -> float:
            start = time.perf_counter()
            page.goto(exp_url)
            page.get_by_text("series-9").first.wait_for(timeout=120_000)
            page.evaluate("() => new Promise(requestAnimationFrame)")
            return time.perf_counter() - start

        figures["table: first rows painted"] = timed(browser, rounds, table)

        def chart(page: Any) -> float:
            start = time.perf_counter()  # the chart view draws the 10 newest runs: the series
            page.goto(exp_url + "&compareRunsMode=CHART")
            page.wait_for_function(PLOTTED, timeout=120_000)
            return time.perf_counter() - start

        try:
            figures[f"chart: 10 runs x {points:,} points drawn"] = timed(browser, rounds, chart)
        except Exception as exc:  # the metric page's layout differs between MLflow versions
            print(f"mlflow chart not measured: {str(exc).splitlines()[0]}")

        def live(page: Any) -> float:
            page.goto(exp_url)
            page.get_by_text("series-9").first.wait_for(timeout=120_000)
            name = f"live-{time.time_ns()}"
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", LIVE_MLFLOW, server.uri, experiment, name],
                check=True,
                capture_output=True,
            )
            try:
                page.get_by_text(name).first.wait_for(timeout=40_000)
            except Exception:
                return float("inf")
            return time.perf_counter() - start

        figures["live: a new run on the page"] = timed(browser, 1, live)
    finally:
        server.stop()
    return figures


POINTS = 100_000
PLOTTED = "() => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length >= 10"
LOADED = "body[data-rows]:not([data-rows=''])"  # the whole table is in the page


def report_size(root: Path, runs: int = 100, points: int = 10_000) -> None:
    """``naga report`` of a sweep: ``runs`` runs x 3 metrics x ``points`` points."""
    store = root / "sweep"
    subprocess.run(
        [sys.executable, "-c", SWEEP, str(runs), str(points)], env=env_for(store), check=True
    )
    out = root / "report.html"
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "naga", "report", "-o", str(out)],
        env=env_for(store),
        check=True,
        capture_output=True,
    )
    took = time.perf_counter() - start
    print(
        f"\nnaga report, {runs} runs x 3 metrics x {points:,} points:"
        f" {out.stat().st_size / 1e6:.1f} MB, written in {took:.1f} s"
    )


def show(title: str, figures: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    for what, seconds in figures.items():
        med = statistics.median(seconds)
        shown = "not without a reload (40 s)" if med == float("inf") else f"{med:6.2f} s"
        print(f"  {what:44} {shown}   ({', '.join(f'{s:.2f}' for s in seconds)})")


def main() -> None:
    global POINTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--mlflow-runs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", type=Path, help="Keep (or reuse) the naga store here.")
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    POINTS = args.points
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="naga-bench-ui-") as tmp:
        store = args.store or Path(tmp) / "store"
        report_size(Path(tmp))
        ids = make_store(store, args.runs, args.points)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            with naga_ui(store) as url:
                show(
                    f"naga ui, {args.runs:,} runs",
                    naga_figures(browser, url, ids, args.runs, args.rounds, store),
                )
            if not args.no_mlflow:
                figures = mlflow_figures(
                    browser, Path(tmp), args.mlflow_runs, args.points, args.rounds
                )
                show(
                    f"MLflow {__import__('mlflow').__version__} UI, {args.mlflow_runs:,} runs",
                    figures,
                )
            browser.close()


if __name__ == "__main__":
    main()
