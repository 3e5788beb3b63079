"""Strict merging: defaults < config files < overrides, each change checked before it lands.

An unknown key is refused with the closest existing key as a suggestion, a value of the wrong
type with the type the key expects, and a key still ``???`` after every layer with how to set
it. Config files are flattened to the same leaf overrides as the command line, so a typo in a
file is caught exactly like a typo on the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from omegaconf.nodes import BooleanNode, EnumNode, FloatNode, IntegerNode, StringNode

from ..errors import ConfigError, NagaError
from .overrides import Override, flatten
from .plain import missing_message, unknown_key_message
from .sources import load_mapping


def compose(base: DictConfig, files: Sequence[str], overrides: Sequence[Override]) -> DictConfig:
    """``base`` with each file, then each override, merged in order (``base`` is not changed)."""
    cfg = base.copy()
    OmegaConf.set_struct(cfg, True)
    for name in files:
        path = Path(name).expanduser()
        layer = [Override(k, v, False, f"from {name}") for k, v in load_mapping(path).items()]
        apply(cfg, layer)
    apply(cfg, overrides)
    check_complete(cfg)
    return cfg


def apply(cfg: DictConfig, overrides: Sequence[Override]) -> None:
    for override in overrides:  # one by one: an earlier override may have made a group
        for item in flatten([override], lambda key: _holds_value(cfg, key)):
            _apply_one(cfg, item)


def _apply_one(cfg: DictConfig, item: Override) -> None:
    _fill_null_groups(cfg, item.key)
    if not item.add:
        check_exists(cfg, item)
    target = _node(cfg, item.key)
    # OmegaConf cannot merge into a null node (it fails inside); a value replaces it instead
    merge = not (isinstance(target, (DictConfig, ListConfig)) and target._is_none())
    try:
        OmegaConf.update(cfg, item.key, item.value, merge=merge, force_add=item.add)
    except OmegaConfBaseException as exc:
        raise ConfigError(_type_message(cfg, item, exc)) from None


def _holds_value(cfg: DictConfig, key: str) -> bool:
    """Whether ``key`` exists and holds a value (null included) rather than a group; a null
    dataclass-typed group (``Optional[Optim] = None``) is a group, filled in when set."""
    node = _node(cfg, key)
    if not isinstance(node, DictConfig):
        return node is not None
    return node._is_none() and _null_group_type(node) is None


def _fill_null_groups(cfg: DictConfig, key: str) -> None:
    """Give a null dataclass-typed group on the way to ``key`` its declared defaults, so
    ``optim.lr=0.1`` sets one field of an ``Optional[Optim] = None`` and keeps the others."""
    parts = key.split(".")
    for depth in range(1, len(parts)):
        prefix = ".".join(parts[:depth])
        node = _node(cfg, prefix)
        group_type = _null_group_type(node) if isinstance(node, DictConfig) else None
        if group_type is not None:
            OmegaConf.update(cfg, prefix, OmegaConf.structured(group_type), merge=False)


def _null_group_type(node: DictConfig) -> type | None:
    ref_type = node._metadata.ref_type
    is_null_dataclass = node._is_none() and dataclasses.is_dataclass(ref_type)
    return ref_type if is_null_dataclass and isinstance(ref_type, type) else None


def check_exists(cfg: DictConfig, item: Override) -> None:
    node: Any = cfg
    parts = item.key.split(".")
    for depth, part in enumerate(parts):
        here = ".".join(parts[: depth + 1])
        if isinstance(node, DictConfig):
            if part not in node.keys():  # noqa: SIM118 - `in` skips ??? keys
                raise ConfigError(unknown_key_message(all_keys(cfg), item, here))
            node = node._get_node(part)
        elif isinstance(node, ListConfig):
            if not (part.isdigit() and int(part) < len(node)):
                raise ConfigError(f"{here}: {parts[depth - 1]} has no item {part} ({item.text})")
            node = node._get_node(int(part))
        else:
            parent = ".".join(parts[:depth])
            raise ConfigError(f"{parent} is a value, not a group, so {item.key} does not exist")
        is_leaf = node is not None and not isinstance(node, (DictConfig, ListConfig))
        if is_leaf and depth < len(parts) - 1:
            raise ConfigError(f"{here} is a value, not a group, so {item.key} does not exist")


def check_complete(cfg: DictConfig) -> None:
    missing = sorted(_missing(cfg))
    if missing:
        raise ConfigError(missing_message(missing))


def _missing(cfg: Any, prefix: str = "") -> Iterator[str]:
    """Keys still ``???``, found without resolving anything (an interpolation to a missing
    value would raise instead of naming the key)."""
    if isinstance(cfg, DictConfig):
        items: Any = ((str(k), cfg._get_node(k)) for k in cfg.keys())  # noqa: SIM118
    else:
        items = ((str(i), cfg._get_node(i)) for i in range(len(cfg)))
    for key, node in items:
        if node is None:
            continue
        if node._is_missing():
            yield f"{prefix}{key}"
        elif isinstance(node, (DictConfig, ListConfig)) and not node._is_none():
            yield from _missing(node, f"{prefix}{key}.")


def all_keys(cfg: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key in a config, groups and leaves."""
    if isinstance(cfg, DictConfig):
        items: Any = ((str(k), cfg._get_node(k)) for k in cfg.keys())  # noqa: SIM118
    elif isinstance(cfg, ListConfig):
        items = ((str(i), cfg._get_node(i)) for i in range(len(cfg)))
    else:
        return
    for key, node in items:
        full = f"{prefix}{key}"
        yield full
        if isinstance(node, (DictConfig, ListConfig)) and not node._is_missing():
            yield from all_keys(node, f"{full}.")


_TYPE_NAMES = {
    BooleanNode: "a bool",
    IntegerNode: "an int",
    FloatNode: "a float",
    StringNode: "a string",
}


def _type_message(cfg: DictConfig, item: Override, exc: OmegaConfBaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, NagaError):
        return str(cause)
    node = _node(cfg, item.key)
    expected = _TYPE_NAMES.get(type(node))
    if isinstance(node, EnumNode):
        choices = ", ".join(m.name for m in node.enum_type)
        expected = f"one of {choices}"
    origin = f" ({item.text})" if item.text else ""
    if expected:
        return f"{item.key} expects {expected}, not {item.value!r}{origin}"
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"{item.key}: {reason}{origin}"


def _node(cfg: DictConfig, key: str) -> Any:
    try:
        parent_key, _, last = key.rpartition(".")
        parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
        if isinstance(parent, DictConfig):
            return parent._get_node(last)
        if isinstance(parent, ListConfig) and last.isdigit():
            return parent._get_node(int(last))
    except OmegaConfBaseException:
        pass
    return None
