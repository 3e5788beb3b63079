"""``naga ui`` and ``naga report`` in a real headless Chromium (Debian's, driven by Playwright).

One store, one ``naga ui`` server and one browser for the module: the server is the real
command in a subprocess, the runs are real ``naga run`` processes. The tests run in file order
(the live one adds a run to the store the others have read).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from naga.web.ansi import segments
from naga.web.downsample import minmax
from naga.web.report import embed_json


@contextlib.contextmanager
def serving(
    cwd: Path, env: dict[str, str] | None, *flags: str, stderr: Any = subprocess.DEVNULL
) -> Iterator[str]:
    """``naga ui FLAGS`` started in ``cwd`` for the block: the URL it printed, with its token."""
    server = subprocess.Popen(
        [sys.executable, "-m", "naga", "ui", *flags],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
    )
    assert server.stdout is not None
    try:
        server.stdout.readline()  # "naga ui: serving ..."
        yield server.stdout.readline().decode().strip()
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


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
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
TRAIN = """
import math, sys, naga
lr = float(sys.argv[1])
with naga.run(params={"lr": lr}):
    for step in range(300):
        naga.log({"loss": math.exp(-step * lr) + 0.01}, step=step)
print("\\x1b[32mdone\\x1b[0m training")
"""

needs_browser = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="needs Debian's chromium (scripts/test installs it)"
)


def _naga(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "naga", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A store with two training runs and one with a hostile name, and `naga ui` serving it."""
    here = tmp_path_factory.mktemp("ui")
    env = {**os.environ, "NAGA_HOME": str(here / "store"), "NO_COLOR": "1"}
    env.pop("NAGA_RUN_ID", None)
    env.pop("NAGA_RUN_DIR", None)
    (here / "train.py").write_text(TRAIN)
    ids = {}
    for lr in ("0.1", "0.01"):
        tagged = ("--name", f"lr{lr}", "--tag", "sweep:demo")
        done = _naga(env, here, "run", *tagged, sys.executable, "train.py", lr)
        assert done.returncode == 0, done.stderr
    assert _naga(env, here, "run", "--name", HOSTILE, "true").returncode == 0
    for run in json.loads(_naga(env, here, "ls", "--json").stdout):
        ids[run["name"]] = run["id"]
    with (here / "server.err").open("wb") as errors, serving(here, env, stderr=errors) as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{20,}", url), url
        yield {"env": env, "dir": here, "url": url, "base": url.split("/?")[0], "ids": ids}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian's chromium (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser: Any, world: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(world["url"])
    yield page
    context.close()
    assert errors == []


