"""``run_worker(sweep_dir)``: take tasks from a sweep's pool and run each as a naga run.

This is what every backend calls: the launcher itself (one worker), its helper processes
(``--n_jobs``), Slurm array jobs (``naga.parallel.slurm``), or by hand::

    python -m naga.parallel.worker <store>/sweeps/<sweep_id>

Each task is its own naga run, tagged ``sweep:<sweep_id>``, named ``<sweep_id>:<task>``, with
params ``sweep.id`` and ``sweep.task`` (plus the task's config or the point's values). A task
that fails is recorded failed and the worker goes on with the next; an interruption (Ctrl-C,
SIGTERM from Slurm's preemption or time limit) ends the run as cancelled, releases the task for
the next worker and stops this one. Workers run in the sweep's working directory and record
into the sweep's store, wherever they were started.

A ``clicfg`` program is found again from ``sweep.json``: imported as a module
(``python -m pkg.train``) or loaded from its script file (``python train.py``), never unpickled.
The worker knows it only as a :class:`naga.parallel.program.TaskProgram`. How a task ended is
:func:`naga.parallel.endings.task_ending`'s to say. What the worker has to tell (a task starts,
a task failed) goes to the caller's reporter; the terminal side of ``python -m
naga.parallel.worker`` is this module's ``__main__`` block, a front end of its own that
imports neither ``naga.cli`` nor ``naga.config`` (both import this module).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import Interrupted, NagaError
from ..notices import Notice, Reporter, log_notice
from .endings import Ending, is_terminal, task_ending
from .pool import Claim
from .program import TaskProgram
from .sweepdir import Sweep, load_sweep

TaskRunner = Callable[[Sweep, dict[str, Any]], dict[str, Any]]
_current: Claim | None = None  # the claim of the task this process runs now
_WRAPPER_ENV = ("NAGA_RUN_ID", "NAGA_RUN_DIR")


def run_worker(
    sweep_dir: str | os.PathLike[str],
    *,
    program: TaskProgram | None = None,
    avoid_crashed: bool = False,
    report: Reporter = log_notice,
) -> int:
    """Run free tasks of the sweep in ``sweep_dir`` until none is left; returns how many ran.

    ``program``: the program itself, when the caller has it (the launcher's own process),
    instead of loading it from ``sweep.json``. ``avoid_crashed``: leave the tasks whose worker
    died before to other processes (the launcher has helpers for them). ``report`` hears each
    task start and each failure.
    """
    sweep = load_sweep(sweep_dir)
    with _in_sweep_context(sweep):
        runner = _runner(sweep, program, report)
        pool = sweep.pool
        count = 0
        while True:
            claim = pool.claim_next(avoid_crashed=avoid_crashed)
            if claim is None:
                return count
            global _current
            _current = claim
            try:
                outcome = _run_claimed(runner, sweep, claim)
            finally:
                _current = None
            pool.finish(claim, outcome)
            count += 1
            _stop_if_signalled(sweep)


def _run_claimed(runner: TaskRunner, sweep: Sweep, claim: Claim) -> dict[str, Any]:
    started = time.time()
    try:
        outcome = runner(sweep, sweep.tasks[claim.task])
    except BaseException:
        claim.release()  # interrupted: the task is the next worker's, from the start
        raise
    if not is_terminal(outcome.get("status")):
        claim.release()  # cancelled (SIGTERM, Ctrl-C): this worker is being stopped
        by = f" by {outcome['signal']}" if outcome.get("signal") else ""
        stopped = Interrupted(
            f"task {claim.task} of sweep {sweep.id} was interrupted{by}; it runs"
            " again when the sweep is launched again"
        )
        stopped.exit_code = _signal_exit(outcome.get("signal"))
        raise stopped
    outcome.setdefault("duration_s", round(time.time() - started, 3))
    return outcome


def _stop_if_signalled(sweep: Sweep) -> None:
    """A stop signal reached this worker while its last task ran, which ended all the same
    (it finished its last step): the job is being stopped, so no new task is claimed."""
    from ..ending import WITNESS

    name = WITNESS.received()
    if name is not None:
        stopped = Interrupted(f"sweep {sweep.id}: this worker was stopped by {name}")
        stopped.exit_code = _signal_exit(name)
        raise stopped


def _signal_exit(name: str | None) -> int:
    """128 + the signal's number, as a process killed by it exits (130 when unknown)."""
    import signal

    try:
        return 128 + int(signal.Signals[name]) if name else 130
    except KeyError:
        return 130


@contextmanager
def _in_sweep_context(sweep: Sweep) -> Iterator[None]:
    """The sweep's working directory and store for its tasks. A command task is given them
    explicitly (``command_env``, ``run_command_task``): the process is left as it is. A clicfg
    task runs the program's function in this very process, and that code reads relative paths,
    ``os.environ`` and ``NAGA_HOME`` itself: only there is the process moved, for the worker's
    life. Tasks are runs of their own even when this process runs under ``naga run`` (whose run
    is the launcher's, not a task's)."""
    if not os.path.isdir(sweep.doc["cwd"]):
        raise NagaError(
            f"sweep {sweep.id} runs in {sweep.doc['cwd']}, which does not exist on this machine"
            " (workers need the same paths as the launcher: a shared filesystem)"
        )
    if sweep.doc["kind"] == "command":
        yield
        return
    saved = {key: os.environ.pop(key) for key in _WRAPPER_ENV if key in os.environ}
    home = os.environ.get("NAGA_HOME")
    cwd = os.getcwd()
    os.environ["NAGA_HOME"] = sweep.doc["store"]
    try:
        os.chdir(sweep.doc["cwd"])
        yield
    finally:
        os.chdir(cwd)
        os.environ.update(saved)
        if home is None:
            os.environ.pop("NAGA_HOME", None)
        else:
            os.environ["NAGA_HOME"] = home


def command_env(sweep: Sweep) -> dict[str, str]:
    """A command task's environment: this worker's, recording into the sweep's store, without
    the variables of a ``naga run`` the worker itself may run under."""
    env = {k: v for k, v in os.environ.items() if k not in _WRAPPER_ENV}
    env["NAGA_HOME"] = sweep.doc["store"]
    return env


def _runner(sweep: Sweep, program: TaskProgram | None, report: Reporter) -> TaskRunner:
    runner = _kind_runner(sweep, program, report)
    if sweep.doc.get("search"):
        return _searching(sweep, runner)
    return runner


def _searching(sweep: Sweep, runner: TaskRunner) -> TaskRunner:
    """Each slot of a search sweep runs the trial the study gives it, and tells the study how
    it went (:mod:`naga.parallel.search`)."""
    from ..sdk.trial import set_in_process
    from . import search

    spec = search.search_spec(sweep)
    assert spec is not None
    searcher = search.Searcher(sweep, spec)

    def run_trial(sweep: Sweep, slot: dict[str, Any]) -> dict[str, Any]:
        attempt = _current.attempt if _current is not None else 0
        trial = searcher.ask(slot["index"], attempt)
        if not isinstance(trial, searcher.optuna.trial.Trial):  # told before its worker died
            return searcher.told(trial)
        reporter = searcher.reporter(trial)
        task = {**searcher.task(slot, trial), "trial_env": searcher.trial_env(reporter)}
        set_in_process(reporter)
        try:
            outcome = runner(sweep, task)
        finally:
            set_in_process(None)
        if not is_terminal(outcome.get("status")):
            return outcome  # cancelled: the next attempt asks this trial's values again
        return searcher.tell(trial, outcome)

    return run_trial


def _kind_runner(sweep: Sweep, program: TaskProgram | None, report: Reporter) -> TaskRunner:
    if sweep.doc["kind"] == "command":
        return lambda sweep, task: run_command_task(sweep, task, report=report)
    from .program import load_program

    found = program if program is not None else load_program(sweep.doc["program"])
    # each task's run.lock records the snapshot taken at launch (one git snapshot per launch,
    # not one per task; the code a worker runs is what it imported); none taken (a dry run, no
    # lock): each task snapshots as usual
    snapshot = sweep.snapshot()
    return lambda sweep, task: run_program_task(
        found, sweep, task, snapshot=snapshot, report=report
    )


def task_name(sweep: Sweep, index: int) -> str:
    return f"{sweep.id}:{index}"


def run_program_task(
    program: TaskProgram,
    sweep: Sweep,
    task: dict[str, Any],
    *,
    snapshot: Mapping[str, Any] | None = None,
    report: Reporter = log_notice,
) -> dict[str, Any]:
    """One task of a program's sweep, in a run of its own: the base command line plus the
    task's overrides, resolved at the sweep's creation time (``${naga.now}`` is the same for
    all). A task that was interrupted ends its run cancelled and raises again (the worker
    stops); any other ending is the task's outcome."""
    from ..sdk.run import Run

    base = sweep.doc["program"]["argv"]
    params = {"sweep": {"id": sweep.id, "task": task["index"]}}
    spec: dict[str, Any] = {"name": task_name(sweep, task["index"]), "tags": [sweep.tag]}
    run = Run(**spec, params=params, resume=_earlier_run(task, sweep.doc["store"], "sdk"))
    command = task_command(sweep, program.task_args(task["overrides"]))
    n_args = len(task["overrides"]) + len(base)
    with _as_command(command, n_args):
        try:
            run.__enter__()
        except NagaError:  # the earlier attempt's run cannot be continued: a run of its own
            run = Run(**spec, params=params)
            run.__enter__()
    if task.get("trial_env") is not None:
        from ..sdk.trial import attach_reporter

        attach_reporter(run)
    announce(sweep, task, run.id, report)
    try:
        with _as_command(command, n_args):
            program.run_task(
                base,
                task["overrides"],
                now=sweep.doc["created_ts"],
                snapshot=snapshot,
                report=report,
            )
    except BaseException as exc:
        ending = task_ending(exc)
        if not is_terminal(ending.status):  # the run ends cancelled, the worker stops
            run.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return _ended(run, exc, ending, report)
    run.__exit__(None, None, None)
    return {"status": run.status, "run_id": run.id, "error": None}


def _earlier_run(task: dict[str, Any], store_root: str, source: str | None) -> str | None:
    """The run of an earlier attempt at this task (preempted, its worker killed), to continue
    as a new attempt; None for a first attempt, or when that run cannot be continued.
    ``source``: who records the task's runs ("sdk" for a program's, None for a command's)."""
    if _current is None or _current.task != task["index"]:
        return None
    run_id = _current.pool.earlier_run(_current)
    if run_id is None:
        return None
    from ..store.files import load_meta
    from ..store.layout import StoreLayout

    try:
        meta = load_meta(StoreLayout(store_root), run_id)
    except NagaError:
        return None
    return run_id if meta.get("source") == source and meta.get("status") != "completed" else None


def task_command(sweep: Sweep, task_args: list[str]) -> list[str]:
    """The command line that runs this one task alone: the program, the sweep's base
    arguments and the task's own (``naga rerun`` runs it), without the sweep's options."""
    program = sweep.doc["program"]
    prefix = program.get("launcher") or [sys.executable, program.get("script") or ""]
    return [*prefix, *program["argv"], *task_args]


@contextmanager
def _as_command(argv: list[str], n_args: int) -> Iterator[None]:
    """The task's own command line as this process's, while its run records it (record and
    run.lock read ``sys.orig_argv``) and its program runs (which may read ``sys.argv``, whose
    last ``n_args`` are the program's arguments)."""
    saved = sys.argv, getattr(sys, "orig_argv", None)
    sys.orig_argv = list(argv)
    script = next((a for a in argv[: len(argv) - n_args] if a.endswith(".py")), None)
    sys.argv = [script or (saved[0][0] if saved[0] else ""), *argv[len(argv) - n_args :]]
    try:
        yield
    finally:
        sys.argv = saved[0]
        if saved[1] is not None:
            sys.orig_argv = saved[1]


def _ended(run: Any, exc: BaseException, ending: Ending, report: Reporter) -> dict[str, Any]:
    """A task that raised and ended (completed: a SystemExit(0); else failed): its run ends
    with the exception, the reporter hears why, and the worker goes on."""
    if ending.status == "completed":
        run.__exit__(None, None, None)
        return {"status": "completed", "run_id": run.id, "error": None}
    if ending.status == "pruned":
        run.__exit__(type(exc), exc, exc.__traceback__)
        return {"status": "pruned", "run_id": run.id, "error": None}
    run.__exit__(type(exc), exc, exc.__traceback__)
    if isinstance(exc, NagaError):
        message = str(exc)
        report(Notice("error", message))
    else:
        message = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, SystemExit):  # as the program alone would show it
            report(Notice("error", message, exc=exc))
    return {"status": ending.status, "run_id": run.id, "error": message.strip().splitlines()[0]}


