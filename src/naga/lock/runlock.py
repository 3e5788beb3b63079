"""``naga.runlock``: write what a run was made of into ``run.lock``.

The resolved config; the commit, branch and dirty flag of each repository, with a snapshot
commit of its working tree; the content hash of each data path; the summary of each previous
stage's own lock; naga's version, the command, timestamps and an environment summary.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

from .._version import __version__
from ..errors import ConfigError
from ..redact import MASK, is_secret_value, mask_argv, redact_text
from ..store.timefmt import iso_from_ts
from . import lockfile
from .recorder import Recorder, current_recorder

PathArg = Union[str, "os.PathLike[str]"]  # an alias evaluated at run time
LockPath = Union[PathArg, Callable[[Any], PathArg]]  # noqa: UP007


def runlock(
    config: Any,
    repos: Mapping[str, PathArg] | None = None,
    data: Mapping[str, PathArg] | None = None,
    prevs: Sequence[PathArg] | Mapping[str, PathArg] | None = None,
    runlock_path: LockPath | None = None,
    merge: bool = False,
) -> Path:
    """Write ``run.lock`` for ``config`` and return its path.

    ``repos`` maps a name to a git repository (``{"main": ".", "lib": "../mylib"}``), ``data`` a
    name to a file or directory to hash, ``prevs`` lists previous stage directories (each must
    hold a completed ``run.lock``). The lock goes to ``runlock_path`` (a path, or a function of
    the config), by default ``<config.save_dir>/run.lock``. ``merge=True`` updates an existing
    lock instead of replacing it, under a file lock, so concurrent writers lose nothing.
    """
    resolved = resolved_container(config)
    recorder = current_recorder()
    path = lock_path_for(config, resolved, runlock_path)
    run = current_run_if_any()
    doc = build(
        resolved,
        status=recorder.status,
        repos=snapshot_repos(
            repos or {},
            run_id=run.id if run else None,
            outputs=[Path(path).parent] if runlock_path is None else [],  # the save_dir
        ),
        data={
            **_recorded_data(recorder),
            **{k: done_entry(os.fspath(v)) for k, v in (data or {}).items()},
        },
        prevs={**stage_summaries(recorder.stages), **stage_summaries(_named(prevs))},
        run_id=run.id if run else None,
    )
    written, _ = write_lock(path, doc, merge=merge)
    if run is not None:
        attach(run, written)
    return path


def resolved_container(config: Any) -> dict[str, Any]:
    """The config as plain data, every interpolation resolved (resolvers run now, if not yet)."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(config, Mapping) and not isinstance(config, DictConfig):
        config = OmegaConf.create(dict(config))
    elif not isinstance(config, DictConfig):
        try:
            config = OmegaConf.structured(config)
        except Exception as exc:
            raise ConfigError(
                f"runlock needs a config (OmegaConf, dict or dataclass): {exc}"
            ) from None
    container = OmegaConf.to_container(config, resolve=True, enum_to_str=True)
    assert isinstance(container, dict)
    plain: dict[str, Any] = _plain(container)
    return plain


def lock_path_for(config: Any, resolved: Mapping[str, Any], explicit: LockPath | None) -> Path:
    if explicit is not None:
        target = explicit(config) if callable(explicit) else explicit
        return Path(os.fspath(target)).expanduser()
    save_dir = resolved.get("save_dir")
    if not save_dir:
        raise ConfigError(
            "the config has no save_dir, so run.lock has nowhere to go: add save_dir to the"
            " config (e.g. save_dir: runs/${naga.now:%Y%m%d-%H%M%S}) or pass runlock_path="
        )
    return Path(os.fspath(save_dir)).expanduser() / lockfile.LOCK_NAME


def build(
    config: dict[str, Any],
    *,
    status: str,
    repos: dict[str, Any],
    data: dict[str, Any],
    prevs: dict[str, Any],
    run_id: str | None,
    error: str | None = None,
) -> dict[str, Any]:
    now = iso_from_ts(time.time())
    doc: dict[str, Any] = {
        "lock_version": lockfile.LOCK_VERSION,
        "naga_version": __version__,
        "status": status,
        "created_at": now,
        "updated_at": now,
        "finished_at": now if status != "running" else None,
        "run_id": run_id,
        "owner": _owner(),
        "save_dir": _abs(config.get("save_dir")),
        "command": _plain(mask_argv(list(getattr(sys, "orig_argv", sys.argv)))),
        "cwd": os.getcwd(),
        "environment": environment_summary(),
        "config": _plain(config),
        "repos": repos,
        "data": data,
        "prevs": prevs,
    }
    if error:
        doc["error"] = error
    return doc