def _get(url: str, cookie: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"cookie": cookie} if cookie else {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def test_the_token_is_required(world: dict[str, Any]) -> None:
    base, token = world["base"], world["url"].split("token=")[1]
    for path in ("/", "/api/runs", "/api/events", "/static/app.js"):
        assert _get(base + path)[0] == 403, path
    assert _get(base + "/api/runs", cookie="naga_token=wrong")[0] == 403
    assert _get(base + "/api/runs?token=wrong")[0] == 403
    status, headers, _ = _get(world["url"])
    assert status == 303 and headers["location"] == "/"  # the token leaves the address bar
    cookie = headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    status, headers, body = _get(base + "/api/runs", cookie=f"naga_token={token}")
    assert status == 200 and len(json.loads(body)["rows"]) == 3
    assert headers["content-security-policy"].startswith("default-src 'self'")


def test_edits_are_refused_without_allow_edit(world: dict[str, Any]) -> None:
    token = world["url"].split("token=")[1]
    run = world["ids"]["lr0.1"]
    request = urllib.request.Request(
        f"{world['base']}/api/runs/{run}/edit",
        data=b'{"action": "delete"}',
        headers={"cookie": f"naga_token={token}", "content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    refused.value.close()


def test_artifacts_served_are_the_listed_files_only(world: dict[str, Any]) -> None:
    """An image is served as one (under a sandboxing policy); a symbolic link a pulled run
    carries, to a file of the reader's, is not served at all."""
    token = world["url"].split("token=")[1]
    run = world["ids"]["lr0.01"]
    artifacts = Path(world["env"]["NAGA_HOME"]) / "runs" / run / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (artifacts / "notes.html").write_text("<script>window.pwned=3</script>")
    (artifacts / "leak.png").symlink_to("/etc/hostname")
    base = f"{world['base']}/api/runs/{run}/artifacts"
    cookie = f"naga_token={token}"
    status, headers, body = _get(f"{base}/plot.png", cookie)
    assert status == 200 and headers["content-type"] == "image/png" and body.startswith(b"\x89PNG")
    assert "sandbox" in headers["content-security-policy"]
    status, headers, _ = _get(f"{base}/notes.html", cookie)
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith("attachment")
    assert _get(f"{base}/leak.png", cookie)[0] == 404
    assert _get(f"{base}/..%2F..%2Fmeta.json", cookie)[0] == 404


@needs_browser
def test_the_table_shows_the_runs(page: Any) -> None:
    page.wait_for_selector("#rows .trow.data")
    page.wait_for_selector("body[data-rows='3']")
    names = page.locator("#rows .trow.data > div:nth-child(3)").all_inner_texts()
    assert sorted(names) == sorted([HOSTILE, "lr0.01", "lr0.1"])


@needs_browser
def test_a_hostile_name_stays_text(page: Any) -> None:
    page.wait_for_selector("#rows .trow.data")
    assert page.evaluate("window.pwned") is None
    assert page.locator("#rows script, #rows img").count() == 0
    assert page.get_by_text(HOSTILE, exact=True).count() >= 1


@needs_browser
def test_a_filter_narrows_the_table(page: Any) -> None:
    page.fill("#filter", "lr=0.01")
    page.wait_for_selector("body[data-rows='1']")
    assert page.locator("#rows .trow.data").all_inner_texts()[0].count("lr0.01") == 1
    page.fill("#filter", "status:failed")
    page.wait_for_selector("body[data-rows='0']")
    page.fill("#filter", "lrr=0.01")  # a key no run has: said, as naga ls says it
    page.wait_for_selector("#error:has-text(\"no run has a param or metric 'lrr'\")")
    assert "did you mean 'lr'?" in page.inner_text("#error")
    page.fill("#filter", "")
    page.wait_for_selector("body[data-rows='3']")
    assert page.inner_text("#error") == ""


@needs_browser
def test_runs_grouped_by_sweep(page: Any) -> None:
    page.select_option("#group", "sweep")
    groups = page.locator("#rows .trow.group").all_inner_texts()
    assert [" ".join(g.split()) for g in groups] == ["(no sweep) (1 runs)", "sweep:demo (2 runs)"]
    page.locator("#rows .trow.group", has_text="sweep:demo").locator("input").check()
    assert page.inner_text("#chart-selected") == "Chart selected (2)"
    page.locator("#rows .trow.group", has_text="sweep:demo").locator("input").uncheck()
    page.select_option("#group", "")
    assert page.locator("#rows .trow.group").count() == 0


@needs_browser
def test_a_run_page(page: Any, world: dict[str, Any]) -> None:
    page.click("#rows a:text-is('lr0.1')")
    page.wait_for_selector("table.record")
    record = page.inner_text("table.record")
    assert world["ids"]["lr0.1"] in record and "lr = 0.1" in record
    page.wait_for_selector("#log .fg2")  # the green from the program's output, as a class
    assert page.inner_text("#log .fg2") == "done"
    page.fill("#log-search", "training")
    page.wait_for_selector("#log mark")
    assert page.inner_text("#log mark") == "training"


@needs_browser
def test_a_chart_overlays_the_selected_runs(page: Any, world: dict[str, Any]) -> None:
    ids = ",".join([world["ids"]["lr0.1"], world["ids"]["lr0.01"]])
    page.goto(f"{world['base']}/#/chart?runs={ids}&key=loss")
    page.wait_for_selector("#chart canvas")
    page.wait_for_selector("#chart[data-series='2']")
    assert page.locator("#chart .u-legend").inner_text().count("lr0.") == 2
    page.check("#log")  # log scale redraws
    page.wait_for_selector("#chart canvas")


@needs_browser
def test_parallel_coordinates_of_selected_runs(page: Any, world: dict[str, Any]) -> None:
    ids = ",".join([world["ids"]["lr0.1"], world["ids"]["lr0.01"]])
    page.goto(f"{world['base']}/#/parallel?runs={ids}")
    page.wait_for_selector("#parallel[data-axes='2']")  # lr (the param that differs), loss
    assert page.input_value("#pc-metric") == "loss"


@needs_browser
def test_a_new_run_appears_without_a_reload(page: Any, world: dict[str, Any]) -> None:
    page.goto(f"{world['base']}/#/")
    page.wait_for_selector("body[data-rows='3']")
    page.evaluate("window.notReloaded = true")
    done = _naga(world["env"], world["dir"], "run", "--name", "arrived-live", "true")
    assert done.returncode == 0
    page.wait_for_selector("#rows a:text-is('arrived-live')", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True


@needs_browser
def test_the_report_opens_from_a_file(browser: Any, world: dict[str, Any]) -> None:
    out = world["dir"] / "report.html"
    done = _naga(world["env"], world["dir"], "report", "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.count("<script") == 3  # the data and two scripts: no name broke out
    assert "http://" not in text.split("<script>")[0] and "src=" not in text.split("<style>")[0]
    page = browser.new_page()
    try:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(out.as_uri())
        page.wait_for_selector("body[data-rows='4']")
        assert page.get_by_text(HOSTILE, exact=True).count() >= 1
        assert page.evaluate("window.pwned") is None
        page.wait_for_selector("#report-chart canvas")
        page.click("#rows a:text-is('lr0.01')")
        page.wait_for_selector("table.record")
        assert "lr = 0.01" in page.inner_text("table.record")
        assert errors == []
    finally:
        page.close()


def test_a_missing_ui_extra_is_one_line(tmp_path: Path) -> None:
    code = "import sys; sys.modules['uvicorn'] = None; from naga.cli.app import cli; cli(['ui'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.decode() == (
        "naga: error: naga ui needs the ui extra: pip install 'naga-runs[ui]'\n"
    )


def test_report_with_nothing_to_show(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "naga", "report", "nosuchrun", "-o", str(tmp_path / "r.html")],
        capture_output=True,
        cwd=tmp_path,
    )
    assert done.returncode != 0 and done.stderr.decode().count("\n") == 1
    assert not (tmp_path / "r.html").exists()


def test_report_mistakes_are_one_line(tmp_path: Path) -> None:
    """A path that cannot be written, or a misspelt --where key: one line, exit 2 (the first
    was an OSError's own words, "No such file or directory: ...", exit 1)."""
    env = {**os.environ, "NAGA_HOME": str(tmp_path / "store")}
    code = "import naga; naga.run(params={'lr': 0.1}).start().complete()"
    assert _naga(env, tmp_path, "run", sys.executable, "-c", code).returncode == 0
    missing = str(tmp_path / "no" / "r.html")
    for args, line in (
        (("-o", missing), f"cannot write the report to {missing!r}: No such file or directory"),
        (("-o", str(tmp_path)), f"cannot write the report to {str(tmp_path)!r}: Is a directory"),
        (("--where", "lrr>1"), "no run has a param or metric 'lrr' (did you mean 'lr'?)"),
    ):
        done = _naga(env, tmp_path, "report", *args)
        assert (done.returncode, done.stderr.decode()) == (2, f"naga: error: {line}\n")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, width=32), max_size=3000), st.integers(4, 500))
