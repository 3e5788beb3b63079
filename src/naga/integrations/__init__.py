"""Bridges to the researcher's stack: MLflow, PyTorch Lightning, Hydra.

Each bridge needs an optional extra; ``require_extra`` turns its absence into one line that
says what to install, instead of an ImportError traceback from deep inside naga.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingExtra


def require_extra(module: str, extra: str) -> ModuleType:
    """Import ``module``, or raise ``MissingExtra`` naming ``pip install 'naga-runs[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the package is there but broken inside: its own error says more
        raise MissingExtra(
            f"this needs {module.split('.')[0]}, which is not installed: "
            f"pip install 'naga-runs[{extra}]'"
        ) from None


__all__ = ["MissingExtra", "require_extra"]
