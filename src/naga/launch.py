"""``naga run``: record a command as a run while it executes, unchanged.

Order matters for speed and for safety. Before the command starts: reserve the run directory,
start the three git processes (status, remotes, diff) so they read the tree the command starts
from, and write ``meta.json`` as ``running`` with the owner's identity, so ``naga ls`` sees the
run at once and a crash of naga is detectable; if that write fails, the command does not start.
Then the command starts at once; git's answers are collected on a thread and added to the
record, a second thread keeps the heartbeat, and slow facts (an interpreter's version, GPUs) are
gathered by helper processes meanwhile. At the end the record is rewritten once with the outcome,
and naga exits with the command's exit code whatever happens to the record.
"""

from __future__ import annotations

import _thread
import os
import time

from ._lean import shell_join, signal_name, signals
from .capture import environment
from .capture.background import Heartbeat, Job
from .capture.git import GitProbe
from .capture.packages import PackagesProbe
from .capture.process import CANCELLING, Outcome, StartFailed, run_process
from .errors import CommandNotExecutable, CommandNotFound, NagaError, StoreError, UsageError
from .record import new_record
from .sdk.sysmetrics import SystemSampler, sys_interval
from .store import liveness
from .store.files import begin_record, create_run_dir, remove_quietly, save_meta, touch_marker
from .store.layout import StoreLayout
from .store.timefmt import iso_from_ts

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

RUN_ID_ENV = "NAGA_RUN_ID"
RUN_DIR_ENV = "NAGA_RUN_DIR"


class RunRequest:
    """What to run, where, and how to label it.

    ``cwd``, ``env`` and ``store_root`` are explicit: the command runs in ``cwd`` with exactly
    ``env`` (plus naga's ``NAGA_RUN_*``) and is recorded into ``store_root``, whatever this
    process's own directory and environment are. The front end passes its own (``naga run``:
    ``os.getcwd()``, ``os.environ``, ``locate_store``); a rerun or a sweep passes another's,
    without changing the process. naga's own settings (heartbeat, sampling interval) are read
    from naga's process, not from ``env``: they configure the recorder, not the command.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        store_root: str,
        name: str | None = None,
        tags: list[str] | None = None,
        sys_interval: float | None = None,
        extra: dict[str, Any] | None = None,
        resume: str | None = None,
        argv_params: bool = True,
        scalars: bool | str = True,
        trial: Any = None,
    ) -> None:
        self.argv = argv
        # a search's trial (sdk.trial.TrialReporter) this run is: the objective among the
        # metrics of the command's printed lines is reported to it, and when the pruner stops
        # the trial naga ends the command with SIGTERM (the run ends ``pruned``)
        self.trial = trial
        self.argv_params = argv_params  # params read from the command's arguments (argparams)
        self.scalars = scalars  # metrics read from its output: True, False, or a --scalars regex
        self.resume = resume  # a run of `naga run` to continue as a new attempt
        self.extra = dict(extra or {})  # fields added to the record (a rerun's ``rerun_of``)
        self.name = name
        self.tags = list(tags or [])
        self.cwd = cwd
        self.env = env
        self.store_root = store_root
        self.sys_interval = sys_interval


def _base_meta(request: RunRequest, run_id: str, started: float) -> dict[str, Any]:
    meta = new_record(
        run_id,
        name=request.name,
        tags=request.tags,
        argv=request.argv,
        cwd=request.cwd,
        started=started,
        env=request.env,
    )
    meta["output"] = {"file": "output.log", "bytes": 0, "terminal": os.isatty(1) or os.isatty(2)}
    if request.argv_params:  # the program's own params, logged through the SDK, win (sdkstate)
        from .capture.argparams import argv_params

        meta["params"] = argv_params(request.argv)
    meta.update(request.extra)
    return meta


def _resumed_meta(request: RunRequest, layout: StoreLayout, started: float) -> dict[str, Any]:
    """The record of the run to continue, reopened for this attempt (``record.next_attempt``),
    with this attempt's command and output counted on from where the last one stopped."""
    from .record import next_attempt

    meta = next_attempt(layout, str(request.resume), started, source=None)
    fresh = _base_meta(request, meta["id"], started)
    output = dict(meta.get("output") or {})
    output.update(terminal=fresh["output"]["terminal"], earlier_bytes=output.get("bytes") or 0)
    meta.update(command=fresh["command"], argv=fresh["argv"], cwd=fresh["cwd"], output=output)
    meta["env"] = fresh["env"]
    meta["signal"] = None
    for stale in ("interrupted_by", "traceback"):  # the earlier attempt's, in its own entry
        meta.pop(stale, None)
    return meta