def write_lock(
    path: Path, doc: dict[str, Any], *, merge: bool
) -> tuple[dict[str, Any], lockfile.Signature | None]:
    """Write (or merge) the lock; returns what was written and the file's signature."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    if not merge:
        return doc, lockfile.replace(path, doc)
    written = lockfile.update(path, lambda old: lockfile.merge(old, doc) if old else doc)
    return written, lockfile.signature(path)


def attach(run: Any, doc: dict[str, Any]) -> None:
    """Put a copy of the lock just written among the run's artifacts (atomically, like the
    lock itself)."""
    lockfile.write(run.artifact_path(lockfile.LOCK_NAME), doc)


def snapshot_repos(
    repos: Mapping[str, PathArg], run_id: str | None, outputs: Sequence[PathArg] = ()
) -> dict[str, Any]:
    """Each repository's state and snapshot commit, kept alive by a ref named after the naga
    run (``refs/naga/snapshots/<run-id>``), or after this lock when no run records it, so
    ``git gc`` never drops the code a lock points to. The run's own ``outputs`` (its save_dir:
    logs, checkpoints) are not code, and stay out of the snapshot even when git sees them."""
    if not repos:
        return {}
    from ..snapshot import SNAPSHOT_REFS
    from ..snapshot import snapshot_repos as take
    from ..store.files import new_id

    ref_id = run_id or f"lock-{new_id()}"
    excluded = [os.path.abspath(os.fspath(p)) for p in outputs] or None
    states = take(
        {name: os.fspath(p) for name, p in repos.items()}, run_id=ref_id, exclude=excluded
    )
    for state in states.values():
        state["ref"] = SNAPSHOT_REFS + ref_id
    return states


def environment_summary() -> dict[str, Any]:
    from ..capture.environment import selected_env
    from ..store.liveness import hostname, user_name

    return {
        "host": hostname(),
        "user": user_name(),
        "platform": _platform(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "env": selected_env(),
    }


def done_entry(path: str) -> dict[str, Any]:
    from .pending import done_entry as hashed_now

    return hashed_now(path)


def _recorded_data(recorder: Recorder) -> dict[str, Any]:
    """Data named by ``${naga.track:...}``: the lock's current entry (pending or done) when
    clicfg already made one, else hashed now."""
    return {
        key: recorder.entries.get(key) or done_entry(path) for key, path in recorder.data.items()
    }


def stage_summaries(stages: Mapping[str, PathArg]) -> dict[str, Any]:
    if not stages:
        return {}
    from .stages import load_stage_from_path

    return {
        key: load_stage_from_path(path, require_completed=True, key=key).summary()
        for key, path in stages.items()
    }


def _named(prevs: Sequence[PathArg] | Mapping[str, PathArg] | None) -> dict[str, PathArg]:
    if prevs is None:
        return {}
    if isinstance(prevs, Mapping):
        return dict(prevs)
    if isinstance(prevs, (str, os.PathLike)):
        prevs = [prevs]  # one stage given bare: not a sequence of characters
    return {os.fspath(p): p for p in prevs}


def _platform() -> str:
    # os.uname, not platform.platform(): that one costs 25 ms (it reads the interpreter's binary)
    system = os.uname()
    return f"{system.sysname}-{system.release}-{system.machine}"


def _owner() -> dict[str, Any]:
    from ..store.liveness import identity

    return identity()


def current_run_if_any() -> Any:
    """The naga run this code records into, if any: a ``naga.run()`` open in this process, or
    the wrapper's run under ``naga run``. The SDK is imported only when one can exist."""
    if "naga.sdk.run" not in sys.modules and not os.environ.get("NAGA_RUN_ID"):
        return None
    from ..sdk.run import current_run

    return current_run(required=False)


def _abs(path: Any) -> str | None:
    return os.path.abspath(os.path.expanduser(os.fspath(path))) if path else None


def _plain(value: Any) -> Any:
    """Only what YAML's safe dumper writes (paths and other objects as text), with the
    credentials of URLs masked: a lock is meant to be shared."""
    if isinstance(value, dict):
        return {str(k): MASK if is_secret_value(k, v) else _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)
