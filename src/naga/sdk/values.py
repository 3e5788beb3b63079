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
STEP_LIMIT = 2**63 - 1  # steps are stored as int64


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


def as_dict(metrics: Any) -> dict[Any, Any]:
    """A plain dict of any mapping given to log(); a TypeError for anything else."""
    if isinstance(metrics, Mapping):
        return dict(metrics)
    raise TypeError(f"log() takes a dict of metric name -> number, not {type(metrics).__name__}")


def convert(metrics: dict[Any, Any]) -> dict[Any, Any]:
    """A copy of ``metrics`` with what log() did not take as it was made plain: numpy scalars,
    0-d arrays and tensors, int/float subclasses. Anything that is not one number is a
    TypeError naming its key."""
    out = {}
    for key, value in metrics.items():
        if value.__class__ in FAST_TYPES:
            out[key] = value
            continue
        item = getattr(value, "item", None)
        if callable(item) and not isinstance(value, (str, bytes)):
            try:
                value = item()
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(f"metric {key!r} must be a single number, not {exc}") from None
        if isinstance(value, (int, float)):  # bool is an int
            out[key] = float(value) if not isinstance(value, bool) else value
            continue
        raise TypeError(
            f"metric {key!r} must be a number (int, float, bool, or a scalar with .item()),"
            f" not {type(value).__name__}"
        )
    return out


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
