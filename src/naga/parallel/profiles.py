"""Slurm resource profiles: named sets of sbatch resources in a YAML file, checked strictly.

A profile file holds either one profile (its top-level keys are the fields) or several::

    default: small              # the profile used when none is named (optional)
    profiles:
      small: {partition: debug, time: 30m, cpus_per_task: 2, mem: 4G}
      gpu:   {partition: gpu, time: "1-00:00:00", gpus: 1, array_parallelism: 8}

On the command line ``FILE`` selects the file's only profile (or its ``default``) and
``FILE:NAME`` a named one. Every field is checked before anything reaches Slurm: an unknown
key (with the closest known one suggested), a time Slurm would not read, a zero or negative
count, a memory size without a known unit each give one line naming the file, the profile and
the field; ``time`` is required (submitit would otherwise give every job five minutes).
Requests that only the cluster can judge (more CPUs than any node has) are refused
by ``sbatch`` at submission, which :mod:`naga.parallel.slurm` reports in one line as well.

The YAML is read with every scalar as a string (PyYAML would otherwise read ``time: 1:00:00``
as the base-60 integer 3600 and a partition named ``no`` as ``False``); this module converts
each field itself.

A :class:`Profile` carries the keyword arguments of submitit's
``SlurmExecutor.update_parameters`` (sbatch's own names: ``partition``, ``time`` in minutes,
``cpus_per_task``, ``gpus_per_node``, ``mem``, ``array_parallelism``,
``additional_parameters``, ...).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ProfileError

__all__ = ["Profile", "ProfileError", "load_profile", "parse_memory_mb", "parse_time_minutes"]


@dataclass(frozen=True)
class Profile:
    """One validated profile: submitit parameters plus naga's own knobs."""

    name: str
    source: str  # FILE or FILE:NAME, as messages name it
    parameters: dict[str, Any] = field(default_factory=dict)  # SlurmExecutor.update_parameters
    workers: int | None = None  # array size; None: one worker per undone task
    max_requeues: int = 3  # timeouts after which a worker is no longer requeued


_TIME_CLOCK = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")
_TIME_UNITS = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)
_MEMORY_FACTOR_MB = {"": 1.0, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 * 1024}
_OPTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# Options naga sets itself: the array, its logs, the requeue signal, dependencies (--after).
_RESERVED_OPTIONS = {"array", "output", "error", "signal", "dependency", "open-mode", "wrap"}


def parse_time_minutes(text: str) -> int:
    """Minutes in a Slurm time limit, rounded up; raises ValueError for anything else.

    Slurm's forms: ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``; and
    for people: ``90m``, ``2h``, ``1d12h``.
    """
    text = text.strip()
    units = _TIME_UNITS.fullmatch(text)
    if units and text:
        days, hours, mins = (int(g or 0) for g in units.groups())
        total = days * 1440 + hours * 60 + mins
    else:
        clock = _TIME_CLOCK.fullmatch(text)
        if not clock:
            raise ValueError(text)
        total = _clock_minutes(*clock.groups())
    if total <= 0 or total > _MAX_MINUTES:
        raise ValueError(text)
    return total


_DEFAULT_SIGNAL_DELAY_S = 90  # submitit's default: USR2 this long before the time limit
_MAX_MINUTES = 366 * 1440  # beyond a year is a typo, not a job


def _clock_minutes(days: str | None, a: str, b: str | None, c: str | None) -> int:
    if days is not None:  # D-HH[:MM[:SS]]
        _below(a, 24)
        seconds = int(days) * 86400 + int(a) * 3600 + _below(b, 60) * 60 + _below(c, 60)
    elif c is not None:  # HH:MM:SS
        seconds = int(a) * 3600 + _below(b, 60) * 60 + _below(c, 60)
    else:  # MM[:SS]
        seconds = int(a) * 60 + _below(b, 60)
    return math.ceil(seconds / 60)


def _below(part: str | None, limit: int) -> int:
    """A clock field (``25:99`` is no time): its value, or ValueError when out of range."""
    value = int(part or 0)
    if value >= limit:
        raise ValueError(part)
    return value


def parse_memory_mb(text: str) -> int:
    """Megabytes in a memory size (``4G``, ``500M``, ``16GB``, ``1.5GiB``; a bare number is MB,
    as in sbatch); raises ValueError for anything else."""
    match = _MEMORY.fullmatch(text.strip())
    if not match:
        raise ValueError(text)
    mb = math.ceil(float(match.group(1)) * _MEMORY_FACTOR_MB[match.group(2).upper()])
    if mb <= 0:
        raise ValueError(text)
    return mb