def announce(sweep: Sweep, task: dict[str, Any], run_id: str | None, report: Reporter) -> None:
    """A task starts: which one, with which values, in which run."""
    from .report import task_label

    if _current is not None and _current.task == task["index"]:
        _current.pool.note_run(_current, run_id)
    where = f"{task['index'] + 1}/{len(sweep.tasks)}"
    text = f"{task_name(sweep, task['index'])} ({where}) {task_label(sweep, task)} · run {run_id}"
    report(Notice("start", text))


def run_command_task(
    sweep: Sweep, task: dict[str, Any], *, report: Reporter = log_notice
) -> dict[str, Any]:
    """One point of a command sweep, recorded as ``naga run`` records any command."""
    from ..launch import RunRequest, run_command

    ended: list[dict[str, Any]] = []
    env = command_env(sweep)
    trial = None
    if task.get("trial_env") is not None:  # the command's SDK reports to the trial
        from ..sdk.trial import TRIAL_ENV, in_process

        env[TRIAL_ENV] = task["trial_env"]
        trial = in_process()  # and so do its printed lines, when it has no SDK
    request = RunRequest(
        list(task["argv"]),
        cwd=sweep.doc["cwd"],
        env=env,
        store_root=sweep.doc["store"],
        name=task_name(sweep, task["index"]),
        tags=[sweep.tag],
        resume=_earlier_run(task, sweep.doc["store"], None),
        trial=trial,
    )
    params = {**task["params"], "sweep": {"id": sweep.id, "task": task["index"]}}

    def on_start(meta: dict[str, Any]) -> None:
        # the record being written: the point's values are its params from the start
        meta["params"] = _flat(params)
        announce(sweep, task, meta["id"], report)

    try:
        run_command(request, on_start=on_start, on_end=ended.append)
    except NagaError as exc:  # the command does not exist: recorded failed, as naga run does
        meta = ended[0] if ended else {}
        return {"status": "failed", "run_id": meta.get("id"), "error": str(exc)}
    meta = ended[0]
    error = meta.get("error") or (f"exit {meta['exit_code']}" if meta["exit_code"] else None)
    return {
        "status": meta["status"],
        "run_id": meta["id"],
        "error": error,
        "signal": meta.get("interrupted_by"),
    }


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


