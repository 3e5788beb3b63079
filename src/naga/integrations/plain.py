"""Hyperparameters and configs as plain, JSON-safe params, whatever shape they came in.

Lightning hands loggers an ``AttributeDict`` or a ``Namespace`` that may hold dataclasses,
OmegaConf nodes, tensors, classes and callables; Hydra hands callbacks a ``DictConfig`` with
interpolations. naga stores params as JSON, so everything is made plain here, once, for both.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

TEXT_LIMIT = 500  # a param shown by `naga show` is a value, not a dump of a model


def plain_params(params: Any) -> dict[str, Any]:
    """``params`` (a dict, Namespace, dataclass or OmegaConf config) as a plain nested dict."""
    value = plain(params)
    if isinstance(value, dict):
        return value
    raise TypeError(f"params must be a dict, Namespace, dataclass or config, not {type(params)}")


def plain(value: Any) -> Any:
    """``value`` made of dicts, lists, str, int, float, bool and None only."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if _is_omegaconf(value):
        return plain(_omegaconf_container(value))
    if isinstance(value, Namespace):
        return plain(vars(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return _scalar_or_text(value)


def _is_omegaconf(value: Any) -> bool:
    return type(value).__module__.startswith("omegaconf.")


def _omegaconf_container(value: Any) -> Any:
    """The config resolved; one whose interpolations cannot resolve here is kept as written."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(value, resolve=True)
    except OmegaConfBaseException:
        return OmegaConf.to_container(value, resolve=False)


def _scalar_or_text(value: Any) -> Any:
    """A one-element tensor or numpy value as its number; a class or function by its name;
    anything else as (at most TEXT_LIMIT characters of) its text."""
    if _element_count(value) == 1 and callable(getattr(value, "item", None)):
        try:
            return plain(value.item())
        except (TypeError, ValueError, RuntimeError):
            pass
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}".lstrip(".")
    text = str(value)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 3] + "..."


def _element_count(value: Any) -> int | None:
    numel = getattr(value, "numel", None)  # torch
    if callable(numel):
        try:
            return int(numel())
        except (TypeError, ValueError, RuntimeError):
            return None
    size = getattr(value, "size", None)  # numpy
    return size if isinstance(size, int) else None