def _positive_int(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not re.fullmatch(r"\+?\d+", text.strip()) or int(text) < minimum:
            raise ValueError(text)
        return int(text)

    return parse


def _nonempty_str(text: str) -> str:
    if not text.strip():
        raise ValueError(text)
    return text.strip()


def _memory_option(text: str) -> str:
    mb = parse_memory_mb(text)
    return f"{mb // 1024}G" if mb % 1024 == 0 else f"{mb}M"


# field -> (submitit parameter or naga knob, parser, what a good value looks like)
_FIELDS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "partition": ("partition", _nonempty_str, "a partition name"),
    "time": ("time", parse_time_minutes, "a time limit like 90, 1:00:00, 1-00:00:00 or 2h"),
    "cpus_per_task": ("cpus_per_task", _positive_int(1), "an integer >= 1"),
    "gpus": ("gpus_per_node", _positive_int(0), "an integer >= 0"),
    "mem": ("mem", _memory_option, "a memory size like 4G, 500M or 16GB"),
    "nodes": ("nodes", _positive_int(1), "an integer >= 1"),
    "array_parallelism": ("array_parallelism", _positive_int(1), "an integer >= 1"),
    "account": ("account", _nonempty_str, "an account name"),
    "qos": ("qos", _nonempty_str, "a QOS name"),
    "constraint": ("constraint", _nonempty_str, "a node feature expression"),
    "exclude": ("exclude", _nonempty_str, "a node list"),
    "nodelist": ("nodelist", _nonempty_str, "a node list"),
    "job_name": ("job_name", _nonempty_str, "a job name"),
    "signal_delay": ("signal_delay_s", _positive_int(0), "seconds (an integer >= 0)"),
    "workers": ("workers", _positive_int(1), "an integer >= 1"),
    "max_requeues": ("max_requeues", _positive_int(0), "an integer >= 0"),
}
_LIST_FIELDS = {"setup": "setup"}  # shell lines run before the worker (module load, ...)
_MAP_FIELDS = {"sbatch": "additional_parameters"}  # any other sbatch option
_KNOWN = sorted([*_FIELDS, *_LIST_FIELDS, *_MAP_FIELDS])


def load_profile(spec: str) -> Profile:
    """The profile ``spec`` names: ``FILE`` or ``FILE:NAME``."""
    path, name = _split_spec(spec)
    document = _read_yaml(path)
    if "profiles" in document:
        return _named_profile(path, document, name)
    if name is not None:
        raise ProfileError(
            f"slurm profile {path}: no profile '{name}': the file holds a single profile"
            f" (use --slurm_config {path})"
        )
    return _build_profile(str(path), str(path), document)


def _split_spec(spec: str) -> tuple[Path, str | None]:
    if not spec.strip():
        raise ProfileError("slurm profile: empty --slurm_config; give FILE or FILE:NAME")
    path = Path(spec)
    head, sep, tail = spec.rpartition(":")
    if not path.exists() and sep and head and re.fullmatch(r"[\w.-]+", tail):
        return Path(head), tail
    return path, None


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"slurm profile {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"slurm profile {path}: cannot read it: {exc}") from None
    try:
        document = yaml.load(text, Loader=yaml.BaseLoader)  # strings, lists, dicts only
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ProfileError(f"slurm profile {path}: not valid YAML{line}: {problem}") from None
    if document is None:
        raise ProfileError(f"slurm profile {path}: the file is empty; give at least `time:`")
    if not isinstance(document, dict):
        raise ProfileError(f"slurm profile {path}: expected a mapping of fields, got a list/value")
    return document