def _check_request(request: RunRequest) -> None:
    if not request.argv:
        raise UsageError("no command given; usage: naga run [OPTIONS] [--] COMMAND [ARGS]...")
    if not os.path.isdir(request.cwd):
        raise UsageError(f"cannot run in {request.cwd}: no such directory")
    if request.name is not None and not request.name.strip():
        raise UsageError("--name must not be empty")
    for tag in request.tags:
        if not tag.strip():
            raise UsageError("--tag must not be empty")
    liveness.heartbeat_interval()  # a malformed NAGA_HEARTBEAT_INTERVAL stops here, not later
    if isinstance(request.scalars, str):  # a bad --scalars pattern stops here
        from .capture.scalars import compile_pattern

        compile_pattern(request.scalars)
    request.sys_interval = sys_interval(request.sys_interval)


def _status(outcome: Outcome) -> str:
    if outcome.forwarded in CANCELLING:
        return "cancelled"
    if outcome.signal in (signals.SIGINT, signals.SIGQUIT) or outcome.exit_code in (130, 131):
        return "cancelled"  # Ctrl-C or Ctrl-\ on the terminal reached the command directly
    return "completed" if outcome.exit_code == 0 else "failed"


def _spawn_error(argv: list[str], exc: OSError) -> tuple[int, str, Exception]:
    if isinstance(exc, FileNotFoundError):
        msg = f"command not found: {argv[0]}"
        return 127, msg, CommandNotFound(f"{msg} (check the spelling and your PATH)")
    if os.path.isdir(argv[0]):
        msg = f"{argv[0]} is a directory, not a command"
        return 126, msg, CommandNotExecutable(msg)
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
    """Run the request's command as a recorded run; returns the exit code naga should exit with
    (the command's, whatever happens to the record).

    Raises CommandNotFound / CommandNotExecutable after recording the run as failed.
    """
    _check_request(request)
    # A parent that ignores SIGCHLD would let the kernel reap naga's helpers and its command
    # before naga could read their exit status (and the command inherits it otherwise too).
    signals.signal(signals.SIGCHLD, signals.SIG_DFL)
    try:
        recorder = _Recorder(request)
    except StoreError as exc:  # not even a run directory (a full disk): the command still runs
        return _run_unrecorded(request, exc, on_start, on_end)
    except NagaError:
        if request.resume is None:
            raise
        request.resume = None  # the earlier attempt's run cannot be continued: a run of its own
        recorder = _Recorder(request)
    failure: BaseException | None = None
    try:
        recorder.begin()
        on_start(recorder.meta)
        outcome = recorder.execute()
    except KeyboardInterrupt:  # Ctrl-C before the command started: it never runs
        outcome = Outcome(exit_code=130)
        outcome.forwarded = signals.SIGINT
    except StartFailed as exc:
        code, message, failure = _spawn_error(request.argv, exc.cause)
        outcome = Outcome(exit_code=code)
        recorder.meta["error"] = message
    except Exception as exc:  # naga's own failure (a full disk ...): record it, then report it
        failure = exc
        outcome = Outcome(exit_code=1)
        recorder.meta["error"] = f"naga failed: {exc}"
    with _signals_held():
        recorder.finish(outcome)
    on_end(recorder.meta)
    if failure is not None:
        raise failure
    return outcome.exit_code


def _run_unrecorded(
    request: RunRequest,
    problem: Exception,
    on_start: Callable[[dict[str, Any]], None],
    on_end: Callable[[dict[str, Any]], None],
) -> int:
    """The command, run without a record: the store cannot even take the run's directory.
    Recording never stops a command; ``meta["unrecorded"]`` says loudly what was lost."""
    meta: dict[str, Any] = {
        "id": "(none)",
        "name": request.name,
        "command": shell_join(request.argv),
        "unrecorded": f"this run is NOT being recorded: {problem}; the command runs anyway",
    }
    on_start(meta)
    started = time.monotonic()
    log_fd = os.open(os.devnull, os.O_WRONLY)
    try:
        outcome = run_process(request.argv, env=dict(request.env), log_fd=log_fd, cwd=request.cwd)
    except StartFailed as exc:
        _, _, failure = _spawn_error(request.argv, exc.cause)
        raise failure from None
    finally:
        os.close(log_fd)
    meta.update(
        status=_status(outcome),
        exit_code=outcome.exit_code,
        signal=signal_name(outcome.signal) if outcome.signal else None,
        duration_s=round(time.monotonic() - started, 3),
    )
    on_end(meta)
    return outcome.exit_code


class _signals_held:
    """Ctrl-C while the record is being finished would leave it half-written: hold it off."""

    HELD = (signals.SIGINT, signals.SIGTERM, signals.SIGHUP, signals.SIGQUIT)

    def __enter__(self) -> None:
        self.old = {s: signals.signal(s, signals.SIG_IGN) for s in self.HELD}

    def __exit__(self, *_: object) -> None:
        for signum, handler in self.old.items():
            signals.signal(signum, handler)


