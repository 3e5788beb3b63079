"""Metrics read from a wrapped command's printed lines, as Guild's output scalars are.

``epoch 3 loss=0.52 acc=0.91`` printed by a program that knows nothing of naga becomes the
points ``loss = 0.52`` and ``acc = 0.91`` at step 3. What a line holds:

- pairs ``key=number`` and ``key: number`` anywhere in it (``loss: 0.5207 - accuracy: 0.81``,
  ``{'loss': 0.5, 'acc': 0.9}``, ``INFO:root:loss=0.5``); a key starts with a letter or ``_``
  and may hold ``. - /``; a number is an int, a float (``1e-3``), ``nan`` or ``inf``, ended by a
  space, ``, ; | ) ] } %`` or the line's end (so ``12:30:45``, ``v1.2.3`` and ``3.2s`` are not
  numbers here).
- the step: a ``step``/``iter``/``iteration``/``global_step`` value on the line (``step 100``,
  ``step=100``), else an ``epoch`` one (``Epoch 3/10``), else the count of that key's earlier
  points (0, 1, 2 ...). Those keys are steps, not metrics.
- ``--scalars REGEX``: another pattern, applied to each line (``^``/``$`` anchor lines). Named
  groups ``key`` and ``value`` give one pair a match; otherwise each named group is a metric
  of its name (``'loss (?P<loss>\\S+) acc (?P<acc>\\S+)'``); a group ``step`` gives the step.

Only finished lines are read, each in its final state: a progress bar redrawing one line with
``\\r`` (tqdm) counts once, as the terminal last showed it, and colour codes are dropped. At most
``MAX_KEYS`` distinct keys are kept (a program printing hashes as keys floods nothing), and
none that names a secret (``api_key=123456``, ``token: 42``: ``redact.is_secret_arg_name``).

The scanner runs in the output loop, which is naga's hot path: a chunk is looked at only if it
holds a ``=`` or ``:`` (two ``memchr`` in C; a program that prints neither pays nothing else),
and only its finished lines are decoded. Points go to the stream ``metrics/output`` through
the SDK's writer (a thread writing every half second). When the run ends, ``settle`` decides:
if the program logged metrics through the SDK itself, those are the run's and the scanned ones
are dropped; otherwise the scanned points become the run's main stream, which every reader
(``ls``, ``--where``, ``compare``, ``plot``, the dashboard) sees.
"""

from __future__ import annotations

import os
import time

from ..errors import UsageError
from ..redact import is_secret_arg_name

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    import re
    from collections.abc import Callable
    from typing import Any

STREAM = "output"
MAX_KEYS = 100
FLUSH_AT = 3 * 20_000  # calls waiting for the stream's writer (3 list items each)
MAX_LINE = 1 << 16  # an unfinished line longer than this keeps only its tail
STEP_KEYS = frozenset({"step", "global_step", "iter", "iteration", "epoch"})
# A pair is found from its separator: a pattern that starts with ``[:=]`` is searched for in C
# at memchr-like speed, where one that starts with the key tries every letter (5x slower).
# The key is then read backwards from the separator (``_KEY`` on the reversed text).
_SEPARATOR_VALUE = (
    r"[:=][ \t]*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)(?!\w))"
    r"(?![\w.:/=-])"
)
_KEY = r"[ \t]*(['\"]?)([\w.\-/]+)\1(?![^\s,;|(\[{:])"  # reversed: the key ends a delimiter
_STEP = r"(?<![\w.-])(?:global_step|step|iteration|iter)['\"]?[ \t]*[:=#]?[ \t]*(\d+)(?![\w.])"
_EPOCH = r"(?<![\w.-])epoch['\"]?[ \t]*[:=#]?[ \t]*(\d+)(?![\w.])"
_REDRAWN = rb"[^\n]*\r"  # a line's text up to its last carriage return
_ANSI = rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])"
_compiled: dict[str, Any] = {}


