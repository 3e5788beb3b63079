"""The dashboard through Textual's own pilot: real runs in a real store, real key presses.

Runs come from ``naga.run()`` in this process, from ``naga run`` subprocesses, or (for the
snapshots, which need fixed ids and times) from records written with the store's own
``save_meta``. Snapshots are the screen's text and its SVG screenshot under
``tests/snapshots/``; ``NAGA_UPDATE_SNAPSHOTS=1`` rewrites them after a deliberate change.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, naga_cmd
from textual.pilot import Pilot

import naga
from naga.store.files import load_meta, save_meta
from naga.store.layout import StoreLayout
from naga.tui.app import KeyBar, NagaApp, RunsScreen
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
        await pilot.press("slash", "ctrl+u", *"lrr=0.01", "enter")  # a key no run has: said
        assert "no run has a param or metric 'lrr' (did you mean 'lr'?)" in screen_text(app)
        await pilot.press("slash", "ctrl+u", *"lr=0.1", "enter")
        await until(pilot, lambda: [r.name for r in app.table.rows] == ["lr0.1"])
        await pilot.press("escape")
        await until(pilot, lambda: len(app.table.rows) == 2)
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
        return load_meta(layout, run_id)

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
        await pilot.press("n", *"diverged late", "enter")
        assert meta()["note"] == "diverged late"
        await until(pilot, lambda: "diverged late" in screen_text(app))  # the pane under the table
        await pilot.press("slash", *"DIVERGED", "enter")  # a word of the note finds the run
        await until(pilot, lambda: [r.id for r in app.table.rows] == [run_id])
        await pilot.press("escape")
        await until(pilot, lambda: len(app.table.rows) == 2)
        await pilot.press("slash", *"note~late", "enter")  # as ls --where says it
        await until(pilot, lambda: [r.id for r in app.table.rows] == [run_id])
        await pilot.press("y")  # the filter's one row, under the cursor
        assert app.clipboard == run_id
        await pilot.press("escape")  # a new filter (none): both runs, the cursor at the top
        await until(pilot, lambda: len(app.table.rows) == 2)
        await until(pilot, lambda: app.table.current_id == app.table.rows[0].id)


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
            await pilot.press("r", "ctrl+u", *"renamed live", "enter")  # edits work while it runs
            await pilot.press("t", *"hot", "enter", "n", *"watch it", "enter")
            layout = StoreLayout(str(store))
            assert load_meta(layout, run.id)["name"] == "renamed live"
            await until(pilot, lambda: "renamed live" in screen_text(app))
    after = load_meta(StoreLayout(str(store)), run.id)  # the run ended: its process wrote
    assert after["status"] == "completed"  # meta.json again, and no edit was lost
    assert (after["name"], after["tags"], after["note"]) == ("renamed live", ["hot"], "watch it")


@sync
async def test_edit_keys_are_offered_only_where_an_edit_can_be_written(store: Path) -> None:
    (first, second) = sdk_runs()
    layout = StoreLayout(str(store))
    with read_only(layout.run_dir(second)):  # a record on a read-only share, say
        async with NagaApp().run_test(size=(80, 24)) as pilot:
            app = await loaded(pilot, 2)
            assert app.table.current_id == second
            await until(pilot, lambda: app.edit_block is not None)
            for key in ("r", "t", "T", "n"):  # refused before any question is asked
                await pilot.press(key)
                assert isinstance(app.screen, RunsScreen)
                assert "is read-only here" in screen_text(app)
            looks = keybar_looks(app)  # the edit keys dimmed, the others not
            assert "strike" in looks["Rename"] and "strike" in looks["Note"]
            assert "strike" not in looks.get("Delete", "")
            await pilot.press("down")  # a writable run: the keys work again
            await until(pilot, lambda: app.edit_block is None)
            assert "strike" not in keybar_looks(app).get("Rename", "")
            await pilot.press("t", *"ok", "enter")
            assert load_meta(layout, first)["tags"] == ["sweep", "ok"]


def keybar_looks(app: NagaApp) -> dict[str, str]:
    """The style of each word of the key bar under the table."""
    shown = app.screen_stack[0].query_one(KeyBar).render()
    return {shown.plain[s.start : s.end].strip(): str(s.style) for s in shown.spans}


@contextlib.contextmanager
def read_only(path: str) -> Iterator[None]:
    """``path`` made read-only even for root (immutable, where chattr can), then writable."""
    os.chmod(path, 0o555)
    immutable = os.access(path, os.W_OK) and shutil.which("chattr") is not None
    if immutable:
        subprocess.run(["chattr", "+i", path], check=False, capture_output=True)
    try:
        if os.access(path, os.W_OK):
            pytest.skip("cannot make a directory read-only for this user")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", path], check=False, capture_output=True)
        os.chmod(path, 0o755)


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
            assert child.wait(timeout=10) == 0
        finally:
            child.kill()
            child.wait()


@sync
async def test_recorded_run_shows_with_no_key_pressed() -> None:
    """A run recorded in this process reaches the table by itself (bench_tui.py measures how
    fast: the issue asks for under a second)."""
    async with NagaApp().run_test(size=(80, 24)) as pilot:
        app = await loaded(pilot, 0)
        with naga.run(name="quick"):
            pass
        await until(pilot, lambda: any(r.name == "quick" for r in app.table.rows), timeout=5)


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
        await until(pilot, lambda: "has no record" in screen_text(app))  # the pane says so
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
        await pilot.press("l")
        view = app.screen.query_one(LogView)
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
async def test_a_multi_gigabyte_log_is_read_only_where_shown(naga_cli: Naga, store: Path) -> None:
    run_id = wrapped_run(naga_cli, sys.executable, "-c", "print('first line')", name="huge")
    log = store / "runs" / run_id / "output.log"
    with open(log, "r+b") as f:  # 3 GB: a sparse middle, then the end of the training
        f.truncate(3 << 30)
        f.seek(0, os.SEEK_END)
        f.write(b"".join(b"epoch %d loss 0.1\n" % i for i in range(200)))
    async with NagaApp().run_test(size=(80, 24)) as pilot:
        app = await loaded(pilot, 1)
        await pilot.press("l")
        view = app.screen.query_one(LogView)
        assert view.window.lo > (3 << 30) - (64 << 20)  # the tail, not the 3 GB before it
        assert "epoch 199 loss 0.1" in screen_text(app)
        await pilot.press("g")
        assert view.window.lo == 0 and "first line" in screen_text(app)


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


# -- the index query, the watcher, and what a demanding user does ------------------------------


def saved_run(layout: StoreLayout, run_id: str, **fields: Any) -> None:
    os.makedirs(layout.run_dir(run_id), exist_ok=True)
    record = {
        "id": run_id,
        "status": "completed",
        "command": "python train.py",
        "started_at": "2025-03-01T10:00:00Z",
        "duration_s": 1.0,
        "tags": [],
        "name": None,
        "git": None,
        "output": None,
        "finished_at": None,
        "exit_code": 0,
        **fields,
    }
    save_meta(layout, record)


def test_free_words_are_matched_in_the_index_literally(store: Path) -> None:
    """Free words go to SQL as LIKE patterns: over the id, name, command and tags, any ASCII
    case, with % and _ taken literally; only matching rows are built."""
    from naga.store import Store
    from naga.tui.query import load_rows, parse_query

    layout = StoreLayout(str(store))
    layout.ensure()
    saved_run(layout, "aaaa1111", name="Exp_1", command="python a.py --p 100%")
    saved_run(layout, "bbbb2222", name="expx1", tags=["Ablation"])
    saved_run(layout, "cccc3333", name="other", command="python b.py")
    shop = Store(str(store))
    try:

        def ids(text: str) -> list[str]:
            return sorted(r.id for r in load_rows(shop, parse_query(text)).rows)

        assert ids("exp_1") == ["aaaa1111"]  # _ is no wildcard: expx1 does not match
        assert ids("EXP") == ["aaaa1111", "bbbb2222"]
        assert ids("100%") == ["aaaa1111"] and ids("0%p") == []
        assert ids("ablation") == ["bbbb2222"]  # a tag
        assert ids("bbbb") == ["bbbb2222"] and ids("b.py") == ["cccc3333"]
        assert ids("python other") == ["cccc3333"]  # every word must match
        assert ids("status:completed #Ablation expx") == ["bbbb2222"]
    finally:
        shop.close()


def test_reload_rebuilds_only_the_runs_that_changed(store: Path) -> None:
    from naga.store import Store
    from naga.store.edit import rename
    from naga.tui.query import Query, RowCache, load_rows

    layout = StoreLayout(str(store))
    layout.ensure()
    for i in range(5):
        saved_run(layout, f"run{i}aaaa", name=f"n{i}", started_at=f"2025-03-0{i + 1}T10:00:00Z")
    shop = Store(str(store))
    try:
        cache = RowCache()
        before = {r.id: r for r in load_rows(shop, Query(), cache=cache).rows}
        rename(layout, "run2aaaa", "renamed")
        shop.index.sync()
        after = load_rows(shop, Query(), cache=cache).rows
        assert [r.id for r in after] == [f"run{i}aaaa" for i in (4, 3, 2, 1, 0)]
        for row in after:
            assert (row is before[row.id]) == (row.id != "run2aaaa")
        assert next(r for r in after if r.id == "run2aaaa").name == "renamed"
    finally:
        shop.close()


@sync
async def test_preloaded_watcher_and_thread_ends_with_the_app(store: Path) -> None:
    """`naga tui` starts loading before Textual is imported; the rows found then are on the
    first screen, and the thread (with its pipe) is gone once the app has exited."""
    from naga.tui import start_loading

    sdk_runs()
    watcher = start_loading()
    await asyncio.sleep(0.3)  # the first rows are waiting for the app
    app = NagaApp(watcher=watcher)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, 2)
        assert app.first_paint is not None
        assert "lr0.01" in screen_text(app) and "2 runs" in screen_text(app)
        pipe = watcher._wake_r
        os.fstat(pipe)
    assert not watcher.alive
    with pytest.raises(OSError):
        os.fstat(pipe)  # closed by the thread itself, never while it could still use it
    watcher.request()  # after the end: no write to a reused descriptor, no error


@sync
async def test_run_deleted_while_its_details_are_open(naga_cli: Naga) -> None:
    first, second = sdk_runs()
    async with NagaApp().run_test(size=(100, 30)) as pilot:
        app = await loaded(pilot, 2)
        await pilot.press("d")
        assert isinstance(app.screen, DetailsScreen) and app.screen.run_id == second
        assert naga_cli("rm", "--yes", second).returncode == 0  # from another terminal
        await until(pilot, lambda: [r.id for r in app.table.rows] == [first])
        await pilot.press("l")  # the logs of a run that is gone: said on this screen
        assert isinstance(app.screen, DetailsScreen)
        notes = app._notifications  # a toast over this screen (the status line is under it)
        await until(pilot, lambda: any("has no record" in n.message for n in notes))
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen) and app.table.current_id == first


@sync
async def test_many_metric_columns_scroll_sideways(store: Path) -> None:
    layout = StoreLayout(str(store))
    layout.ensure()
    keys = [f"m{i:03d}" for i in range(150)]
    for n in range(30):
        stats = {k: {"last": n + i / 1000, "count": 1} for i, k in enumerate(keys)}
        saved_run(
            layout,
            f"many{n:04d}",
            started_at=f"2025-03-01T10:{n:02d}:00Z",
            params={"note": "two\nlines"},
            metric_stats=stats,
        )
    async with NagaApp().run_test(size=(100, 24)) as pilot:
        app = await loaded(pilot, 30)
        app._set_columns(",".join(["param.note", *keys]))
        await until(pilot, lambda: len(app.table.extra) == 151 and app.table.rows[0].cells)
        await pilot.pause(0.1)
        table = app.table
        assert "two\\nlines" in screen_text(app)  # a newline in a value stays on its row
        table.scroll_to(x=table.max_scroll_x, animate=False, immediate=True)
        lines = [table.render_line(y) for y in range(table.size.height)]
        assert all(line.cell_length == table.size.width for line in lines)
        header = "".join(s.text for s in lines[0])
        assert "m149" in header and "COMMAND" in header
        row = "".join(s.text for s in lines[1])
        assert "29.149" in row  # the last metric of the newest run
        table.scroll_to(x=table.max_scroll_x // 2, animate=False, immediate=True)
        middle = "".join(s.text for s in table.render_line(0))
        assert middle.count("m0") >= 5 and "COMMAND" not in middle


@sync
async def test_resize_keeps_the_cursor_in_view_and_narrows_the_table(store: Path) -> None:
    layout = StoreLayout(str(store))
    layout.ensure()
    for n in range(60):
        saved_run(layout, f"size{n:04d}", name=f"r{n}", started_at=f"2025-03-01T10:{n:02d}:00Z")
    async with NagaApp().run_test(size=(140, 50)) as pilot:
        app = await loaded(pilot, 60)
        assert "GIT" in [c.label for c in app.table.columns]
        await pilot.press(*["down"] * 30)
        await pilot.resize_terminal(70, 16)
        await pilot.pause(0.2)
        table = app.table
        assert "GIT" not in [c.label for c in table.columns]
        top = table.scroll_offset.y
        assert top <= table.cursor < top + table.size.height - 1
        assert table.current_id == "size0029"
        assert "size0029" in screen_text(app)
        await pilot.resize_terminal(20, 6)  # absurdly small: still no crash
        await pilot.press("down", "pagedown", "up")
        await pilot.pause(0.1)
        screen_text(app)


@sync
async def test_names_that_are_not_utf8_or_are_wide(store: Path) -> None:
    """A name made of bytes that are not UTF-8 (kept as surrogates), wide CJK characters and
    a C1 control: every row keeps the table's width, and every screen renders."""
    layout = StoreLayout(str(store))
    layout.ensure()
    saved_run(layout, "wide0001", name="実験の名前がとても長いです", command="python 学習.py")
    bad = b"caf\xe9-\xff".decode("utf-8", "surrogateescape")
    saved_run(layout, "bad00001", name=bad, started_at="2025-03-02T10:00:00Z", command="x\x9by")
    async with NagaApp().run_test(size=(100, 24)) as pilot:
        app = await loaded(pilot, 2)
        table = app.table
        widths = {table.render_line(y).cell_length for y in range(3)}
        assert widths == {table.size.width}
        text = screen_text(app)
        assert "caf\ufffd-\ufffd" in text and "実験" in text
        assert "\udce9" not in text and "\x9b" not in text
        ends = [line.index("python") for line in text.splitlines() if "学習" in line]
        assert ends, text
        app.export_screenshot()  # encodes every character it draws
        await pilot.press("home", "d")
        assert "caf\ufffd-\ufffd" in screen_text(app)
        app.export_screenshot()
        await pilot.press("escape", "space", "down", "space", "c")
        assert isinstance(app.screen, CompareScreen)
        assert "caf\ufffd-\ufffd" in screen_text(app)
        app.export_screenshot()


