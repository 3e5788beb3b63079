"""The fast path for defaults given as a dict or a YAML file: merge in plain Python.

OmegaConf spends about 100 µs on every node it creates or copies, so merging a 200-key config
layer by layer through it takes longer than a program should wait. Here each layer is checked
and merged on nested dicts, against types taken from the defaults (the same rules OmegaConf's
typed nodes apply: an int is accepted for a float, a scalar becomes a string for a string), and
the config is built once at the end; only the values holding interpolations are resolved
through OmegaConf. Dataclass and hydra-zen defaults take ``merge.py``'s path through OmegaConf,
which validates their declared types itself. Both paths give the same errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .overrides import Override, flatten
from .sources import load_mapping

MISSING = "???"
_TRUE = {"true", "yes", "on", "y", "1"}
_FALSE = {"false", "no", "off", "n", "0"}
_TYPE_NAMES = {bool: "a bool", int: "an int", float: "a float", str: "a string"}


class PlainDefaults:
    """Defaults as nested dicts, with the type of each leaf they fix."""

    def __init__(self, mapping: Mapping[str, Any]) -> None:
        self.tree = _copy(_checked_keys(mapping))

    def compose(self, files: Sequence[str], overrides: Sequence[Override]) -> dict[str, Any]:
        merged: dict[str, Any] = _copy(self.tree)
        for name in files:
            layer = load_mapping(Path(name).expanduser())
            items = [Override(k, v, False, f"from {name}") for k, v in layer.items()]
            apply(merged, self.tree, items)
        apply(merged, self.tree, overrides)
        missing = sorted(_missing(merged))
        if missing:
            raise ConfigError(missing_message(missing))
        return merged


def apply(merged: dict[str, Any], schema: dict[str, Any], overrides: Sequence[Override]) -> None:
    for override in overrides:  # one by one: an earlier override may have made a group
        for item in flatten([override], lambda key: _holds_value(merged, key)):
            _apply_one(merged, schema, item)


def _apply_one(merged: dict[str, Any], schema: dict[str, Any], item: Override) -> None:
    parent, last = _parent(merged, item)
    if isinstance(parent, list):
        parent[int(last)] = item.value
        return
    if last not in parent and not item.add:
        raise ConfigError(unknown_key_message(all_keys(merged), item))
    parent[last] = _converted(lookup(schema, item.key), parent.get(last), item)


def _holds_value(tree: dict[str, Any], key: str) -> bool:
    """Whether ``key`` exists and holds a value (null included) rather than a group."""
    value = lookup(tree, key, _LEAVE)
    return value is not _LEAVE and not isinstance(value, dict)


def _parent(merged: dict[str, Any], item: Override) -> tuple[Any, str]:
    """The container holding the item's key (made on the way for ``+a.b=1``)."""
    parts = item.key.split(".")
    node: Any = merged
    for depth, part in enumerate(parts[:-1]):
        here = ".".join(parts[: depth + 1])
        if isinstance(node, dict):
            if part not in node:
                if not item.add:
                    raise ConfigError(unknown_key_message(all_keys(merged), item, here))
                node[part] = {}
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ConfigError(f"{here}: {parts[depth - 1]} has no item {part} ({item.text})")
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"{here} is a value, not a group, so {item.key} does not exist")
    if isinstance(node, list):
        last = parts[-1]
        if not (last.isdigit() and int(last) < len(node)):
            raise ConfigError(f"{item.key}: the list has no item {last} ({item.text})")
    return node, parts[-1]


def lookup(tree: Any, key: str, default: Any = None) -> Any:
    """The value at dotted ``key`` in nested dicts and lists, or ``default``."""
    node = tree
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


def _converted(default: Any, current: Any, item: Override) -> Any:
    """``item.value`` as the type of ``default`` (its value in the defaults) requires."""
    value = item.value
    if value is None or (isinstance(value, str) and (value == MISSING or "${" in value)):
        return value
    if isinstance(default, dict):
        if isinstance(value, Mapping):  # an empty map: the group's keys are kept
            return current if not value else dict(value)
        raise ConfigError(f"{item.key} is a group: set its keys ({item.key}.KEY=VALUE)")
    kind = _fixed_type(default)
    if kind is None:
        return _copy(value) if isinstance(value, (dict, list)) else value
    if isinstance(default, list):
        if isinstance(value, (list, tuple)):
            return list(value)
        raise ConfigError(f"{item.key} expects a list, not {value!r}{_origin(item)}")
    converted = _to(kind, value)
    if converted is _REFUSED:
        raise ConfigError(f"{item.key} expects {_TYPE_NAMES[kind]}, not {value!r}{_origin(item)}")
    return converted


_REFUSED = object()


