"""``setup_logging``: real log files, real console streams (a pipe and a pseudo-terminal)."""

from __future__ import annotations

import logging
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HOSTILE

from naga.errors import NagaError, UsageError
from naga.logsetup import setup_logging

LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+) +([\w.]+): (.*)")


def naga_handlers() -> list[str]:
    return sorted(
        h.get_name()
        for h in logging.getLogger().handlers
        if (h.get_name() or "").startswith("naga.")
    )


def records(path: Path) -> list[tuple[str, str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    matched = [LINE.fullmatch(line) for line in lines]
    assert all(matched), lines
    return [m.groups() for m in matched if m]


def test_file_gets_timestamps_levels_and_logger_names(tmp_path: Path) -> None:
    save_dir = tmp_path / HOSTILE / "outputs" / "run 1"
    root = setup_logging(save_dir)
    assert root is logging.getLogger()
    logging.getLogger("train.model").info("epoch %d: loss ü=%.2f", 3, 0.5)
    logging.getLogger("train").debug("not at INFO")
    logging.getLogger().warning("careful")
    assert records(save_dir / "experiment.log") == [
        ("INFO", "train.model", "epoch 3: loss ü=0.50"),
        ("WARNING", "root", "careful"),
    ]


def test_calling_twice_replaces_naga_handlers_only(tmp_path: Path) -> None:
    foreign = logging.NullHandler()  # the user's own, or pytest's
    logging.getLogger().addHandler(foreign)
    setup_logging(tmp_path / "a")
    setup_logging(tmp_path / "a", level="debug")
    logging.getLogger("x").debug("once")
    assert records(tmp_path / "a" / "experiment.log") == [("DEBUG", "x", "once")]
    assert naga_handlers() == ["naga.console", "naga.file"]
    setup_logging(tmp_path / "b", filename="train.log", console=False)
    logging.getLogger("x").info("elsewhere")
    assert records(tmp_path / "a" / "experiment.log") == [("DEBUG", "x", "once")]
    assert records(tmp_path / "b" / "train.log") == [("INFO", "x", "elsewhere")]
    assert naga_handlers() == ["naga.file"]
    assert foreign in logging.getLogger().handlers
    setup_logging(None)
    assert naga_handlers() == ["naga.console"]


def test_a_second_setup_appends_to_the_same_log(tmp_path: Path) -> None:
    setup_logging(tmp_path, console=False)
    logging.getLogger("run").info("first")
    setup_logging(tmp_path, console=False)
    logging.getLogger("run").info("resumed")
    assert [r[2] for r in records(tmp_path / "experiment.log")] == ["first", "resumed"]


@pytest.mark.parametrize(
    ("given", "numeric"), [("debug", 10), (" Warning ", 30), (40, 40), ("5", 5)]
)
def test_levels(given: int | str, numeric: int) -> None:
    assert setup_logging(level=given, console=False).level == numeric


@pytest.mark.parametrize("given", ["verbose", "", True, 1.5, None])
def test_bad_levels_are_one_line_errors(given: object) -> None:
    with pytest.raises(UsageError, match="log level") as raised:
        setup_logging(level=given)  # type: ignore[arg-type]
    assert "\n" not in str(raised.value)
    assert naga_handlers() == []  # nothing half set up


def test_unwritable_save_dir_and_bad_filename(tmp_path: Path) -> None:
    (tmp_path / "a file").write_text("")
    with pytest.raises(NagaError, match=r"cannot write the log in .*a file.*pass a writable"):
        setup_logging(tmp_path / "a file" / "out")
    with pytest.raises(UsageError, match="plain file name"):
        setup_logging(tmp_path, filename="../escape.log")
    assert naga_handlers() == []


SCRIPT = """
import logging, naga.logsetup
naga.logsetup.setup_logging(level="DEBUG")
logging.getLogger("train").info("hello")
logging.getLogger("train").error("bad")
"""


def console_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return {**env, "TERM": "xterm-256color", **extra}


def run_in_pty(env: dict[str, str]) -> str:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            env=env,
        )
    finally:
        os.close(slave)
    chunks = []
    try:
        while chunk := os.read(master, 4096):
            chunks.append(chunk)
    except OSError:  # EIO: the child closed the terminal
        pass
    finally:
        os.close(master)
    assert proc.wait(timeout=30) == 0
    return b"".join(chunks).decode()


def test_console_is_plain_on_a_pipe() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, env=console_env(), check=True
    )
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in lines] == [
        "INFO     train: hello",
        "ERROR    train: bad",
    ]


def test_console_is_coloured_on_a_terminal_unless_no_color() -> None:
    coloured = run_in_pty(console_env())
    assert "\x1b[32mINFO    \x1b[0m train: hello" in coloured
    assert "\x1b[31mERROR   \x1b[0m train: bad" in coloured
    plain = run_in_pty(console_env(NO_COLOR="1"))
    assert "\x1b[" not in plain and "INFO     train: hello" in plain


def test_colour_does_not_leak_into_the_file(tmp_path: Path) -> None:
    code = SCRIPT.replace('level="DEBUG"', f"{str(tmp_path)!r}")
    master, slave = pty.openpty()
    subprocess.run([sys.executable, "-c", code], stderr=slave, env=console_env(), check=True)
    os.close(slave)
    assert "\x1b[32m" in os.read(master, 4096).decode()
    os.close(master)
    assert [r[0] for r in records(tmp_path / "experiment.log")] == ["INFO", "ERROR"]
