"""naga's copy of the output to the terminal never holds up reading the command or its log."""

from __future__ import annotations

import os
import pty
import select
import shlex
import subprocess
import time
from pathlib import Path

from conftest import naga_cmd

LINES = 8_000  # 80-byte lines: 640 KB, far more than a pty holds, less than naga's backlog
CHATTY = (
    "import sys\n"
    f"for i in range({LINES}):\n"
    "    sys.stdout.write(f'{i:012d} ' + 'x' * 66 + '\\n')\n"
)


def _log_size(store: Path) -> int:
    logs = list(store.glob("runs/*/output.log"))
    return logs[0].stat().st_size if logs else 0


def _read_all(master: int, proc: subprocess.Popen[bytes]) -> bytes:
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: naga and its command are gone
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    return seen


def test_a_terminal_that_stops_reading_holds_up_neither_command_nor_log(
    tmp_path: Path, store: Path
) -> None:
    (tmp_path / "chatty.py").write_text(CHATTY)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        naga_cmd("run", "--", "python", "chatty.py"),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    expected = LINES * 80
    try:
        # Nobody reads the terminal (a user scrolled back, a stalled ssh): the command still
        # runs to its end and every byte is in the log.
        deadline = time.monotonic() + 60
        while _log_size(store) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _log_size(store) == expected
        shown = _read_all(master, proc)
    finally:
        os.close(master)
    assert proc.wait(timeout=30) == 0
    body = b"".join(f"{i:012d} {'x' * 66}\n".encode() for i in range(LINES))
    (log,) = store.glob("runs/*/output.log")
    assert log.read_bytes() == body
    # The terminal gets the same bytes, in order (its own pty turns "\n" into "\r\n").
    assert body in shown.replace(b"\r\n", b"\n")


def test_a_reader_that_goes_away_stops_the_command_as_without_naga(tmp_path: Path) -> None:
    """`naga run -- cmd | head -1`: once head exits, cmd gets SIGPIPE, as it would alone."""
    forever = "import itertools\nfor i in itertools.count():\n    print(i, flush=True)\n"
    (tmp_path / "forever.py").write_text(forever)
    naga = " ".join(shlex.quote(a) for a in naga_cmd("run", "--", "python", "forever.py"))
    done = subprocess.run(
        f"{naga} | head -1",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.stdout == b"0\n"
    assert done.returncode == 0
