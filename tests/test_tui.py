"""The dashboard through Textual's own pilot: real runs in a real store, real key presses.

Runs come from ``naga.run()`` in this process, from ``naga run`` subprocesses, or (for the
snapshots, which need fixed ids and times) from records written with the store's own
``save_meta``. Snapshots are the screen's text and its SVG screenshot under
``tests/snapshots/``; ``NAGA_UPDATE_SNAPSHOTS=1`` rewrites them after a deliberate change.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, naga_cmd
from textual.pilot import Pilot

import naga
from naga.store.files import save_meta
from naga.store.layout import StoreLayout
from naga.tui.app import NagaApp, RunsScreen
from naga.tui.compare import CompareScreen
from naga.tui.details import DetailsScreen
from naga.tui.dialogs import ConfirmScreen, HelpScreen, PromptScreen
from naga.tui.logview import LogScreen, LogView
from naga.tui.plot import PlotScreen
from naga.tui.table import RunTable

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # runs recorded here take tmp_path's (absent) git state
    monkeypatch.setenv("TZ", "UTC")  # snapshot times read the same everywhere
    time.tzset()


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop (the pilot needs one)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def until(pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the dashboard"
        await pilot.pause(0.05)


async def loaded(pilot: Pilot[Any], count: int | None = None) -> NagaApp:
    app = pilot.app
    assert isinstance(app, NagaApp)
    await until(pilot, lambda: app.snapshot is not None and app._runs_ready())
    if count is not None:
        await until(pilot, lambda: len(app.table.rows) == count)
    await pilot.pause(0.1)
    return app


def screen_text(app: NagaApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(s.text for s in strip).rstrip() for strip in strips)


def sdk_runs() -> list[str]:
    ids = []
    for lr in (0.1, 0.01):
        with naga.run(name=f"lr{lr}", params={"lr": lr, "opt": "adam"}, tags=["sweep"]) as run:
            for step in range(30):
                run.log({"loss": 1 / (1 + step * lr), "acc": step * lr / 3}, step=step)
        ids.append(run.id)
    return ids


def wrapped_run(naga_cli: Naga, *command: str, name: str = "wrapped") -> str:
    done = naga_cli("run", "--name", name, "--", *command)
    assert b"naga" in done.stderr
    runs = json.loads(naga_cli("ls", "--json", "--name", name).stdout)
    return str(runs[0]["id"])


# -- the screens, key by key ------------------------------------------------------------------


@sync
async def test_pilot_walks_every_screen(naga_cli: Naga) -> None:
    sdk = sdk_runs()
    script = "import sys; print('\\033[31mred\\033[0m line'); print('plain'); sys.exit(3)"
    failed = wrapped_run(naga_cli, sys.executable, "-c", script, name="boom")
    async with NagaApp().run_test(size=(80, 24)) as pilot:
        app = await loaded(pilot, 3)
        assert [r.id for r in app.table.rows] == [failed, sdk[1], sdk[0]]
        text = screen_text(app)
        assert "3 runs" in text and "✗ failed" in text and "✓ completed" in text
        for key in ("q Quit", "? Help", "/ Filter", "s Sort", "x Delete", "y Copy id"):
            assert key in text  # every key of the screen, even at 80 columns
        assert "boom" in text and "exit 3" in text  # the pane under the table

        await pilot.press("d")
        assert isinstance(app.screen, DetailsScreen)
        details = screen_text(app)
        assert failed in details and "exit 3" in details and "Timing" in details
        await pilot.press("l")  # from the details straight to the logs
        assert isinstance(app.screen, LogScreen)
        await until(pilot, lambda: "plain" in screen_text(app))
        assert "red line" in screen_text(app) and "\x1b" not in screen_text(app)
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, RunsScreen)

        await pilot.press("down", "space", "space", "c")  # mark both SDK runs, compare
        assert isinstance(app.screen, CompareScreen)
        compare = screen_text(app)
        (lr_row,) = [line for line in compare.splitlines() if "param.lr" in line]
        assert lr_row.split()[1:] == ["0.01", "0.1"]
        assert "rows differ" in compare
        await pilot.press("d")  # only the differences: opt (adam for both) goes
        assert "param.opt" not in screen_text(app) and "param.lr" in screen_text(app)
        await pilot.press("escape", "p")
        assert isinstance(app.screen, PlotScreen)
        plot = app.screen
        assert plot.metric == "acc" and plot.run_ids == [sdk[1], sdk[0]]
        await pilot.press("down")
        assert plot.metric == "loss" and "loss: 2 runs, x = step" in screen_text(app)
        await pilot.press("x")
        assert "x = time" in screen_text(app)
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen) and "add a tag" in screen_text(app)
        await pilot.press("escape", "q")
    assert app.return_code == 0


@sync
async def test_filter_sort_and_columns() -> None:
    sdk_runs()
    async with NagaApp().run_test(size=(100, 24)) as pilot:
        app = await loaded(pilot, 2)
        await pilot.press("slash", *"lr=0.01", "enter")
        await until(pilot, lambda: [r.name for r in app.table.rows] == ["lr0.01"])
        assert "1 shown" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: len(app.table.rows) == 2)
        await pilot.press("slash", *"status:bogus", "enter")
        assert "unknown status 'bogus'" in screen_text(app)
        await pilot.press("escape", "a", *"param.lr,metric.loss", "enter")
        await until(pilot, lambda: "PARAM.LR" in screen_text(app) or "param.lr" in screen_text(app))
        assert app.table.extra == ("param.lr", "metric.loss")
        for _ in app.table.column_labels[: app.table.column_labels.index("param.lr") + 1]:
            await pilot.press("s")
        assert app.table.sort_column == "param.lr"
        assert [r.name for r in app.table.rows] == ["lr0.01", "lr0.1"]
        await pilot.press("S")
        assert [r.name for r in app.table.rows] == ["lr0.1", "lr0.01"]
        await pilot.click(RunTable, offset=(2, 0))  # a click on the header: sort by ID
        assert app.table.sort_column == "ID"


@sync
async def test_rename_tag_and_copy(store: Path) -> None:
    (run_id, _) = sdk_runs()
    layout = StoreLayout(str(store))

    def meta() -> dict[str, Any]:
        return json.loads(Path(layout.meta(run_id)).read_text())

    async with NagaApp().run_test(size=(80, 24)) as pilot:
        app = await loaded(pilot, 2)
        await pilot.press("end")
        assert app.table.current_id == run_id
        await pilot.press("r")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("ctrl+u", *"best", "enter")
        assert meta()["name"] == "best"
        await until(
            pilot, lambda: app.table.current is not None and app.table.current.name == "best"
        )
        await pilot.press("t", *"keep", "enter")
        assert meta()["tags"] == ["sweep", "keep"]
        await pilot.press("T", "ctrl+u", *"sweep", "enter")
        assert meta()["tags"] == ["keep"]
        await pilot.press("t", *"two words", "enter")
        assert "a tag is one word" in screen_text(app) and meta()["tags"] == ["keep"]
        await pilot.press("y")
        assert app.clipboard == run_id


@sync
async def test_delete_asks_first(store: Path) -> None:
    first, second = sdk_runs()
    async with NagaApp().run_test(size=(80, 24)) as pilot:
        app = await loaded(pilot, 2)
        assert app.table.current_id == second
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen) and second in screen_text(app)
        await pilot.press("n")
        assert (store / "runs" / second).is_dir() and "nothing deleted" in screen_text(app)
        await pilot.press("delete", "y")
        assert not (store / "runs" / second).exists() and (store / "runs" / first).is_dir()
        await until(pilot, lambda: [r.id for r in app.table.rows] == [first])


@sync
async def test_running_run_is_not_deleted_and_shows_live(store: Path) -> None:
    with naga.run(name="live") as run:
        run.log({"loss": 1.0})
        run.flush()
        async with NagaApp().run_test(size=(80, 24)) as pilot:
            app = await loaded(pilot, 1)
            assert "● running" in screen_text(app)
            await pilot.press("x", "y")
            assert "still running" in screen_text(app) or "refusing" in screen_text(app)
            assert (store / "runs" / run.id).is_dir()
            await pilot.press("r", *"x", "enter")
            assert "still running" in screen_text(app)


# -- live updates ---------------------------------------------------------------------------


@sync
async def test_run_started_elsewhere_appears_and_finishes(tmp_path: Path) -> None:
    """A `naga run` in a background process: in the table within a second of being recorded,
    running, then completed, with no key pressed."""
    sdk_runs()  # the store exists, as it would for a user with runs
    async with NagaApp().run_test(size=(80, 24)) as pilot:
        app = await loaded(pilot, 2)
        script = "import time; print('working', flush=True); time.sleep(2.5)"
        child = subprocess.Popen(
            naga_cmd("run", "--name", "bg", "--", sys.executable, "-c", script),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def bg_status() -> str | None:
                return next((r.status for r in app.table.rows if r.name == "bg"), None)

            await until(pilot, lambda: bg_status() == "running", timeout=10)
            assert "● running" in screen_text(app)
            await until(pilot, lambda: bg_status() == "completed", timeout=15)
            finished = time.time()
            assert child.wait(timeout=10) == 0
            assert time.time() - finished < 5
        finally:
            child.kill()
            child.wait()


@sync
async def test_recorded_run_shows_within_a_second() -> None:
    """The latency the issue asks for, measured: from the run's end record to the table."""
    async with NagaApp().run_test(size=(80, 24)) as pilot:
        app = await loaded(pilot, 0)
        with naga.run(name="quick"):
            pass
        written = time.monotonic()
        await until(pilot, lambda: any(r.name == "quick" for r in app.table.rows), timeout=5)
        assert time.monotonic() - written < 1.0


