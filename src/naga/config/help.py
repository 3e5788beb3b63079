"""``--help`` for a ``clicfg`` program: its usage, its docstring and the config tree, with each
key's type and default, so the command line documents itself."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.nodes import AnyNode, BooleanNode, EnumNode, FloatNode, IntegerNode, StringNode

_TYPES = {BooleanNode: "bool", IntegerNode: "int", FloatNode: "float", StringNode: "str"}

OPTIONS = """\
options:
  --config FILE   merge a YAML file over the defaults (repeatable, merged in order)
  --print-config  print the resolved config and exit
  -h, --help      show this help and exit

tasks (one naga run per item; see docs/sweeps.md):
  --tasks KEY|FILE     the items: a list in the config, a YAML/JSON file, or '[1, 2]'
  --task-to KEY        where each item goes in the config (a mapping item sets keys)
  --n_jobs N           run them in N local processes
  --slurm_config FILE  submit them to Slurm (--after JOB|SWEEP, a dependency)
  --dry-run            print the tasks (or the Slurm job) and run nothing
  --new-sweep          start afresh instead of resuming the same sweep"""


def render(prog: str, doc: str | None, defaults: DictConfig, *, declared: bool = True) -> str:
    """``declared``: the types come from a dataclass, whose ``Optional`` fields are worth
    showing; types read off dict or YAML values would all read ``| None``."""
    lines = [f"usage: {prog} [--config FILE]... [KEY=VALUE | --KEY VALUE]... [--print-config]"]
    if doc and doc.strip():
        lines += ["", _dedent(doc)]
    lines += ["", "config (defaults < --config files < KEY=VALUE overrides):"]
    tree = list(_tree(defaults, 1, declared))
    lines += tree or ["  (empty)"]
    lines += ["", OPTIONS]
    return "\n".join(lines)


def _tree(cfg: DictConfig | ListConfig, depth: int, declared: bool) -> Any:
    pad = "  " * depth
    keys: list[Any] = list(cfg.keys()) if isinstance(cfg, DictConfig) else list(range(len(cfg)))
    for key in keys:
        node = cfg._get_node(key)
        label = str(key) if isinstance(cfg, DictConfig) else f"- {key}"
        if isinstance(node, DictConfig) and not node._is_missing() and not node._is_none():
            yield f"{pad}{label}:"
            yield from _tree(node, depth + 1, declared)
        else:
            yield f"{pad}{label}: {_type_name(node, declared)} = {_default(node)}"


def _type_name(node: Any, declared: bool) -> str:
    if isinstance(node, EnumNode):
        name = node.enum_type.__name__
        choices = "|".join(m.name for m in node.enum_type)
        name = f"{name}({choices})"
    elif isinstance(node, ListConfig):
        name = "list"
    elif isinstance(node, DictConfig):
        name = "dict"
    elif isinstance(node, AnyNode):
        name = "any"
    else:
        name = _TYPES.get(type(node), type(node).__name__)
    optional = declared and node._is_optional() and not isinstance(node, AnyNode)
    return f"{name} | None" if optional else name


def _default(node: Any) -> str:
    if node._is_missing():
        return "???  (required)"
    if isinstance(node, (DictConfig, ListConfig)):
        if node._is_none():
            return "null"
        import yaml

        container = OmegaConf.to_container(node, resolve=False)
        return str(yaml.safe_dump(container, default_flow_style=True, width=10_000)).strip()
    value = node._value()
    if value is None:
        return "null"
    if isinstance(value, str):
        return value if value.strip() == value and value else repr(value)
    return str(getattr(value, "name", value))


def _dedent(text: str) -> str:
    import inspect

    return inspect.cleandoc(text)
