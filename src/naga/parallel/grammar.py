"""The parameter grammar of ``naga sweep`` and the points it expands to.

::

    NAME=V1,V2,...       values (a grid axis; sampled uniformly with --random); commas inside
                         brackets or quotes do not split: arch=[1,2],[3] or tag='a,b'
                         (quotes are removed, brackets stay)
    NAME=log(LOW,HIGH)   a float, log-uniform in [LOW, HIGH] (LOW > 0): learning rates
    NAME=range(LOW,HIGH) a float, uniform in [LOW, HIGH)
    NAME=int(LOW,HIGH)   an integer, uniform in [LOW, HIGH], both included

Without ``--random N`` the points are the grid: every combination of the value lists, the last
parameter varying fastest (ranges have no grid: they need ``--random``). With ``--random N``,
N points, each parameter drawn independently (``--seed`` makes the draw repeatable); when every
parameter is a list of values, N distinct points of the grid (all of it when N is larger).

A point keeps each value twice: the text that goes into the command (``1e-4`` stays ``1e-4``;
a drawn float is written with 6 significant digits) and the value recorded as the run's param
(the text read as YAML: ``0.1`` a float, ``32`` an int, ``adam`` a string), so the two agree.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Sequence
from typing import Any

from ..errors import UsageError

_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")
_FUNCTION = re.compile(r"^(\w+)\((.*)\)$", re.DOTALL)
RANGES = ("log", "range", "int")
MAX_POINTS = 100_000
PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.\-]*)\}")


class Param:
    """One ``NAME=...`` of the command line: a list of values or a range."""

    def __init__(self, name: str, text: str, values: list[str], kind: str = "list") -> None:
        self.name, self.text, self.values, self.kind = name, text, values, kind
        self.low: float = 0.0
        self.high: float = 0.0

    def draw(self, rng: random.Random) -> str:
        if self.kind == "list":
            return rng.choice(self.values)
        if self.kind == "int":
            return str(rng.randint(int(self.low), int(self.high)))
        if self.kind == "log":
            return format(math.exp(rng.uniform(math.log(self.low), math.log(self.high))), ".6g")
        return format(rng.uniform(self.low, self.high), ".6g")


def parse_param(text: str) -> Param:
    name, eq, spec = text.partition("=")
    if not eq:
        raise UsageError(f"{text!r} is not a parameter: write NAME=V1,V2 or NAME=log(LOW,HIGH)")
    if not _NAME.match(name):
        raise UsageError(
            f"{name!r} in {text!r} is not a parameter name: use letters, digits, _ . -"
        )
    if not spec.strip():
        raise UsageError(f"{text!r} has no values: write {name}=V1,V2 or {name}=log(LOW,HIGH)")
    function = _FUNCTION.match(spec.strip())
    if function and len(split_values(spec, text)) == 1:
        return _parse_range(name, text, function.group(1), function.group(2))
    values = [_unquoted(v.strip()) for v in split_values(spec, text)]
    if any(not v for v in values):
        raise UsageError(f"{text!r} has an empty value: separate values with single commas")
    return Param(name, text, values)


_CLOSING = {"[": "]", "(": ")", "{": "}"}


def split_values(spec: str, text: str) -> list[str]:
    """``spec`` split at its top-level commas: none inside brackets or quotes, so
    ``[1,2],[3]`` is two values and ``'a,b'`` one."""
    values, current, expected, quote = [], "", [], ""
    for char in spec:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _CLOSING:
            expected.append(_CLOSING[char])
        elif char in _CLOSING.values():
            if not expected or expected.pop() != char:
                raise UsageError(f"{text!r}: unbalanced {char!r}")
        elif char == "," and not expected:
            values.append(current)
            current = ""
            continue
        current += char
    if quote or expected:
        raise UsageError(f"{text!r}: unclosed {quote or 'bracket (missing ' + expected[-1] + ')'}")
    return [*values, current]


def _unquoted(value: str) -> str:
    """A value in matching quotes is their content (``'a,b'`` is ``a,b``)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _parse_range(name: str, text: str, function: str, inside: str) -> Param:
    if function not in RANGES:
        raise UsageError(
            f"{text!r}: unknown range {function}(...); use log(LOW,HIGH), range(LOW,HIGH)"
            " or int(LOW,HIGH)"
        )
    bounds = [b.strip() for b in inside.split(",")]
    if len(bounds) != 2 or not all(bounds):
        raise UsageError(f"{text!r}: {function}(...) takes two bounds: {function}(LOW,HIGH)")
    try:
        low, high = (float(b) for b in bounds)
    except ValueError:
        bad = next(b for b in bounds if not _is_number(b))
        raise UsageError(f"{text!r}: {bad!r} is not a number") from None
    if not all(math.isfinite(v) for v in (low, high)):
        raise UsageError(f"{text!r}: the bounds must be finite numbers")
    if function == "int" and not all(v.is_integer() for v in (low, high)):
        raise UsageError(f"{text!r}: int(LOW,HIGH) takes whole numbers")
    if function == "log" and low <= 0:
        raise UsageError(f"{text!r}: log(LOW,HIGH) needs LOW > 0")
    if low > high or (low == high and function != "int"):
        raise UsageError(f"{text!r}: LOW must be below HIGH")
    param = Param(name, text, [], function)
    param.low, param.high = low, high
    return param


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_params(texts: Sequence[str]) -> list[Param]:
    params = [parse_param(t) for t in texts]
    seen: set[str] = set()
    for param in params:
        if param.name in seen:
            raise UsageError(f"parameter {param.name} is given twice; list its values once")
        seen.add(param.name)
    return params