class _Recorder:
    """One run's record through its life: reserved, started, finished."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.layout = StoreLayout(request.store_root)
        self.started = time.time()
        self.t0 = time.monotonic()
        if request.resume is None:
            self.run_id = create_run_dir(self.layout)
            self.meta = _base_meta(request, self.run_id, self.started)
        else:  # a new attempt: the same record, its output appended to the same output.log
            self.run_id = request.resume
            self.meta = _resumed_meta(request, self.layout, self.started)
        self.probe = GitProbe(request.cwd, self.layout.patch(self.run_id))
        self.heartbeat_path = self.layout.heartbeat(self.run_id)
        self.facts: environment.Facts | None = None
        self.git_job: Job | None = None
        self.heartbeat: Heartbeat | None = None
        self.lock = _thread.allocate_lock()  # the git thread and finish() both write the record
        self.finished = False
        self.sampler: SystemSampler | None = None
        self.packages: PackagesProbe | None = None
        self.child_env: dict[str, str] = {}
        self.scanner: Any = None  # capture.scalars.Scanner, when the output is scanned
        self.pruned: str | None = None  # why the search's pruner stopped the command

    def begin(self) -> None:
        """Write the record as running; if the store cannot take it, the command runs anyway
        and ``meta["unrecorded"]`` says why (``store.files.begin_record``)."""
        problem = begin_record(self.layout, self.meta, self.heartbeat_path)
        if problem:
            self.meta["unrecorded"] = problem

    def _record_git(self) -> None:
        git = self.probe.result()
        with self.lock:
            if not self.finished:  # too late: finish() has written the final record
                self.meta["git"] = git
                save_meta(self.layout, self.meta)
        if git and git.get("untracked_count"):  # code neither the commit nor git.patch holds
            from .repro.untracked import snapshot

            patch = self.layout.patch(self.run_id) if git.get("patch") else None
            found = snapshot(git, patch, self.run_id)
            with self.lock:
                if found and not self.finished:
                    git.update(found)
                    save_meta(self.layout, self.meta)

    def _started(self, pid: int) -> None:
        # The command runs: git (started before it) is collected on a thread, so neither the
        # command's start nor its output waits for git.
        self.meta["child_pid"] = pid
        self.git_job = Job(self._record_git)
        run_dir = self.layout.run_dir(self.run_id)
        self.packages = PackagesProbe(self.request.argv, self.child_env, self.request.cwd, run_dir)
        if self.request.sys_interval:
            self.sampler = SystemSampler(pid, self.request.sys_interval, self._sys_stream)

    def _sys_stream(self) -> Any:
        from .sdk.stream import Stream

        def touch() -> None:
            try:
                touch_marker(self.layout, self.run_id)
            except StoreError:
                pass

        directory = self.layout.stream_dir(self.run_id, "sys")
        return Stream(directory, touch, background=False, reserved=True)

    def execute(self) -> Outcome:
        run_dir = self.layout.run_dir(self.run_id)
        env = {**self.request.env, RUN_ID_ENV: self.run_id, RUN_DIR_ENV: run_dir}
        self.child_env = env
        self.facts = environment.Facts(self.request.argv, env)
        interval = float(self.meta["owner"]["heartbeat_s"])
        self.heartbeat = Heartbeat(self.heartbeat_path, interval)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        log_fd = os.open(self.layout.output(self.run_id), flags, 0o644)
        self.t0 = time.monotonic()
        try:
            return run_process(
                self.request.argv,
                env=env,
                log_fd=log_fd,
                cwd=self.request.cwd,
                on_spawn=self._started,
                on_output=self._scanner(),
            )
        finally:
            os.close(log_fd)

    def _scanner(self) -> Callable[[int, bytearray, int], None] | None:
        """What reads metrics from the command's output (``capture.scalars``), or None."""
        if self.request.scalars is False:
            return None
        from .capture.scalars import STREAM, Scanner

        pattern = self.request.scalars if isinstance(self.request.scalars, str) else None

        def open_stream() -> Any:  # on the first point found: nothing to import before
            from .sdk.stream import Stream
            from .store.sdkstate import attempt_stream

            name = attempt_stream(STREAM, self._attempt())
            directory = os.path.join(self.layout.metrics_dir(self.run_id), name)
            stream = Stream(directory, self._touch)
            if self.request.trial is not None:
                stream.extend = self._reporting(stream.extend)
            return stream

        def check_key(key: str) -> str:  # the series' own rule, imported on the first key
            from .sdk.series import check_key

            return check_key(key)

        self.scanner = Scanner(open_stream, pattern, check_key)
        return self.scanner.feed  # type: ignore[no-any-return]

    def _reporting(self, extend: Callable[[Any], None]) -> Callable[[Any], None]:
        """``extend`` that also reports the objective to the trial, and stops the command with
        SIGTERM when the pruner says so. A command that logs through naga's SDK reports from
        its own process (``$NAGA_TRIAL``): its printed lines are then not reported twice."""
        from .errors import Pruned
        from .store.sdkstate import attempt_stream

        report = self.request.trial.wrap(extend)
        sdk_stream = os.path.join(
            self.layout.metrics_dir(self.run_id), attempt_stream("main", self._attempt())
        )
        state = {"looked": 0.0, "sdk": False}  # when the SDK's stream was last looked for

        def extend_and_prune(entry: Any) -> None:
            now = time.monotonic()
            if self.pruned is None and not state["sdk"] and now - state["looked"] > 1:
                state["looked"], state["sdk"] = now, os.path.isdir(sdk_stream)
            if self.pruned is not None or state["sdk"]:
                extend(entry)
                return
            try:
                report(entry)
            except Pruned as exc:
                self.pruned = str(exc)
                pid = self.meta.get("child_pid")
                if isinstance(pid, int):
                    try:
                        os.killpg(pid, signals.SIGTERM)  # the command's own process group
                    except OSError:
                        pass  # it has ended already

        return extend_and_prune

    def _attempt(self) -> int:
        attempts = self.meta.get("attempts")
        return len(attempts) if isinstance(attempts, list) and attempts else 1

    def _touch(self) -> None:
        try:
            touch_marker(self.layout, self.run_id)
        except StoreError:
            pass

    def _settle_scalars(self) -> None:
        """The scanned points become the run's metrics unless the SDK logged its own."""
        if self.scanner is None:
            return
        from .capture.scalars import settle

        try:
            self.scanner.close()
            settle(self.layout.metrics_dir(self.run_id), self._attempt())
        except (OSError, StoreError):
            pass  # the output's metrics are lost; the run's record matters more

    def finish(self, outcome: Outcome) -> None:
        """Write the final record. Nothing here may keep that write from happening."""
        duration = time.monotonic() - self.t0
        if self.sampler is not None:
            try:
                self.sampler.stop()
            except StoreError:
                pass  # the samples already written stay; the record matters more
        if self.git_job is None:  # the command never started
            self.meta["git"] = self.probe.result()
        else:
            self.git_job.wait(60)
        if self.facts is not None:
            try:
                self.meta["python"], self.meta["gpus"] = self.facts.collect()
            except OSError:
                pass
        if self.packages is not None:  # installed packages and lock files, listed meanwhile
            wait = 2.0 if outcome.forwarded else 30.0  # Ctrl-C: the user wants naga gone
            self.meta.update(self.packages.collect(wait))
        _finish_meta(self.meta, outcome, self.started + duration, duration, self.pruned)
        self._settle_scalars()
        if os.path.isdir(self.layout.metrics_dir(self.run_id)):
            from .store.sdkstate import merge_sdk_state

            merge_sdk_state(self.layout, self.meta)  # what the command logged through the SDK
        remove_quietly(
            self.layout.reserve(self.run_id)
        )  # room for the record's end, even on a full disk
        with self.lock:
            self.finished = True
            try:
                save_meta(self.layout, self.meta)
            except StoreError as exc:
                gone = not os.path.isdir(self.layout.run_dir(self.run_id))  # `naga rm --force`
                self.meta["record_error"] = "the run was removed while it ran" if gone else str(exc)
        if self.heartbeat is not None:  # alive until the very end, for readers on other hosts
            self.heartbeat.stop()
        remove_quietly(self.heartbeat_path)


