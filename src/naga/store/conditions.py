"""``--where`` expressions over params and metrics, turned into parametrised SQL.

    lr=0.01        a param or a metric named lr equals 0.01
    loss<0.3       comparisons: = == != < <= > >=  (numbers compare as numbers)
    param.opt=adam only params; metric.loss<=0.3 only metrics (their last value)
    note~diverged  the run's note (``naga note``) holds this text, in any case

The key and the value are always bound as SQL parameters; only the operator, taken from a fixed
table, becomes SQL text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import UsageError

_OPS = {"=": "=", "==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_EXPR = re.compile(r"^\s*([^\s=!<>]+)\s*(==|!=|<=|>=|=|<|>)\s*(.*?)\s*$")
SCOPES = ("param", "metric")


@dataclass(frozen=True)
class Condition:
    scope: str | None  # "param", "metric", or None for either
    key: str
    op: str
    value: float | str

    def sql(self) -> tuple[str, list[object]]:
        if self.scope == "note":
            escaped = str(self.value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return _NOTE_HAS, [f"%{escaped}%"]
        parts: list[str] = []
        params: list[object] = []
        if self.scope in (None, "param"):
            if isinstance(self.value, float):
                parts.append(_PARAM_NUM[self.op])
                params += [self.key, self.value]
            else:
                parts.append(_PARAM_TEXT[self.op])
                params += [self.key, json.dumps(self.value), self.value]
        if self.scope in (None, "metric") and isinstance(self.value, float):
            parts.append(_METRIC[self.op])
            params += [self.key, self.value]
        return "(" + " OR ".join(parts) + ")", params


# One SQL text per operator, built once from the fixed table above; values are bound.
_IN_PARAMS = "EXISTS (SELECT 1 FROM params p WHERE p.run_id = runs.id AND p.key = ? AND "
_IN_METRICS = "EXISTS (SELECT 1 FROM metrics m WHERE m.run_id = runs.id AND m.key = ? AND "
_PARAM_NUM = {k: f"{_IN_PARAMS}p.num {op} ?)" for k, op in _OPS.items()}
# Text matches the JSON form ('"adam"') or the bare one: equal to either, different from both.
_JOIN = {"=": "OR", "==": "OR", "!=": "AND"}
_PARAM_TEXT = {
    k: f"{_IN_PARAMS}(p.value {_OPS[k]} ? {_JOIN[k]} p.value {_OPS[k]} ?))" for k in _JOIN
}
_METRIC = {k: f"{_IN_METRICS}m.last {op} ?)" for k, op in _OPS.items()}


_NOTE_HAS = "(json_extract(runs.doc, '$.note') LIKE ? ESCAPE '\\')"


def parse_condition(text: str) -> Condition:
    head, tilde, wanted = text.strip().partition("~")
    if tilde and head.strip() == "note":
        if not wanted.strip():
            raise UsageError(f"cannot read --where {text!r}: write note~TEXT, e.g. note~diverged")
        raw = wanted.strip()
        quoted = len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\""
        return Condition("note", "note", "~", raw[1:-1] if quoted else raw)
    match = _EXPR.match(text)
    if not match or not match.group(3):
        raise UsageError(
            f"cannot read --where {text!r}: write KEY OP VALUE, e.g. lr=0.01 or loss<0.3"
            " (OP is one of = != < <= > >=)"
        )
    key, op, raw = match.groups()
    scope = None
    head, dot, rest = key.partition(".")
    if dot and head in SCOPES and rest:
        scope, key = head, rest
    value = _value(raw)
    if isinstance(value, str) and op not in ("=", "==", "!="):
        raise UsageError(
            f"cannot read --where {text!r}: {op} compares numbers, and {raw!r} is not one"
        )
    if isinstance(value, str) and scope == "metric":
        raise UsageError(f"cannot read --where {text!r}: metrics are numbers")
    return Condition(scope, key, op, value)


def _value(raw: str) -> float | str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw in ("true", "false"):
        return raw  # a JSON boolean param matches its JSON text
    try:
        return float(raw)
    except ValueError:
        return raw


def parse_conditions(texts: tuple[str, ...] | list[str]) -> tuple[Condition, ...]:
    return tuple(parse_condition(t) for t in texts)
