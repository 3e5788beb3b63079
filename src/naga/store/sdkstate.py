"""What the Python SDK adds to a run record: params, metric summaries, and its own ending.

The SDK never rewrites ``meta.json`` of a run it does not own (one made by ``naga run``): each
process that logs into a run keeps ``metrics/<stream>/state.json`` of its own. Readers merge the
``main`` stream (the run's own process) and the ``sys`` stream (system metrics) into the record
here, so the index, ``ls`` and ``show`` see params and metrics whoever wrote them.

An ending the SDK recorded (an exception escaping ``naga.run()``, ``naga.fail()``) refines the
wrapper's verdict: a command that exited 0 after ``naga.fail("diverged")`` reads as failed with
that message; a non-zero exit stays failed whatever the SDK said.
"""

from __future__ import annotations

import os
from typing import Any

from ..jsonsafe import loads_record, number
from .layout import StoreLayout

MERGED_STREAMS = ("main", "sys")


def read_state(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            state = loads_record(f.read())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


ATTEMPT_MARK = "~"  # attempt N > 1 of a run logs into metrics/<stream>~N (naga.sdk.history)


def attempt_stream(stream: str, attempt: int) -> str:
    """The directory name of ``stream`` for ``attempt`` (1: the stream's own name)."""
    return stream if attempt <= 1 else f"{stream}{ATTEMPT_MARK}{attempt}"


def split_stream(name: str) -> tuple[str, int]:
    """(``main``, 3) for ``main~3``; (``main``, 1) for ``main``."""
    base, mark, number = name.rpartition(ATTEMPT_MARK)
    if mark and base and number.isdigit() and int(number) > 1:
        return base, int(number)
    return name, 1


def stream_names(layout: StoreLayout, run_id: str) -> list[str]:
    """The run's streams as users know them: the attempts of a stream folded into it."""
    try:
        names = os.listdir(layout.metrics_dir(run_id))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted({split_stream(name)[0] for name in names})


def _attempt_dirs(names: list[str], stream: str) -> list[str]:
    found = sorted((split_stream(n)[1], n) for n in names if split_stream(n)[0] == stream)
    return [name for _, name in found]


def merge_sdk_state(layout: StoreLayout, meta: dict[str, Any]) -> None:
    metrics_dir = layout.metrics_dir(meta["id"])
    if not os.path.isdir(metrics_dir):
        return  # a plain `naga run`: nothing logged from inside
    names = os.listdir(metrics_dir)
    # every attempt of main, then of sys, in order: a later attempt's summary wins
    mains = [
        read_state(os.path.join(metrics_dir, d, "state.json")) for d in _attempt_dirs(names, "main")
    ]
    syss = [
        read_state(os.path.join(metrics_dir, d, "state.json")) for d in _attempt_dirs(names, "sys")
    ]
    states = mains + syss
    main = mains[-1] if mains else {}
    for state in mains:
        params = state.get("params")
        if isinstance(params, dict):
            meta["params"] = {**(meta.get("params") or {}), **params}
    stats: dict[str, Any] = {}
    for state in states:
        found = state.get("metrics")
        if isinstance(found, dict):
            stats.update({str(k): _revived(v) for k, v in found.items() if isinstance(v, dict)})
    if stats:
        meta["metric_stats"] = stats
        meta["metrics"] = {k: v.get("last") for k, v in stats.items()}
    if meta.get("status") != "running":
        for ending in _endings(metrics_dir, main, _attempt_began(meta)):
            _apply_ending(meta, ending)


def _revived(summary: dict[str, Any]) -> dict[str, Any]:
    """A metric's summary with its values as floats again (state.json is strict JSON: a NaN
    loss is stored as the string "NaN")."""
    return {k: number(v) if k in ("last", "min", "max") else v for k, v in summary.items()}


def _endings(metrics_dir: str, main: dict[str, Any], since: float) -> list[dict[str, Any]]:
    """What the SDK declared in any process of the run's latest attempt (main first): a
    helper process's naga.fail() fails the run too. Streams last written before the attempt
    began (``since``) are an earlier attempt's, whose ending is its own."""
    found = [main.get("ending")]
    for name in sorted(os.listdir(metrics_dir)):
        if split_stream(name)[0] not in MERGED_STREAMS:
            path = os.path.join(metrics_dir, name, "state.json")
            try:
                if os.path.getmtime(path) < since:
                    continue
            except OSError:
                continue
            found.append(read_state(path).get("ending"))
    return [e for e in found if isinstance(e, dict)]


def _attempt_began(meta: dict[str, Any]) -> float:
    """When the record's latest attempt began (0 for a run of one attempt)."""
    attempts = meta.get("attempts")
    if not isinstance(attempts, list) or len(attempts) < 2 or not isinstance(attempts[-1], dict):
        return 0.0
    from .timefmt import parse_iso

    began = parse_iso(str(attempts[-1].get("started_at") or ""))
    return began - 1.0 if began is not None else 0.0


# Exit codes of a process that ended on these signals: the SDK turned them into a clean exit.
_SIGNAL_EXITS = (128 + 1, 128 + 2, 128 + 15)  # SIGHUP, SIGINT, SIGTERM


def _apply_ending(meta: dict[str, Any], ending: dict[str, Any]) -> None:
    status = ending.get("status")
    signalled = meta.get("status") == "failed" and meta.get("exit_code") in _SIGNAL_EXITS
    if status in ("failed", "cancelled", "pruned") and meta.get("status") == "completed":
        meta["status"] = status
        meta["error"] = ending.get("error")
    elif status == "cancelled" and signalled:  # SIGTERM sent to the script, not to naga
        meta["status"] = "cancelled"
        meta["error"] = ending.get("error")
    elif not meta.get("error") and ending.get("error"):
        meta["error"] = ending["error"]
    if ending.get("traceback") and not meta.get("traceback"):
        meta["traceback"] = ending["traceback"]