if __name__ == "__main__":  # python -m naga.parallel.worker SWEEP_DIR: a front end of its own
    # run through this module by its real name (its _current claim, as the finalizers see it);
    # what a task tells goes to stderr, as naga.config.frontend.stderr_reporter writes it
    import traceback

    from naga.notices import format_notice
    from naga.parallel.worker import run_worker as _run_worker

    def _to_stderr(notice: Notice) -> None:
        if notice.exc is not None:
            traceback.print_exception(notice.exc)
        else:
            print(format_notice(notice), file=sys.stderr, flush=True)

    # --quiet: a helper that naga sweep --n-jobs started, whose count nobody asked for
    _args = sys.argv[1:]
    _quiet = _args[:1] == ["--quiet"]
    _args = _args[1:] if _quiet else _args
    if len(_args) != 1 or _args[0].startswith("-"):
        print("usage: python -m naga.parallel.worker [--quiet] SWEEP_DIR", file=sys.stderr)
        sys.exit(2)
    try:
        _count = _run_worker(_args[0], report=_to_stderr)
    except NagaError as _exc:
        print(f"naga: error: {_exc}", file=sys.stderr)
        sys.exit(_exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    if not _quiet:
        print(f"naga: worker ran {_count} task(s)", file=sys.stderr)
