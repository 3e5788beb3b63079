"""``naga.run()``: a run recorded from inside Python, in the same store as ``naga run``.

Three ways a ``Run`` comes to life when entered:

* **own**: a new run directory, ``meta.json`` written by this process (status, git, owner
  identity, heartbeat), metrics in stream ``main``, system metrics in stream ``sys``.
* **attached**: the process runs under ``naga run`` (``$NAGA_RUN_ID``): the wrapper owns the
  record; this process adds params, metrics and artifacts to it, and its ending (an exception,
  ``naga.fail``) when it has one to tell. A second process attaching to the same run (a
  distributed rank, a subprocess) writes its own stream, ``rank<N>`` or ``pid<N>``.
* **child**: a run opened while another is active in this process (not under the wrapper): a new
  run whose ``parent_id`` names the outer one.

A process forked from a run (DataLoader workers, ``multiprocessing``) drops what its parent had
not yet written and logs into its own stream ``pid<N>`` of the same run, started on its first
``log``: a child never writes the parent's files, so it cannot corrupt them.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..ending import WITNESS, Ending, decide, exit_for
from ..errors import NagaError, NoActiveRun
from ..notices import warn
from ..redact import mask_values
from ..store.files import touch_marker
from ..store.layout import StoreLayout, locate_store
from ..store.layout import metrics_dir as metrics_of
from ..store.sdkstate import attempt_stream
from ..store.timefmt import iso_from_ts
from . import artifacts
from .owned import OwnRecord
from .stream import Stream
from .termination import GUARD, held_signals
from .values import FAST_TYPES, as_dict, check_step, convert, flatten

F = TypeVar("F", bound=Callable[..., Any])
_now = time.time
RUN_ID_ENV, RUN_DIR_ENV = "NAGA_RUN_ID", "NAGA_RUN_DIR"
DISABLED_ENV = "NAGA_DISABLED"
_RANK_ENVS = ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK")

_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar("naga_run", default=None)
_active: list[Run] = []  # entered in this process and not ended, innermost last


def disabled() -> bool:
    return os.environ.get(DISABLED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def current_run(required: bool = True) -> Run | None:
    """The run naga.log() and friends act on: this context's, else the innermost open one in
    this process (a thread started inside a run logs to it), else the wrapper's run."""
    run = _open_run()
    if run is not None:
        return run
    if os.environ.get(RUN_ID_ENV) and not disabled():
        return _attach_implicitly()
    if required and not disabled():
        raise NoActiveRun(
            "no naga run is active: wrap the code in `with naga.run():`, decorate it with"
            " `@naga.run`, or start the script with `naga run`"
        )
    return None


def _open_run() -> Run | None:
    run = _current.get()
    if run is not None and not run._ended:
        return run
    return next((r for r in reversed(_active) if not r._ended), None)


def _attach_implicitly() -> Run:
    """naga.log() in a script run by `naga run` with no `naga.run()`: log to the wrapper's run."""
    run = Run()
    run._start()
    return run


def _not_started(call: Any) -> None:
    raise NoActiveRun("this run has not started: use it as `with naga.run() as run:`")