def test_downsampling_keeps_the_extremes(values: list[float], points: int) -> None:
    kept = minmax(array("d", values), points)
    assert kept == sorted(set(kept))
    if len(values) <= points:
        assert kept == list(range(len(values)))
    else:
        assert len(kept) <= points and kept[0] == 0 and kept[-1] == len(values) - 1
        shown = [values[i] for i in kept]
        assert min(shown) == min(values) and max(shown) == max(values)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.characters() | st.characters(categories=["Cs"])).map("".join))
def test_embedded_json_cannot_end_its_script_block(text: str) -> None:
    doc = {"name": text, "tail": "</script><!--"}
    embedded = embed_json(doc)
    assert json.loads(embedded) == json.loads(json.dumps(doc))  # as any JSON reader reads it
    assert "<" not in embedded and ">" not in embedded and "&" not in embedded
    embedded.encode("utf-8")  # the file can be written: invalid UTF-8 in a record is escaped


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(["\x1b", "[", "]", "3", "1", ";", "m", "\r", "\x07", "a"])))
def test_log_segments_hold_no_escape_sequences(text: str) -> None:
    for line in segments(text):
        for piece, classes in line:
            assert "\x1b" not in piece and "\r" not in piece and "\x07" not in piece
            assert re.fullmatch(r"(fg\d{1,2}( b)?|b)?", classes)