def _named_profile(path: Path, document: dict[str, Any], name: str | None) -> Profile:
    extra = sorted(set(document) - {"profiles", "default"})
    if extra:
        raise ProfileError(
            f"slurm profile {path}: unknown top-level key '{extra[0]}': a file with `profiles:`"
            " holds only `profiles` and `default`"
        )
    profiles = document["profiles"]
    if not isinstance(profiles, dict) or not profiles:
        raise ProfileError(f"slurm profile {path}: `profiles` must map names to profiles")
    chosen = name or document.get("default")
    if chosen is None:
        if len(profiles) == 1:
            chosen = next(iter(profiles))
        else:
            raise ProfileError(
                f"slurm profile {path}: several profiles ({', '.join(profiles)}) and no"
                f" `default`; name one: --slurm_config {path}:{next(iter(profiles))}"
            )
    if not isinstance(chosen, str) or chosen not in profiles:
        close = difflib.get_close_matches(str(chosen), list(profiles), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (profiles: {', '.join(profiles)})"
        raise ProfileError(f"slurm profile {path}: no profile '{chosen}'{hint}")
    body = profiles[chosen]
    if body is None or body == "":
        body = {}
    if not isinstance(body, dict):
        raise ProfileError(f"slurm profile {path}:{chosen}: expected a mapping of fields")
    return _build_profile(chosen, f"{path}:{chosen}", body)


def _build_profile(name: str, source: str, body: dict[str, Any]) -> Profile:
    parameters: dict[str, Any] = {}
    for key, raw in body.items():
        if key in _FIELDS:
            target, parse, expected = _FIELDS[key]
            parameters[target] = _parse_scalar(source, key, raw, parse, expected)
        elif key in _LIST_FIELDS:
            parameters[_LIST_FIELDS[key]] = _parse_lines(source, key, raw)
        elif key in _MAP_FIELDS:
            parameters[_MAP_FIELDS[key]] = _parse_options(source, key, raw)
        else:
            raise ProfileError(f"slurm profile {source}: unknown field '{key}'{_suggest(key)}")
    if "time" not in parameters:  # submitit would quietly use 5 minutes
        raise ProfileError(
            f"slurm profile {source}: no 'time': give each worker's time limit (e.g. time: 1:00:00)"
        )
    _check_signal_room(source, parameters)
    workers = parameters.pop("workers", None)
    max_requeues = parameters.pop("max_requeues", 3)
    return Profile(name, source, parameters, workers, max_requeues)


def _check_signal_room(source: str, parameters: dict[str, Any]) -> None:
    """The stop signal comes ``signal_delay`` seconds before the time limit: a limit no longer
    than that would checkpoint and requeue every worker before it does any work."""
    delay = parameters.get("signal_delay_s", _DEFAULT_SIGNAL_DELAY_S)
    if parameters["time"] * 60 <= delay:
        raise ProfileError(
            f"slurm profile {source}: 'time' ({parameters['time']} min) must be longer than"
            f" 'signal_delay' ({delay} s), when workers are told to stop and requeue"
        )


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, _KNOWN, n=1, cutoff=0.5)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f" (fields: {', '.join(_KNOWN)})"


def _parse_scalar(
    source: str, key: str, raw: Any, parse: Callable[[str], Any], expected: str
) -> Any:
    if not isinstance(raw, str):
        raise ProfileError(f"slurm profile {source}: '{key}' must be {expected}, got a list/map")
    try:
        return parse(raw)
    except ValueError:
        raise ProfileError(
            f"slurm profile {source}: '{key}' must be {expected}, got {raw!r}"
        ) from None


def _parse_lines(source: str, key: str, raw: Any) -> list[str]:
    lines = [raw] if isinstance(raw, str) else raw
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise ProfileError(f"slurm profile {source}: '{key}' must be a list of shell lines")
    return list(lines)


def _parse_options(source: str, key: str, raw: Any) -> dict[str, str | bool]:
    if not isinstance(raw, dict):
        raise ProfileError(
            f"slurm profile {source}: '{key}' must map sbatch options to values"
            " (e.g. sbatch: {mail-type: END})"
        )
    options: dict[str, str | bool] = {}
    for option, value in raw.items():
        flag = option.lstrip("-")
        if not _OPTION_NAME.fullmatch(flag) or not isinstance(value, str):
            raise ProfileError(
                f"slurm profile {source}: '{key}.{option}' must be an sbatch option name"
                " with a single value"
            )
        if flag.replace("_", "-") in _RESERVED_OPTIONS:
            raise ProfileError(
                f"slurm profile {source}: '{key}.{option}': naga sets --{flag} itself"
                + (" (use --after for dependencies)" if flag == "dependency" else "")
            )
        if flag.replace("-", "_") in _FIELDS:
            raise ProfileError(
                f"slurm profile {source}: '{key}.{option}': use the profile field"
                f" '{flag.replace('-', '_')}' instead"
            )
        # `true` is a flag without a value (--exclusive); anything else is the option's value
        options[flag.replace("_", "-")] = True if value == "true" else value
    return options