def _to(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower() if isinstance(value, (str, int)) else None
        return True if text in _TRUE else False if text in _FALSE else _REFUSED
    if isinstance(value, (dict, list, tuple)):
        return _REFUSED
    if kind is str:
        return str(value)
    if isinstance(value, bool):
        return _REFUSED
    if kind is int:
        if isinstance(value, int):
            return value
        try:
            return int(value) if isinstance(value, str) else _REFUSED
        except ValueError:
            return _REFUSED
    try:  # float
        return float(value) if isinstance(value, (int, float, str)) else _REFUSED
    except ValueError:
        return _REFUSED


def _fixed_type(default: Any) -> type | None:
    if isinstance(default, list):
        return list
    if default is None or (isinstance(default, str) and (default == MISSING or "${" in default)):
        return None
    return type(default) if type(default) in _TYPE_NAMES else None


_WHOLE = re.compile(r"^\$\{([^\W\d][\w\-]*(?:\.[\w\-]+)*)\}$")
_EMBEDDED = re.compile(r"\$\{([^\W\d][\w\-]*(?:\.[\w\-]+)*)\}")
_LEAVE = object()  # for OmegaConf to resolve (or to report)


def resolve_simple(tree: dict[str, Any]) -> None:
    """Replace plain node interpolations (``${a.b}``, whole or inside text) with their values,
    in place, as OmegaConf would; anything else (resolvers, relative keys, escapes, groups,
    missing keys, cycles) is left for OmegaConf, which resolves or reports it."""
    done: dict[str, Any] = {}

    def value_of(key: str, stack: tuple[str, ...]) -> Any:
        if key in done:
            return done[key]
        value = lookup(tree, key, _LEAVE)
        if isinstance(value, str) and "${" in value:
            value = text_of(value, (*stack, key)) if key not in stack else _LEAVE
        if isinstance(value, (dict, list)) or value == MISSING:
            value = _LEAVE
        done[key] = value
        return value

    def text_of(text: str, stack: tuple[str, ...]) -> Any:
        if "\\" in text:
            return _LEAVE
        whole = _WHOLE.match(text)
        if whole:
            return value_of(whole.group(1), stack)
        parts, end = [], 0
        for found in _EMBEDDED.finditer(text):
            value = value_of(found.group(1), stack)
            if value is _LEAVE:
                return _LEAVE
            parts += [text[end : found.start()], str(value)]
            end = found.end()
        result = "".join([*parts, text[end:]])
        return _LEAVE if "${" in result else result

    for key in list(interpolated_keys(tree)):
        value = value_of(key, ())
        if value is not _LEAVE:
            set_value(tree, key, value)


def interpolated_keys(tree: Any, prefix: str = "") -> Iterator[str]:
    """Dotted keys of the values that hold an interpolation, deepest first."""
    items: Any = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for key, value in items:
        full = f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            yield from interpolated_keys(value, f"{full}.")
        elif isinstance(value, str) and "${" in value:
            yield full


def set_value(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node: Any = tree
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


def unknown_key_message(keys: Iterable[str], item: Override, here: str | None = None) -> str:
    import difflib  # only for a message

    keys = list(keys)
    # lr given where only model.lr exists: the same leaf under a group is the likeliest meant
    leaf = item.key.rsplit(".", 1)[-1]
    same_leaf = [k for k in keys if k != item.key and k.rsplit(".", 1)[-1] == leaf]
    close = same_leaf or difflib.get_close_matches(item.key, keys, n=1, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close[:3])}?" if close else ""
    origin = f" ({item.text})" if item.text and item.text.split("=")[0] != item.key else ""
    add = f" (+{item.key}=... adds a new key)" if not close else ""
    return f"unknown config key {here or item.key}{origin}{hint}{add}"


def missing_message(missing: list[str]) -> str:
    first = missing[0]
    more = f" (and {', '.join(missing[1:])})" if len(missing) > 1 else ""
    return (
        f"{first} has no value{more}: it is ??? in the defaults; set it with {first}=VALUE"
        " or in a --config file"
    )


def all_keys(tree: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key, list items included (``layers.0.width``), for suggestions."""
    if not isinstance(tree, (dict, list)):
        return
    items: Any = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for key, value in items:
        yield f"{prefix}{key}"
        yield from all_keys(value, f"{prefix}{key}.")


def _missing(tree: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in tree.items():
        if value == MISSING:
            yield f"{prefix}{key}"
        elif isinstance(value, dict):
            yield from _missing(value, f"{prefix}{key}.")


def _origin(item: Override) -> str:
    return f" ({item.text})" if item.text else ""


def _checked_keys(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise ConfigError(f"config keys must be strings, not {key!r}")
        if isinstance(value, Mapping):
            _checked_keys(value)
    return mapping


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value
