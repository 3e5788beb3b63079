"""``ConfiguredMain``, what ``@naga.clicfg(defaults)`` makes of ``main``: one merge path for the
command line and for Python calls.

``main()`` reads ``sys.argv``; ``main(model={"lr": 0.01})`` takes keyword overrides. Both build
the same override list, merged strictly over the defaults and the ``--config`` files, then
resolved once (``${naga.now}``, ``${naga.track}``, ``${naga.stage}``). Then, before ``main``
runs: ``save_dir`` is created, logging goes to ``save_dir/experiment.log``, the config is
recorded as the params of the naga run in progress (``naga run``, ``naga.run()``), and
``run.lock`` is written with ``status: running``. When ``main`` ends, the lock gets its final
status and is attached to the run.

From the command line a config error is one line on stderr and exit 2 (the terminal side is
:mod:`naga.config.frontend`, the only part of ``config/`` that prints or exits, which holds the
decorator and hands each ``ConfiguredMain`` its command line: this module never imports it);
from Python it raises ``naga.ConfigError``. Sweeps (``--tasks``) use the public methods
``parse``, ``resolve``, ``run_task``, ``task_args`` and ``recorded_repos``: ``ConfiguredMain``
is the ``naga.parallel.program.TaskProgram`` a worker runs.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from ..errors import ConfigError, LockError, NagaError
from ..lock.recorder import Recorder, recording, stop_recording
from ..notices import Notice, Reporter, log_notice
from .overrides import Invocation, Override, kwargs_overrides, parse_argv, parse_value
from .resolvers import register

R = TypeVar("R")
AUTO = "auto"
_UNSET = object()
CommandLine = Callable[["ConfiguredMain[Any]", Sequence[str]], Any]


class ConfiguredMain(Generic[R]):
    """A ``main(cfg)`` with its config handling; call it bare (command line) or with keyword
    overrides (Python)."""

    _loading = False  # a worker is importing the program: a bare main() at top level is a no-op

    def __init__(
        self, fn: Callable[[Any], R], defaults: Any, *, command_line: CommandLine, **options: Any
    ) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self._command_line = command_line  # the terminal side, given by the decorator
        self.defaults_source = defaults
        self.options = options
        self._defaults: Any = None
        self._plain_defaults: Any = _UNSET

    def __call__(self, *args: Any, **overrides: Any) -> R | None:
        if args:
            raise TypeError(
                f"{self.fn.__name__}() takes config overrides as keywords:"
                f" {self.fn.__name__}(model={{'lr': 0.01}}) or **{{'model.lr': 0.01}}"
            )
        if overrides:
            return self.call(**overrides)
        if ConfiguredMain._loading:
            return None
        return self.cli()

    @classmethod
    @contextlib.contextmanager
    def loading(cls) -> Iterator[None]:
        """While a worker imports the program: a bare ``main()`` at its top level does
        nothing (the worker runs the tasks)."""
        cls._loading = True
        try:
            yield
        finally:
            cls._loading = False

    def cli(self, argv: Sequence[str] | None = None) -> R | None:
        """Run from a command line (``sys.argv[1:]`` by default); a config error exits 2."""
        result: R | None = self._command_line(self, sys.argv[1:] if argv is None else argv)
        return result

    def call(self, **overrides: Any) -> R:
        """Run with keyword overrides; a config error raises ``naga.ConfigError``."""
        session = self.prepare(Invocation(overrides=kwargs_overrides(overrides)))
        return session.execute(self.fn)

    def compose(self, *argv: str, **overrides: Any) -> Any:
        """The resolved config for these command-line arguments and keyword overrides, without
        running ``main`` or writing anything."""
        invocation = self.parse(argv)
        invocation.overrides += kwargs_overrides(overrides)
        return self.resolve_invocation(invocation)[0]

    # -- the surface sweeps and front ends use ----------------------------------------------

    def parse(self, argv: Sequence[str]) -> Invocation:
        """A command line of this program, split into files, overrides and naga's options."""
        return parse_argv(argv, is_flag=self.is_flag)

    def resolve(
        self, argv: Sequence[str], overrides: Sequence[Override] = (), *, now: float | None = None
    ) -> dict[str, Any]:
        """The config that ``argv`` plus ``overrides`` give, resolved and checked, as plain
        data; ``now`` pins ``${naga.now}``. Runs nothing and writes nothing."""
        invocation = self.parse(argv)
        invocation.overrides += overrides
        invocation.now = now
        return self.resolve_invocation(invocation)[1]

    def resolve_invocation(
        self, invocation: Invocation, *, validate: bool = True
    ) -> tuple[Any, dict[str, Any]]:
        """The config and its plain data; ``validate=False`` accepts any data path in
        ``${naga.track:...}`` (``--print-config`` shows the config, it does not run)."""
        recorder = Recorder(validate=validate)
        if invocation.now is not None:
            recorder.now = invocation.now
        return self._resolve(invocation, recorder)

    def prepare(
        self,
        invocation: Invocation,
        *,
        report: Reporter = log_notice,
        snapshot: Mapping[str, Any] | None = None,
    ) -> Session:
        """Everything before ``main`` runs (directories, logging, run params, ``run.lock``):
        the session whose ``execute(main.fn)`` runs it. ``snapshot``: the repositories' states
        to record, taken once for a sweep's tasks."""
        recorder = Recorder(status="running")
        if invocation.now is not None:
            recorder.now = invocation.now
        cfg, container = self._resolve(invocation, recorder)
        session = Session(cfg, container, recorder, self.options, report=report)
        session.snapshot = snapshot
        session.prepare()
        return session

    def run_task(
        self,
        argv: Sequence[str],
        overrides: Sequence[tuple[str, Any, bool]],
        *,
        now: float,
        snapshot: Mapping[str, Any] | None = None,
        report: Reporter = log_notice,
    ) -> R:
        """One task of a sweep (``naga.parallel.program.TaskProgram``): the base command line
        plus the task's overrides, ``${naga.now}`` pinned to the sweep's creation time."""
        invocation = self.parse(argv)
        invocation.overrides += [Override(k, v, add, f"{k}={v!r}") for k, v, add in overrides]
        invocation.now = now
        return self.prepare(invocation, report=report, snapshot=snapshot).execute(self.fn)

    def task_args(self, overrides: Sequence[tuple[str, Any, bool]]) -> list[str]:
        """``key=value`` arguments that this program's command line reads back as exactly
        these overrides (a task run alone, ``naga rerun``)."""
        return [_override_text(key, value, add) for key, value, add in overrides]

    def recorded_repos(self) -> Mapping[str, Any] | None:
        """The git repositories each call records in ``run.lock`` (None: it writes none)."""
        if not self.options.get("lock", True):
            return None
        return _recorded_repos(self.options.get("repos", AUTO))

    def help_text(self, prog: str) -> str:
        """``--help``: the program's docstring and its config's keys."""
        from .help import render

        declared = self._plain() is None  # a dataclass or hydra-zen config
        return render(prog, self.fn.__doc__, self.defaults(), declared=declared)

    def defaults(self) -> Any:
        """The defaults as a typed, struct-mode OmegaConf config."""
        if self._defaults is None:
            from .sources import load_defaults

            self._defaults = load_defaults(self.defaults_source, _anchor(self.fn))
        return self._defaults

    def _plain(self) -> Any:
        """Dict and YAML defaults as plain dicts (the fast path), or None for dataclasses."""
        if self._plain_defaults is _UNSET:
            from .plain import PlainDefaults
            from .sources import plain_mapping

            mapping = plain_mapping(self.defaults_source, _anchor(self.fn))
            self._plain_defaults = PlainDefaults(mapping) if mapping is not None else None
        return self._plain_defaults

    def is_flag(self, key: str) -> bool:
        """Whether ``--key`` alone means ``key=true`` (a boolean in the defaults)."""
        from omegaconf import OmegaConf
        from omegaconf.nodes import BooleanNode

        plain = self._plain()
        if plain is not None:
            from .plain import lookup

            return isinstance(lookup(plain.tree, key), bool)
        parent_key, _, last = key.rpartition(".")
        try:
            parent = (
                OmegaConf.select(self.defaults(), parent_key) if parent_key else self.defaults()
            )
            return isinstance(parent._get_node(last), BooleanNode)
        except Exception:  # not a key of the config: the merge says so, with a suggestion
            return False

    def _resolve(self, invocation: Invocation, recorder: Recorder) -> tuple[Any, dict[str, Any]]:
        """The merged config with every interpolation resolved, and the same as plain data."""
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        register()
        plain = self._plain()
        token = recording(recorder)
        try:
            if plain is not None:
                return _resolve_plain(plain.compose(invocation.files, invocation.overrides))
            from ..lock.runlock import resolved_container
            from .merge import compose

            cfg = compose(self.defaults(), invocation.files, invocation.overrides)
            OmegaConf.resolve(cfg)
            return cfg, resolved_container(cfg)
        except OmegaConfBaseException as exc:
            raise _resolution_error(exc) from None
        finally:
            stop_recording(token)


