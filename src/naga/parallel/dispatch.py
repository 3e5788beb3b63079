"""Where a prepared sweep's tasks go: described (dry run), submitted to Slurm, or run here, in
this process or in helper worker processes. Shared by ``--tasks`` and ``naga sweep``.

Nothing here writes to the terminal: progress goes to the caller's reporter, and what the user
is shown at the end (a dry run's text, the summary of the tasks run here) is returned, as a
:class:`Dispatched`, for the front end to render."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from ..errors import UsageError
from ..notices import Notice, Reporter, log_notice
from ..sdk.termination import Terminated
from .program import TaskProgram
from .sweepdir import Sweep


class Dispatched(NamedTuple):
    """How a launch went: its exit code, the text a dry run shows (stdout), and whether tasks
    ran here (then the summary of the pool's outcomes decides the exit code: 0 when every
    task completed, else 1)."""

    exit_code: int
    text: str | None = None
    ran_here: bool = False


def dispatch(
    sweep: Sweep,
    *,
    reopened: bool,
    n_jobs: int | None,
    slurm: str | None,
    after: Sequence[str] = (),
    dry_run: bool = False,
    program: TaskProgram | None = None,
    report: Reporter = log_notice,
) -> Dispatched:
    """Run, submit or describe the sweep's tasks.

    A dry run changes nothing, and a launch refused (a bad Slurm profile...) leaves no sweep:
    a sweep made for it is removed again, and a reopened one's failed tasks stay failed."""
    from .sweepdir import discard_sweep

    if reopened and not dry_run and not sweep.doc.get("search"):
        # launched again: its failed tasks run again (a search's failed trial is a trial told)
        sweep.pool.reopen_failed()
    if slurm:
        try:
            result = submit(
                sweep, slurm, n_workers=n_jobs, after=after, dry_run=dry_run, report=report
            )
        except BaseException:
            if not reopened:
                discard_sweep(sweep)
            raise
    elif dry_run:
        from .report import describe_tasks

        result = Dispatched(0, text=describe_tasks(sweep))
    else:
        return run_locally(sweep, n_jobs or 1, program=program, reopened=reopened, report=report)
    if dry_run and not reopened:
        discard_sweep(sweep)
    return result


def submit(
    sweep: Sweep,
    slurm: str,
    *,
    n_workers: int | None,
    after: Sequence[str],
    dry_run: bool,
    report: Reporter = log_notice,
) -> Dispatched:
    try:
        from .slurm import submit_sweep
    except ModuleNotFoundError as exc:
        if exc.name != "naga.parallel.slurm":
            raise
        raise UsageError("Slurm submission is not available in this version of naga") from None
    if not dry_run and all(_done(sweep, state) for state in sweep.pool.state().values()):
        report(
            Notice(
                "info",
                f"sweep {sweep.id}: all {len(sweep.tasks)} tasks completed before; nothing to run,"
                " no Slurm job submitted (a new sweep: --new-sweep, or naga sweep --new)",
            )
        )
        return Dispatched(0)
    result = submit_sweep(
        sweep.dir, slurm, n_workers=n_workers, after=after, dry_run=dry_run, report=report
    )
    if dry_run:
        return Dispatched(0, text=result)
    report(
        Notice(
            "info",
            f"sweep {sweep.id}: submitted Slurm job {result}; follow it with"
            f" `naga ls --sweep {sweep.id}`",
        )
    )
    return Dispatched(0)


def run_locally(
    sweep: Sweep,
    n_jobs: int,
    *,
    program: TaskProgram | None = None,
    reopened: bool = False,
    report: Reporter = log_notice,
) -> Dispatched:
    """Run the sweep's free tasks here: in this process, or in it and ``n_jobs - 1`` helpers."""
    pending = sum(not _done(sweep, state) for state in sweep.pool.state().values())
    done = len(sweep.tasks) - pending
    if pending == 0:
        report(
            Notice(
                "info",
                f"sweep {sweep.id}: all {done} tasks completed before; nothing to run"
                " (a new sweep: --new-sweep, or naga sweep --new)",
            )
        )
        return Dispatched(0, ran_here=True)
    resumed = f", {done} completed before" if reopened and done else ""
    workers = max(1, min(n_jobs, pending))
    report(
        Notice(
            "info",
            f"sweep {sweep.id}: {len(sweep.tasks)} tasks{resumed},"
            f" {workers} worker{'s' if workers > 1 else ''}",
        )
    )
    try:
        run_workers(sweep, workers, program, report=report)
    except (KeyboardInterrupt, _Stop, Terminated) as exc:
        signum = _signal_of(exc)
        report(
            Notice(
                "info",
                f"sweep {sweep.id} interrupted by {signal.Signals(signum).name}; launch it"
                " again to run the tasks not done",
            )
        )
        return Dispatched(128 + signum)
    return Dispatched(0, ran_here=True)


def _done(sweep: Sweep, state: str) -> bool:
    """Whether a task in this state stays done when the sweep is launched again: a completed
    one; in a search, any trial told (a failed or pruned trial is a result of the study)."""
    if sweep.doc.get("search"):
        from .endings import is_terminal

        return is_terminal(state)
    return state == "completed"


