"""``naga rename / tag / untag / note``: edits kept beside the record (``naga.store.edit``),
on finished and running runs, concurrent editors, hostile input and hostile pulled edit files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, live_run, naga_cmd, runs_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from naga.errors import UsageError
from naga.store import edit, editlog
from naga.store.files import load_meta, save_meta
from naga.store.layout import StoreLayout

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def one_run(naga: Naga, name: str = "first") -> str:
    assert naga("run", "--name", name, "--tag", "t", "--", "true").returncode == 0
    (found,) = [r["id"] for r in runs_json(naga) if r["name"] == name]
    return str(found)


def error_line(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode().splitlines()
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert lines[0].startswith("naga: error: ") and b"Traceback" not in done.stderr
    return lines[0]


def test_readme_editing_block_runs(tmp_path: Path, store: Path) -> None:
    """The README's "Editing runs" block, as written, in a scratch directory."""
    section = README.split("## Editing runs", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^Tags +keep$", done.stdout, flags=re.M)
    assert re.search(r"^Note +first run with the new tokenizer$", done.stdout, flags=re.M)
    assert re.search(r"^Edited +5 edits, the last .* by ", done.stdout, flags=re.M)
    listed = [line for line in done.stdout.splitlines() if " baseline " in line]
    assert len(listed) == 1  # ls --where note~tokenizer found it
    assert done.stdout.rstrip().endswith("first run with the new tokenizer")  # `naga note RUN`


def test_edits_on_a_running_run_survive_its_end(naga: Naga, tmp_path: Path) -> None:
    """The run's own process rewrites meta.json when it ends; no edit made meanwhile is lost."""
    with live_run(naga, tmp_path) as run_id:
        assert naga("rename", "live", "renamed").returncode == 0
        assert naga("tag", run_id, "hot", "later").returncode == 0
        assert naga("untag", run_id, "later").returncode == 0
        assert naga("note", run_id, "line one\nline two").returncode == 0
        (running,) = runs_json(naga)
        assert running["status"] == "running" and running["name"] == "renamed"
    (ended,) = runs_json(naga)
    assert ended["status"] == "cancelled"  # its process wrote its ending since
    assert (ended["name"], ended["tags"], ended["note"]) == (
        "renamed",
        ["hot"],
        "line one\nline two",
    )
    raw = json.loads((tmp_path / "store" / "runs" / run_id / "meta.json").read_text())
    assert raw["name"] == "live" and "note" not in raw  # the record itself never rewritten
    shown = naga("show", run_id).stdout.decode()
    assert "Note      line one\n          line two" in shown


def test_concurrent_editors_lose_nothing(naga: Naga, tmp_path: Path, store: Path) -> None:
    run_id = one_run(naga)
    script = (
        "import sys; from naga.store import edit; from naga.store.layout import StoreLayout;"
        "edit.add_tag(StoreLayout(sys.argv[1]), sys.argv[2], sys.argv[3])"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(store), run_id, f"tag{i}"])
        for i in range(8)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * 8
    (found,) = runs_json(naga)
    assert sorted(found["tags"]) == sorted(["t", *(f"tag{i}" for i in range(8))])


def test_newest_edit_of_each_field_wins(store: Path) -> None:
    layout = StoreLayout(str(store))
    layout.ensure()
    meta = {"id": "abcd2345", "name": "orig", "tags": ["a"], "status": "completed"}
    meta.update(started_at="2026-01-01T00:00:00Z", command="true", git=None, output=None)
    meta.update(finished_at=None, duration_s=None, exit_code=0)
    os.makedirs(layout.run_dir("abcd2345"))
    save_meta(layout, meta)
    edits = Path(edit.edits_dir(layout, "abcd2345"))
    edits.mkdir()
    # File names out of time order (a pulled edit, another host's clock): the time decides.
    for name, doc in {
        "9-z.json": {"field": "name", "value": "older", "at": "2026-01-02T00:00:00.000000Z"},
        "1-a.json": {"field": "name", "value": "newer", "at": "2026-01-03T00:00:00.000000Z"},
        "5-m.json": {"field": "tag", "value": "a", "on": False, "at": "2026-01-02T00:00:00Z"},
        "6-m.json": {"field": "tag", "value": "b", "on": True, "at": "2026-01-02T00:00:00Z"},
    }.items():
        (edits / name).write_text(json.dumps(doc))
    found = load_meta(layout, "abcd2345")
    assert (found["name"], found["tags"]) == ("newer", ["b"])
    assert found["edited"]["count"] == 4 and found["edited"]["at"].startswith("2026-01-03")