# -- bad input ------------------------------------------------------------------------------


@sync
async def test_empty_store_says_how_to_start(store: Path) -> None:
    async with NagaApp().run_test(size=(80, 24)) as pilot:
        app = await loaded(pilot, 0)
        text = screen_text(app)
        assert "0 runs" in text and "No runs yet. Start one with: naga run" in text
        for key in ("d", "l", "p", "c", "x", "r", "t", "y", "s", "down", "end", "space"):
            await pilot.press(key)
        assert isinstance(app.screen, RunsScreen)
        assert "no run selected" in screen_text(app) or "mark two" in screen_text(app)
    assert not store.exists()  # looking never creates a store


@sync
async def test_corrupt_and_vanished_runs_do_not_crash(store: Path) -> None:
    first, second = sdk_runs()
    broken = store / "runs" / "brokenrun"
    broken.mkdir()
    (broken / "meta.json").write_text('{"id": "brokenrun", "status": ')
    async with NagaApp().run_test(size=(100, 24)) as pilot:
        app = await loaded(pilot, 2)
        assert "brokenrun is not listed" in screen_text(app)
        import shutil

        shutil.rmtree(store / "runs" / second)  # removed by hand while the table shows it
        await pilot.pause(0.6)
        assert "has no record" in screen_text(app)  # the pane under the table says so
        await pilot.press("d")
        assert isinstance(app.screen, DetailsScreen)
        assert "has no record" in screen_text(app)
        await pilot.press("escape", "l", "c")
        assert isinstance(app.screen, RunsScreen) and "has no record" in screen_text(app)
        await pilot.press("p")
        assert "none of these runs logged metrics" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("x", "y")  # naga rm's way of forgetting it works here too
        await until(pilot, lambda: [r.id for r in app.table.rows] == [first])


