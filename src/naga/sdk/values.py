"""What ``log`` and ``log_params`` accept, and how it is normalised.

``log`` itself only checks exact types (float, int, bool) on its hot path; everything else comes
here: numpy scalars, 0-d arrays and tensors (anything with ``.item()``), and the errors that name
the offending key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Exact types log() takes without conversion; anything else goes through convert().
FAST_TYPES = frozenset((float, int, bool))
STEP_LIMIT = 2**63 - 1  # steps are stored as int64; the auto step is one more than the last


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"lr": 0.1}} -> {"model.lr": 0.1}; values made JSON-safe."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = _json_safe(value)
    return flat


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _json_safe(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def convert(keys: tuple[Any, ...], values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Values log() did not take as they are: numpy scalars, 0-d arrays and tensors, int/float
    subclasses. Anything that is not one number is a TypeError naming its key."""
    out = []
    for key, value in zip(keys, values, strict=True):
        if value.__class__ in FAST_TYPES:
            out.append(value)
            continue
        item = getattr(value, "item", None)
        if callable(item) and not isinstance(value, (str, bytes)):
            try:
                value = item()
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(f"metric {key!r} must be a single number, not {exc}") from None
        if isinstance(value, (int, float)):  # bool is an int
            out.append(float(value) if not isinstance(value, bool) else value)
            continue
        raise TypeError(
            f"metric {key!r} must be a number (int, float, bool, or a scalar with .item()),"
            f" not {type(value).__name__}"
        )
    return tuple(out)


def check_step(step: Any) -> int:
    import operator

    if isinstance(step, (float, bool)):
        raise TypeError(f"step must be an integer, not {type(step).__name__} ({step!r})")
    try:
        step = operator.index(step)
    except TypeError:
        raise TypeError(f"step must be an integer, not {type(step).__name__}") from None
    if not -STEP_LIMIT <= step < STEP_LIMIT:
        raise ValueError(f"step {step} does not fit in 64 bits")
    return int(step)
