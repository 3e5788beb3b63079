"""The module-level SDK: ``naga.run``, ``naga.log`` and friends, acting on the current run.

With ``NAGA_DISABLED=1`` every call here is a cheap no-op (``naga.run()`` gives a run that
records nothing), for code that must also run without tracking.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from .run import Run, current_run, disabled


class DisabledRun:
    """What ``naga.run()`` gives under NAGA_DISABLED=1: the Run interface, recording nothing."""

    id = None
    status = "disabled"

    def __init__(self, name: str | None = None, params: Mapping[str, Any] | None = None,
                 tags: Any = None, **_: Any) -> None:  # fmt: skip
        from .values import flatten

        self._params = flatten(params or {})
        self._tmp: str | None = None

    def __enter__(self) -> DisabledRun:
        return self

    def start(self) -> DisabledRun:
        return self

    def __exit__(self, *_: object) -> Literal[False]:
        return False

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        pass

    def log_params(self, params: Mapping[str, Any]) -> None:
        from .values import flatten

        self._params.update(flatten(params))

    def get_params(self) -> dict[str, Any]:
        return dict(self._params)

    def get_param(self, key: str, default: Any = None) -> Any:
        return self._params.get(key, default)

    def flush(self) -> None:
        pass

    def complete(self) -> None:
        pass

    def fail(self, message: str = "failed") -> None:
        pass

    def cancel(self, message: str = "cancelled") -> None:
        pass

    @property
    def dir(self) -> Path:
        if self._tmp is None:
            import tempfile

            self._tmp = tempfile.mkdtemp(prefix="naga-disabled-")
        return Path(self._tmp)

    def artifact_path(self, name: str) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> Path:
        return Path(path)

    def log_text(self, text: str, name: str) -> Path:
        return self.artifact_path(name)

    def log_figure(self, figure: Any, name: str, **savefig: Any) -> Path:
        return self.artifact_path(name)


def run(
    name: str | Callable[..., Any] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
    *,
    sys_interval: float | None = None,
    resume: str | None = None,
) -> Any:
    """A run: ``with naga.run(name=..., params=..., tags=...) as run:``, or ``@naga.run``.

    Under ``naga run`` it attaches to that run; inside another ``naga.run()`` it is a child run.
    ``resume=ID`` continues run ID as a new attempt (a preempted task picked up again): its
    record lists the attempts, and the steps it logs again supersede the earlier ones.
    """
    if callable(name):  # @naga.run without parentheses
        return run()(name)
    if disabled():
        return DisabledRun(name, params, tags)
    return Run(name, params, tags, sys_interval=sys_interval, resume=resume)


def _run() -> Any:
    return current_run(required=True) or DisabledRun()


def log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log metrics to the current run (see ``Run.log``)."""
    found = current_run(required=True)
    if found is not None:
        found.log(metrics, step)


def log_params(params: Mapping[str, Any]) -> None:
    _run().log_params(params)


def get_params() -> dict[str, Any]:
    params: dict[str, Any] = _run().get_params()
    return params


def get_param(key: str, default: Any = None) -> Any:
    return _run().get_param(key, default)


def flush() -> None:
    _run().flush()


def complete() -> None:
    _run().complete()


def fail(message: str = "failed") -> None:
    _run().fail(message)


def cancel(message: str = "cancelled") -> None:
    _run().cancel(message)


def log_artifact(path: str | os.PathLike[str], name: str | None = None) -> Path:
    found: Path = _run().log_artifact(path, name)
    return found


def log_text(text: str, name: str) -> Path:
    found: Path = _run().log_text(text, name)
    return found


def log_figure(figure: Any, name: str, **savefig: Any) -> Path:
    found: Path = _run().log_figure(figure, name, **savefig)
    return found


def artifact_path(name: str) -> Path:
    found: Path = _run().artifact_path(name)
    return found


def active_run() -> Run | None:
    """The run naga.log() would use, or None; unlike naga.log(), never attaches to the
    wrapper's run by itself."""
    from .run import _open_run

    return _open_run()