class Session:
    """One call of a ``clicfg`` main: its directories, logging, run params and lock."""

    def __init__(
        self,
        cfg: Any,
        container: dict[str, Any],
        recorder: Recorder,
        options: Mapping[str, Any],
        *,
        report: Reporter = log_notice,
    ) -> None:
        self.cfg = cfg
        self.container = container
        self.recorder = recorder
        self.options = options
        self.report = report
        self.snapshot: Mapping[str, Any] | None = None  # a sweep's tasks share the launch's
        self.lock_path: Path | None = None
        self.hashers: list[Any] = []
        self.written: Any = None  # (lock document, file signature) as this session wrote it
        self.naga_run: Any = None
        self.own_run: Any = None  # the run clicfg started (run=True), ended with main

    def prepare(self) -> None:
        """Everything before main; interrupted or failing half-way, it ends what it began (the
        lock gets its final status, hashers stop, a run it started ends)."""
        try:
            self._prepare()
        except BaseException as exc:
            from ..ending import decide

            ending = decide(exc)
            status, error = ending.status, ending.reason
            if isinstance(exc, NagaError):
                status, error = "failed", str(exc)
            try:
                self._finish(status, error)
            finally:
                if self.own_run is not None:
                    self.own_run.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def _prepare(self) -> None:
        container = self.container
        save_dir = self._save_dir(container)
        if save_dir is not None and self.options["logging"]:
            from ..logsetup import setup_logging

            setup_logging(save_dir)
        from ..lock.runlock import current_run_if_any

        self.naga_run = current_run_if_any()
        if self.naga_run is None and self.options["run"]:
            from ..sdk.run import Run

            option = self.options["run"]
            name = run_name(option, container) if isinstance(option, str) else None
            self.naga_run = self.own_run = Run(name=name).__enter__()
        if self.naga_run is not None:
            self.naga_run.log_params(container)
        if self.options["lock"]:
            self._write_first_lock(container, save_dir)

    def execute(self, fn: Callable[[Any], R]) -> R:
        """Run main with the config. Its ending (naga.ending: the stop signal first, then the
        exception) goes into run.lock and the naga run, and decides the exit code: Lightning's
        sys.exit(1) after Ctrl-C leaves as 130, its code-less SIGTERMException as 143."""
        from ..debug import unsafe_debug
        from ..ending import decide, exit_for
        from ..sdk.termination import GUARD

        token = recording(self.recorder)
        failure: BaseException | None = None
        GUARD.hold()  # SIGTERM/SIGHUP (Slurm's preemption) end main as cancelled, lock written
        try:
            return unsafe_debug(fn)(self.cfg)  # NAGA_DEBUG=1: a post-mortem where main raised
        except BaseException as exc:
            failure = exc
            raise
        finally:
            stop_recording(token)
            ending = decide(failure)
            try:
                self._finish(ending.status, ending.reason)
            except NagaError as exc:
                if failure is None:
                    raise  # main succeeded: the lock's failure is the news
                # main's own exception is the one to see; the lock's problem is one line
                self.report(Notice("warning", str(exc)))
            finally:
                try:
                    if self.own_run is not None:
                        tb = failure.__traceback__ if failure is not None else None
                        self.own_run.__exit__(type(failure) if failure else None, failure, tb)
                finally:
                    GUARD.release()
            replaced = exit_for(failure, ending) if failure is not None else None
            if replaced is not None:
                raise replaced

    def _save_dir(self, container: dict[str, Any]) -> Path | None:
        value = container.get("save_dir")
        if not value:
            if self.options["require_save_dir"]:
                raise ConfigError(
                    "this program needs an output directory and its config has no save_dir:"
                    " add `save_dir: runs/${naga.now:%Y%m%d-%H%M%S}` to the defaults, or pass"
                    " save_dir=DIR (+save_dir=DIR if the defaults lack the key)"
                )
            return None
        path = Path(os.fspath(value)).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create save_dir {path}: {exc.strerror or exc}") from None
        return path

    def _write_first_lock(self, container: dict[str, Any], save_dir: Path | None) -> None:
        from ..lock import lockfile, pending
        from ..lock.runlock import build, snapshot_repos, stage_summaries, write_lock

        if save_dir is not None:
            lock_path = save_dir / lockfile.LOCK_NAME
        elif self.naga_run is not None:
            lock_path = Path(self.naga_run.artifact_path(lockfile.LOCK_NAME))
        elif self.recorder.data or self.recorder.stages:
            raise ConfigError(
                "naga.track and naga.stage record into run.lock, which needs save_dir in the"
                " config (e.g. save_dir: runs/${naga.now:%Y%m%d-%H%M%S})"
            )
        else:
            return
        background = self.options["hash_in_background"]
        make_entry = pending.pending_entry if background else pending.done_entry
        self.recorder.entries = {key: make_entry(p) for key, p in self.recorder.data.items()}
        # a sweep's tasks record the snapshot taken once at launch
        repos = dict(self.snapshot) if self.snapshot is not None else None
        if repos is None:
            run_id = self.naga_run.id if self.naga_run else None
            outputs = [save_dir] if save_dir is not None else []
            repos = snapshot_repos(
                _recorded_repos(self.options["repos"]), run_id=run_id, outputs=outputs
            )
        doc = build(
            container,
            status="running",
            repos=repos,
            data=dict(self.recorder.entries),
            prevs=stage_summaries(self.recorder.stages),
            run_id=self.naga_run.id if self.naga_run else None,
        )
        self.written = write_lock(lock_path, doc, merge=False)
        self.lock_path = lock_path  # only now is there a lock for _finish to complete
        if background:
            for key, entry in self.recorder.entries.items():
                self.hashers.append(pending.start(str(self.lock_path), key, entry))

    def _finish(self, status: str, error: str | None) -> None:
        if self.lock_path is None:
            return
        from ..lock import lockfile
        from ..lock.runlock import attach
        from ..store.timefmt import iso_from_ts

        for hasher in self.hashers:
            hasher.finish(wait=status == "completed")
        if not self.lock_path.parent.is_dir():
            # main removed its own output directory: bringing it back would undo what it did
            from logging import getLogger

            getLogger("naga").warning("%s was removed: run.lock not written", self.lock_path.parent)
            return
        now = iso_from_ts(time.time())

        def final(doc: dict[str, Any] | None) -> dict[str, Any]:
            if doc is None:  # deleted while main ran: the run still gets its record
                doc = self._first_lock()
            doc.update(status=status, finished_at=now, updated_at=now)
            if error:
                doc["error"] = error
            return doc

        try:
            written = lockfile.update(self.lock_path, final, known=self.written)
        except LockError as exc:  # made unreadable while main ran (edited by hand?)
            from logging import getLogger

            getLogger("naga").warning("%s; rewritten from what this run recorded", exc)
            written = final(None)
            lockfile.replace(self.lock_path, written)
        if self.naga_run is not None and not _inside(self.lock_path, self.naga_run):
            attach(self.naga_run, written)

    def _first_lock(self) -> dict[str, Any]:
        """The lock as this session first wrote it; its pending data entries stay unfinished
        (their hashers found no lock to complete)."""
        doc: dict[str, Any] = copy.deepcopy(self.written[0])
        for entry in (doc.get("data") or {}).values():
            if isinstance(entry, dict) and entry.get("status") == "pending":
                entry.update(status="incomplete", error="run.lock was deleted while hashing")
        return doc