def points(params: Sequence[Param], n_random: int | None, seed: int) -> list[dict[str, str]]:
    """The points to run, each a mapping of parameter name to its text."""
    if n_random is None:
        ranged = next((p for p in params if p.kind != "list"), None)
        if ranged is not None:
            raise UsageError(
                f"{ranged.text} is a range for random search: add --random N"
                f" (or list values: {ranged.name}=V1,V2)"
            )
        size = math.prod(len(p.values) for p in params)
        if size > MAX_POINTS:
            raise UsageError(f"the grid has {size} points (at most {MAX_POINTS}); use --random N")
        combos = itertools.product(*(p.values for p in params))
        return [dict(zip([p.name for p in params], combo, strict=True)) for combo in combos]
    if not 1 <= n_random <= MAX_POINTS:
        raise UsageError(f"--random takes 1 to {MAX_POINTS} points, not {n_random}")
    rng = random.Random(seed)
    if all(p.kind == "list" for p in params):  # a finite grid: distinct points, at most all
        sizes = [len(p.values) for p in params]
        drawn = rng.sample(range(math.prod(sizes)), min(n_random, math.prod(sizes)))
        return [_grid_point(params, sizes, index) for index in drawn]
    return [{p.name: p.draw(rng) for p in params} for _ in range(n_random)]


def _grid_point(params: Sequence[Param], sizes: list[int], index: int) -> dict[str, str]:
    """The grid's ``index``-th point (the last parameter varying fastest)."""
    point: dict[str, str] = {}
    for param, size in zip(reversed(params), reversed(sizes), strict=True):
        index, at = divmod(index, size)
        point[param.name] = param.values[at]
    return {p.name: point[p.name] for p in params}


def typed(text: str) -> Any:
    """A value's text as the run's param: YAML's reading of it (numbers, bools, strings)."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, bool, str)) else text


def fill_command(command: Sequence[str], point: dict[str, str]) -> list[str]:
    """The command with each ``{name}`` replaced by the point's value; other braces (a shell's
    ``${HOME}``, a Python dict) stay as they are."""
    return [PLACEHOLDER.sub(lambda m: point.get(m.group(1), m.group(0)), arg) for arg in command]


def check_command(command: Sequence[str], params: Sequence[Param]) -> None:
    """Every parameter must reach the command: a sweep over a value nothing reads is a
    mistake, not a sweep."""
    if not command:
        raise UsageError(
            "naga sweep needs a command after --: naga sweep lr=0.1,0.01 -- python train.py"
            " --lr {lr}"
        )
    used = {m.group(1) for arg in command for m in PLACEHOLDER.finditer(arg)}
    names = {param.name for param in params}
    unknown = sorted(used - names)
    if unknown:
        raise UsageError(
            f"{{{unknown[0]}}} in the command is not a swept parameter (swept: "
            f"{', '.join(sorted(names))}); sweep it ({unknown[0]}=V1,V2) or write the value"
        )
    for param in params:
        if param.name not in used:
            raise UsageError(
                f"{param.name} is swept but {{{param.name}}} appears nowhere in the command;"
                f" write it where the value goes (--{param.name} {{{param.name}}})"
            )
