"""A real pseudo-terminal in front of naga, and real signals to naga and its command."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

from conftest import Naga, naga_cmd, only_run

PROGRESS = (
    "import sys\n"
    "print(sys.stdout.isatty(), sys.stderr.isatty())\n"
    "print('\\033[31mred\\033[0m')\n"
    "for i in range(1, 4):\n"
    "    sys.stdout.write(f'\\r{i}/3'); sys.stdout.flush()\n"
    "print()\n"
)


class Terminal:
    """naga started as a session leader on a fresh pty: what a user at a terminal gets."""

    def __init__(
        self,
        args: list[str],
        cwd: Path,
        *,
        env: dict[str, str] | None = None,
        argv: list[str] | None = None,
    ) -> None:
        """``naga ARGS``, or ``argv`` (a program run without naga), in ``env``."""
        self.master, slave = pty.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, b"\x18\x00\x50\x00\x00\x00\x00\x00")

        def become_terminal_owner() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            argv or naga_cmd(*args),
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            preexec_fn=become_terminal_owner,
        )
        os.close(slave)
        self.seen = b""

    def read_until(self, needle: bytes, timeout: float = 30) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{needle!r} never arrived; got {self.seen!r}"
            if select.select([self.master], [], [], remaining)[0]:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    assert needle in self.seen, f"{needle!r} never arrived; got {self.seen!r}"
                self.seen += chunk
        return self.seen

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def finish(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    time.sleep(0.05)
        code = self.proc.wait(timeout=5)
        os.close(self.master)
        return code


def test_progress_bar_and_colours_arrive_intact(naga: Naga, tmp_path: Path, store: Path) -> None:
    term = Terminal(["run", sys.executable, "-c", PROGRESS], tmp_path)
    assert term.finish() == 0
    # The test's own pty turns "\n" into "\r\n" on its way to us, as any terminal does.
    assert b"True True\r\n" in term.seen
    assert b"\x1b[31mred\x1b[0m\r\n" in term.seen
    assert b"\r1/3\r2/3\r3/3\r\n" in term.seen
    run = only_run(naga)
    log = (store / "runs" / run["id"] / "output.log").read_bytes()
    assert log == b"True True\n\x1b[31mred\x1b[0m\n\r1/3\r2/3\r3/3\n"  # exactly what was written
    assert run["output"]["terminal"] is True


def test_the_real_terminal_alone_translates_the_output(
    naga: Naga, tmp_path: Path, store: Path
) -> None:
    """The command's pty does no output processing: the user's terminal applies its own flags
    once (here tab expansion and "\\n" to "\\r\\n"), and the log keeps the bytes as written."""
    code = (
        "import sys, termios\n"
        "print('opost', bool(termios.tcgetattr(1)[1] & termios.OPOST))\n"
        "sys.stdout.write('a\\tb\\r\\n\\n')\n"
    )
    term = Terminal(["run", sys.executable, "-c", code], tmp_path)
    attrs = termios.tcgetattr(term.master)
    attrs[1] |= termios.TAB3  # the user's terminal expands tabs into spaces
    termios.tcsetattr(term.master, termios.TCSANOW, attrs)
    assert term.finish() == 0
    assert b"opost False\r\n" in term.seen
    assert b"a       b\r\r\n\r\n" in term.seen  # translated once, by the user's terminal
    log = (store / "runs" / only_run(naga)["id"] / "output.log").read_bytes()
    assert log == b"opost False\na\tb\r\n\n"


def test_terminal_size_reaches_the_command(tmp_path: Path) -> None:
    code = "import os; print(os.get_terminal_size())"
    term = Terminal(["run", sys.executable, "-c", code], tmp_path)
    assert term.finish() == 0
    assert b"columns=80, lines=24" in term.seen


def test_command_reads_the_terminal(tmp_path: Path) -> None:
    code = "name = input('na' + 'me: '); print('hello', name.upper())"
    term = Terminal(["run", sys.executable, "-c", code], tmp_path)
    term.read_until(b"name: ")
    term.type(b"ada\n")
    assert term.finish() == 0
    assert b"hello ADA" in term.seen


def test_ctrl_c_on_the_terminal_cancels(naga: Naga, tmp_path: Path) -> None:
    code = "import time; print('rea' + 'dy', flush=True); time.sleep(60)"
    term = Terminal(["run", sys.executable, "-c", code], tmp_path)
    term.read_until(b"ready\r\n")  # not the command line echoed in naga's start line
    term.type(b"\x03")
    assert term.finish() == 130
    run = only_run(naga)
    assert run["status"] == "cancelled"
    assert run["signal"] == "SIGINT"


def _start_piped(
    tmp_path: Path, code: str, wrapper: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*wrapper, *naga_cmd("run", sys.executable, "-c", code)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc


def test_sigint_to_naga_reaches_the_command(naga: Naga, tmp_path: Path) -> None:
    code = (
        "import time\n"
        "try:\n"
        "    print('ready', flush=True); time.sleep(60)\n"
        "except KeyboardInterrupt:\n"
        "    print('child got SIGINT', flush=True); raise SystemExit(1)\n"
    )
    proc = _start_piped(tmp_path, code)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert out == b"child got SIGINT\n"
    assert proc.returncode == 1
    run = only_run(naga)
    assert run["status"] == "cancelled"
    assert run["interrupted_by"] == "SIGINT"


def test_sigterm_and_sighup_are_forwarded(naga: Naga, tmp_path: Path) -> None:
    code = "import time; print('ready', flush=True); time.sleep(60)"
    for sig in (signal.SIGTERM, signal.SIGHUP):
        proc = _start_piped(tmp_path, code)
        proc.send_signal(sig)
        proc.communicate(timeout=30)
        assert proc.returncode == 128 + sig
    runs = {r["signal"]: r for r in __import__("conftest").runs_json(naga)}
    assert set(runs) == {"SIGTERM", "SIGHUP"}
    assert {r["status"] for r in runs.values()} == {"cancelled"}


def test_killed_naga_shows_crashed(naga: Naga, tmp_path: Path) -> None:
    code = (
        "import os, time; print('ready', flush=True); print(os.getpid(), flush=True)\n"
        "time.sleep(1); print('still here', flush=True); time.sleep(60)"
    )
    proc = _start_piped(tmp_path, code)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    assert proc.stdout.readline() == b"still here\n"
    running = only_run(naga)
    assert running["status"] == "running"
    assert running["duration_s"] >= 0  # elapsed so far
    proc.kill()
    os.kill(child, signal.SIGKILL)
    proc.communicate(timeout=30)
    run = only_run(naga)
    assert run["status"] == "crashed"
    assert run["finished_at"] is not None
    assert run["duration_s"] >= 1.0  # up to its last output, not its start
    assert run["output"]["bytes"] == len(b"ready\n") + len(f"{child}\n") + len(b"still here\n")
    assert "stopped without finishing" in run["error"]
    shown = naga("show", run["id"])
    assert b"crashed" in shown.stdout


def test_nohup_keeps_the_command_alive_on_hangup(naga: Naga, tmp_path: Path) -> None:
    code = "import time; print('ready', flush=True); time.sleep(1); print('survived', flush=True)"
    proc = _start_piped(tmp_path, code, wrapper=("nohup",))
    proc.send_signal(signal.SIGHUP)  # the terminal went away
    out, _ = proc.communicate(timeout=30)
    assert out == b"survived\n"
    assert proc.returncode == 0
    assert only_run(naga)["status"] == "completed"
