"""The command line as a user expects it: sorting, plain logs, Ctrl-\\, names used twice, the
store found from a subdirectory, a misspelt --where key, a remote listed without a pull."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Naga, only_run, runs_json
from hypothesis import given, settings
from hypothesis import strategies as st
from test_terminal_and_signals import Terminal
from test_tui import loaded, screen_text, until
from textual.widgets import Input

import naga
from naga.present.plain import Plain, plain_text
from naga.store.layout import locate_store
from naga.tui.app import NagaApp


def three_runs() -> dict[str, str]:
    """Runs a (lr 0.3, acc 0.5), b (no lr, acc 0.9), c (lr 0.1, no acc), newest last; name ->
    id. Recorded through the SDK in this process: a few milliseconds each."""
    ids = {}
    for name, params, metrics in (
        ("a", {"lr": 0.3}, {"acc": 0.5}),
        ("b", {}, {"acc": 0.9}),
        ("c", {"lr": 0.1}, {}),
    ):
        with naga.run(name=name, params=params) as run:
            if metrics:
                run.log(metrics)
        ids[name] = run.id
    return ids


def sdk_run(name: str) -> str:
    with naga.run(name=name) as run:
        pass
    return str(run.id)


def names(naga: Naga, *args: str) -> list[str]:
    return [r["name"] for r in runs_json(naga, *args)]


# -- ls --sort ---------------------------------------------------------------------------------


def test_sort_by_any_column_missing_values_last(naga: Naga) -> None:
    three_runs()
    assert names(naga) == ["c", "b", "a"]  # newest first, as before
    assert names(naga, "--sort", "param.lr") == ["c", "a", "b"]
    assert names(naga, "--sort=-param.lr") == ["a", "c", "b"]  # b has no lr: last both ways
    assert names(naga, "--sort", "metric.acc") == ["a", "b", "c"]
    assert names(naga, "--sort", "-acc") == ["b", "a", "c"]  # a bare key: param, else metric
    assert names(naga, "--sort", "name") == ["a", "b", "c"]
    assert names(naga, "--sort", "-name") == ["c", "b", "a"]
    assert names(naga, "--sort", "started") == ["a", "b", "c"]
    assert len(names(naga, "--sort", "-duration")) == 3
    table = naga("ls", "--sort", "-lr", "--columns", "lr").stdout.decode().splitlines()
    assert [line.split()[1] for line in table[1:]] == ["a", "c", "b"]  # the table, fast path
    click = naga("ls", "-n3", "--sort", "-lr", "--columns", "lr").stdout.decode().splitlines()
    assert click == table  # -n3 goes through click: the same order


def test_unknown_where_or_sort_key_names_the_closest(naga: Naga) -> None:
    three_runs()
    done = naga("ls", "--where", "lrr=0.1")
    assert done.returncode != 0
    message = "naga: error: no run has a param or metric 'lrr' (did you mean 'lr'?)\n"
    assert done.stderr.decode() == message
    done = naga("ls", "--where", "metric.lr>0")  # lr is a param only
    assert done.returncode != 0 and b"no run has a metric 'lr'" in done.stderr
    done = naga("ls", "--sort", "param.acc")
    assert done.returncode != 0 and b"no run has a param 'acc'" in done.stderr
    assert naga("ls", "--where", "lr>0.2").returncode == 0


def test_a_sort_key_with_no_key_or_two_signs_is_refused(naga: Naga) -> None:
    """`--sort ''` listed newest first and `--sort=--name` by name, each saying nothing."""
    three_runs()
    for sort in ("", " ", "-", "--name", "+-name"):
        for fast_or_click in ((), ("-n3",)):
            done = naga("ls", *fast_or_click, "--sort", sort)
            assert done.returncode == 2 and done.stdout == b"", sort
            assert done.stderr.decode() == (
                f"naga: error: --sort {sort!r}: give a key, with one - before it to sort"
                " descending: --sort started, --sort=-metric.acc\n"
            )
    assert names(naga, "--sort", "+name") == ["a", "b", "c"]


# -- ls --remote -------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("rclone") is None, reason="needs rclone")
def test_ls_remote_lists_without_pulling(naga: Naga, tmp_path: Path, store: Path) -> None:
    three_runs()
    remote = tmp_path / "remote with 'quotes'"
    env = {**os.environ, "RCLONE_CONFIG": str(tmp_path / "rclone.conf")}
    assert naga("push", str(remote), "--all", env=env).returncode == 0
    elsewhere = {**env, "NAGA_HOME": str(tmp_path / "empty store")}
    done = naga("ls", "--remote", str(remote), "--json", "--sort", "-acc", env=elsewhere)
    assert done.returncode == 0, done.stderr
    assert [r["name"] for r in json.loads(done.stdout)] == ["b", "a", "c"]
    table = naga("ls", "--remote", str(remote), "--name", "c", env=elsewhere).stdout.decode()
    assert table.splitlines()[1].split()[1] == "c"
    assert not (tmp_path / "empty store").exists()  # nothing pulled, no store made
    done = naga("ls", "--remote", str(tmp_path / "nowhere"), env=elsewhere)
    assert done.returncode != 0 and done.stderr.startswith(b"naga: error: there are no runs at")
    # a sweep's runs on the remote, though this store has no such sweep (it was looked up here)
    run_a = next(r["id"] for r in json.loads(naga("ls", "--json").stdout) if r["name"] == "a")
    assert naga("tag", run_a, "sweep:sw-261207-101500-a3f9", env=env).returncode == 0
    assert naga("push", str(remote), "--all", env=env).returncode == 0
    swept = naga("ls", "--remote", str(remote), "--sweep", "sw-261207-101500-a3f9", env=elsewhere)
    assert swept.returncode == 0, swept.stderr
    assert [line.split()[1] for line in swept.stdout.decode().splitlines()[1:]] == ["a"]
    assert not (tmp_path / "empty store").exists()


def test_ls_remote_with_archived_is_refused(naga: Naga, tmp_path: Path) -> None:
    """The remote's runs were listed as if --archived had not been given."""
    (tmp_path / "remote" / "runs").mkdir(parents=True)
    done = naga("ls", "--remote", str(tmp_path / "remote"), "--archived")
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr == (
        b"naga: error: --archived lists this store's archive, --remote a remote's runs:"
        b" give one of them\n"
    )


