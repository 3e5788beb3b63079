"""What a config's resolvers recorded for ``run.lock``: data paths and previous stages.

``${naga.track:...}`` and ``${naga.stage:...}`` (``naga.config.resolvers``) note what they name
in the current :class:`Recorder`; ``clicfg`` opens one per call, and ``naga.runlock(cfg)`` reads
the current one. It lives with the lock, which it feeds, so ``naga.lock`` never imports the
config layer above it.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any


class Recorder:
    """Data paths and previous stages named by the resolvers of one config."""

    def __init__(self, *, validate: bool = True, status: str = "completed") -> None:
        self.now = time.time()
        self.data: dict[str, str] = {}  # config key -> absolute path
        self.stages: dict[str, str] = {}  # config key -> absolute stage dir
        self.validate = validate  # --print-config resolves without checking or hashing
        self.status = status  # what runlock() writes: clicfg says "running" until main returns
        self.entries: dict[str, dict[str, Any]] = {}  # data entries already in the lock


_process_recorder = Recorder()
_recorder: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "naga_config_recorder", default=None
)


def current_recorder() -> Recorder:
    return _recorder.get() or _process_recorder


def recording(recorder: Recorder) -> contextvars.Token[Recorder | None]:
    return _recorder.set(recorder)


def stop_recording(token: contextvars.Token[Recorder | None]) -> None:
    _recorder.reset(token)


__all__ = ["Recorder", "current_recorder", "recording", "stop_recording"]
