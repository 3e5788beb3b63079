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
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import NagaError
from .pool import Claim
from .sweepdir import Sweep, load_sweep


class Interrupted(NagaError):
    """A task was cancelled (its worker is being stopped); it stays free for the next worker."""

    exit_code = 130


TaskRunner = Callable[[Sweep, dict[str, Any]], dict[str, Any]]
_current: Claim | None = None  # the claim of the task this process runs now
_WRAPPER_ENV = ("NAGA_RUN_ID", "NAGA_RUN_DIR")


def run_worker(
    sweep_dir: str | os.PathLike[str], *, program: Any = None, avoid_crashed: bool = False
) -> int:
    """Run free tasks of the sweep in ``sweep_dir`` until none is left; returns how many ran.

    ``program``: the ``clicfg`` main itself, when the caller has it (the launcher's own
    process), instead of loading it from ``sweep.json``. ``avoid_crashed``: leave the tasks
    whose worker died before to other processes (the launcher has helpers for them).
    """
    sweep = load_sweep(sweep_dir)
    with _in_sweep_context(sweep):
        runner = _runner(sweep, program)
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
    if outcome.get("status") not in ("completed", "failed"):
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


def _runner(sweep: Sweep, program: Any) -> TaskRunner:
    if sweep.doc["kind"] == "command":
        return run_command_task
    from .program import load_program

    main = program if program is not None else load_program(sweep.doc["program"])
    main = _with_snapshot(main, sweep)
    return lambda sweep, task: run_clicfg_task(main, sweep, task)


def _with_snapshot(main: Any, sweep: Sweep) -> Any:
    """The program, recording in each task's run.lock the snapshot taken at launch (one git
    snapshot per launch, not one per task; the code a worker runs is what it imported)."""
    import copy
    import json

    from .tasks import SNAPSHOT_FILE

    try:
        with open(os.path.join(sweep.dir, SNAPSHOT_FILE), "rb") as f:
            states = json.loads(f.read())
    except (OSError, ValueError):
        return main  # none taken (dry run, no lock): each task snapshots as usual
    if not isinstance(states, dict):
        return main
    task_main = copy.copy(main)
    task_main.options = {**main.options, "snapshot": states}
    return task_main


def task_name(sweep: Sweep, index: int) -> str:
    return f"{sweep.id}:{index}"


def run_clicfg_task(main: Any, sweep: Sweep, task: dict[str, Any]) -> dict[str, Any]:
    """One task of a ``clicfg`` program: its config is the base command line's plus the task's
    overrides, resolved at the sweep's creation time (``${naga.now}`` is the same for all)."""
    from ..config.overrides import Override, parse_argv
    from ..ending import decide
    from ..sdk.run import Run

    invocation = parse_argv(sweep.doc["program"]["argv"], is_flag=main._is_bool)
    invocation.overrides += [Override(k, v, add, f"{k}={v!r}") for k, v, add in task["overrides"]]
    invocation.now = sweep.doc["created_ts"]
    params = {"sweep": {"id": sweep.id, "task": task["index"]}}
    spec: dict[str, Any] = {"name": task_name(sweep, task["index"]), "tags": [sweep.tag]}
    run = Run(**spec, params=params, resume=_earlier_run(task))
    command, n_args = (
        task_command(sweep, task),
        len(task["overrides"]) + len(sweep.doc["program"]["argv"]),
    )
    with _as_command(command, n_args):
        try:
            run.__enter__()
        except NagaError:  # the earlier attempt's run cannot be continued: a run of its own
            run = Run(**spec, params=params)
            run.__enter__()
    announce(sweep, task, run.id)
    try:
        with _as_command(command, n_args):
            main._prepare(invocation).execute(main.fn)
    except BaseException as exc:
        if decide(exc).interrupted:  # a stop signal, whatever it became: cancelled, worker stops
            run.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return _failed(run, exc)
    run.__exit__(None, None, None)
    return {"status": run.status, "run_id": run.id, "error": None}


def _earlier_run(task: dict[str, Any]) -> str | None:
    """The run of an earlier attempt at this task (preempted, its worker killed), to continue
    as a new attempt; None for a first attempt, or when that run cannot be continued."""
    if _current is None or _current.task != task["index"]:
        return None
    run_id = _current.pool.earlier_run(_current)
    if run_id is None:
        return None
    from ..store.files import load_meta
    from ..store.layout import StoreLayout, locate_store

    try:
        meta = load_meta(StoreLayout(locate_store()), run_id)
    except NagaError:
        return None
    return run_id if meta.get("source") == "sdk" and meta.get("status") != "completed" else None


def task_command(sweep: Sweep, task: dict[str, Any]) -> list[str]:
    """The command line that runs this one task alone: the program, the sweep's base
    arguments and the task's overrides, without the sweep's options (``naga rerun`` runs it)."""
    program = sweep.doc["program"]
    prefix = program.get("launcher") or [sys.executable, program.get("script") or ""]
    overrides = [_override_text(k, v, add) for k, v, add in task["overrides"]]
    return [*prefix, *program["argv"], *overrides]


def _override_text(key: str, value: Any, add: bool) -> str:
    """``key=value`` that the command line reads back as this very value."""
    import json

    from ..config.overrides import parse_value

    text = value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, str) and parse_value(text) != value:
        text = json.dumps(value)
    return f"{'+' if add else ''}{key}={text}"


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


def _failed(run: Any, exc: BaseException) -> dict[str, Any]:
    """A task that raised: its run ends failed with the exception (a SystemExit(0) is a
    success), and the worker goes on."""
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        run.__exit__(None, None, None)
        return {"status": "completed", "run_id": run.id, "error": None}
    run.__exit__(type(exc), exc, exc.__traceback__)
    if isinstance(exc, NagaError):
        message = str(exc)
        print(f"naga: error: {message}", file=sys.stderr)
    else:
        message = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, SystemExit):  # as the program alone would show it
            traceback.print_exception(exc)
    return {"status": "failed", "run_id": run.id, "error": message.strip().splitlines()[0]}


def announce(sweep: Sweep, task: dict[str, Any], run_id: str | None) -> None:
    """One line on stderr as a task starts: which one, with which values, in which run."""
    from .report import task_label

    if _current is not None and _current.task == task["index"]:
        _current.pool.note_run(_current, run_id)
    where = f"{task['index'] + 1}/{len(sweep.tasks)}"
    print(
        f"naga ▶ {task_name(sweep, task['index'])} ({where}) {task_label(sweep, task)}"
        f" · run {run_id}",
        file=sys.stderr,
    )


def run_command_task(sweep: Sweep, task: dict[str, Any]) -> dict[str, Any]:
    """One point of a command sweep, recorded as ``naga run`` records any command."""
    from ..launch import RunRequest, run_command

    ended: list[dict[str, Any]] = []
    request = RunRequest(
        list(task["argv"]),
        cwd=sweep.doc["cwd"],
        env=command_env(sweep),
        store_root=sweep.doc["store"],
        name=task_name(sweep, task["index"]),
        tags=[sweep.tag],
    )
    params = {**task["params"], "sweep": {"id": sweep.id, "task": task["index"]}}

    def on_start(meta: dict[str, Any]) -> None:
        # the record being written: the point's values are its params from the start
        meta["params"] = _flat(params)
        announce(sweep, task, meta["id"])

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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m naga.parallel.worker SWEEP_DIR", file=sys.stderr)
        return 2
    try:
        count = run_worker(args[0])
    except NagaError as exc:
        print(f"naga: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    print(f"naga: worker ran {count} task(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