@sync
async def test_huge_non_utf8_log_opens_at_its_end_and_pages(naga_cli: Naga, store: Path) -> None:
    script = (
        "import sys\n"
        "out = sys.stdout.buffer\n"
        "for i in range(400000): out.write(b'line %d \\xff\\xfe\\n' % i)\n"
    )
    run_id = wrapped_run(naga_cli, sys.executable, "-c", script, name="big")
    log = store / "runs" / run_id / "output.log"
    with open(log, "r+b") as f:  # a marker half-way through, to search for
        f.seek(log.stat().st_size // 2)
        f.write(b"\nNEEDLE here\n")
    assert log.stat().st_size > 5_000_000
    async with NagaApp().run_test(size=(80, 24)) as pilot:
        app = await loaded(pilot, 1)
        started = time.monotonic()
        await pilot.press("l")
        view = app.screen.query_one(LogView)
        assert time.monotonic() - started < 1.0
        assert view.window.lo > 0 and view.window.at_end()  # only the tail was read
        text = screen_text(app)
        assert "line 399999 \ufffd\ufffd" in text
        await pilot.press("g")
        assert view.window.lo == 0 and "line 0 " in screen_text(app)
        await pilot.press("slash", *"needle", "enter")
        await until(pilot, lambda: "NEEDLE here" in screen_text(app))
        await pilot.press("G")
        assert view.window.at_end() and "line 399999" in screen_text(app)
        await pilot.press("pageup")
        assert view.scroll_offset.y < len(view.window.lines) - 20


@sync
async def test_log_follows_a_running_run(tmp_path: Path) -> None:
    script = (
        "import time\nfor i in range(30):\n    print('tick', i, flush=True)\n    time.sleep(0.1)"
    )
    child = subprocess.Popen(
        naga_cmd("run", "--name", "ticker", "--", sys.executable, "-c", script),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with NagaApp().run_test(size=(80, 24)) as pilot:
            app = await loaded(pilot)
            await until(pilot, lambda: any(r.status == "running" for r in app.table.rows))
            await pilot.press("l")
            assert "following" in screen_text(app)
            await until(pilot, lambda: "tick 29" in screen_text(app), timeout=15)
    finally:
        child.kill()
        child.wait()


# -- snapshots ------------------------------------------------------------------------------


def fixed_runs(store: Path) -> None:
    """Records with fixed ids and times, written by the store's own writer."""
    layout = StoreLayout(str(store))
    layout.ensure()
    looks = [
        ("k3m9x2ab", "baseline", "completed", 0, 2723.4, {"lr": 0.1, "depth": 4}, 0.1234),
        ("p3n8v2qt", "wide", "failed", 1, 135.2, {"lr": 1.0, "depth": 8}, 2.5),
        ("a7c4d9fe", None, "cancelled", 130, 12.0, {"lr": 0.01, "depth": 4}, None),
    ]
    for i, (run_id, name, status, code, seconds, params, loss) in enumerate(looks):
        os.makedirs(layout.run_dir(run_id))
        stats = {"loss": {"last": loss, "min": loss, "max": 3.0, "count": 100, "step": 99}}
        save_meta(
            layout,
            {
                "id": run_id,
                "name": name,
                "status": status,
                "exit_code": code,
                "command": f"python train.py --lr {params['lr']}",
                "argv": ["python", "train.py"],
                "cwd": "/home/ada/project",
                "started_at": f"2025-03-0{i + 1}T10:00:00Z",
                "finished_at": f"2025-03-0{i + 1}T11:00:00Z",
                "duration_s": seconds,
                "host": "gpu-node-1",
                "user": "ada",
                "pid": 4242,
                "tags": ["sweep"],
                "git": {"commit": "a4f2c1d9e8b7", "branch": "main", "dirty": i == 0},
                "params": params,
                "metric_stats": stats if loss is not None else {},
                "metrics": {"loss": loss} if loss is not None else {},
                "output": {"bytes": 0},
                "resources": {"cpu_user_s": 12.5, "cpu_system_s": 1.25, "max_rss_bytes": 2**30},
            },
        )
    Path(layout.patch("k3m9x2ab")).write_text(
        "diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n"
        "@@ -1 +1 @@\n-lr = 0.01\n+lr = 0.1\n"
    )


def check_snapshot(app: NagaApp, name: str) -> None:
    text = screen_text(app) + "\n"
    svg = app.export_screenshot(title="naga")
    paths = {SNAPSHOTS / f"{name}.txt": text, SNAPSHOTS / f"{name}.svg": svg}
    if os.environ.get("NAGA_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        for path, content in paths.items():
            path.write_text(content)
    for path, content in paths.items():
        assert path.exists(), f"{path} is missing: run with NAGA_UPDATE_SNAPSHOTS=1"
        assert content == path.read_text(), f"{path.name} changed (NAGA_UPDATE_SNAPSHOTS=1)"


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
@sync
async def test_snapshot_main_screen(store: Path, size: tuple[int, int]) -> None:
    fixed_runs(store)
    async with NagaApp().run_test(size=size) as pilot:
        app = await loaded(pilot, 3)
        await pilot.press("down", "space")
        await pilot.pause(0.1)
        check_snapshot(app, f"main_{size[0]}x{size[1]}")


@sync
async def test_snapshot_details_and_compare(store: Path) -> None:
    fixed_runs(store)
    async with NagaApp().run_test(size=(100, 40)) as pilot:
        app = await loaded(pilot, 3)
        await pilot.press("end", "enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, DetailsScreen) and app.screen.run_id == "k3m9x2ab"
        check_snapshot(app, "details")
        await pilot.press("escape", "space", "up", "space", "c")
        await pilot.pause(0.1)
        check_snapshot(app, "compare")
