"""Zero config, more recorded: params from the command line, metrics from printed lines, and a
failed run's last output lines in ``naga show``; real ``naga run`` processes of real scripts,
Hypothesis for the two parsers."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, naga_cmd, only_run, runs_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from naga.capture.argparams import argv_params, program_args, typed
from naga.capture.scalars import Scanner, default_points, final_text
from naga.redact import is_secret_arg_name

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PY = sys.executable

ARGPARSE_PY = """\
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--epochs", type=int)
parser.add_argument("--amp", action="store_true")
parser.add_argument("--api-key")
args, overrides = parser.parse_known_args()
for epoch in range(args.epochs):
    print(f"epoch {epoch} loss={1 / (epoch + 1):.3f} acc={0.5 + epoch / 10:.2f}", flush=True)
print("val_loss: 0.25")
print("fetched http://host:8080/x at 12:30:45, v1.2.3, took 3.2s")
"""


def test_params_and_metrics_of_an_argparse_program(naga: Naga, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(ARGPARSE_PY)
    secret = "S3cretValue-xyz"
    args = ["--lr", "0.1", "--epochs=3", "batch=32", "--amp", "--api-key", secret]
    done = naga("run", "python", "train.py", *args)
    assert done.returncode == 0, done.stderr
    run = only_run(naga)
    assert run["params"] == {
        "lr": 0.1,
        "epochs": 3,
        "batch": 32,
        "amp": True,
        "api_key": "***",
    }
    assert run["metrics"] == {"loss": 0.333, "acc": 0.7, "val_loss": 0.25}
    for path in (tmp_path / "store").rglob("*"):  # the secret is in no record, index or series
        if path.is_file() and path.name != "output.log":
            assert secret.encode() not in path.read_bytes(), path
    points = json.loads(naga("metrics", run["id"], "--json").stdout)["metrics"]
    assert points["loss"]["step"] == [0, 1, 2]  # the epoch on the line is the step
    assert points["val_loss"]["step"] == [0]  # else the count of the key's points
    # every reader sees them: --where, --columns, compare
    found = runs_json(naga, "--where", "lr>0.05", "--where", "amp=true")
    assert [r["id"] for r in found] == [run["id"]]
    listing = naga("ls", "--columns", "param.batch,metric.acc").stdout.decode()
    assert "32" in listing and "0.7" in listing
    naga("run", "--no-params", "--no-scalars", "python", "train.py", "--epochs", "1")
    bare = next(r for r in runs_json(naga) if r["id"] != run["id"])
    assert bare["params"] == {} and bare["metrics"] == {}
    compared = naga("compare", run["id"], bare["id"])
    assert compared.returncode == 0, compared.stderr
    assert b"lr" in compared.stdout and b"0.1" in compared.stdout


SDK_PY = """\
import naga
with naga.run(params={"lr": 0.5}) as run:
    for i in range(3):
        if LOG:
            run.log({"loss": 10 + i})
        print(f"loss={i} printed=1", flush=True)
"""


@pytest.mark.parametrize("logs", [True, False])
def test_the_sdk_wins(naga: Naga, tmp_path: Path, logs: bool) -> None:
    """Params the program logs win over the command line's; metrics it logs replace the
    printed ones, which otherwise join its main stream."""
    (tmp_path / "sdk.py").write_text(SDK_PY.replace("LOG", str(logs)))
    done = naga("run", PY, "sdk.py", "--lr", "0.1", "--bs", "4")
    assert done.returncode == 0, done.stderr
    run = only_run(naga)
    assert run["params"] == {"lr": 0.5, "bs": 4}
    if logs:
        assert run["metrics"] == {"loss": 12}
    else:
        assert run["metrics"] == {"loss": 2, "printed": 1}
    streams = os.listdir(tmp_path / "store" / "runs" / run["id"] / "metrics")
    assert "output" not in streams


def test_a_custom_pattern_and_a_bad_one(naga: Naga, tmp_path: Path) -> None:
    script = "for i in range(4): print(f'it {i * 10} | Loss 0.{9 - i} | acc=1')"
    pattern = r"it (?P<step>\d+) \| Loss (?P<loss>[0-9.]+)"
    done = naga("run", "--scalars", pattern, PY, "-c", script)
    assert done.returncode == 0, done.stderr
    run = only_run(naga)
    assert run["metrics"] == {"loss": 0.6}  # acc=1: the default pattern is off
    points = json.loads(naga("metrics", run["id"], "--json").stdout)["metrics"]
    assert points["loss"]["step"] == [0, 10, 20, 30]
    for bad in ("(", "loss=([0-9]+)", "(?P<key>x)"):
        done = naga("run", "--scalars", bad, PY, "-c", "pass")
        assert done.returncode == 2, bad
        assert done.stderr.decode().startswith("naga: error: --scalars"), done.stderr
        assert b"Traceback" not in done.stderr


TQDM_PY = """\
import sys, time
from tqdm import tqdm
bar = tqdm(range(300), mininterval=0, file=sys.stdout)
for i in bar:
    bar.set_postfix(loss=1 / (i + 1))