def _finish_meta(
    meta: dict[str, Any],
    outcome: Outcome,
    finished: float,
    duration: float,
    pruned: str | None = None,
) -> None:
    if pruned is not None and not meta["error"]:  # naga stopped it: the pruner's ending
        meta["error"] = pruned
        status = "pruned"
    else:
        status = "failed" if meta["error"] else _status(outcome)
    meta.update(
        status=status,
        exit_code=outcome.exit_code,
        signal=signal_name(outcome.signal) if outcome.signal else None,
        finished_at=iso_from_ts(finished),
        duration_s=round(duration, 3),
        resources=outcome.resources,
    )
    if outcome.forwarded:
        meta["interrupted_by"] = signal_name(outcome.forwarded)
    attempts = meta.get("attempts")
    if attempts:  # this attempt's own ending; the run's is the latest attempt's
        attempts[-1].update(
            status=meta["status"],
            error=meta.get("error"),
            exit_code=outcome.exit_code,
            finished_at=meta["finished_at"],
            duration_s=meta["duration_s"],
        )
        meta["duration_s"] = round(sum(a.get("duration_s") or 0 for a in attempts), 3)
    meta["output"]["bytes"] = outcome.output_bytes + meta["output"].pop("earlier_bytes", 0)
    if outcome.log_error:
        meta["output"]["error"] = outcome.log_error
