"""Property test over hostile run records (issue 16): whatever a record holds (every JSON type
and size, huge integers, deep nesting, NaN, control characters, invalid UTF-8, absurd metric
files, symlinks out of the run), every command that reads it ends in one line or output, never a
traceback, and nothing outside the store is written or deleted.

The commands run in-process through click's CliRunner (a subprocess each would make a few dozen
examples take minutes); ``pull`` goes through the real rclone from a local-path remote.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from naga.cli import safe_streams
from naga.cli.app import cli
from naga.sdk.series import MAGIC, file_name

RUN_ID = "hostile1"
GOOD_ID = "goodrun1"

BASE: dict[str, Any] = {
    "schema": 1,
    "id": RUN_ID,
    "name": "hostile",
    "tags": ["t"],
    "status": "completed",
    "exit_code": 0,
    "error": None,
    "command": "true",
    "argv": ["true"],
    "cwd": "/nowhere",
    "started_at": "2026-11-01T10:00:00.000000Z",
    "finished_at": "2026-11-01T10:00:01.000000Z",
    "duration_s": 1.0,
    "host": "elsewhere",
    "git": None,
    "params": {},
    "metrics": {},
    "output": {"file": "output.log", "bytes": 3, "terminal": False},
}

text = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)  # incl. controls
surrogate_text = st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape"))
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
    st.sampled_from([2**64, -(2**70), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text, surrogate_text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(text, surrogate_text), inner, max_size=4),
    ),
    max_leaves=12,
)
FIELDS = [
    "name", "status", "exit_code", "duration_s", "command", "argv", "tags", "params", "git",
    "started_at", "finished_at", "output", "metrics", "metric_stats", "parent_id", "env",
    "error", "traceback", "cwd", "host", "owner",
]  # fmt: skip


def meta_text(kind: str, detail: Any) -> str:
    """The text of meta.json (drawn as a short recipe: Hypothesis prints failing examples)."""
    if kind == "fields":
        return json.dumps({**BASE, **detail}, allow_nan=True)
    if kind == "text":  # every text field the index keeps, as hostile text
        fields = ("name", "status", "started_at", "finished_at", "parent_id", "command", "host")
        return json.dumps(
            {**BASE, **dict.fromkeys(fields, detail), "tags": [detail], "params": {detail: 1},
             "git": {"commit": detail, "branch": detail, "dirty": True}}
        )  # fmt: skip
    if kind == "drop":
        return json.dumps({k: v for k, v in BASE.items() if k not in detail or k == "id"})
    if kind == "deep":
        return '{"id":"' + RUN_ID + '","x":' + "[" * detail + "]" * detail + "}"
    if kind == "digits":
        return '{"id":"' + RUN_ID + '","exit_code":' + "9" * detail + "}"
    return bytes(detail).decode("utf-8", "surrogateescape")


meta_texts = st.one_of(
    st.tuples(st.just("fields"), st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)),
    st.tuples(st.just("text"), st.one_of(surrogate_text, text)),
    st.tuples(st.just("drop"), st.sets(st.sampled_from(sorted(BASE)), min_size=1)),
    st.tuples(st.just("deep"), st.sampled_from([100_000, 5_000, 900, 65])),
    st.tuples(st.just("digits"), st.sampled_from([5000, 19, 400])),
    st.tuples(st.just("bytes"), st.binary(max_size=60)),
)
artifact_names = st.sampled_from(["..", "...", "/etc/passwd", "a\nb", "\x1b]0;x\x07", "ok.txt"])


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "meta": draw(meta_texts),
        "output": draw(st.binary(max_size=200)),
        "state": draw(values),
        "series_count": draw(st.sampled_from([0, 1, 2**31, 2**32 - 1])),
        "series_tail": draw(st.binary(max_size=50)),
        "artifacts_link": draw(st.booleans()),
        "artifact_names": draw(st.lists(artifact_names, max_size=3)),
        "run_dir_link": draw(st.booleans()),
    }


def _write_run(runs: Path, outside: Path, record: dict[str, Any]) -> None:
    real = outside.parent / "linked-run" if record["run_dir_link"] else runs / RUN_ID
    real.mkdir(parents=True)
    if record["run_dir_link"]:
        (runs / RUN_ID).symlink_to(real)
    meta = meta_text(*record["meta"])
    (real / "meta.json").write_text(meta, encoding="utf-8", errors="surrogateescape")
    (real / "output.log").write_bytes(record["output"])
    main = real / "metrics" / "main"
    main.mkdir(parents=True)
    state = json.dumps(record["state"], allow_nan=True)
    (main / "state.json").write_text(state, encoding="utf-8", errors="surrogateescape")
    header = struct.pack("<4sI", MAGIC, record["series_count"])
    (main / file_name("loss")).write_bytes(header + record["series_tail"])
    if record["artifacts_link"]:
        (real / "artifacts").symlink_to(outside)
        return
    artifacts = real / "artifacts"
    artifacts.mkdir()
    for name in record["artifact_names"]:
        if "/" in name or name in ("..", "."):
            (artifacts / "link").unlink(missing_ok=True)
            (artifacts / "link").symlink_to(name if name.startswith("/") else outside)
        else:
            (artifacts / name).write_text("x")


def _good_run(runs: Path) -> None:
    good = runs / GOOD_ID
    good.mkdir(parents=True)
    (good / "meta.json").write_text(json.dumps({**BASE, "id": GOOD_ID, "name": "good"}))
    (good / "output.log").write_bytes(b"ok\n")


def _snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int, bool]]:
    """Every path under ``root`` outside ``skip``: (size, mtime, is a link)."""
    found = {}
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if Path(directory, d) not in skip]
        for name in [*dirs, *names]:
            info = os.lstat(os.path.join(directory, name))
            found[os.path.join(directory, name)] = (info.st_size, info.st_mtime_ns, False)
    return found


COMMANDS: list[list[str]] = [
    ["ls"],
    ["ls", "--all", "--json"],
    ["show", RUN_ID],
    ["show", "--json", RUN_ID],
    ["logs", RUN_ID],
    ["compare", RUN_ID, GOOD_ID],
    ["gc", "--dry-run"],
    ["reindex"],
    ["report", RUN_ID, GOOD_ID, "-o", os.devnull],
    ["report", "--over", "seed", "-o", os.devnull],
]


class NagaRunner(CliRunner):
    """CliRunner with the streams ``naga.cli.main`` sets up (``safe_streams``)."""

    @contextlib.contextmanager
    def isolation(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with super().isolation(*args, **kwargs) as streams:
            safe_streams()
            yield streams


def _invoke(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(cli, args, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        shown = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"naga {' '.join(args)} raised:\n{shown}")
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output
    if result.exit_code:
        errors = [line for line in result.stderr.splitlines() if line.startswith("naga: error:")]
        assert len(errors) == 1, (args, result.stderr)


@pytest.mark.skipif(shutil.which("rclone") is None, reason="pull needs rclone")
@pytest.mark.timeout(900)  # the whole hunt: NAGA_FUZZ_EXAMPLES may ask for hundreds
@settings(
    max_examples=int(os.environ.get("NAGA_FUZZ_EXAMPLES", "40")),  # more: a longer hunt
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(record=records())
def test_no_record_crashes_a_command_or_touches_what_is_outside_the_store(
    record: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = Path(os.urandom(6).hex()).name
    top = tmp_path / work
    remote, local, outside = top / "remote", top / "local", top / "outside"
    (outside / "secret").mkdir(parents=True)
    (outside / "secret" / "id_rsa").write_text("key")
    monkeypatch.setenv("XDG_CACHE_HOME", str(top / "cache"))
    _good_run(remote / "runs")
    _write_run(remote / "runs", outside / "secret", record)
    before = _snapshot(top, (remote, local, top / "cache"))
    runner = NagaRunner()
    monkeypatch.setenv("NAGA_HOME", str(remote))
    for args in COMMANDS:
        _invoke(runner, args)
    monkeypatch.setenv("NAGA_HOME", str(local))
    _invoke(runner, ["pull", str(remote), "--all"])
    _invoke(runner, ["ls", "--all", "--json"])
    monkeypatch.setenv("NAGA_HOME", str(remote))
    _invoke(runner, ["rm", RUN_ID])
    _invoke(runner, ["gc", "--status", "completed", "-y"])
    assert _snapshot(top, (remote, local, top / "cache")) == before
    assert (outside / "secret" / "id_rsa").read_text() == "key"