bar.close()
print("\\x1b[32mdone\\x1b[0m acc=0.9")
"""


def _on_a_terminal(cmd: list[str], cwd: Path) -> bytes:
    """``cmd`` with its stdout and stderr on a fresh pty, as a user's terminal; its output."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # tqdm's width
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([master], [], [], 1)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer is gone
                break
            if not chunk:
                break
            out += chunk
    os.close(master)
    assert proc.wait(timeout=30) == 0, out
    return out


def test_tqdm_redraws_count_once_on_a_terminal(naga: Naga, tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    (tmp_path / "bar.py").write_text(TQDM_PY)
    out = _on_a_terminal(naga_cmd("run", PY, "bar.py"), tmp_path)
    assert out.count(b"\r") > 100  # the bar was redrawn on the terminal ...
    run = only_run(naga)
    points = json.loads(naga("metrics", run["id"], "--json").stdout)["metrics"]
    assert points["loss"]["value"] == [pytest.approx(1 / 300, rel=1e-2)]  # ... and read once
    assert points["acc"]["value"] == [0.9]


FAIL_PY = """\
import sys
for i in range(30):
    print(f"line {i}")
print("title \\x1b]0;pwned\\x07 bar\\r50%\\r100% done \\x1b")
sys.exit(3)
"""


def test_show_of_a_failed_run_ends_with_its_last_lines(naga: Naga, tmp_path: Path) -> None:
    (tmp_path / "fail.py").write_text(FAIL_PY)
    assert naga("run", PY, "fail.py").returncode == 3
    shown = naga("show").stdout.decode()
    tail = shown.split("Output, last lines", 1)[1].splitlines()[1:]
    assert [line.strip() for line in tail[:19]] == [f"line {i}" for i in range(11, 30)]
    assert tail[19].strip() == r"100% done \x1b"  # the redraw's final state, the escape inert
    assert "\x1b" not in shown and "\x07" not in shown
    naga("run", PY, "-c", "print('fine')")
    assert "Output, last lines" not in naga("show").stdout.decode()  # only failed runs


def test_readme_example_runs(tmp_path: Path) -> None:
    section = README.split("### Params and metrics with no code change", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block is not None
    script = f'set -e\nnaga() {{ {PY} -m naga "$@"; }}\n{block.group(1)}'
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"0\.1\s+32\s+True\s+0\.333", done.stdout), done.stdout
    assert "amp = True" in done.stdout and "batch = 32" in done.stdout
    first, bare, custom = sorted(
        json.loads(
            subprocess.run(
                naga_cmd("ls", "--json"), cwd=tmp_path, capture_output=True, check=True
            ).stdout
        ),
        key=lambda r: r["started_at"],
    )
    assert first["params"] == {"lr": 0.1, "epochs": 3, "batch": 32, "amp": True}
    assert bare["params"] == {} and bare["metrics"] == {}
    assert set(custom["metrics"]) == {"acc"}


# -- the parsers, against hostile input ------------------------------------------------------


def test_program_arguments_rules() -> None:
    assert program_args(["python", "-u", "-X", "dev", "t.py", "--a", "1"]) == ["--a", "1"]
    assert program_args(["python3.11", "-m", "pkg.mod", "x=1"]) == ["x=1"]
    assert program_args(["uv", "run", "--frozen", "python", "t.py", "--a"]) == ["--a"]
    assert program_args(["torchrun", "--nproc_per_node", "2", "t.py", "--b=2"]) == ["--b=2"]
    assert program_args(["uv", "pip", "install", "x"]) == []
    assert program_args(["bash", "-c", "python t.py --a 1"]) == []
    assert program_args(["bash", "run.sh", "--a", "1"]) == ["--a", "1"]
    assert program_args(["make", "train", "LR=0.1"]) == ["train", "LR=0.1"]
    assert argv_params(["./t.sh", "--batch-size", "-1", "+model.lr=1e-3", "~x", "--", "--z"]) == {
        "batch_size": -1,
        "model.lr": 0.001,
    }
    assert [typed(v) for v in ("007", "nan", "1e999", "True", "0x1", "1_0")] == [
        "007",
        "nan",
        "1e999",
        True,
        "0x1",
        "1_0",
    ]


SECRET_FLAGS = ["--password", "--api-key", "--token", "-secret", "--hf_token", "--db.password"]
words = st.text(min_size=0, max_size=12)
args_strategy = st.lists(
    st.one_of(words, st.sampled_from(["--", "-", "--x", "-n", "a=b", "+k=1", "1", "-0.5"])),
    max_size=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.sampled_from(["python", "python3 -u", "uv run python", "./run", "bash", "env"]),
    args=args_strategy,
    flag=st.sampled_from(SECRET_FLAGS),
    secret=st.from_regex(r"[A-Za-z0-9_./+]{10,20}", fullmatch=True),
    joined=st.booleans(),
    where=st.integers(min_value=0, max_value=12),
)
def test_argv_params_never_crash_nor_record_a_secret(
    head: str, args: list[str], flag: str, secret: str, joined: bool, where: int
) -> None:
    given_args = [flag + "=" + secret] if joined else [flag, secret]
    argv = [*head.split(), "t.py", *args[:where], *given_args, *args[where:]]
    params = argv_params(argv)
    text = json.dumps(params)
    assert secret not in text
    for key, value in params.items():
        assert isinstance(key, str) and key and not key.startswith("-")
        assert isinstance(value, (bool, int, float, str))


class _Points:
    """A stand-in for the metrics stream: what the scanner logs, kept in a list."""

    def __init__(self) -> None:
        self.points: list[tuple[Any, ...]] = []
        self.flat: list[Any] = []  # what the real stream's writer has yet to write: nothing

    def write(self) -> None:
        pass

    def extend(self, point: tuple[Any, ...]) -> None:
        self.points.extend((point[0], pair) for pair in point[2].items())

    def close(self) -> None:
        pass


def _scan(chunks: list[bytes], fd: int = 5) -> list[tuple[Any, ...]]:
    sink = _Points()
    scanner = Scanner(lambda: sink)
    for chunk in chunks:
        buffer = bytearray(chunk)
        scanner.feed(fd, buffer, len(chunk))
    scanner.close()
    return sink.points


def test_lines_as_the_terminal_showed_them() -> None:
    assert final_text(b"a\r\n0%\r50%\r100% loss=1\n\x1b[1mb=2\x1b[0m\n") == "a\n100% loss=1\nb=2\n"
    assert default_points("Epoch 3/10: loss: 0.5 - acc: 91%\n{'lr': 1e-3, 'x': 'y'}\n") == [
        (3, "loss", 0.5),
        (3, "acc", 91.0),
        (None, "lr", 0.001),
    ]
    assert default_points("12:30:45 v=1.2.3 http://h:80/x t=3.2s step=4 n=nan\n") == [
        (4, "n", pytest.approx(float("nan"), nan_ok=True))
    ]
    assert _scan([b"api_key=123456 token: 42 db.password=7 loss=1\n"]) == [(0, ("loss", 1.0))]
    assert _scan([b"loss=1\r", b"\nloss=2\rloss=3", b"\r\nstep 7 loss=4"]) == [
        (0, ("loss", 1.0)),
        (1, ("loss", 3.0)),
        (7, ("loss", 4.0)),
    ]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(
                [b"loss=0.5", b"epoch 2 acc: 1", b"\r", b"\x1b[2K", b"a=1 b=2", b"my_token=42"]
            ),
        ),
        max_size=20,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_any_output_in_any_chunks_reads_the_same(lines: list[bytes], cuts: list[int]) -> None:
    data = b"\n".join(lines)
    bounds = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *bounds], [*bounds, len(data)], strict=True)]
    points = _scan([c for c in chunks if c])
    assert points == _scan([data] if data else [])
    assert not any(is_secret_arg_name(key) for _, (key, _) in points)  # no secret a metric