def test_the_docs_sh_blocks_run(tmp_path: Path) -> None:
    """docs/ui.md's examples, in order, with the real command line."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "ui.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", doc, flags=re.S)
    assert len(blocks) == 3
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(blocks)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "report.html: 2 runs" in done.stdout
    page = (tmp_path / "report.html").read_text()
    assert '"name":"lr0.1"' in page and '"name":"lr0.01"' in page
    assert "seeds.html: 4 runs" in done.stdout
    seeds = (tmp_path / "seeds.html").read_text()
    assert '"over":["seed"]' in seeds and '"label":"lr=0.01","params"' in seeds
    assert "the first seed" in seeds


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [sys.executable, "-m", "naga", "ui", "--port", port],
            capture_output=True,
            cwd=tmp_path,
            timeout=30,
        )
    assert done.returncode != 0
    assert (
        done.stderr.decode()
        == f"naga: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_a_run_named_in_bytes_not_utf8_has_its_page(tmp_path: Path) -> None:
    """`naga run --name $'caf\\xe9'` keeps the byte as a lone surrogate: the run's page still
    comes (it was a 500), the byte an escape that JSON.parse reads and the page shows as a
    replacement character."""
    env = {**os.environ, "NAGA_HOME": str(tmp_path / "store")}
    name = b"caf\xe9 latin-1"
    done = subprocess.run(
        [sys.executable, "-m", "naga", "run", "--name", name, "true"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (run,) = json.loads(_naga(env, tmp_path, "ls", "--json").stdout)
    with serving(tmp_path, env) as url:
        base, token = url.split("/?token=")
        status, _, body = _get(f"{base}/api/runs/{run['id']}", cookie=f"naga_token={token}")
    assert status == 200, body
    assert b'"caf\\udce9 latin-1"' in body
    assert json.loads(body)["run"]["name"] == "caf\udce9 latin-1"


def test_ctrl_c_ends_the_server_with_a_page_open(tmp_path: Path) -> None:
    """An open page holds an event stream; Ctrl-C still stops the server at once, quietly."""
    import signal
    import time

    server = subprocess.Popen(
        [sys.executable, "-m", "naga", "ui"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert server.stdout is not None and server.stderr is not None
    try:
        server.stdout.readline()
        url = server.stdout.readline().decode().strip()
        base, token = url.split("/?token=")
        request = urllib.request.Request(
            f"{base}/api/events", headers={"cookie": f"naga_token={token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as stream:
            assert stream.readline() == b"event: version\n"
            server.send_signal(signal.SIGINT)
            started = time.monotonic()
            server.wait(timeout=10)
            assert time.monotonic() - started < 3
    finally:
        server.kill()
        server.wait()
        errors = server.stderr.read().decode()
        server.stdout.close()
        server.stderr.close()
    assert "Traceback" not in errors and "ERROR" not in errors


def test_allow_edit_renames_tags_and_deletes(tmp_path: Path) -> None:
    env = {**os.environ, "NAGA_HOME": str(tmp_path / "store")}
    assert _naga(env, tmp_path, "run", "--name", "before", "true").returncode == 0
    (run,) = json.loads(_naga(env, tmp_path, "ls", "--json").stdout)
    with serving(tmp_path, env, "--allow-edit") as url:
        base, token = url.split("/?token=")
        cookie = f"naga_token={token}"

        def edit(action: str, value: str | None) -> int:
            body = json.dumps({"action": action, "value": value}).encode()
            request = urllib.request.Request(
                f"{base}/api/runs/{run['id']}/edit",
                data=body,
                headers={"cookie": cookie, "content-type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as exc:
                with exc:
                    return exc.code

        assert edit("rename", "after") == 200
        assert edit("tag", "has space") == 400  # the CLI's rules: one line, no traceback
        assert edit("tag", "best") == 200
        (seen,) = json.loads(_naga(env, tmp_path, "ls", "--json").stdout)
        assert seen["name"] == "after" and seen["tags"] == ["best"]
        assert edit("delete", None) == 200
        assert json.loads(_naga(env, tmp_path, "ls", "--json").stdout) == []
        assert _get(f"{base}/api/runs/{run['id']}", cookie)[0] == 404


SEEDED = """
import sys, naga
lr, seed = float(sys.argv[1]), int(sys.argv[2])
with naga.run(params={"lr": lr, "seed": seed}):
    for step in range(50):
        naga.log({"loss": 1.0 / (1 + step * lr) + 0.01 * seed}, step=step)
"""


@pytest.fixture(scope="module")
def editable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A store of two lrs times two seeds, served by `naga ui --allow-edit`."""
    here = tmp_path_factory.mktemp("edit")
    env = {**os.environ, "NAGA_HOME": str(here / "store"), "NO_COLOR": "1"}
    env.pop("NAGA_RUN_ID", None)
    env.pop("NAGA_RUN_DIR", None)
    (here / "seeded.py").write_text(SEEDED)
    for lr in ("0.1", "0.01"):
        for seed in ("0", "1"):
            name = ("--name", f"lr{lr}-s{seed}")
            done = _naga(env, here, "run", *name, sys.executable, "seeded.py", lr, seed)
            assert done.returncode == 0, done.stderr
    ids = {run["name"]: run["id"] for run in json.loads(_naga(env, here, "ls", "--json").stdout)}
    with serving(here, env, "--allow-edit") as url:
        base, token = url.split("/?token=")
        yield {"env": env, "dir": here, "url": url, "base": base, "token": token, "ids": ids}


