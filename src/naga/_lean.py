"""Stand-ins for three stdlib helpers on ``naga run``'s start-up path.

``json``, ``shlex`` and ``signal`` import ``re`` and ``enum``, which cost about 15 ms of start-up
on a slow machine: a third of what the wrapper may add to a run. These use the same C parts the
stdlib uses (``_json``, ``_signal``) and fall back to the stdlib where those are missing.
Everything off the hot path uses the stdlib modules directly.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as signals
else:
    try:
        import _signal as signals
    except ImportError:  # not CPython
        import signal as signals

try:
    from _json import encode_basestring as _quote
    from _json import encode_basestring_ascii as _quote_ascii
except ImportError:  # not CPython
    from json.encoder import (
        py_encode_basestring as _quote,
    )
    from json.encoder import (
        py_encode_basestring_ascii as _quote_ascii,
    )

__all__ = ["json_bytes", "keep_signals_off_this_thread", "shell_join", "signal_name", "signals"]

# The signals that stop a run (naga.ending.STOP_SIGNALS, by number: no enum on this path).
_STOPS = (2, 15, 1, 3, 10, 12)  # SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2


def keep_signals_off_this_thread() -> None:
    """Called first thing in each of naga's helper threads (metrics writer, heartbeat, git,
    sampler): the kernel may deliver a process-wide signal to any thread that does not block
    it, and Python runs handlers in the main thread only when that thread next runs. A
    SIGTERM taken by a helper thread while the main thread sleeps would wait for the sleep to
    end; blocked here, it goes to the main thread, which wakes and ends the run at once."""
    try:
        signals.pthread_sigmask(signals.SIG_BLOCK, _STOPS)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask here: nothing to do
        pass


_SHELL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@%+=:,./-_")


def shell_join(argv: list[str]) -> str:
    """``shlex.join``: each argument quoted only when the shell would need it."""
    return " ".join(
        a if a and all(c in _SHELL_SAFE for c in a) else "'" + a.replace("'", "'\"'\"'") + "'"
        for a in argv
    )


def signal_name(number: int) -> str:
    """'SIGINT' for 2: ``signal.Signals(n).name`` without importing enum."""
    for name in dir(signals):
        is_signal = name.startswith("SIG") and not name.startswith("SIG_") and name != "SIGIOT"
        if is_signal and getattr(signals, name) == number:
            return name
    return f"SIG{number}"


def _encode(obj: object, out: list[str], quote: object) -> None:
    q = quote  # encode_basestring or its ASCII twin
    if isinstance(obj, str):
        out.append(q(obj))  # type: ignore[operator]
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(_float(obj))
    elif isinstance(obj, dict):
        out.append("{")
        for i, (key, value) in enumerate(obj.items()):
            out.append(("," if i else "") + q(str(key)) + ":")  # type: ignore[operator]
            _encode(value, out, quote)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for i, value in enumerate(obj):
            if i:
                out.append(",")
            _encode(value, out, quote)
        out.append("]")
    else:
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _float(value: float) -> str:
    """Strict JSON: a NaN or an infinity is written as a string ("NaN", "Infinity"), which
    ``jsonsafe.number`` reads back as the float (bare NaN is rejected by jq and JSON.parse)."""
    if value != value:
        return '"NaN"'
    if value in (float("inf"), float("-inf")):
        return '"Infinity"' if value > 0 else '"-Infinity"'
    return float.__repr__(value)


def json_bytes(obj: object) -> bytes:
    """Compact UTF-8 JSON, as ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``.

    Text that cannot be UTF-8 (undecodable bytes of a path or argument, kept as surrogates)
    makes the whole document fall back to ASCII escapes, so the file is always valid JSON.
    """
    out: list[str] = []
    _encode(obj, out, _quote)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:
        out.clear()
        _encode(obj, out, _quote_ascii)
        return "".join(out).encode("ascii")
