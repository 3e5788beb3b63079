"""``naga run``: record a command as a run while it executes, unchanged.

Order matters for speed and for safety. Before the command starts: reserve the run directory,
read git (two processes side by side), write ``meta.json`` as ``running`` with the owner's
identity, so ``naga ls`` sees the run at once and a crash of naga is detectable. What can wait
(the interpreter's version, GPUs) is gathered in a thread while the command runs. At the end the
record is rewritten once with the outcome.
"""

from __future__ import annotations

import os
import time

from ._lean import shell_join, signal_name, signals
from ._version import __version__
from .capture import environment
from .capture.git import GitProbe
from .capture.process import CANCELLING, Outcome, run_process
from .errors import CommandNotExecutable, CommandNotFound, StoreError, UsageError
from .store import liveness
from .store.files import create_run_dir, save_meta
from .store.layout import StoreLayout, locate_store
from .store.timefmt import iso_from_ts

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

RUN_ID_ENV = "NAGA_RUN_ID"
RUN_DIR_ENV = "NAGA_RUN_DIR"


class RunRequest:
    """What to run and how to label it. The command runs in the current directory."""

    def __init__(
        self,
        argv: list[str],
        name: str | None = None,
        tags: list[str] | None = None,
        store_root: str | None = None,
    ) -> None:
        self.argv = argv
        self.name = name
        self.tags = list(tags or [])
        self.cwd = os.getcwd()
        self.store_root = store_root


def display_command(argv: list[str]) -> str:
    return shell_join(argv)


def _base_meta(request: RunRequest, run_id: str, started: float) -> dict[str, Any]:
    return {
        "schema": 1,
        "id": run_id,
        "name": request.name,
        "tags": sorted(set(request.tags)),
        "status": "running",
        "exit_code": None,
        "signal": None,
        "error": None,
        "command": display_command(request.argv),
        "argv": request.argv,
        "cwd": request.cwd,
        "started_at": iso_from_ts(started),
        "finished_at": None,
        "duration_s": None,
        "host": liveness.hostname(),
        "user": environment.user_name(),
        "pid": os.getpid(),
        "git": None,
        "python": None,
        "env": environment.selected_env(),
        "gpus": [],
        "resources": {},
        "params": {},
        "metrics": {},
        "output": {"file": "output.log", "bytes": 0, "terminal": os.isatty(1) or os.isatty(2)},
        "naga_version": __version__,
        "owner": liveness.identity(),
    }


def _check_request(request: RunRequest) -> None:
    if not request.argv:
        raise UsageError("no command given; usage: naga run [OPTIONS] [--] COMMAND [ARGS]...")
    if request.name is not None and not request.name.strip():
        raise UsageError("--name must not be empty")
    for tag in request.tags:
        if not tag.strip():
            raise UsageError("--tag must not be empty")


def _status(outcome: Outcome) -> str:
    if outcome.forwarded in CANCELLING:
        return "cancelled"
    if outcome.signal == signals.SIGINT or outcome.exit_code == 130:
        return "cancelled"  # Ctrl-C on the terminal reached the command directly
    return "completed" if outcome.exit_code == 0 else "failed"


def _spawn_error(argv: list[str], exc: OSError) -> tuple[int, str, Exception]:
    if isinstance(exc, FileNotFoundError):
        msg = f"command not found: {argv[0]}"
        return 127, msg, CommandNotFound(f"{msg} (check the spelling and your PATH)")
    if isinstance(exc, PermissionError):
        msg = f"permission denied: {argv[0]}"
        return 126, msg, CommandNotExecutable(f"{msg} (is it executable? try chmod +x)")
    msg = f"cannot start {argv[0]}: {exc.strerror or exc}"
    return 126, msg, CommandNotExecutable(msg)


def run_command(
    request: RunRequest,
    on_start: Callable[[dict[str, Any]], None] = lambda meta: None,
    on_end: Callable[[dict[str, Any]], None] = lambda meta: None,
) -> int:
    """Run the request's command as a recorded run; returns the exit code naga should exit with.

    Raises CommandNotFound / CommandNotExecutable after recording the run as failed.
    """
    _check_request(request)
    probe = GitProbe(request.cwd)
    layout = StoreLayout(request.store_root or locate_store(request.cwd))
    started = time.time()
    run_id = create_run_dir(layout)
    heartbeat = layout.heartbeat(run_id)
    os.close(os.open(heartbeat, os.O_WRONLY | os.O_CREAT, 0o644))
    meta = _base_meta(request, run_id, started)
    interrupted_early = False
    try:
        meta["git"] = probe.result(layout.patch(run_id))
        save_meta(layout, meta)
        on_start(meta)
    except KeyboardInterrupt:
        interrupted_early = True

    env = {**os.environ, RUN_ID_ENV: run_id, RUN_DIR_ENV: layout.run_dir(run_id)}
    facts = environment.Facts(request.argv, env)
    beat = _Heartbeat(heartbeat, float(meta["owner"]["heartbeat_s"]))
    log_fd = os.open(layout.output(run_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    t0 = time.monotonic()
    failure: Exception | None = None
    try:
        if interrupted_early:
            raise KeyboardInterrupt
        outcome = run_process(
            request.argv,
            env=env,
            log_fd=log_fd,
            tick_s=min(1.0, beat.interval),
            on_tick=beat,
        )
    except OSError as exc:
        code, message, failure = _spawn_error(request.argv, exc)
        outcome = Outcome(exit_code=code)
        meta["error"] = message
    except KeyboardInterrupt:  # Ctrl-C before the command started: it never runs
        outcome = Outcome(exit_code=130)
        outcome.forwarded = signals.SIGINT
    finally:
        os.close(log_fd)
    duration = time.monotonic() - t0
    meta["python"], meta["gpus"] = facts.collect()
    _finish_meta(meta, outcome, started + duration, duration)
    try:
        save_meta(layout, meta)
    except StoreError:
        if os.path.isdir(layout.run_dir(run_id)):
            raise
        meta["error"] = "the run was removed while it ran"  # `naga rm --force`: nothing to save
    try:
        os.unlink(heartbeat)
    except OSError:
        pass
    on_end(meta)
    if failure is not None:
        raise failure
    return outcome.exit_code


def _finish_meta(
    meta: dict[str, Any],
    outcome: Outcome,
    finished: float,
    duration: float,
) -> None:
    meta.update(
        status="failed" if meta["error"] else _status(outcome),
        exit_code=outcome.exit_code,
        signal=signal_name(outcome.signal) if outcome.signal else None,
        finished_at=iso_from_ts(finished),
        duration_s=round(duration, 3),
        resources=outcome.resources,
    )
    if outcome.forwarded:
        meta["interrupted_by"] = signal_name(outcome.forwarded)
    meta["output"]["bytes"] = outcome.output_bytes
    if outcome.log_error:
        meta["output"]["error"] = outcome.log_error


class _Heartbeat:
    """Touches the heartbeat file every ``interval`` seconds; called from the run loop's tick."""

    def __init__(self, path: str, interval: float) -> None:
        self.path, self.interval = path, interval
        self.next = time.monotonic() + interval

    def __call__(self) -> None:
        now = time.monotonic()
        if now >= self.next:
            try:
                os.utime(self.path)
            except OSError:
                pass  # a full disk or a removed run must not stop the command
            self.next = now + self.interval