@needs_browser
def test_allow_edit_sets_and_clears_a_note_in_the_page(
    browser: Any, editable: dict[str, Any]
) -> None:
    """The run page's note box writes through the edit endpoint; a hostile note stays text."""
    env, here, run_id = editable["env"], editable["dir"], editable["ids"]["lr0.1-s0"]
    context = browser.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(editable["url"] + f"#/run/{run_id}")
        page.wait_for_selector("#note-edit")
        page.fill("#note-edit", HOSTILE)
        page.click("#note-save")
        page.wait_for_selector("table.record td.label:text-is('Note')")
        assert page.get_by_text(HOSTILE, exact=True).count() == 1
        assert page.evaluate("window.pwned") is None
        assert json.loads(_naga(env, here, "show", run_id, "--json").stdout)["note"] == HOSTILE
        page.click("#note-clear")
        page.wait_for_selector("table.record td.label:text-is('Note')", state="detached")
        assert page.input_value("#note-edit") == ""
        assert "note" not in json.loads(_naga(env, here, "show", run_id, "--json").stdout)
        assert errors == []
    finally:
        context.close()


def test_metrics_over_seed_are_group_means_with_a_band(editable: dict[str, Any]) -> None:
    runs = ",".join(editable["ids"].values())
    cookie = f"naga_token={editable['token']}"
    status, _, body = _get(f"{editable['base']}/api/metrics?runs={runs}&key=loss&over=seed", cookie)
    assert status == 200
    doc = json.loads(body)
    assert doc["key"] == "loss" and doc["over"] == ["seed"]
    assert [(g["label"], g["n"]) for g in doc["groups"]] == [("lr=0.01", 2), ("lr=0.1", 2)]
    for g in doc["groups"]:
        assert g["step"] == list(range(50))
        assert all(lo < m < hi for lo, m, hi in zip(g["low"], g["mean"], g["high"], strict=True))
    status, _, body = _get(f"{editable['base']}/api/metrics?runs={runs}&key=loss&over=sed", cookie)
    assert status == 400 and "did you mean seed?" in json.loads(body)["error"]


@needs_browser
def test_a_chart_over_seed_draws_each_groups_mean_and_band(
    browser: Any, editable: dict[str, Any]
) -> None:
    runs = ",".join(editable["ids"].values())
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(editable["url"] + f"#/chart?runs={runs}&key=loss&over=seed")
        page.wait_for_selector("#chart[data-groups='2'] canvas")
        labels = page.locator("#chart .u-legend .u-label").all_inner_texts()
        assert labels[1:] == [
            *("lr=0.01 (n=2)", "lr=0.01 (n=2) 95% high", "lr=0.01 (n=2) 95% low"),
            *("lr=0.1 (n=2)", "lr=0.1 (n=2) 95% high", "lr=0.1 (n=2) 95% low"),
        ]
        assert page.evaluate("document.querySelector('#chart')._plot.bands.length") == 2
        page.fill("#over", "")  # back to one line per run
        page.dispatch_event("#over", "change")
        page.wait_for_selector("#chart[data-series='4']:not([data-groups])")
    finally:
        context.close()


@needs_browser
def test_a_report_over_seed_charts_group_means(browser: Any, editable: dict[str, Any]) -> None:
    env, here = editable["env"], editable["dir"]
    wrong = _naga(env, here, "report", "--over", "sed", "-o", str(here / "no.html"))
    assert wrong.returncode != 0 and not (here / "no.html").exists()
    assert wrong.stderr.decode().startswith("naga: error: --over sed: none of the 4 runs")
    assert wrong.stderr.decode().count("\n") == 1
    out = here / "seeds.html"
    done = _naga(env, here, "report", "--over", "seed", "-o", str(out))
    assert done.returncode == 0, done.stderr
    page = browser.new_page()
    try:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(out.as_uri())
        page.wait_for_selector("#report-chart #chart[data-groups='2'][data-series='6']")
        labels = page.locator("#report-chart .u-legend .u-label").all_inner_texts()
        assert labels[1] == "lr=0.01 (n=2)" and labels[4] == "lr=0.1 (n=2)"
        assert errors == []
    finally:
        page.close()