HOSTILE_EDITS: list[Any] = [
    b"not json",
    b"[1, 2]",
    json.dumps({"field": "name", "value": "x\x1b]52;c;aGk=\x07", "at": "2027"}).encode(),
    json.dumps({"field": "name", "value": 5, "at": "2027"}).encode(),
    json.dumps({"field": "tag", "value": "two words", "on": True, "at": "2027"}).encode(),
    json.dumps({"field": "tag", "value": "x", "on": "yes", "at": "2027"}).encode(),
    json.dumps({"field": "status", "value": "completed", "at": "2027"}).encode(),
    json.dumps({"field": "note", "value": "x" * 20_000, "at": "2027"}).encode(),
    json.dumps({"field": "name", "value": "no time"}).encode(),
    b'{"field": "name", "value": "NaN", "at": NaN}',
]


def test_pulled_edit_files_are_checked(naga: Naga, tmp_path: Path, store: Path) -> None:
    """Edit files are untrusted (pulled from others): any that is no valid edit is ignored,
    and the run still reads; a symbolic link is never followed."""
    run_id = one_run(naga)
    edits = Path(edit.edits_dir(StoreLayout(str(store)), run_id))
    edits.mkdir()
    for i, data in enumerate(HOSTILE_EDITS):
        (edits / f"{i:03d}-bad.json").write_bytes(data)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"field": "name", "value": "leaked", "at": "2027"}))
    (edits / "999-link.json").symlink_to(secret)
    assert naga("reindex").returncode == 0
    (found,) = runs_json(naga)
    assert (found["name"], found["tags"], found.get("note")) == ("first", ["t"], None)
    assert "edited" not in found
    assert naga("rename", run_id, "fine").returncode == 0  # a valid edit still applies
    assert runs_json(naga)[0]["name"] == "fine"

    elsewhere = tmp_path / "elsewhere"  # an edits/ that is a link: neither read nor written
    edits.rename(elsewhere)
    edits.symlink_to(elsewhere)
    assert naga("reindex").returncode == 0
    assert runs_json(naga)[0]["name"] == "first"
    count = len(os.listdir(elsewhere))
    assert "symbolic link" in error_line(naga("tag", run_id, "x"))
    assert len(os.listdir(elsewhere)) == count  # nothing written through the link


BAD_INPUT = [
    (("rename", "RUN", "a\nb"), "a run name is one line"),
    (("rename", "RUN", "x" * 201), "at most 200 characters"),
    (("tag", "RUN", "ok", "two words"), "a tag is one word"),
    (("tag", "RUN", "bell\x07"), "control characters"),
    (("tag", "RUN", "x" * 101), "at most 100 characters"),
    (("untag", "RUN", "nope"), "has no tag 'nope' (its tags: t)"),
    (("note", "RUN", "esc \x1b[2J"), "a note is text without control characters"),
    (("note", "RUN", "x", "--clear"), "give a TEXT or --clear"),
    (("note", "RUN", ""), "the note is empty; `naga note RUN --clear` removes the note"),
    (("note", "RUN", " ", "\n"), "the note is empty"),
    (("note", "RUN", b"caf\xe9 latin-1"), "a note must be UTF-8 text, and this one holds b'\\xe9'"),
    (("rename", "RUN", b"\xff"), "a run name must be UTF-8 text"),
    (("tag", "RUN", b"t\xfe"), "a tag must be UTF-8 text"),
    (("rename", "nosuchrun", "x"), "no run matches 'nosuchrun'"),
    (("ls", "--where", "note~"), "write note~TEXT"),
]


def test_bad_input_is_one_line_and_changes_nothing(naga: Naga, store: Path) -> None:
    run_id = one_run(naga)
    before = runs_json(naga)
    for args, message in BAD_INPUT:
        line = error_line(naga(*(run_id if a == "RUN" else a for a in args)))
        assert message.replace("RUN", run_id) in line, args
    assert runs_json(naga) == before  # "tag ok 'two words'": not even ok was added
    assert not os.path.exists(edit.edits_dir(StoreLayout(str(store)), run_id))