def _re(name: str) -> Any:
    """The pattern ``name`` compiled on first use: ``re`` costs ``naga run``'s start-up ~5 ms,
    and a program that prints no ``=`` or ``:`` never needs it."""
    if not _compiled:
        import re

        flags = re.IGNORECASE
        _compiled.update(
            pair=re.compile(_SEPARATOR_VALUE, flags),
            key=re.compile(_KEY),
            step=re.compile(_STEP, flags),
            epoch=re.compile(_EPOCH, flags),
            redrawn=re.compile(_REDRAWN),
            ansi=re.compile(_ANSI),
        )
    return _compiled[name]


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A ``--scalars`` pattern compiled, or a UsageError that says what is wrong with it."""
    import re

    try:
        compiled = re.compile(pattern, re.MULTILINE)
    except (re.error, RecursionError, OverflowError) as exc:
        raise UsageError(f"--scalars {pattern!r} is not a regular expression: {exc}") from None
    names = set(compiled.groupindex)
    if not names - {"step"} or ("key" in names) != ("value" in names):
        raise UsageError(
            f"--scalars {pattern!r} needs named groups: (?P<key>...) and (?P<value>...), or one"
            " group per metric, e.g. 'loss=(?P<loss>[0-9.]+)'"
        )
    return compiled


def _number(text: str) -> float | None:
    try:
        return float(text.strip().rstrip("%"))
    except (ValueError, OverflowError):
        return None


def _step(text: str) -> int | None:
    try:
        step = int(text)
    except (ValueError, TypeError):
        return None
    return step if 0 <= step < 2**63 else None


def final_text(block: bytes) -> str:
    """Finished lines as the terminal last showed them: redraws and colour codes gone."""
    if b"\r" in block:
        block = _re("redrawn").sub(b"", block.replace(b"\r\n", b"\n"))
    if b"\x1b" in block:
        block = _re("ansi").sub(b"", block)
    return block.decode("utf-8", "replace")


def default_points(text: str) -> list[tuple[int | None, str, float]]:
    """(step or None, key, value) for every pair in ``text`` (finished lines), in order."""
    points: list[tuple[int | None, str, float]] = []
    append = points.append
    key_at = _re("key").match
    reverse = text[::-1]
    size = len(text)
    line_end = -1
    step: int | None = None
    for match in _re("pair").finditer(text):
        at = match.start()
        found = key_at(reverse, size - at)
        if found is None:
            continue
        key = found.group(2)[::-1]
        first = key[0]
        if not (first.isascii() and (first.isalpha() or first == "_")):
            continue
        if at > line_end:  # the first pair of another line: its step
            start = text.rfind("\n", line_end + 1, at) + 1 or line_end + 1
            line_end = text.find("\n", at)
            if line_end < 0:
                line_end = size
            step = _line_step(text[start:line_end])
        if key.lower() not in STEP_KEYS:
            append((step, key, float(match.group(1))))
    return points


def _line_step(line: str) -> int | None:
    """The step a line names (``step 100``, ``Epoch 3/10``), or None."""
    low = line.lower()
    found = None
    if "step" in low or "iter" in low:
        found = _re("step").search(line)
    if found is None and "epoch" in low:
        found = _re("epoch").search(line)
    return _step(found.group(1)) if found else None


def pattern_points(pattern: re.Pattern[str], text: str) -> list[tuple[int | None, str, float]]:
    """(step or None, key, value) for what ``pattern`` finds in ``text``."""
    points: list[tuple[int | None, str, float]] = []
    names = [n for n in pattern.groupindex if n not in ("step", "key", "value")]
    pairs = "key" in pattern.groupindex
    for match in pattern.finditer(text):
        groups = match.groupdict()
        step = _step(groups["step"]) if groups.get("step") is not None else None
        found = [(groups["key"], groups["value"])] if pairs else [(n, groups[n]) for n in names]
        for key, raw in found:
            if key and raw is not None:
                value = _number(raw)
                if value is not None:
                    points.append((step, key.strip(), value))
    return points


class Scanner:
    """Reads the command's output chunk by chunk (``feed``) and logs the points it finds into
    a metrics stream made on the first point (``open_stream``). ``check_key`` is the metric
    store's own rule for a key (a ValueError refuses it), given by the caller: the series format
    lives above this package."""

    def __init__(
        self,
        open_stream: Callable[[], Any],
        pattern: str | None = None,
        check_key: Callable[[str], str] = str,
    ) -> None:
        self.open_stream = open_stream
        self.check_key = check_key
        self.pattern = compile_pattern(pattern) if pattern is not None else None
        self.pending: dict[int, bytes] = {}  # per output: its unfinished last line
        self.stream: Any = None
        self.counts: dict[str, int] = {}
        self.refused: set[str] = set()
        self.failed = False

    def feed(self, fd: int, buffer: bytearray, n: int) -> None:
        """A chunk the command wrote (``buffer[:n]``); the hot path: see the module docstring."""
        end = buffer.rfind(b"\n", 0, n) + 1
        pending = self.pending.get(fd, b"")
        if not end:
            self.pending[fd] = _unfinished(pending + buffer[:n])
            return
        if (
            self.pattern is not None
            or buffer.find(b"=", 0, end) >= 0
            or buffer.find(b":", 0, end) >= 0
            or (pending and (b"=" in pending or b":" in pending))
        ):
            self._lines(pending + buffer[:end])
        self.pending[fd] = _unfinished(bytes(buffer[end:n])) if end < n else b""

    def _lines(self, block: bytes) -> None:
        text = final_text(block)
        if self.pattern is None:
            points = default_points(text)
        else:
            points = pattern_points(self.pattern, text)
        if points and not self.failed:
            self._log(points)

    def _log(self, points: list[tuple[int | None, str, float]]) -> None:
        if self.stream is None:
            try:
                self.stream = self.open_stream()
            except Exception:  # a full disk: the command runs on, without output scalars
                self.failed = True
                return
        check_key = self.check_key
        now = time.time()
        counts, extend = self.counts, self.stream.extend
        group: dict[str, float] = {}  # a line's pairs, logged as one call (half the memory)
        group_step = 0
        for step, key, value in points:
            count = counts.get(key)
            if count is None:
                if (
                    key in self.refused
                    or len(counts) >= MAX_KEYS
                    or key.startswith("sys/")
                    or is_secret_arg_name(key)  # api_key=123456 printed: no metric
                ):
                    self.refused.add(key)
                    continue
                try:
                    check_key(key)
                except ValueError:
                    self.refused.add(key)
                    continue
                count = 0
            counts[key] = count + 1
            at = count if step is None else step
            if group and (at != group_step or key in group):
                extend((group_step, now, group))
                group = {}
            group_step = at
            group[key] = value
        if group:
            extend((group_step, now, group))
        if (
            len(self.stream.flat) > FLUSH_AT
        ):  # the writer thread lags: write here, in bounded memory
            self.stream.write()

    def close(self) -> None:
        """The command is over: its last unfinished lines count as finished; write it all."""
        for pending in list(self.pending.values()):
            if pending:
                self._lines(pending + b"\n")
        self.pending.clear()
        if self.stream is not None:
            self.stream.close()


def _unfinished(data: bytes | bytearray) -> bytes:
    """An unfinished line as it stands: what follows its last ``\\r`` (a redraw; not one that
    ends it, which may be the first half of ``\\r\\n``), at most MAX_LINE bytes."""
    cut = data.rfind(b"\r", 0, len(data) - 1)
    if cut >= 0:
        data = data[cut + 1 :]
    return bytes(data[-MAX_LINE:])


def settle(metrics_dir: str, attempt: int) -> None:
    """At the run's end: the scanned points become the main stream, unless the program logged
    metrics through the SDK in this attempt (then those are the run's, and these go)."""
    from ..store.sdkstate import attempt_stream, read_state, split_stream

    own = os.path.join(metrics_dir, attempt_stream(STREAM, attempt))
    if not os.path.isdir(own):
        return
    import shutil

    for name in os.listdir(metrics_dir):
        base, number = split_stream(name)
        if number != attempt or base in (STREAM, "sys"):
            continue
        if read_state(os.path.join(metrics_dir, name, "state.json")).get("metrics"):
            shutil.rmtree(own, ignore_errors=True)
            return
    main = os.path.join(metrics_dir, attempt_stream("main", attempt))
    if not os.path.exists(main):
        os.rename(own, main)
        return
    _join(own, main)
    shutil.rmtree(own, ignore_errors=True)


def _join(own: str, main: str) -> None:
    """The SDK's main stream holds params only: the scanned series move in beside them."""
    from ..jsonsafe import dumps
    from ..store.files import write_atomic
    from ..store.sdkstate import read_state

    state_path = os.path.join(main, "state.json")
    state = read_state(state_path)
    state["metrics"] = read_state(os.path.join(own, "state.json")).get("metrics") or {}
    for name in os.listdir(own):
        if name.endswith(".bin"):
            os.replace(os.path.join(own, name), os.path.join(main, name))
    write_atomic(state_path, dumps(state).encode())
