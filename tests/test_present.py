"""Record text reaches the terminal inert (issue 16), through the one presentation layer.

Run records are untrusted (pulled from teammates, shared stores). The property test writes
records with hostile strings in every text field (OSC 52/8/0, CSI, lone C1 bytes, BEL, DEL, bidi
overrides, Rich markup, undecodable bytes) with the store's own writer, then reads them back
through ``show``, ``show --json``, ``ls``, ``ls --json``, ``compare`` and ``diff``: no raw
control character may reach the output, and the JSON stays valid and exact. The commands run
in-process through click's CliRunner (a subprocess per command would make each example cost
seconds); the explicit tests below run the real ``naga`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import Naga
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from naga.cli.app import cli
from naga.present.fmt import duration, value
from naga.present.inert import inert, inert_json
from naga.store.files import save_meta
from naga.store.layout import StoreLayout

OSC_52 = "\x1b]52;c;aGVsbG8=\x07"  # writes the clipboard
OSC_8 = "\x1b]8;;https://evil.example/\x07click me\x1b]8;;\x07"  # a hidden link
OSC_0 = "\x1b]0;owned\x07"  # sets the window title
PIECES = [
    OSC_52,
    OSC_8,
    OSC_0,
    "\x1b[2J",
    "\x9b31m",
    "\x9d0;t\x9c",
    "\x07",
    "\x00",
    "\x7f",
    "\r",
    "\n",
    "\t",
    "\u202e",
    "\u2066",
    "\u2028",
    "[bold red]x[/]",
    "[link=https://e.example]y[/link]",
    "é",
    "数据",
    " ",
    "a",
]
hostile = st.lists(st.sampled_from(PIECES), min_size=1, max_size=5).map("".join)
# A byte that was not UTF-8 is kept in a record as a surrogate; naga records them in the
# command line (its argv) and the index keeps the fields below printable, so they get them too.
UNDECODABLE = ("name", "command", "host")
undecodable = st.lists(st.sampled_from([*PIECES, "\udcff"]), min_size=1, max_size=5).map("".join)


def forbidden(char: str) -> bool:
    """What a terminal acts on (or what cannot be encoded at all)."""
    code = ord(char)
    return (
        (code < 0x20 and char not in "\n\t")
        or 0x7F <= code < 0xA0
        or code in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029)
        or 0x202A <= code <= 0x202E
        or 0x2066 <= code <= 0x2069
        or 0xD800 <= code <= 0xDFFF
    )


def assert_inert(raw: bytes) -> str:
    text = raw.decode("utf-8")  # strict: an undecodable byte would reach the terminal too
    bad = sorted({hex(ord(c)) for c in text if forbidden(c)})
    assert not bad, f"raw control characters {bad} in:\n{text!r}"
    return text


def record(run_id: str, text: dict[str, str], started: str) -> dict[str, Any]:
    """A completed run whose every text field holds hostile text."""
    return {
        "id": run_id,
        "name": text["name"],
        "status": "completed",
        "exit_code": 0,
        "signal": None,
        "error": text["error"],
        "traceback": f"Traceback (most recent call last):\n  {text['error']}\nError: x",
        "command": text["command"],
        "argv": ["python", text["command"]],
        "cwd": text["cwd"],
        "started_at": started,
        "finished_at": started,
        "duration_s": 1.5,
        "host": text["host"],
        "user": text["user"],
        "pid": 1,
        "tags": [text["tag"], "plain"],
        "git": {
            "commit": text["commit"],
            "branch": text["branch"],
            "dirty": True,
            "remotes": {text["remote"]: text["url"]},
            "untracked": [text["path"]],
            "untracked_count": 1,
        },
        "python": {"executable": text["path"], "version": text["user"]},
        "env": {text["key"]: text["value"]},
        "params": {text["key"]: text["value"], "n": text["value"]},
        "metrics": {text["metric"]: 0.5},
        "metric_stats": {
            text["metric"]: {"last": 0.5, "min": 0.1, "max": 0.9, "step": 3, "count": 4}
        },
        "output": {"bytes": 3, "error": text["error"]},
        "resources": {"cpu_user_s": 1.0, "cpu_system_s": 0.5, "max_rss_bytes": 2**20},
    }


FIELDS = [
    "name",
    "error",
    "command",
    "cwd",
    "host",
    "user",
    "tag",
    "commit",
    "branch",
    "remote",
    "url",
    "path",
    "key",
    "value",
    "metric",
]


@contextmanager
def fresh_store() -> Iterator[StoreLayout]:
    """A store of its own for one example (Hypothesis runs many in one test)."""
    before = os.environ.get("NAGA_HOME")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NAGA_HOME"] = os.path.join(tmp, "store")
        try:
            layout = StoreLayout(os.environ["NAGA_HOME"])
            layout.ensure()
            yield layout
        finally:
            if before is None:
                del os.environ["NAGA_HOME"]
            else:
                os.environ["NAGA_HOME"] = before


def write(layout: StoreLayout, meta: dict[str, Any]) -> None:
    os.makedirs(layout.run_dir(meta["id"]), exist_ok=True)
    save_meta(layout, meta, fsync=False)


def invoke(*args: str) -> tuple[int, bytes, bytes]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout_bytes, result.stderr_bytes


# No shrinking: an example runs ten commands, and the failing record is readable as it is.
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    st.fixed_dictionaries(
        {field: undecodable if field in UNDECODABLE else hostile for field in FIELDS}
    )
)
def test_hostile_records_reach_the_terminal_inert(text: dict[str, str]) -> None:
    with fresh_store() as layout:
        write(layout, record("hostile1", text, "2026-01-02T10:00:00Z"))
        plain = {k: "plain" for k in FIELDS}
        write(layout, record("plainrun", plain, "2026-01-01T10:00:00Z"))
        for args in (
            ("show", "hostile1"),
            ("ls", "--all"),
            ("ls", "--columns", "param.n,metric.x"),
            ("compare", "hostile1", "plainrun"),
            ("diff", "hostile1", "plainrun"),
        ):
            code, out, err = invoke(*args)
            assert code == 0, (args, err)
            assert_inert(out), assert_inert(err)
        code, out, err = invoke("show", "--json", "hostile1")
        doc = json.loads(assert_inert(out))
        for field in ("name", "command", "cwd", "error"):
            assert doc[field] == text[field]  # exact: escaped in JSON, not altered
        assert doc["tags"] == [text["tag"], "plain"]
        assert doc["git"]["branch"] == text["branch"]
        _, out, _ = invoke("ls", "--all", "--json")
        assert [r["name"] for r in json.loads(assert_inert(out))] == [text["name"], "plain"]
        _, out, _ = invoke("compare", "--json", "hostile1", "plainrun")
        assert json.loads(assert_inert(out))["runs"][0]["name"] == text["name"]


@given(st.text())
def test_inert_leaves_one_printable_line(text: str) -> None:
    shown = inert(text)
    assert "\n" not in shown and not any(forbidden(c) for c in shown)
    if text.isprintable():
        assert shown == text  # nothing to escape: nothing changed
    multi = inert(text, multiline=True)
    assert multi.count("\n") == text.count("\n") and not any(forbidden(c) for c in multi)


@given(st.recursive(st.text() | st.floats(allow_nan=False), lambda x: st.lists(x, max_size=3)))
def test_inert_json_is_the_same_document(doc: Any) -> None:
    text = inert_json(json.dumps(doc, ensure_ascii=False))
    assert json.loads(text) == doc
    assert not any(forbidden(c) for c in text.replace("\n", ""))


def test_values_from_records_are_shown_escaped() -> None:
    assert inert(OSC_52) == "\\x1b]52;c;aGVsbG8=\\x07"
    assert inert("\x9b\u202e\x7f") == "\\x9b\\u202e\\x7f"
    assert inert("a\tb\nc\r", multiline=True) == "a\tb\nc\\r"
    assert value(OSC_0) == "\\x1b]0;owned\\x07" and value(["\x1b"]) == '["\\u001b"]'
    assert duration(1e308) == "1e+308s" and duration(float("nan")) == "nans"
    assert duration(OSC_0) == inert(OSC_0)


# -- the real command line --------------------------------------------------------------------


def test_a_name_given_to_naga_run_is_shown_inert_in_its_own_lines(naga: Naga) -> None:
    done = naga("run", "--name", OSC_0, "--tag", OSC_52, "--", "sh", "-c", "exit 3")
    assert done.returncode == 3
    err = assert_inert(done.stderr)
    assert "naga ▶ run" in err and "(\\x1b]0;owned\\x07)" in err
    run_id = err.split("naga ▶ run ")[1].split()[0]
    shown = assert_inert(naga("show", run_id).stdout)
    assert "\\x1b]0;owned\\x07" in shown and "\\x1b]52;c;aGVsbG8=\\x07" in shown
    listed = assert_inert(naga("ls").stdout)  # the click-free fast path
    assert "\\x1b]0;owned\\x07" in listed
    assert json.loads(assert_inert(naga("show", "--json", run_id).stdout))["name"] == OSC_0


@pytest.mark.parametrize("sequence", [OSC_52, OSC_8, OSC_0], ids=["osc52", "osc8", "osc0"])
def test_osc_sequences_in_a_pulled_record_stay_text(naga: Naga, store: Path, sequence: str) -> None:
    layout = StoreLayout(str(store))
    layout.ensure()
    fields = {k: f"x{sequence}y" for k in FIELDS}
    write(layout, record("pulled01", fields, "2026-01-02T10:00:00Z"))
    write(layout, record("mine0001", {k: "plain" for k in FIELDS}, "2026-01-01T10:00:00Z"))
    for args in (
        ("show", "pulled01"),
        ("ls",),
        ("compare", "pulled01", "mine0001"),
        ("diff", "pulled01", "mine0001"),
    ):
        done = naga(*args)
        assert done.returncode == 0, done.stderr
        out = assert_inert(done.stdout)
        assert inert(sequence[:4]) in out, args  # "\\x1b]52", shown (ls cuts long cells)
    # an error message that quotes record text: the close names of `show`'s "did you mean"
    missing = naga("show", f"x{sequence}yz")
    assert missing.returncode == 1
    assert inert(f"x{sequence}y") in assert_inert(missing.stderr)


# -- the ls table's fast path -------------------------------------------------------------------


def reference_nest(runs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Children under their parent, oldest first, as `ls` nested them before (recursively)."""
    listed = {r["id"] for r in runs}
    children: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run["parent_id"] in listed:
            children.setdefault(run["parent_id"], []).append(run)
    out: list[tuple[dict[str, Any], int]] = []

    def add(run: dict[str, Any], depth: int) -> None:
        out.append((run, depth))
        for child in reversed(children.get(run["id"], [])):
            add(child, depth + 1)

    for run in runs:
        if run["parent_id"] not in listed:
            add(run, 0)
    return out