class Run:
    """A run recorded from Python: a context manager, and a decorator (one run per call)."""

    def __init__(
        self,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: list[str] | tuple[str, ...] | None = None,
        *,
        sys_interval: float | None = None,
        resume: str | None = None,
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise NagaError("a run's name must be a non-empty string")
        tags = list(tags or [])
        for tag in tags:
            if not isinstance(tag, str) or not tag.strip():
                raise NagaError(f"tags must be non-empty strings, not {tag!r}")
        self._spec: dict[str, Any] = {
            "name": name,
            "params": dict(params or {}),
            "tags": tags,
            "sys_interval": sys_interval,
            "resume": resume,
        }
        self.id: str | None = None
        self._dir: str | None = None
        self._mode: str | None = None
        self._status = "created"
        self._ended = False
        self._next_step = 0
        self._extend: Callable[[Any], None] = _not_started
        self._stream: Stream | None = None
        self._stream_name = "main"
        self._pid = os.getpid()
        self._token: contextvars.Token[Run | None] | None = None
        self._own: OwnRecord | None = None
        self._pruned: str | None = None  # a search's pruner stopped it (a framework went on)

    # -- the hot path ------------------------------------------------------------------------

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log metric values at ``step`` (default: one more than the last step logged).

        Values are checked here (a TypeError names the key); keys are checked by the writer
        (a key that cannot name a file is dropped with one warning), which keeps this cheap.
        """
        # The hot path. What stays behind is a copy of the dict (C-fast, and with only numbers
        # in it, never tracked by the garbage collector); the writer thread takes it apart.
        # Module globals, not keyword-only defaults: each default a call omits costs a lookup.
        if step is None:
            step = self._next_step
        elif step.__class__ is not int:
            step = check_step(step)
        self._next_step = step + 1
        if metrics.__class__ is not dict:
            metrics = as_dict(metrics)
        for value in metrics.values():
            if value.__class__ not in FAST_TYPES:
                metrics = convert(metrics)
                break
        self._extend((step, _now(), metrics.copy()))

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Run:
        self._start()
        self._token = _current.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:  # exited in another context (a generator, a thread)
                _current.set(None)
            self._token = None
        if os.getpid() != self._pid:  # a forked child leaving the block: only its own stream
            if self._stream is not None:
                self._stream.close()
            return False
        ending = decide(exc)
        if not self._ended:  # NagaLogger may have ended it already, with the same decision
            self._finish(ending.status, ending.reason, ending.traceback)
        if exc is not None:
            replaced = exit_for(exc, ending)
            if replaced is not None:  # Lightning's sys.exit(1) after Ctrl-C exits 130
                raise replaced
        return ending.status == "pruned"  # a search pruned the trial: a clean ending

    def start(self) -> Run:
        """Start the run without a ``with`` block (a notebook, a callback): end it with
        ``complete()``, ``fail()`` or ``cancel()``; one still open at exit is completed."""
        self._start()
        return self

    def __call__(self, fn: F) -> F:
        """As a decorator: every call of ``fn`` is a run of its own (named after it by default)."""
        spec = dict(self._spec)
        spec["name"] = spec["name"] or getattr(fn, "__name__", None)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Run(**spec):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def _start(self) -> None:
        if self._status != "created":
            raise NagaError("a run can be entered only once; call naga.run() for a new one")
        parent = _open_run()
        wrapper_id = os.environ.get(RUN_ID_ENV)
        if parent is None and wrapper_id and not self._spec["resume"]:
            self._attach(wrapper_id, os.environ.get(RUN_DIR_ENV, ""))
        else:
            self._create(parent)
        self._status = "running"
        _active.append(self)
        GUARD.hold()
        if self._spec["params"]:
            self.log_params(self._spec["params"])

    def _attach(self, run_id: str, run_dir: str) -> None:
        layout = StoreLayout(os.path.dirname(os.path.dirname(run_dir)) or ".")
        if not run_id.isalnum() or not os.path.isfile(layout.meta(run_id)):
            raise NagaError(
                f"${RUN_ID_ENV}={run_id} names no run in {run_dir!r}; unset {RUN_ID_ENV} to"
                " record a run of its own"
            )
        self.id, self._dir, self._mode = run_id, layout.run_dir(run_id), "attached"
        self._layout = layout
        self._stream_name = _claim_stream(layout.run_dir(run_id), run_id)
        self._open_stream()

    def _create(self, parent: Run | None) -> None:
        from .sysmetrics import sys_interval

        interval = sys_interval(self._spec["sys_interval"])  # a bad value stops here, first
        layout = StoreLayout(locate_store(os.getcwd()))
        resume = self._spec["resume"]
        if resume is None and parent is None and os.environ.get("SLURM_JOB_ID"):
            from . import requeue

            resume = requeue.earlier_attempt(layout, self._spec["name"])
        if resume is None and parent is None and self._spec["name"]:
            from ..store.names import name_taken

            taken = name_taken(layout.root, self._spec["name"])
            if taken:
                warn(taken)
        self._own = OwnRecord(layout, self._spec, parent.id if parent else None, resume)
        if parent is None and os.environ.get("SLURM_JOB_ID"):
            from . import requeue

            requeue.note_opened(layout, self._spec["name"], self._own.run_id)
        self.id, self._dir, self._mode = self._own.run_id, self._own.run_dir, "own"
        self._stream_name = attempt_stream("main", self._own.attempt)
        self._layout = layout
        _claimed[self.id] = "main"
        self._open_stream()
        if parent is None:  # a child shares its parent's process: one sampler is enough
            self._own.start_sampler(interval, self._touch)

    def _touch(self) -> None:
        if self.id is not None:
            try:
                touch_marker(self._layout, self.id)
            except NagaError:
                pass  # the index will see it at the next change or rebuild

    def _open_stream(self) -> None:
        assert self._dir is not None
        directory = os.path.join(metrics_of(self._dir), self._stream_name)
        self._stream = Stream(directory, on_state=self._touch)
        self._extend = self._stream.extend
        self._next_step = self._stream.next_step()  # a stream reopened continues its steps
        if os.environ.get("NAGA_TRIAL"):  # a trial of a search: its objective is reported
            from .trial import attach_reporter

            attach_reporter(self)
        if self._mode != "own":  # a worker may leave through os._exit: flush on its way out
            _register_mp_finalizer(self._flush_quietly)

    def _finish(self, status: str, error: str | None = None, trace: str | None = None) -> None:
        """End the run: write every metric, then the record. Ctrl-C and SIGTERM wait until
        the record is written (a second signal would otherwise leave it `running`)."""
        if self._ended:
            return
        if status == "completed" and self._pruned is not None:
            status, error = "pruned", self._pruned
        self._ended = True
        self._status = status
        self._extend = _ended
        warnings: list[str] = []
        active = False
        try:
            with held_signals():  # a signal held here is delivered as the block exits
                try:
                    warnings = self._write_end(status, error, trace)
                finally:
                    active = self in _active
                    if active:
                        _active.remove(self)
        finally:
            if active:
                GUARD.release()  # after held_signals put the run's handlers back
            for warning in warnings:
                warn(warning)

    def _write_end(self, status: str, error: str | None, trace: str | None) -> list[str]:
        warnings: list[str] = []
        stream = self._stream
        try:
            if self._mode == "attached" and stream is not None and (status != "completed" or error):
                stream.set_ending(_ending(status, error, trace))
            if stream is not None:
                try:
                    stream.close()
                except NagaError as exc:  # a full disk: the run still ends, and says what it lost
                    if str(exc) != stream.error:  # the writer thread has said it already
                        warnings.append(str(exc))
                    stream.error = str(exc)
        finally:
            if self._own is not None:  # whatever happened to the metrics, the record ends
                lost = stream.error if stream is not None else None
                warnings += self._own.finish(status, error, trace, lost)
        return warnings

    def _exit_quietly(self) -> None:
        """At interpreter exit, a run still open ends the way the program did."""
        if self._ended or os.getpid() != self._pid:
            return
        status, error, trace = _how_the_program_ended()
        try:
            self._finish(status, error, trace)
        except NagaError as exc:
            warn(str(exc))

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's unwritten points and its writer thread; log
        into a stream of this process, opened on the first log()."""
        self._pid = os.getpid()
        self._stream = None
        self._own = None  # the parent owns the record, its heartbeat and its sampler
        self._mode = "forked"
        self._stream_name = f"pid{self._pid}"
        if not self._ended:
            self._extend = self._first_append_in_child

    def _first_append_in_child(self, call: Any) -> None:
        self._open_stream()
        self._extend(call)

    def _flush_quietly(self) -> None:
        """A multiprocessing worker's points, written on its way out (``raise_terminated`` lets
        a SIGTERM that comes meanwhile, as ``Pool.terminate()`` sends, wait for it)."""
        if self._stream is not None and os.getpid() == self._pid:
            try:
                self._stream.close()
            except NagaError:
                pass

    # -- the rest of the API -----------------------------------------------------------------

    @property
    def status(self) -> str:
        return self._status

    @property
    def dir(self) -> Path:
        return Path(self._require_dir())

    def _require_dir(self) -> str:
        if self._dir is None:
            raise NoActiveRun("this run has not started: use it as `with naga.run() as run:`")
        return self._dir

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters; nested dicts become dotted keys (``model.lr``)."""
        if not isinstance(params, Mapping):
            raise TypeError(f"log_params() takes a dict, not {type(params).__name__}")
        if self._stream is None:
            if self._mode == "forked" and not self._ended:
                self._open_stream()
            else:
                raise NoActiveRun(f"run {self.id or '(not started)'} is not active")
        assert self._stream is not None
        self._stream.set_params(flatten(mask_values(params)))  # secrets never recorded

    def get_params(self) -> dict[str, Any]:
        return dict(self._stream.params) if self._stream is not None else {}

    def get_param(self, key: str, default: Any = None) -> Any:
        params = self.get_params()
        if key in params:
            return params[key]
        prefix = key + "."
        nested = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
        return nested or default

    def flush(self) -> None:
        """Write everything logged so far to disk, durably."""
        if self._stream is not None:
            self._stream.write(durable=True)

    def prune_at_end(self, reason: str) -> None:
        """A search's pruner stopped this trial and the framework ends it cleanly (Lightning's
        ``should_stop``): a run that would end completed ends ``pruned``."""
        self._pruned = reason

    def complete(self) -> None:
        self._finish("completed")

    def end(self, ending: Ending) -> None:
        """End the run as :func:`naga.ending.decide` decided (integrations that see the
        exception before the ``with`` block does: Lightning's loggers)."""
        self._finish(ending.status, ending.reason, ending.traceback)

    def fail(self, message: str = "failed") -> None:
        self._finish("failed", str(message))

    def cancel(self, message: str = "cancelled") -> None:
        self._finish("cancelled", str(message))

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> Path:
        return artifacts.copy_in(self._require_dir(), path, name)

    def log_text(self, text: str, name: str) -> Path:
        return artifacts.write_text(self._require_dir(), text, name)

    def log_figure(self, figure: Any, name: str, **savefig: Any) -> Path:
        return artifacts.save_figure(self._require_dir(), figure, name, **savefig)

    def artifact_path(self, name: str) -> Path:
        return artifacts.writable_path(self._require_dir(), name)

    def __repr__(self) -> str:
        return f"<naga.Run {self.id or '(not started)'} {self._status}>"


def _how_the_program_ended() -> tuple[str, str | None, str | None]:
    """(status, error, traceback) for an interpreter exiting with runs still open: the
    uncaught exception (the default excepthook leaves it in sys.last_value before atexit
    runs) or a normal end, read through the one decision of endings (a stop signal decides)."""
    exc = getattr(sys, "last_value", None)
    if not isinstance(exc, BaseException) and (GUARD.received or WITNESS.received()):
        exc = SystemExit()  # a signal ended the program but left no exception behind
    ending = decide(exc if isinstance(exc, BaseException) else None)
    return ending.status, ending.reason, ending.traceback


def _ended(call: Any) -> None:
    raise NoActiveRun("this run has ended: open a new one with `with naga.run():`")


def _ending(status: str, error: str | None, trace: str | None) -> dict[str, Any]:
    ending: dict[str, Any] = {"status": status, "error": error, "at": iso_from_ts(time.time())}
    if trace:
        ending["traceback"] = trace
    return ending


# -- streams of a run shared between processes ------------------------------------------------

_claimed: dict[str, str] = {}  # run id -> the stream this process writes


def _claim_stream(run_dir: str, run_id: str) -> str:
    """Which stream of the wrapper's run this process writes.

    ``rank<N>`` for a distributed rank other than 0; ``pid<N>`` for a worker (a process forked
    from one that imported naga, or a ``multiprocessing`` child) and for a second process while
    the first is alive; else ``main``, the run's own. ``main`` is claimed by writing its owner
    file exclusively; a process finding its owner dead takes it over (``naga run sh -c
    'python prep.py && python train.py'``: both steps are the run's own)."""
    if run_id in _claimed:
        return _claimed[run_id]
    rank = next((os.environ[e] for e in _RANK_ENVS if os.environ.get(e, "").isdigit()), None)
    if rank is not None and int(rank) != 0:
        name = f"rank{int(rank)}"
    else:  # attempt N > 1 of the wrapper's run (a requeued job) has a main stream of its own
        main = attempt_stream("main", _attempt_of(run_dir))
        if _is_worker() or not _claim_main(os.path.join(metrics_of(run_dir), main)):
            name = f"pid{os.getpid()}"
        else:
            name = main
    _claimed[run_id] = name
    return name


def _attempt_of(run_dir: str) -> int:
    """Which attempt of its run the wrapper's record is in (1 unless it was continued)."""
    from ..store.sdkstate import read_state

    attempts = read_state(os.path.join(run_dir, "meta.json")).get("attempts")
    return len(attempts) if isinstance(attempts, list) and attempts else 1


_forked_from: int | None = None  # set in a process forked from one that imported naga


def _is_worker() -> bool:
    if _forked_from is not None:
        return True
    mp = sys.modules.get("multiprocessing")
    return mp is not None and mp.parent_process() is not None


def _claim_main(directory: str) -> bool:
    import json

    from ..store import liveness

    os.makedirs(directory, exist_ok=True)
    owner_file = os.path.join(directory, "owner.json")
    mine = json.dumps(liveness.identity()).encode()
    for _ in range(3):
        try:
            fd = os.open(owner_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(owner_file, "rb") as f:
                    owner = json.loads(f.read() or b"{}")
            except (OSError, ValueError):
                owner = {}
            if isinstance(owner, dict) and owner.get("pid"):
                here = liveness.on_this_machine(owner)
                if not here or liveness.owner_is_alive(owner, ""):
                    return False  # alive, or on another host where naga cannot tell
            try:  # its owner is gone: take it over (one taker wins the unlink-and-create race)
                os.unlink(owner_file)
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(mine)
        return True
    return False


def _after_fork_in_child() -> None:
    global _forked_from
    _forked_from = os.getppid()
    _claimed.clear()
    GUARD.forget_in_child()
    for run in list(_active):
        run._after_fork()


def _register_mp_finalizer(fn: Callable[[], None]) -> None:
    """multiprocessing children leave through os._exit, past atexit: flush from its finalizers."""
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, fn, exitpriority=100)


def _finish_open_runs_at_exit() -> None:
    """A run entered without `with` and never ended: record it at interpreter exit rather than
    leave it to be judged crashed."""
    for run in reversed(list(_active)):
        run._exit_quietly()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_finish_open_runs_at_exit)
