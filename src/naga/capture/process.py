"""Run a command with its output streamed live and saved, as if naga were not there.

- Output: when naga's stdout (or stderr) is a terminal the child writes to a pseudo-terminal, so
  colours, progress bars and line buffering behave as on the real terminal; otherwise to pipes.
  Each chunk is copied to naga's own stdout/stderr and appended to the log, in constant memory.
  The pty does no output processing (``OPOST`` off), so the log holds exactly the bytes the
  program wrote, and the real terminal translates them (``\n`` to ``\r\n`` ...) as it would
  have without naga.
- Input: stdin is inherited. The child runs in its own process group; when stdin is the terminal
  and naga is in the foreground, that group is made the terminal's foreground (as a shell does),
  so the child reads the terminal and gets Ctrl-C and Ctrl-Z directly.
- Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to naga are forwarded to
  the child's process group, except those naga was started ignoring (``nohup``). SIGCHLD wakes
  the loop through ``signal.set_wakeup_fd``, so the end of the child is seen at once.
- One thread: a ``poll`` loop reads the command, writes the log, copies to naga's outputs
  without waiting for them (``_Echo``), and samples the process tree's memory now and then.
  A read returns whatever has piled up since the last one, so the slower naga's round, the
  bigger its chunks, and a lone line is shown at once.
- A round's cost is what a chatty program on a terminal pays: read as soon as it arrives, a
  line-buffered program's output comes a few lines a round (~45,000 rounds of ~560 bytes for
  24 MiB), each round costing naga tens of microseconds. So after a short read from a pty
  (less than the ~4 KiB a pty hands over at most) the loop waits ``PTY_GATHER_S`` (0.3 ms) for
  more to pile up: naga's CPU for 24 MiB falls from ~0.75 s to ~0.25 s and its throughput on
  a terminal from ~0.65x to ~0.8-1.0x of the same terminal without naga (bench_output.py
  --only terminal), while a line waits at most 0.3 ms more. A full read never waits (the
  command outpaces naga), and a pipe never does (it holds 1 MiB). Every read lands in one
  reused buffer, where ``os.read`` allocated 256 KiB a call and paid three ``mmap`` syscalls.
  ``on_output`` (metrics read from the output, ``capture.scalars``) sees each round's bytes
  after the log and the terminal did.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import stat
import sys
import termios
import time

from .._lean import signals as signal
from ..spawn import RESET_SIGNALS
from .proctree import tree_rss_bytes

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
CANCELLING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
READ_SIZE = 1 << 18
PIPE_SIZE = 1 << 20
# Output read but not yet shown; past this naga stops reading until the terminal catches up.
ECHO_BACKLOG = 1 << 20
# After the command exits, keep reading what its background children still write, but not forever.
DRAIN_QUIET_S = 0.1
DRAIN_MAX_S = 5.0
WINSIZE_POLL_S = 0.25
# The process tree's memory is sampled early (short runs get a figure too), then every second.
SAMPLE_AT_S = (0.05, 0.2, 0.5)
SAMPLE_EVERY_S = 1.0
F_SETPIPE_SZ = 1031
# A pty read shorter than this came before the pty filled: wait PTY_GATHER_S for more to pile up.
PTY_SHORT_READ = 4000
PTY_GATHER_S = 0.0003


class StartFailed(Exception):
    """The command could not be started at all (not found, not executable ...)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Outcome:
    """How the command ended, as naga saw it."""

    def __init__(self, exit_code: int) -> None:
        self.exit_code = exit_code
        self.signal: int | None = None  # the signal that killed the command
        self.forwarded: int | None = None  # the first cancelling signal naga forwarded
        self.output_bytes = 0
        self.log_error: str | None = None
        self.resources: dict[str, Any] = {}


class _Stream:
    """One of the command's output channels: read from ``fd``, echoed to ``sink``."""

    def __init__(self, fd: int, sink: int, is_pipe: bool) -> None:
        self.fd, self.sink, self.is_pipe = fd, sink, is_pipe
        self.echo = True
        self.echoer: _Echo | None = None