def reference_listing(runs: list[dict[str, Any]], now: float, width: int) -> str:
    """The listing as the generic table lays it out, one cell at a time (what `ls` did
    before its columns were built in bulk)."""
    from naga.cli.listing import HEADERS, NAME_WIDTH
    from naga.present import fmt
    from naga.present.terminal import status_cell, table

    rows = [
        [
            (("└ " if depth else "") + run["id"], "yellow"),
            (fmt.truncate(inert(run["name"] or "-"), NAME_WIDTH), None),
            status_cell(run["status"]),
            (fmt.started(run["started_at"], now), None),
            (fmt.duration(run["duration_s"]), None),
            (fmt.short_commit(run["git_commit"], run["git_dirty"]), None),
            (inert(run["command"] or ""), None),
        ]
        for run, depth in reference_nest(runs)
    ]
    return table(HEADERS, rows, width)


listed_run = st.fixed_dictionaries(
    {
        "name": st.none() | hostile | st.text(max_size=30),
        "status": st.sampled_from(["completed", "failed", "running", "weird\x1b"]),
        "started_at": st.none()
        | st.datetimes().map(lambda d: d.isoformat() + "Z")
        | st.sampled_from(["bad", "2026-01-01T00:00:00+05:30"]),
        "duration_s": st.none() | st.floats() | st.integers(-(10**12), 10**12),
        "git_commit": st.none() | st.text(max_size=12),
        "git_dirty": st.none() | st.sampled_from([0, 1]),
        "command": st.none() | hostile | st.text(max_size=150),
    }
)


@given(st.lists(listed_run, max_size=12), st.integers(20, 200), st.data())
def test_ls_table_is_the_generic_table_built_in_bulk(
    runs: list[dict[str, Any]], width: int, data: st.DataObject
) -> None:
    from naga.cli.listing import HEADERS, _columns, _table

    for i, run in enumerate(runs):
        run["id"] = f"run{i:05d}"
        parents = [None, *(r["id"] for r in runs[:i])]
        run["parent_id"] = data.draw(st.sampled_from(parents))
    now = 1.8e9
    names = "id name status started_at duration_s git_commit git_dirty command parent_id"
    found = [tuple(run[key] for run in runs) for key in names.split()]
    fast = _table(list(HEADERS), _columns(found, now, [], {}), width, False)
    assert fast == reference_listing(runs, now, width)