def _raw_controls(text: str) -> list[str]:
    """What a terminal would act on: C0 (but newlines), DEL, C1, bidi controls."""
    return sorted(
        {
            hex(ord(c))
            for c in text
            if (ord(c) < 0x20 and c != "\n")
            or 0x7F <= ord(c) < 0xA0
            or 0x202A <= ord(c) <= 0x202E
            or 0x2066 <= ord(c) <= 0x2069
        }
    )


@sync
async def test_hostile_record_text_is_drawn_inert_and_never_as_markup(store: Path) -> None:
    """A pulled record with OSC 52/8/0, a C1 CSI, a bidi override and Rich markup in its text
    fields: every screen draws them as visible escapes and literal brackets."""
    layout = StoreLayout(str(store))
    layout.ensure()
    osc52, osc8, osc0 = (
        "\x1b]52;c;aGk=\x07",
        "\x1b]8;;https://e.example/\x07l\x1b]8;;\x07",
        "\x1b]0;t\x07",
    )
    saved_run(
        layout,
        "evil0001",
        name=f"[bold red]n[/]{osc0}",
        command=f"python {osc8}",
        tags=[osc52],
        error="boom \x9b31m\u202e",
        params={f"k{osc0}": f"[link=https://e.example]v[/link]{osc52}"},
        metrics={f"m{osc8}": 1.0},
        metric_stats={f"m{osc8}": {"last": 1.0, "min": 1.0, "max": 1.0, "step": 0, "count": 1}},
        git={"commit": "a4f2c1d9e8b7", "branch": f"main{osc0}", "dirty": False},
        traceback=f"Traceback:\n  {osc52}\n",
    )
    saved_run(layout, "plain001", name="plain", started_at="2025-02-01T10:00:00Z")
    async with NagaApp().run_test(size=(140, 40)) as pilot:
        app = await loaded(pilot, 2)
        main = screen_text(app)
        assert not _raw_controls(main), main
        assert "[bold red]n[/]\\x1b]0;t\\x07" in main  # markup shown, not applied
        assert "\\x9b31m\\u202e" in main  # the summary pane: the error
        await pilot.press("home", "d")
        assert isinstance(app.screen, DetailsScreen)
        details = screen_text(app)
        assert not _raw_controls(details), details
        assert "[link=https://e.example]v[/link]\\x1b]52;c;aGk=\\x07" in details
        assert "main\\x1b]0;t\\x07@a4f2c1d9e8b7" in details and "m\\x1b]8;;https" in details
        await pilot.press("escape", "space", "down", "space", "c")
        assert isinstance(app.screen, CompareScreen)
        compare = screen_text(app)
        assert not _raw_controls(compare), compare
        assert "[bold red]n[/]" in compare and "param.k\\x1b]0;t\\x07" in compare