def test_note_is_searched_and_cleared(naga: Naga) -> None:
    first, other = one_run(naga), one_run(naga, "other")
    assert naga("note", first, "Diverged after 100% of warmup_steps").returncode == 0
    for where in ("note~diverged", "note~100%", "note~warmup_steps", "note~'after 100'"):
        assert [r["id"] for r in runs_json(naga, "--where", where)] == [first], where
    assert runs_json(naga, "--where", "note~warmup-steps") == []  # _ and % are literal
    assert naga("note", first, "--clear").returncode == 0
    assert runs_json(naga, "--where", "note~diverged") == []
    assert "note" not in runs_json(naga, "--name", "first")[0]
    assert naga("note", other).stdout == b""  # no note: prints nothing


def test_index_sees_edits_after_a_full_rescan(naga: Naga, store: Path) -> None:
    """Indexes learn of edits from change markers, and, when the markers are gone, from the
    edits directory's time (a new edit file moves it): a rescan never misses one."""
    run_id = one_run(naga)
    assert naga("ls").returncode == 0
    layout = StoreLayout(str(store))
    import shutil

    edit.rename(layout, run_id, "after")
    shutil.rmtree(layout.touched_dir)  # as if the markers had expired
    from naga.store import Store

    shop = Store(str(store))
    try:
        with shop.index.transaction() as conn:
            assert shop.index._changed(conn, [run_id]) == [run_id]
    finally:
        shop.close()


names = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=names, tag=names, note=names)
def test_any_input_is_kept_exactly_or_refused(store: Path, name: str, tag: str, note: str) -> None:
    """Whatever the user types: it is refused (UsageError), or read back exactly as checked."""
    layout = StoreLayout(str(store))
    run_id = "hyp23456"
    if not os.path.isdir(layout.run_dir(run_id)):
        layout.ensure()
        os.makedirs(layout.run_dir(run_id))
        save_meta(layout, {"id": run_id, "name": None, "tags": [], "status": "completed",
                           "started_at": "2026-01-01T00:00:00Z", "command": "true", "git": None,
                           "output": None, "finished_at": None, "duration_s": None,
                           "exit_code": 0})  # fmt: skip
    for change, value, check in (
        (edit.rename, name, editlog.check_name),
        (edit.add_tag, tag, editlog.check_tag),
        (edit.set_note, note, editlog.check_note),
    ):
        try:
            kept = check(value)
        except UsageError as exc:
            assert "\n" not in str(exc)
            with pytest.raises(UsageError):
                change(layout, run_id, value)
            continue
        change(layout, run_id, value)
        meta = load_meta(layout, run_id)
        if change is edit.rename:
            assert meta["name"] == kept
        elif change is edit.add_tag:
            assert kept in meta["tags"]
        else:
            assert meta.get("note") == (kept or None)


def test_commands_have_help(naga: Naga) -> None:
    for command in ("tag", "untag", "rename", "note"):
        done = subprocess.run(naga_cmd(command, "--help"), capture_output=True, check=True)
        assert done.stdout.startswith(f"Usage: naga {command}".encode())


def test_a_name_taken_is_said_by_rename_and_seen_through_renames(naga: Naga) -> None:
    """`naga rename` to a name another run has says so, as `naga run --name` does; and both
    see names as renamed (a renamed run was still counted under its recorded name)."""
    first = one_run(naga, "first")
    second = one_run(naga, "second")
    done = naga("rename", second, "first")
    assert done.stdout.decode() == f"Run {second} named first.\n"
    assert done.stderr.decode().startswith(
        f"naga: warning: the name 'first' is already used by run {first};"
    )
    assert naga("rename", second, "first").stderr == b""  # its own name already
    assert naga("rename", first, "renamed").stderr == b""
    again = naga("run", "--name", "first", "true")
    assert f"is already used by run {second};" in again.stderr.decode()  # not {first}
    moved = naga("run", "--name", "renamed", "true")
    assert f"the name 'renamed' is already used by run {first};" in moved.stderr.decode()
