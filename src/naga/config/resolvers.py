"""naga's OmegaConf resolvers, and what they record while a config resolves.

- ``${naga.now:%Y%m%d-%H%M%S}``: the time the config was resolved, the same everywhere in it,
  so ``save_dir: runs/${data.name}/${naga.now:%Y%m%d-%H%M%S}`` names one directory.
- ``${naga.track:data/train}``: returns the path and records it, under its config key, as data
  whose content hash goes into ``run.lock``.
- ``${naga.stage:runs/prep}``: checks that a previous stage finished (its ``run.lock`` exists and
  says ``completed``), records it as a previous stage, and returns the path.

What they record goes to the current ``Recorder`` (``naga.lock.recorder``: it is run.lock's, so
the lock never imports the config layer): ``clicfg`` opens one per call and writes it into
``run.lock``; outside ``clicfg``, ``naga.runlock(cfg)`` picks up the process-wide one.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..errors import ConfigError
from ..lock.recorder import current_recorder

DEFAULT_TIME_FORMAT = "%Y%m%d-%H%M%S"


def register() -> None:
    """Register the resolvers once per process (OmegaConf keeps them globally)."""
    import omegaconf
    from omegaconf import OmegaConf

    # 2.4 renamed register_new_resolver (with a warning on the old name); before 2.4,
    # register_resolver is the legacy string-only API
    modern = tuple(int(p) for p in omegaconf.__version__.split(".")[:2]) >= (2, 4)
    register_one: Any = OmegaConf.register_resolver if modern else OmegaConf.register_new_resolver
    for name, function in (("naga.now", _now), ("naga.track", _track), ("naga.stage", _stage)):
        if not OmegaConf.has_resolver(name):
            register_one(name, function, use_cache=False)


def _now(fmt: str = DEFAULT_TIME_FORMAT) -> str:
    return time.strftime(fmt, time.localtime(current_recorder().now))


def _track(path: Any, _node_: Any = None) -> str:
    recorder = current_recorder()
    text = _path_argument("naga.track", path)
    key = _key_of(_node_) or text
    if recorder.validate:
        if not os.path.lexists(text):
            raise ConfigError(f"{key}: data path {text} does not exist (tracked by naga.track)")
        recorder.data[key] = os.path.abspath(text)
    return text


def _stage(path: Any, _node_: Any = None) -> str:
    recorder = current_recorder()
    text = _path_argument("naga.stage", path)
    key = _key_of(_node_) or text
    if recorder.validate:
        from ..lock.stages import load_stage_from_path

        stage = load_stage_from_path(text, require_completed=True, key=key)
        recorder.stages[key] = str(stage.path)
    return text


def _path_argument(resolver: str, path: Any) -> str:
    if not isinstance(path, str) or not path:
        raise ConfigError(f"${{{resolver}:PATH}} needs a path, not {path!r}")
    return os.path.expanduser(path)


def _key_of(node: Any) -> str | None:
    try:
        return str(node._get_full_key(None)) or None
    except Exception:  # a resolver called outside a config node
        return None
