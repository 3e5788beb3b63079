"""naga: zero-config experiment tracking and reproducibility for machine-learning research.

Wrap any command with ``naga run`` to record it, or record from Python::

    import naga

    with naga.run(name="baseline", params={"lr": 0.01}) as run:
        for step in range(100):
            run.log({"loss": 1 / (step + 1)}, step=step)

Everything but the version and the errors is imported on first use, so ``import naga`` stays
cheap for code that only sometimes records.
"""

from __future__ import annotations

from ._version import __version__
from .errors import BadArtifactName, ConfigError, LockError, NagaError, NoActiveRun, Pruned

TYPE_CHECKING = False
if TYPE_CHECKING:  # what __getattr__ below loads on first use, for type checkers
    from typing import Any

    from . import snapshot  # noqa: F401
    from .config.frontend import clicfg  # noqa: F401
    from .debug import unsafe_debug  # noqa: F401
    from .hashing import DataHash, hash_data  # noqa: F401
    from .integrations.mlflow import mlflow_lock  # noqa: F401
    from .lock.runlock import runlock  # noqa: F401
    from .lock.stages import Stage, load_stage_from_path  # noqa: F401
    from .logsetup import setup_logging  # noqa: F401
    from .sdk.api import (  # noqa: F401
        active_run,
        artifact_path,
        cancel,
        complete,
        fail,
        flush,
        get_param,
        get_params,
        log,
        log_artifact,
        log_figure,
        log_params,
        log_text,
        run,
    )
    from .sdk.records import RunRecord, Series, load, runs  # noqa: F401
    from .sdk.run import Run  # noqa: F401

_LAZY = {
    "naga.sdk.api": (
        "active_run",
        "artifact_path",
        "cancel",
        "complete",
        "fail",
        "flush",
        "get_param",
        "get_params",
        "log",
        "log_artifact",
        "log_figure",
        "log_params",
        "log_text",
        "run",
    ),
    "naga.sdk.records": ("RunRecord", "Series", "load", "runs"),
    "naga.sdk.run": ("Run",),
    "naga.config.frontend": ("clicfg",),
    "naga.lock.runlock": ("runlock",),
    "naga.lock.stages": ("Stage", "load_stage_from_path"),
    "naga.hashing": ("DataHash", "hash_data"),
    "naga.logsetup": ("setup_logging",),
    "naga.debug": ("unsafe_debug",),
    "naga.integrations.mlflow": ("mlflow_lock",),
}
_SUBMODULES = ("snapshot",)  # naga.snapshot.commit_cwd(...) works after a bare `import naga`
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "BadArtifactName",
    "ConfigError",
    "LockError",
    "NagaError",
    "NoActiveRun",
    "Pruned",
    "__version__",
    *sorted(_MODULE_OF),
    *_SUBMODULES,
]


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"naga.{name}")
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'naga' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