# -- the store found from a subdirectory -------------------------------------------------------


def test_subdirectory_outside_git_uses_the_store_above(naga: Naga, tmp_path: Path) -> None:
    project = tmp_path / "project"
    sub = project / "src" / "deep"
    sub.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "NAGA_HOME"}
    assert naga("run", "true", cwd=project, env=env).returncode == 0
    assert (project / ".naga" / "runs").is_dir()
    assert naga("run", "true", cwd=sub, env=env).returncode == 0
    assert not (sub / ".naga").exists() and not (project / "src" / ".naga").exists()
    listed = json.loads(naga("ls", "--json", cwd=sub, env=env).stdout)
    assert len(listed) == 2
    # Inside git the repository's root still decides, whatever store lies above it.
    repo = sub / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    assert naga("run", "true", cwd=repo, env=env).returncode == 0
    assert (repo / ".naga" / "runs").is_dir()


def test_a_store_left_in_a_shared_scratch_directory_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/tmp/.naga left by accident must not become the store of every project under /tmp."""
    scratch = tmp_path / "scratch"
    (scratch / ".naga" / "runs").mkdir(parents=True)
    (scratch / "project").mkdir()
    monkeypatch.delenv("NAGA_HOME")
    assert locate_store(str(scratch / "project")) == str(scratch / ".naga")
    scratch.chmod(0o1777)  # world-writable and sticky, as /tmp is
    assert locate_store(str(scratch / "project")) == str(scratch / "project" / ".naga")


# -- naga logs --plain, NO_COLOR ---------------------------------------------------------------

NOISY = (
    "import sys\n"
    "print('\\033[31mred\\033[0m text')\n"
    "for i in range(1, 4):\n"
    "    sys.stdout.write(f'\\r{i}/3'); sys.stdout.flush()\n"
    "sys.stdout.write('\\r\\033[Kdone\\n')\n"
    "sys.stdout.buffer.write(b'\\xff raw\\n')\n"
)


def test_logs_plain_strips_codes_and_collapses_redraws(naga: Naga, store: Path) -> None:
    assert naga("run", sys.executable, "-c", NOISY).returncode == 0
    run_id = runs_json(naga)[0]["id"]
    raw = (store / "runs" / run_id / "output.log").read_bytes()
    assert naga("logs", run_id).stdout == raw  # the default: byte for byte
    assert b"\x1b[31m" in raw and b"\r1/3\r2/3" in raw
    plain = naga("logs", "--plain", run_id)
    assert plain.stdout == b"red text\ndone\n\xff raw\n"
    assert naga("logs", "--plain", "-n", "2", run_id).stdout == b"done\n\xff raw\n"


def test_plain_rendering_of_terminal_controls() -> None:
    assert plain_text(b"abcdef\rXY\n") == b"XYcdef\n"  # later text overwrites, as on screen
    assert plain_text(b"12%\r 50%\r100%\r\n") == b"100%\n"  # a pty's \r\n is a newline
    assert plain_text(b"ab\bC\x1b]0;title\x07\x1b(B!") == b"aC!"
    assert plain_text(b"wide \x1b[2Kx\n") == b"     x\n"  # the line erased, the cursor kept


@given(st.lists(st.binary(max_size=40), max_size=8), st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_plain_is_the_same_whatever_the_chunks(cuts: list[bytes], data: bytes) -> None:
    """Escapes and UTF-8 characters cut between two reads render as if read whole, and
    the output never holds an ESC."""
    joined = b"".join(cuts) + data
    plain = Plain()
    pieces = b"".join(plain.feed(c) for c in [*cuts, data]) + plain.finish()
    assert pieces == plain_text(joined)
    assert b"\x1b" not in pieces


def test_no_color_turns_naga_colours_off(naga: Naga, tmp_path: Path) -> None:
    assert naga("run", "true").returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    painted = Terminal(["ls"], tmp_path, env=env)
    assert painted.finish() == 0 and b"\x1b[" in painted.seen
    plain = Terminal(["ls"], tmp_path, env={**env, "NO_COLOR": "1"})
    assert plain.finish() == 0 and b"\x1b[" not in plain.seen and b"completed" in plain.seen


# -- Ctrl-\ ------------------------------------------------------------------------------------

WAIT = "import time\n{}print('rea' + 'dy', flush=True)\ntime.sleep(60)\n"


def test_ctrl_backslash_cancels_a_wrapped_command(naga: Naga, tmp_path: Path) -> None:
    term = Terminal(["run", sys.executable, "-c", WAIT.format("")], tmp_path)
    term.read_until(b"ready\r\n")
    term.type(b"\x1c")
    assert term.finish() == 131
    run = only_run(naga)
    assert (run["status"], run["signal"]) == ("cancelled", "SIGQUIT")


def test_ctrl_backslash_cancels_an_sdk_run(naga: Naga, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import naga\nwith naga.run(name='sdk'):\n"
        + "".join("    " + line + "\n" for line in WAIT.format("").splitlines())
    )
    term = Terminal([], tmp_path, argv=[sys.executable, str(script)])
    term.read_until(b"ready\r\n")
    term.type(b"\x1c")
    assert term.finish() == 131  # no core dump: the run's end written, the exit of SIGQUIT
    run = only_run(naga)
    assert (run["status"], run["error"]) == ("cancelled", "terminated by SIGQUIT")


# -- names used twice --------------------------------------------------------------------------


def test_reused_name_warns_and_readers_take_the_newest(
    naga: Naga, caplog: pytest.LogCaptureFixture
) -> None:
    first = naga("run", "--name", "base", "true")
    assert b"warning" not in first.stderr
    second = naga("run", "--name", "base", "true")
    older, newer = (r["id"] for r in reversed(runs_json(naga)))
    assert f"naga: warning: the name 'base' is already used by run {older};".encode() in (
        second.stderr
    )
    with caplog.at_level("WARNING", logger="naga"):
        sdk_id = sdk_run("base")
    assert f"already used by runs {newer}, {older}" in caplog.text  # the logger, never print
    shown = naga("show", "--json", "base")
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == sdk_id
    took = f"3 runs are named 'base': showing the newest, {sdk_id} (the others: {newer}, {older})"
    assert took.encode() in shown.stderr
    for command in (["metrics", "base"], ["diff", "base", older]):
        done = naga(*command)
        assert took.encode() in done.stderr, command
    removed = naga("rm", "base")  # rm never guesses
    assert removed.returncode != 0
    assert f"'base' matches 3 runs ({sdk_id} (named base)".encode() in removed.stderr
    assert len(runs_json(naga)) == 3


# -- the dashboard: the filter box, the header, sorting ----------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (132, 43)])
def test_filter_box_is_visible_and_the_header_names_the_filter(size: tuple[int, int]) -> None:
    three_runs()

    async def drive() -> None:
        async with NagaApp().run_test(size=size) as pilot:
            app = await loaded(pilot, 3)
            await pilot.press("down", "down")  # the cursor on the oldest run
            await pilot.press("slash", *"acc>0.1")
            box = app.screen.query_one("#filter", Input)
            keys = app.screen.query_one("#keys")
            assert box.content_region.height >= 1
            assert not box.region.overlaps(keys.region)  # the key bar used to cover it
            await until(
                pilot, lambda: any("acc>0.1" in line for line in screen_text(app).splitlines()[4:])
            )
            await pilot.press("enter")
            await until(pilot, lambda: [r.name for r in app.table.rows] == ["b", "a"])
            header = screen_text(app).splitlines()[0]
            assert "2 shown · filter: acc>0.1" in header
            assert app.table.cursor == 0  # a new filter starts at the top
            await pilot.press("escape")
            await until(pilot, lambda: len(app.table.rows) == 3)
            assert "filter" not in screen_text(app).splitlines()[0]

    asyncio.run(drive())


def test_dashboard_sort_puts_missing_values_last() -> None:
    three_runs()

    async def drive() -> None:
        async with NagaApp().run_test(size=(100, 24)) as pilot:
            app = await loaded(pilot, 3)
            await pilot.press("a", *"param.lr", "enter")
            await until(pilot, lambda: app.table.extra == ("param.lr",))
            app.table.sort_by("param.lr")
            assert [r.name for r in app.table.rows] == ["c", "a", "b"]
            app.table.sort_by("param.lr", reverse=True)
            assert [r.name for r in app.table.rows] == ["a", "c", "b"]  # b, without lr, last

    asyncio.run(drive())


def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    """The README's block of these commands, verbatim, in bash, on the three runs above."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("<!-- cli-ux examples -->\n```sh\n", 1)[1].split("```", 1)[0]
    three_runs()
    naga_fn = f'naga() {{ {shlex.quote(sys.executable)} -m naga "$@"; }}\n'
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", naga_fn + block],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert out.startswith("\r10%\r50%\r100%\n100%\n")  # bar's output, then as --plain shows it
    table = out.split("[", 1)[0].split("\n")[2:-1]  # not splitlines(): it cuts at \r
    assert [line.split()[1] for line in table[1:]] == ["b", "a", "bar", "c"]  # acc, then none
    listed = json.loads("[" + out.split("[", 1)[1].rsplit("]", 1)[0] + "]")
    assert [r["name"] for r in listed] == ["a", "b"]  # lr 0.3, then b without lr
    assert out.endswith("exit 2\n")
    assert "no run has a param or metric 'lrr' (did you mean 'lr'?)" in done.stderr.decode()