def _recorded_repos(repos: Any) -> Mapping[str, Any]:
    """The repositories a ``repos=`` option names: ``AUTO`` is the one holding the working
    directory, if any."""
    if repos != AUTO:
        return repos or {}
    return {"main": "."} if _in_git_repo(Path.cwd()) else {}


def _in_git_repo(path: Path) -> bool:
    return any((folder / ".git").exists() for folder in (path, *path.parents))


def _override_text(key: str, value: Any, add: bool) -> str:
    """``key=value`` that the command line reads back as this very value."""
    text = value if isinstance(value, str) else _flow(value)
    if isinstance(value, str) and not _reads_back(text, value):
        text = _flow(value)
    return f"{'+' if add else ''}{key}={text}"


# what YAML refuses to read raw or reads as a line break, even in a quoted string: escaped
_NOT_PRINTABLE = re.compile(
    "[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


def _flow(value: Any) -> str:
    """``value`` in YAML's flow style, which a command-line value is read as: JSON, except
    infinities and NaN, and characters JSON leaves raw that YAML refuses."""
    import json
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, str):
        quoted = json.dumps(value, ensure_ascii=False)  # an astral character stays whole
        return _NOT_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_flow(str(k))}: {_flow(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _reads_back(text: str, value: Any) -> bool:
    try:
        return bool(parse_value(text) == value)
    except ConfigError:  # "[abc" is no YAML at all
        return False


def _resolve_plain(merged: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Build the config once, resolve only the values that hold interpolations, and write the
    results into both the config and the plain data."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    from .plain import interpolated_keys, resolve_simple, set_value

    resolve_simple(merged)
    cfg = OmegaConf.create(merged)
    resolved = {}
    for key in list(interpolated_keys(merged)):
        value = OmegaConf.select(cfg, key, throw_on_missing=True)
        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value, resolve=True)
        resolved[key] = value
    for key, value in resolved.items():
        OmegaConf.update(cfg, key, value, merge=False)
        set_value(merged, key, value)
    OmegaConf.set_struct(cfg, True)
    return cfg, merged


def run_name(template: str, config: dict[str, Any]) -> str:
    """``run="train-${model.name}"``: the run's name with the config's values put in, so a
    program's runs are not all called ``train``. A key the config lacks is a ConfigError."""
    import re

    def value(match: re.Match[str]) -> str:
        node: Any = config
        for part in match.group(1).strip().split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise ConfigError(
                    f'run="{template}": the config has no key {match.group(1).strip()}'
                )
        return str(node)

    return re.sub(r"\$\{([^}]*)\}", value, template)


def _inside(path: Path, run: Any) -> bool:
    return os.path.abspath(path).startswith(os.path.abspath(run.dir) + os.sep)


def _resolution_error(exc: BaseException) -> NagaError:
    """The user's own error raised in a resolver, or OmegaConf's first line."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, NagaError):
            return ConfigError(str(seen))
        seen = seen.__cause__ or seen.__context__
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    key = getattr(exc, "full_key", None)
    return ConfigError(f"{key}: {reason}" if key else reason)


def _anchor(fn: Callable[..., Any]) -> Path:
    """Where a relative defaults file is read from: the directory of the program's source."""
    try:
        source = inspect.getsourcefile(fn)
    except TypeError:
        source = None
    return Path(source).resolve().parent if source else Path.cwd()


__all__ = ["ConfiguredMain", "Override"]  # the decorator, clicfg, is in frontend.py
