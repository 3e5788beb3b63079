"""Where a ``clicfg`` config starts: defaults given as a dataclass, a dict, a YAML file or a
hydra-zen config, and the ``--config`` files merged over them.

Defaults from a dict or a YAML file are typed from their values (``lr: 0.01`` accepts floats
only), so ``lr=abc`` is refused whatever the defaults were written in, as a dataclass would.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.nodes import AnyNode, BooleanNode, FloatNode, IntegerNode, StringNode, ValueNode

from ..errors import ConfigError


def load_defaults(defaults: Any, anchor: Path) -> DictConfig:
    """The defaults as a struct-mode config; a relative YAML path is read from ``anchor``
    (the directory of the program that declared it)."""
    mapping = plain_mapping(defaults, anchor)
    if mapping is not None:
        cfg = _typed_config(mapping)
    elif isinstance(defaults, DictConfig):  # a structured one keeps its declared types
        cfg = defaults.copy()
    else:  # dataclasses, hydra-zen builds()/make_config()
        cfg = _structured(defaults)
    OmegaConf.set_struct(cfg, True)
    return cfg


def plain_mapping(defaults: Any, anchor: Path) -> dict[str, Any] | None:
    """Defaults that are plain data (a dict, a YAML file, an untyped DictConfig), as a dict;
    None for dataclasses and hydra-zen configs, which OmegaConf must type-check itself."""
    if defaults is None:
        return {}
    if isinstance(defaults, DictConfig):
        if OmegaConf.get_type(defaults) is not dict:
            return None
        container = OmegaConf.to_container(defaults, resolve=False)
        assert isinstance(container, dict)
        return {str(k): v for k, v in container.items()}
    if isinstance(defaults, Mapping) and not dataclasses.is_dataclass(defaults):
        return dict(defaults)
    if isinstance(defaults, (str, os.PathLike)):
        path = Path(defaults)
        return load_mapping(path if path.is_absolute() else anchor / path)
    if dataclasses.is_dataclass(defaults):
        return None
    raise ConfigError(
        "clicfg defaults must be a dataclass, a dict, a YAML file or a hydra-zen config,"
        f" not {type(defaults).__name__}"
    )


def load_mapping(path: Path) -> dict[str, Any]:
    """A YAML config file's top-level mapping; one clear line if it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {_reason(exc)}") from None
    try:
        loaded = OmegaConf.create(text) if text.strip() else OmegaConf.create({})
    except Exception as exc:  # yaml.YAMLError and OmegaConf's own errors
        raise ConfigError(f"config file {path} is not valid YAML: {_reason(exc)}") from None
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"config file {path} must hold a mapping (key: value), not a list")
    container = OmegaConf.to_container(loaded, resolve=False)
    assert isinstance(container, dict)
    return {str(key): value for key, value in container.items()}


def _structured(defaults: Any) -> DictConfig:
    try:
        cfg = OmegaConf.structured(defaults)
    except Exception as exc:  # an unsupported field type, say
        raise ConfigError(f"cannot use {defaults!r} as a config: {_reason(exc)}") from None
    assert isinstance(cfg, DictConfig)
    _type_untyped_fields(cfg)
    return cfg


def _type_untyped_fields(cfg: DictConfig) -> None:
    """Give a field typed ``Any`` the type of its default: hydra-zen's ``make_config(seed=0)``
    declares ``seed: Any = 0``, which would take ``seed=abc`` silently. A field whose default
    is None, an interpolation or ``???`` stays open, as do lists and other values."""
    for key in list(cfg.keys()):
        node = cfg._get_node(key)
        if isinstance(node, DictConfig):
            if not node._is_none() and not node._is_missing():
                _type_untyped_fields(node)
            continue
        if not isinstance(node, AnyNode) or node._is_interpolation() or node._is_missing():
            continue
        value = node._value()
        node_type = _NODE_TYPES.get(type(value))
        if node_type is not None:
            cfg[key] = node_type(value)


def _typed_config(mapping: Any) -> DictConfig:
    for key in mapping:
        if not isinstance(key, str):
            raise ConfigError(f"config keys must be strings, not {key!r}")
    cfg = OmegaConf.create({key: _typed(value) for key, value in mapping.items()})
    assert isinstance(cfg, DictConfig)
    return cfg


def _typed(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _typed_config(value)
    if isinstance(value, (list, tuple, ListConfig)):
        return list(value)
    if isinstance(value, str) and ("${" in value or value == "???"):
        return AnyNode(value)  # an interpolation may resolve to any type; ??? is still unset
    node_type = _NODE_TYPES.get(type(value))
    return node_type(value) if node_type is not None else value


_NODE_TYPES: dict[type, Callable[[Any], ValueNode]] = {
    bool: BooleanNode,
    int: IntegerNode,
    float: FloatNode,
    str: StringNode,
}


def _reason(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