def test_name_check_of_a_large_store_reads_the_index_only(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from naga.store import Store, names

    run_id = sdk_run("big")
    monkeypatch.setattr(names, "SCAN_AT_MOST", 0)  # as if the store held thousands of runs
    assert names.name_taken(str(store), "big") is None  # no index of this host's: not built
    assert not (store / "index").exists() or not list((store / "index").glob("*.sqlite"))
    Store(str(store)).index.close()  # a reader (naga ls) built it
    assert f"already used by run {run_id};" in str(names.name_taken(str(store), "big"))


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("rerun", "x", "--set"), "Option '--set' requires an argument; see `naga rerun --help`"),
        (("ls", "--limit"), "Option '--limit' requires an argument; see `naga ls --help`"),
        (
            ("export", "mlflow", "--jobs"),
            "Option '--jobs' requires an argument; see `naga export mlflow --help`",
        ),
        (("--nope",), "No such option '--nope'; see `naga --help`"),
        (
            ("rerun", "x", "--lnk", "a"),
            "No such option '--lnk' (did you mean '--link'?); see `naga rerun --help`",
        ),
        (("sweeep",), "No such command 'sweeep' (did you mean 'sweep'?); see `naga --help`"),
        (("xyzzy",), "No such command 'xyzzy'; see `naga --help`"),
    ],
)
def test_a_usage_mistake_is_one_clause_pointing_at_its_command_help(
    naga: Naga, args: tuple[str, ...], line: str
) -> None:
    """click's parser gives no command for a missing value (the hint said `naga --help`),
    writes its suggestion as a second sentence, and suggests no command for a misspelt one."""
    done = naga(*args)
    assert (done.returncode, done.stderr.decode()) == (2, f"naga: error: {line}\n")
