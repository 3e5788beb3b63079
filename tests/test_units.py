"""The small pure pieces, checked against the stdlib they stand in for or the format they read."""

from __future__ import annotations

import json
import math
import re
import shlex
import signal
import time
from pathlib import Path

import pytest

import naga
from naga import jsonsafe
from naga._lean import json_bytes, shell_join, signal_name
from naga.capture.git import parse_remotes, parse_status
from naga.cli.logs import tail_offset
from naga.errors import UsageError
from naga.present.fmt import duration
from naga.redact import mask_env, strip_url_credentials
from naga.store.query import parse_since
from naga.store.timefmt import iso_from_ts, parse_iso

SAMPLES = [
    {"a": 1, "b": [1, 2.5, None, True, False], "c": {"d": 'é ü 名前 " \\ \n \t \x00'}},
    {"nested": [[[]]], "empty": {}, "neg": -3, "big": 10**30, "small": 1e-300},
    ["just", "a", "list"],
    "a string",
    0.1,
]


@pytest.mark.parametrize("obj", SAMPLES)
def test_json_bytes_matches_json_dumps(obj: object) -> None:
    expected = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    assert json_bytes(obj) == expected


def test_json_bytes_special_floats_and_surrogates() -> None:
    # Strict JSON: non-finite floats are stored as strings, read back as floats by naga.
    strict = json_bytes([math.inf, -math.inf, math.nan])
    assert json.loads(strict, parse_constant=pytest.fail) == ["Infinity", "-Infinity", "NaN"]
    assert [jsonsafe.number(v) for v in json.loads(strict)][:2] == [math.inf, -math.inf]
    assert math.isnan(jsonsafe.number(json.loads(json_bytes(math.nan))))
    undecodable = b"caf\xe9".decode("utf-8", "surrogateescape")
    raw = json_bytes({"arg": undecodable, "name": "名"})
    assert raw.isascii()  # falls back to escapes: always a valid UTF-8 file
    assert json.loads(raw) == {"arg": undecodable, "name": "名"}
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        json_bytes({1, 2})


@pytest.mark.parametrize(
    "argv",
    [["python", "train.py"], ["a b", "it's", "", "x=1", "ü", "$HOME", "a;b", "--lr=0.1"]],
)
def test_shell_join_matches_shlex(argv: list[str]) -> None:
    assert shell_join(argv) == shlex.join(argv)


def test_signal_names() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGHUP, signal.SIGUSR1):
        assert signal_name(int(sig)) == sig.name


def test_parse_status_porcelain_v2() -> None:
    raw = (
        b"# branch.oid 1234abcd\0# branch.head feature/x\0"
        b"1 .M N... 100644 100644 100644 aaa bbb src/a.py\0"
        b"2 R. N... 100644 100644 100644 aaa bbb R100 new name.py\0old name.py\0"
        b"? data/raw file.csv\0? \xc3\xbc.txt\0"
    )
    assert parse_status(raw) == {
        "commit": "1234abcd",
        "branch": "feature/x",
        "dirty": True,
        "untracked": ["data/raw file.csv", "ü.txt"],
    }
    initial = parse_status(b"# branch.oid (initial)\0# branch.head (detached)\0")
    assert initial == {"commit": None, "branch": None, "dirty": False, "untracked": []}


def test_remotes_and_credentials() -> None:
    raw = b"remote.origin.url https://u:p@host/x.git\nremote.up.url ssh://git@host:22/x\n"
    assert parse_remotes(raw) == {"origin": "https://u:***@host/x.git", "up": "ssh://git@host:22/x"}
    assert strip_url_credentials("https://token@github.com/a/b") == "https://***@github.com/a/b"
    assert strip_url_credentials("/plain/path") == "/plain/path"
    env = mask_env({"API_KEY": "k", "DB": "postgres://me:pw@db/x", "N": "3"})
    assert env == {"API_KEY": "***", "DB": "postgres://me:***@db/x", "N": "3"}


def test_time_round_trip_and_since() -> None:
    ts = 1_800_000_000.123456
    assert iso_from_ts(ts) == "2027-01-15T08:00:00.123456Z"
    assert parse_iso(iso_from_ts(ts)) == pytest.approx(ts, abs=1e-6)
    assert parse_since("2h", now=ts) == iso_from_ts(ts - 7200)
    assert parse_since("1.5d", now=ts) == iso_from_ts(ts - 1.5 * 86400)
    assert parse_since("2026-11-01T00:00:00+00:00") == "2026-11-01T00:00:00.000000Z"
    with pytest.raises(UsageError):
        parse_since("last tuesday")
    assert parse_iso("garbage") is None