class _Echo:
    """Copies chunks to one of naga's outputs (a terminal, a pipe) without ever waiting for it.

    Writes go through a description of the output opened anew and made non-blocking (the
    shell's own stays as it was): what the terminal does not take at once waits here, is
    written when ``poll`` says there is room, and while ``ECHO_BACKLOG`` bytes wait the loop
    stops reading the command (backpressure, in constant memory). Blocking writes made naga
    wait for a terminal busy drawing instead of reading: the command's pty (4 KiB) filled and a
    chatty program ran at half the terminal's pace. A thread doing the writes cost two context
    switches a chunk (it and the loop passing the GIL back and forth).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.chunks: list[bytes] = []
        self.backlog = 0

    @property
    def full(self) -> bool:
        return self.backlog >= ECHO_BACKLOG

    def put(self, chunk: bytes | memoryview) -> None:
        """Write what the output takes now, keep the rest; OSError when it went away."""
        if self.chunks:
            self.chunks.append(bytes(chunk))  # a view of naga's read buffer: kept as a copy
            self.backlog += len(chunk)
            return
        try:
            written = os.write(self.fd, chunk)
        except BlockingIOError:
            written = 0
        if written < len(chunk):
            self.chunks.append(bytes(chunk[written:]))
            self.backlog += len(chunk) - written

    def flush(self) -> None:
        """Write what waits, as far as the output takes it (poll said it has room)."""
        data = b"".join(self.chunks)
        try:
            written = os.write(self.fd, data)
        except BlockingIOError:
            written = 0
        self.chunks = [data[written:]] if written < len(data) else []
        self.backlog = len(data) - written

    def close(self) -> None:
        """Write everything left, waiting for the output as long as it takes."""
        try:
            if self.chunks:
                _write_all(self.fd, b"".join(self.chunks))
        finally:
            self.chunks, self.backlog = [], 0
            os.close(self.fd)


def _open_echo(fd: int) -> _Echo | None:
    """An _Echo for naga's output ``fd`` when it is a terminal or a pipe, which may keep a write
    waiting (a file or /dev/null never does); None where it cannot be opened anew."""
    try:
        if os.isatty(fd):
            path = os.ttyname(fd)
        elif stat.S_ISFIFO(os.fstat(fd).st_mode) and os.path.isdir("/proc/self/fd"):
            path = f"/proc/self/fd/{fd}"
        else:
            return None
        return _Echo(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC))
    except OSError:
        return None


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:  # an inherited non-blocking terminal or pipe
            select.select([], [fd], [])


def _winsize(fd: int) -> bytes | None:
    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None


def _open_pty(reference_tty: int) -> tuple[int, int]:
    master, slave = os.openpty()
    size = _winsize(reference_tty)
    if size is not None:
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    attrs = termios.tcgetattr(slave)
    # oflag: no output processing here. The bytes reach the log as written ("\n" stays "\n"),
    # and the real terminal translates them once, with its own flags, when naga shows them.
    # Processing them here too made each of the command's writes scan its bytes one by one
    # in the kernel: ~10% of a chatty program's time on a terminal (bench_output.py).
    attrs[1] &= ~termios.OPOST
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


def _is_foreground(tty: int) -> bool:
    try:
        return os.tcgetpgrp(tty) == os.getpgrp()
    except OSError:
        return False


def _foreground_group(tty: int) -> int | None:
    try:
        return os.tcgetpgrp(tty)
    except OSError:
        return None


def _set_foreground(tty: int, pgrp: int) -> None:
    # From the background tcsetpgrp raises SIGTTOU unless it is blocked.
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        os.tcsetpgrp(tty, pgrp)
    except OSError:
        pass
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _grow_pipe(fd: int) -> None:
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass


def _rusage_dict(usage: Any, peak_tree_rss: int) -> dict[str, Any]:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return {
        "cpu_user_s": round(usage.ru_utime, 3),
        "cpu_system_s": round(usage.ru_stime, 3),
        "max_rss_bytes": int(usage.ru_maxrss) * scale,
        # Sampled, so a brief peak between samples is missed; never below the largest process.
        "peak_tree_rss_bytes": max(peak_tree_rss, int(usage.ru_maxrss) * scale),
    }


class _Runner:
    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        log_fd: int,
        cwd: str | None = None,
    ) -> None:
        self.argv, self.env, self.log_fd, self.cwd = argv, env, log_fd, cwd
        self.popen: Any = None  # when started elsewhere than here (see _start)
        self.outcome = Outcome(exit_code=0)
        self.streams: dict[int, _Stream] = {}
        self.master: int | None = None
        self.pid = 0
        self.tty_in = os.isatty(0)
        self.owns_terminal = False
        self.peak_tree_rss = 0
        self.usage: Any = None
        self.poller = select.poll()
        self.maybe_exited = True  # reap once at the start whatever happens
        self.blocked_s = 0.0  # time spent waiting for naga's own stdout/stderr to take output
        self.echoers: dict[int, _Stream] = {}  # an _Echo's fd -> the stream it copies
        self.paused: dict[int, float] = {}  # fd of a stream not read while its echo catches up
        self.wake_r = self.wake_w = -1
        self.old_wakeup = -1
        self.old_handlers: dict[int, Any] = {}
        self.buffer = bytearray(READ_SIZE)  # every read lands here: no allocation per read
        self.view = memoryview(self.buffer)
        # Called with (fd, buffer, length) after each read: the output-scalars scanner.
        self.on_output: Callable[[int, bytearray, int], None] | None = None

    # -- setup -------------------------------------------------------------------------------

    def spawn(self) -> None:
        out_tty, err_tty = os.isatty(1), os.isatty(2)
        child_ends: list[int] = []
        actions: list[tuple[int, int, int]] = []
        if out_tty or err_tty:
            self.master, slave = _open_pty(1 if out_tty else 2)
            child_ends.append(slave)
            self.streams[self.master] = _Stream(self.master, 1 if out_tty else 2, is_pipe=False)
        for target, is_tty in ((1, out_tty), (2, err_tty)):
            if is_tty:
                actions.append((os.POSIX_SPAWN_DUP2, child_ends[0], target))
            else:
                read_end, write_end = os.pipe()
                _grow_pipe(read_end)
                child_ends.append(write_end)
                self.streams[read_end] = _Stream(read_end, target, is_pipe=True)
                actions.append((os.POSIX_SPAWN_DUP2, write_end, target))
        try:
            self.pid = self._start(actions)
        except OSError as exc:
            for fd in self.streams:
                os.close(fd)
            self.streams.clear()
            raise StartFailed(exc) from exc
        finally:
            for fd in child_ends:
                os.close(fd)
        if self.tty_in and _is_foreground(0):
            try:
                os.tcsetpgrp(0, self.pid)
                self.owns_terminal = True
            except OSError:
                pass
        if self.outcome.forwarded is not None:  # arrived while the command was being started
            os.killpg(self.pid, self.outcome.forwarded)

    def _start(self, actions: list[tuple[int, int, int]]) -> int:
        """``posix_spawnp`` when the command starts as naga was started (the ``naga run`` hot
        path). Another directory, or another PATH to find it on, takes ``subprocess``: posix_spawn
        has no chdir, and ``posix_spawnp`` searches naga's own PATH, not the command's."""
        here = self.cwd is None or self.cwd == os.getcwd()
        if here and self.env.get("PATH") == os.environ.get("PATH"):
            return os.posix_spawnp(
                self.argv[0],
                self.argv,
                self.env,
                file_actions=actions,
                setpgroup=0,
                setsigdef=RESET_SIGNALS,
            )
        import subprocess

        out = {target: fd for _, fd, target in actions}
        group: dict[str, Any] = {"process_group": 0}  # its own group, as setpgroup=0
        if sys.version_info < (3, 11):
            group = {"preexec_fn": os.setpgrp}
        self.popen = subprocess.Popen(  # restore_signals: SIGPIPE, SIGXFSZ, as RESET_SIGNALS
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=out[1],
            stderr=out[2],
            close_fds=False,  # the command inherits what it would inherit from posix_spawn
            **group,
        )
        return int(self.popen.pid)

    # -- the loop ----------------------------------------------------------------------------

    def _forward(self, signum: int, _frame: object) -> None:
        if signum in CANCELLING and self.outcome.forwarded is None:
            self.outcome.forwarded = signum
        if self.pid:
            try:
                os.killpg(self.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def _pump(self, stream: _Stream) -> int:
        view = self._read(stream)
        if view is None:
            self._close(stream)
            return 0
        n = len(view)
        if n < PTY_SHORT_READ and not stream.is_pipe:
            time.sleep(PTY_GATHER_S)  # fewer, fuller rounds (see the module docstring)
        self.outcome.output_bytes += n
        if self.outcome.log_error is None:  # the log first: it never lags what the user saw
            try:
                _write_all(self.log_fd, view)
            except OSError as exc:
                self.outcome.log_error = f"output log stopped: {exc.strerror or exc}"
        if stream.echo:
            self._echo(stream, view)
        if self.on_output is not None:
            try:
                self.on_output(stream.fd, self.buffer, n)
            except Exception:  # reading metrics from the output never stops the command
                self.on_output = None
        return n

    def _read(self, stream: _Stream) -> memoryview | None:
        """What the command wrote, in naga's one buffer (no allocation per read); None at its
        end. One read a round: reading a pty on until it is empty (it hands over at most 4 KiB
        a read) made fewer rounds but cost naga more CPU (measured with ``perf stat``), the
        kernel refilling the pty between reads."""
        try:
            n = os.readv(stream.fd, [self.buffer])
        except OSError as exc:  # EIO: the pty's last writer closed it
            if exc.errno not in (errno.EIO, errno.EBADF):
                raise
            n = 0
        return self.view[:n] if n else None

    def _echo(self, stream: _Stream, chunk: memoryview) -> None:
        echoer = stream.echoer
        try:
            if echoer is None:
                _write_all(stream.sink, chunk)
                return
            waiting = echoer.backlog
            echoer.put(chunk)
        except OSError:  # the reader of our stdout went away: behave as the child would
            self._echo_failed(stream)
            return
        if echoer.backlog and not waiting:
            self.poller.register(echoer.fd, select.POLLOUT)
        if echoer.full and stream.fd not in self.paused:
            self.poller.modify(stream.fd, 0)
            self.paused[stream.fd] = time.monotonic()

    def _echo_failed(self, stream: _Stream) -> None:
        stream.echo = False
        echoer, stream.echoer = stream.echoer, None
        if echoer is not None:
            self.echoers.pop(echoer.fd, None)
            if echoer.backlog:
                self.poller.unregister(echoer.fd)
            echoer.chunks, echoer.backlog = [], 0
            echoer.close()
        if stream.is_pipe and stream.sink == 1:
            self._close(stream)

    def _drain(self, stream: _Stream) -> None:
        """The output has room: write what waits for it."""
        echoer = stream.echoer
        assert echoer is not None
        try:
            echoer.flush()
        except OSError:
            self._echo_failed(stream)
            return
        if not echoer.backlog:
            self.poller.unregister(echoer.fd)

    def _resume(self, now: float) -> None:
        """Read again the streams whose echo has caught up (or failed)."""
        for fd, since in list(self.paused.items()):
            stream = self.streams.get(fd)
            if stream is None or not stream.echoer or not stream.echoer.full:
                del self.paused[fd]
                self.blocked_s += now - since  # a slow reader is not a chatty child
                if stream is not None:
                    self.poller.modify(fd, select.POLLIN)

    def _start_echoers(self) -> None:
        for stream in self.streams.values():
            stream.echoer = _open_echo(stream.sink)
            if stream.echoer is not None:
                self.echoers[stream.echoer.fd] = stream

    def _stop_echoers(self) -> None:
        """Everything read is shown before naga says the run is over."""
        streams, self.echoers = list(self.echoers.values()), {}
        for stream in streams:
            echoer, stream.echoer = stream.echoer, None
            if echoer is None:
                continue
            if echoer.backlog:
                self.poller.unregister(echoer.fd)
            try:
                echoer.close()
            except OSError:  # went away at the very end
                stream.echo = False

    def _close(self, stream: _Stream) -> None:
        self.streams.pop(stream.fd, None)
        self.paused.pop(stream.fd, None)
        try:
            self.poller.unregister(stream.fd)
        except KeyError:  # closed before the loop registered it
            pass
        os.close(stream.fd)

    def _reap(self) -> int | None:
        pid, status, usage = os.wait4(self.pid, os.WNOHANG | os.WUNTRACED)
        if pid == 0:
            return None
        if os.WIFSTOPPED(status):
            self._on_stopped(os.WSTOPSIG(status))
            return None
        self.usage = usage
        if self.popen is not None:
            self.popen.returncode = status  # reaped here: subprocess must never wait for it
        return status

    def _on_stopped(self, signum: int) -> None:
        """Job control, as a shell does it for the command inside naga."""
        if not self.tty_in:
            return  # stopped by someone else's SIGSTOP: theirs to continue
        if signum in (signal.SIGTTIN, signal.SIGTTOU):
            # It wants the terminal. In the foreground, hand it over; in the background,
            # stop naga too (the shell shows the job stopped) until the user brings it back.
            while not self._give_terminal():
                os.kill(os.getpid(), signal.SIGSTOP)
        else:
            # Ctrl-Z: stop naga too, so the shell gets its prompt back; `fg` or `bg` resumes.
            if _foreground_group(0) == self.pid:
                _set_foreground(0, os.getpgrp())
            os.kill(os.getpid(), signal.SIGSTOP)
            self._give_terminal()  # after `bg` the terminal stays with the shell
        try:
            os.killpg(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def _give_terminal(self) -> bool:
        """Make the command's group the terminal's foreground, if naga's group holds it."""
        if _is_foreground(0):
            _set_foreground(0, self.pid)
            self.owns_terminal = True
        return _foreground_group(0) == self.pid

    def install_signals(self) -> None:
        """Before the spawn, so that not even a command that exits at once is missed."""
        self.wake_r, self.wake_w = os.pipe()  # not inherited by children (PEP 446)
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.old_wakeup = signal.set_wakeup_fd(self.wake_w)
        # A signal naga was started ignoring (`nohup` for SIGHUP, `cmd &` in a script for
        # SIGINT) stays ignored, for naga and for the command, which inherits that.
        self.old_handlers = {
            s: signal.signal(s, self._forward)
            for s in FORWARDED
            if signal.getsignal(s) != signal.SIG_IGN
        }
        self.old_handlers[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, self._child_changed)

    def restore(self) -> None:
        for signum, handler in self.old_handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self.old_wakeup)
        self._stop_echoers()
        os.close(self.wake_r)
        os.close(self.wake_w)
        for stream in list(self.streams.values()):
            self._close(stream)
        if self.owns_terminal and _foreground_group(0) == self.pid:
            _set_foreground(0, os.getpgrp())

    def _child_changed(self, _signum: int, _frame: object) -> None:
        self.maybe_exited = True

    def loop(self) -> None:
        for fd in self.streams:
            self.poller.register(fd, select.POLLIN)
        self._start_echoers()
        self.poller.register(self.wake_r, select.POLLIN)
        status: int | None = None
        exited_at = 0.0
        now = time.monotonic()
        samples = iter(SAMPLE_AT_S)
        next_tick = now + next(samples)
        next_winsize = now + WINSIZE_POLL_S if self.master is not None else float("inf")
        winsize = _winsize(self.master) if self.master is not None else None
        while True:
            wait = min(next_tick, next_winsize) - now if status is None else DRAIN_QUIET_S
            events = self.poller.poll(max(0.0, wait) * 1000)
            for fd, _ in events:
                if fd == self.wake_r:
                    try:
                        os.read(self.wake_r, 512)
                    except BlockingIOError:
                        pass
                elif fd in self.streams:
                    self._pump(self.streams[fd])
                elif fd in self.echoers:
                    self._drain(self.echoers[fd])
            now = time.monotonic()
            if self.paused:
                self._resume(now)
            if status is None and (self.maybe_exited or now >= next_tick):
                self.maybe_exited = False
                status = self._reap()
                if status is not None:
                    exited_at, self.blocked_s = now, 0.0
                    continue  # read what it wrote last before deciding it is over
            draining = now - exited_at - self.blocked_s
            # Paused, the command's output waits for the terminal: that is no end of it.
            ended = not self.streams or not events or draining > DRAIN_MAX_S
            if status is not None and ended and not self.paused:
                break
            if now >= next_tick:
                self.peak_tree_rss = max(self.peak_tree_rss, tree_rss_bytes(self.pid))
                next_tick = now + next(samples, SAMPLE_EVERY_S)
            if now >= next_winsize:
                winsize = self._sync_winsize(winsize)
                next_winsize = now + WINSIZE_POLL_S
        self._stop_echoers()
        self._finish(status)

    def _sync_winsize(self, known: bytes | None) -> bytes | None:
        assert self.master is not None
        current = _winsize(1) or _winsize(2)
        if current is not None and current != known:
            try:
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, current)
            except OSError:
                pass
            return current
        return known

    def _finish(self, status: int) -> None:
        if os.WIFSIGNALED(status):
            self.outcome.signal = os.WTERMSIG(status)
            self.outcome.exit_code = 128 + self.outcome.signal
        else:
            self.outcome.exit_code = os.WEXITSTATUS(status)
        self.outcome.resources = _rusage_dict(self.usage, self.peak_tree_rss)


def run_process(
    argv: list[str],
    *,
    env: dict[str, str],
    log_fd: int,
    cwd: str | None = None,
    on_spawn: Callable[[int], None] = lambda pid: None,
    on_output: Callable[[int, bytearray, int], None] | None = None,
) -> Outcome:
    """Run ``argv`` in ``cwd`` (None: the current directory) with exactly ``env``, to
    completion; StartFailed if it cannot start. ``on_output(fd, buffer, n)`` sees each chunk
    read (``buffer[:n]``, valid during the call only) after it was logged and echoed."""
    runner = _Runner(argv, env, log_fd, cwd)
    runner.on_output = on_output
    runner.install_signals()
    try:
        runner.spawn()
        try:
            on_spawn(runner.pid)
            runner.loop()
        except BaseException:
            # naga itself failed: do not leave the command running unwatched.
            try:
                os.killpg(runner.pid, signal.SIGTERM)
            except OSError:
                pass
            raise
    finally:
        runner.restore()
    return runner.outcome