STOP_GRACE_S = 5.0  # how long helpers have to end their runs cancelled before being killed


def run_workers(
    sweep: Sweep,
    workers: int,
    program: TaskProgram | None = None,
    *,
    report: Reporter = log_notice,
) -> None:
    """This process is one of the workers and ``workers - 1`` helper processes
    (``python -m naga.parallel.worker``) are the others. A task whose worker died before is
    left to a helper (one is started for it when there is none), so a task that crashes its
    process never takes the launcher down with it; a helper that dies is replaced while tasks
    are free, and the pool fails a task after its ``MAX_CRASHES``-th crash. Ctrl-C and SIGTERM
    are passed on to the helpers, which end their runs cancelled."""
    import threading

    from .worker import run_worker

    can_spawn = _can_spawn(sweep)
    helpers = _Helpers(sweep, can_spawn, report)
    stop_tending = threading.Event()
    tending = threading.Thread(target=helpers.tend_until, args=(stop_tending, workers - 1))
    try:
        if can_spawn:
            helpers.spawn(workers - 1)
        tending.start()  # a helper that dies is replaced while this process runs tasks too
        run_worker(sweep.dir, program=program, avoid_crashed=can_spawn, report=report)
        stop_tending.set()
        tending.join()
        with _signals_raised():
            while not helpers.tend(max(1, workers - 1)):
                time.sleep(0.1)
        if helpers.gave_up:  # no helper can run what is left: run it here
            run_worker(sweep.dir, program=program, report=report)
    except BaseException as exc:
        stop_tending.set()
        if tending.is_alive():
            tending.join()
        _stop(helpers.procs, _signal_of(exc))
        raise


class _Helpers:
    """The helper processes of one launch, reaped and replaced by ``tend``."""

    def __init__(self, sweep: Sweep, can_spawn: bool, report: Reporter) -> None:
        self.sweep = sweep
        self.report = report
        self.procs: list[subprocess.Popen[bytes]] = []
        self.gave_up = not can_spawn  # set when a helper failed by itself (cannot load...)
        self.spawns_left = 2 * len(sweep.tasks) + 2  # replacements, beyond the first ones

    def spawn(self, count: int) -> None:
        for _ in range(count):
            self.procs.append(_spawn(self.sweep))

    def tend(self, target: int) -> bool:
        """Reap the helpers that ended, and keep ``target`` at work while tasks are free.
        True when none is left and none is needed."""
        alive = []
        for helper in self.procs:
            code = helper.poll()
            if code is None:
                alive.append(helper)
            elif code < 0:
                _report_death(self.sweep, helper.pid, -code, self.report)
            elif code != 0:
                self.gave_up = True  # its error is printed: a replacement would fail alike
        self.procs[:] = alive
        if self.gave_up or len(alive) >= target or self.spawns_left <= 0:
            return not alive
        free = sum(state == "pending" for state in self.sweep.pool.state().values())
        count = min(free, target - len(alive), self.spawns_left)
        self.spawns_left -= count
        self.spawn(count)
        return not self.procs

    def tend_until(self, stop: Any, target: int) -> None:
        while not stop.wait(0.2):
            self.tend(target)


def _can_spawn(sweep: Sweep) -> bool:
    if sweep.doc["kind"] == "command":
        return True
    from ..errors import NagaError
    from .program import check_loadable

    try:
        check_loadable(sweep.doc["program"])
    except NagaError:
        return False
    return True


def _spawn(sweep: Sweep) -> subprocess.Popen[bytes]:
    # a session of its own: a terminal's Ctrl-C reaches the launcher, which passes it on once
    return subprocess.Popen(
        [sys.executable, "-m", "naga.parallel.worker", "--quiet", sweep.dir],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def _report_death(sweep: Sweep, pid: int, signum: int, report: Reporter) -> None:
    tasks = sweep.pool.note_death(pid, signum)
    try:
        name = f", {signal.Signals(signum).name}"
    except ValueError:
        name = ""
    running = f" running task {', '.join(map(str, tasks))}" if tasks else ""
    report(Notice("warning", f"a worker process died (signal {signum}{name}){running}"))


class _Stop(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _signals_raised() -> Iterator[None]:
    """SIGTERM and SIGINT while only waiting for helpers: stop them, then end like them."""

    def handler(signum: int, frame: Any) -> None:
        raise _Stop(signum)

    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def _signal_of(exc: BaseException) -> int:
    if isinstance(exc, (_Stop, Terminated)):
        return exc.signum if isinstance(exc, _Stop) else int(signal.Signals[exc.signal_name])
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    code = getattr(exc, "exit_code", None) or getattr(exc, "code", None)
    if isinstance(code, int) and 128 < code < 128 + 65:
        return code - 128
    return signal.SIGTERM


def _stop(helpers: list[subprocess.Popen[bytes]], signum: int) -> None:
    """Pass the signal on, give the helpers STOP_GRACE_S to end their runs, then kill."""
    for helper in helpers:
        if helper.poll() is None:
            helper.send_signal(signum)
    deadline = time.monotonic() + STOP_GRACE_S
    for helper in helpers:
        try:
            helper.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()