def test_durations() -> None:
    assert [duration(s) for s in (None, 0.04, 59.9, 61, 3600 * 5 + 61, 86400 * 2 + 3600)] == [
        "-",
        "0.0s",
        "59.9s",
        "1m 01s",
        "5h 01m",
        "2d 01h",
    ]


def test_tail_offset(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "log"
    lines = [f"line {i}\n".encode() for i in range(100_000)]
    path.write_bytes(b"".join(lines))
    data = path.read_bytes()
    for n in (0, 1, 2, 99_999, 100_000, 200_000):
        assert data[tail_offset(str(path), n) :] == b"".join(lines[len(lines) - n :] if n else [])
    path.write_bytes(b"no newline at end")
    assert tail_offset(str(path), 1) == 0


PUBLIC_API = [  # the whole public API, as users import it: a change here is a change for them
    "BadArtifactName",
    "ConfigError",
    "DataHash",
    "LockError",
    "NagaError",
    "NoActiveRun",
    "Pruned",
    "Run",
    "RunRecord",
    "Series",
    "Stage",
    "__version__",
    "active_run",
    "artifact_path",
    "cancel",
    "clicfg",
    "complete",
    "fail",
    "flush",
    "get_param",
    "get_params",
    "hash_data",
    "load",
    "load_stage_from_path",
    "log",
    "log_artifact",
    "log_figure",
    "log_params",
    "log_text",
    "mlflow_lock",
    "run",
    "runlock",
    "runs",
    "setup_logging",
    "snapshot",
    "unsafe_debug",
]


def test_public_api_is_exactly_what_is_exported() -> None:
    assert sorted(naga.__all__) == PUBLIC_API
    for name in naga.__all__:
        assert getattr(naga, name) is not None
    assert naga.__version__.count(".") == 2
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = naga.nope  # type: ignore[attr-defined]


def test_type_checkers_see_every_lazy_name() -> None:
    """naga/__init__.py imports its lazy names under TYPE_CHECKING for type checkers, and maps
    them to modules for __getattr__: both lists must be the same names from the same modules."""
    import ast

    tree = ast.parse(Path(naga.__file__).read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n.test)
    )
    imported = {
        (f"naga.{node.module}" if node.module else f"naga.{alias.name}", alias.name)
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module != "typing"
        for alias in node.names
    }
    lazy = {(module, name) for module, names in naga._LAZY.items() for name in names}
    submodules = {(f"naga.{name}", name) for name in naga._SUBMODULES}
    assert imported == lazy | submodules


def test_time_is_utc() -> None:
    assert iso_from_ts(time.time()).endswith("Z")


def test_crash_verdict_yields_to_the_owners_final_record(tmp_path: object) -> None:
    from naga.store.files import create_run_dir, load_meta, save_meta
    from naga.store.layout import StoreLayout

    layout = StoreLayout(str(tmp_path))
    run_id = create_run_dir(layout)
    meta = {"id": run_id, "status": "running", "started_at": iso_from_ts(0), "command": "x"}
    meta |= {"tags": [], "name": None, "git": None, "output": None}
    meta |= {"finished_at": None, "duration_s": None, "exit_code": None}
    save_meta(layout, meta)
    verdict = {"status": "crashed", "finished_at": iso_from_ts(5), "duration_s": 5.0}
    with open(layout.verdict(run_id), "w") as f:
        json.dump(verdict, f)
    assert load_meta(layout, run_id)["status"] == "crashed"  # a reader found the owner dead
    save_meta(layout, {**meta, "status": "completed", "exit_code": 0})  # the owner was alive
    assert load_meta(layout, run_id)["status"] == "completed"


def test_the_error_tree_drawn_in_errors_py_is_the_code() -> None:
    """errors.py draws its hierarchy in its docstring: the drawing and the classes agree."""
    import naga.errors as errors

    drawn: dict[str, str] = {}
    parents = ["NagaError"]
    for line in (errors.__doc__ or "").splitlines():
        found = re.match(r"^ {4}((?:[│ ] {3})*)[├└]── (\w+)", line)
        if not found:
            continue
        depth = len(found.group(1)) // 4
        parents[depth + 1 :] = [found.group(2)]
        drawn[found.group(2)] = parents[depth]
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type)
        and issubclass(cls, errors.NagaError)
        and cls is not errors.NagaError
    }
    assert set(drawn) == set(classes)
    for name, parent in drawn.items():
        naga_bases = [
            b.__name__ for b in classes[name].__bases__ if issubclass(b, errors.NagaError)
        ]
        assert naga_bases == [parent], name
