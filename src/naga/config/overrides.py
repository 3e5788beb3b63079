"""Overrides from the command line and from Python keyword arguments, in one form.

``python main.py --config exp.yaml model.lr=0.01 --data.name cifar`` and
``main(model={"lr": 0.01}, **{"data.name": "cifar"})`` both become a list of ``Override``
(dotted key, value): the command line's values are parsed as OmegaConf's dotlist parses them
(YAML scalars, ``[1, 2]`` lists, ``{a: 1}`` maps), Python's are taken as given, and nested maps
are flattened to leaves, so both call paths merge through the same code and resolve identically.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ..errors import ConfigError

# A dotted key: model.lr, layers.0.width, data-set.name, größe (YAML keys may be any letters)
_KEY = re.compile(r"^[^\W\d][\w\-]*(\.[\w\-]+)*$")


# Options that turn a call into parallel tasks (parsed in naga.config.taskopts)
PARALLEL_OPTIONS = frozenset(
    {
        "--tasks",
        "--task-to",
        "--task_to",
        "--n_jobs",
        "--n-jobs",
        "--slurm_config",
        "--slurm-config",
        "--after",
        "--dry-run",
        "--new-sweep",
        "--search",
        "--trials",
        "--minimize",
        "--maximize",
        "--prune",
        "--param",
        "--search-seed",
    }
)


# Plain classes, not dataclasses: creating a dataclass costs a millisecond of import time, and
# a clicfg program's start-up is measured in tens of them.
class Override(NamedTuple):
    key: str
    value: Any
    add: bool = False  # "+key=value": the key may be new (strict mode refuses unknown keys)
    text: str = ""  # as the user wrote it, for error messages


class Invocation:
    """What a command line asks of a ``clicfg`` program."""

    def __init__(self, overrides: list[Override] | None = None) -> None:
        self.files: list[str] = []
        self.overrides: list[Override] = overrides or []
        self.print_config = False
        self.help = False
        self.now: float | None = None  # ${naga.now} pinned (a sweep's tasks share its time)
        self.parallel: Any = None  # --tasks and friends: naga.config.taskopts.TaskOptions


def parse_value(text: str) -> Any:
    """A command-line value as OmegaConf's dotlist reads it (``0.01`` a float, ``null`` None)."""
    if text == "":
        return ""
    loader = _yaml_loader()
    try:
        if loader is None:  # an OmegaConf that moved its loader: its public dotlist parser
            from omegaconf import OmegaConf

            parsed = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={text}"]), resolve=False)
            assert isinstance(parsed, dict)
            return parsed["v"]
        import yaml

        return yaml.load(text, Loader=loader)
    except Exception as exc:  # yaml's errors are many classes; all mean the same to the user
        raise ConfigError(f"cannot parse the value {text!r}: {_first_line(exc)}") from None


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> Any:
    """OmegaConf's own YAML loader, which its dotlists use (``1e-3`` is a float, not a
    string); building a config per value through the public API costs about 1 ms each."""
    for module in ("omegaconf._yaml", "omegaconf._utils"):  # 2.4, 2.3
        try:
            return __import__(module, fromlist=["get_yaml_loader"]).get_yaml_loader()
        except (ImportError, AttributeError):
            continue
    return None


def parse_override(text: str) -> Override:
    key, eq, value = text.partition("=")
    add = key.startswith("+")
    key = key[1:] if add else key
    if not eq:
        raise ConfigError(
            f"malformed override {text!r}: write KEY=VALUE (e.g. model.lr=0.01) or --KEY VALUE"
        )
    check_key(key, text)
    return Override(key, parse_value(value), add, text)


def check_key(key: str, text: str) -> None:
    if not _KEY.match(key):
        raise ConfigError(f"malformed key {key!r} in {text!r}: use dotted names like model.lr")


def parse_argv(argv: Sequence[str], *, is_flag: Any = None) -> Invocation:
    """Split a command line into config files, overrides and naga's own flags.

    ``is_flag(key)`` tells whether ``--key`` alone means ``key=true`` (a boolean in the config).
    """
    found = Invocation()
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-h", "--help"):
            found.help = True
        elif arg == "--print-config":
            found.print_config = True
        elif arg.partition("=")[0] in PARALLEL_OPTIONS:
            from .taskopts import take_option

            i = take_option(found, arg, args, i)
        elif arg in ("-c", "--config") or arg.startswith("--config="):
            if "=" in arg:
                found.files.append(arg.partition("=")[2])
            elif i < len(args):
                found.files.append(args[i])
                i += 1
            else:
                raise ConfigError(f"{arg} needs a file: {arg} exp.yaml")
        elif arg.startswith("--") and len(arg) > 2:
            option = arg[2:]
            if "=" in option:
                found.overrides.append(parse_override(option))
                continue
            check_key(option.lstrip("+"), arg)
            has_value = i < len(args) and not args[i].startswith("--")
            if is_flag is not None and is_flag(option.lstrip("+")) and not _is_bool_word(args, i):
                found.overrides.append(Override(option.lstrip("+"), True, option[0] == "+", arg))
            elif has_value:
                found.overrides.append(parse_override(f"{option}={args[i]}"))
                i += 1
            else:
                raise ConfigError(f"{arg} needs a value: {arg} VALUE (or {option}=VALUE)")
        elif arg.startswith("-"):
            raise ConfigError(
                f"unknown option {arg!r}: options are --config FILE, --print-config and --help;"
                " set config values as KEY=VALUE"
            )
        else:
            found.overrides.append(parse_override(arg))
    return found


def _is_bool_word(args: list[str], i: int) -> bool:
    return i < len(args) and args[i].lower() in ("true", "false", "yes", "no", "on", "off")


def kwargs_overrides(kwargs: Mapping[str, Any]) -> list[Override]:
    """Python keyword arguments as overrides: ``model={"lr": 0.01}`` is ``model.lr=0.01``."""
    overrides: list[Override] = []
    for key, value in kwargs.items():
        add = key.startswith("+")
        key = key[1:] if add else key
        check_key(key, f"{key}=...")
        overrides.append(Override(key, value, add, f"{key}={value!r}"))
    return overrides


def flatten(overrides: Sequence[Override], is_value: Callable[[str], bool]) -> list[Override]:
    """Nested maps as leaves, so ``model={"lr": 0.01}`` changes lr and keeps model's other keys.
    A map stays whole where ``is_value(key)`` (a key holding null or any value: the map becomes
    its value), and so does an empty map (it replaces the node)."""
    leaves: list[Override] = []
    for item in overrides:
        _flatten_into(leaves, item.key, item.value, item, is_value)
    return leaves


def _flatten_into(
    leaves: list[Override], key: str, value: Any, origin: Override, is_value: Callable[[str], bool]
) -> None:
    if isinstance(value, Mapping) and value and not _is_config_object(value) and not is_value(key):
        for sub, inner in value.items():
            if not isinstance(sub, str):
                raise ConfigError(f"config keys are strings: {key}.{sub!r} in {origin.text}")
            _flatten_into(leaves, f"{key}.{sub}", inner, origin, is_value)
    else:
        leaves.append(Override(key, value, origin.add, origin.text))


def _is_config_object(value: Any) -> bool:
    # a DictConfig passed whole (e.g. a hydra-zen sub-config) is merged by OmegaConf itself
    return type(value).__name__ == "DictConfig"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
