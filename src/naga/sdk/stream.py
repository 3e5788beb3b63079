"""One process's metrics for one run: ``log`` appends to a list, a background thread writes.

The caller's cost is one ``list.extend`` of ``(step, time, copy of the dict)`` onto a flat list:
atomic under the GIL, so threads need no lock; and a dict holding only numbers is never tracked
by the cyclic garbage collector, so a million of them waiting cost no collection time. Every
``TICK_S`` the writer thread takes what accumulated (``del flat[:n]`` after copying ``flat[:n]``
is atomic too, so nothing added meanwhile is lost), takes each key's column out in C
(``map(itemgetter(key), dicts)`` when every call logged the same keys; slices of the flattened
values when the keys come in a cycle, as ``loss`` then ``acc``; a stable sort by key otherwise)
into an ``array``, and appends one chunk per metric to its series file. Between writes nothing
is held in a file buffer, so a SIGKILL loses at most the last tick; ``flush()`` also fsyncs, for a
machine crash.

``state.json`` beside the series holds the stream's params, a summary per metric (last, min,
max, count, step) and, when the SDK ended the run itself, that ending. Readers (``naga ls``, the
index) take params and summaries from there instead of reading series.
"""

from __future__ import annotations

import math
import os
import threading
from array import array
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from .._lean import json_bytes, keep_signals_off_this_thread
from ..errors import StoreError
from ..store.files import write_atomic
from ..store.timefmt import utc_now_iso
from . import series

TICK_S = 0.5
STATE_FILE = "state.json"
MAX_OPEN = 64
SYNC_SERIAL_MAX = 4  # more series than this to fsync: from SYNC_THREADS threads at once
SYNC_THREADS = 16


def _state_bytes(doc: dict[str, Any]) -> bytes:
    """state.json's bytes: the C encoder (json_bytes, pure Python, took 50 ms a tick for a
    thousand keys), the lean one for what the C encoder would write wrong: text that cannot
    be UTF-8 (surrogates), and NaN or infinities (strict JSON: written as "NaN" strings)."""
    import json

    try:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (UnicodeEncodeError, ValueError):
        return json_bytes(doc)


def _write_error(key: str, path: str, exc: OSError) -> StoreError:
    return StoreError(f"cannot write metric {key!r} to {path}: {exc.strerror or exc}")


def _nan_free(values: list[Any], pick: Any) -> float:
    """min/max ignoring NaN (Python's min() returns NaN when the first value is one)."""
    try:
        found = pick(values)
        if found == found:
            return float(found)
        clean = [v for v in values if v == v]
        return float(pick(clean)) if clean else math.nan
    except OverflowError:  # an int beyond a double
        return _nan_free([_clamp(v) for v in values], pick)


def _clamp(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _pick(a: float, b: float, pick: Any) -> float:
    """min or max of two values where NaN means "none yet"."""
    if a != a:
        return b
    return a if b != b else float(pick(a, b))


STEP_MIN, STEP_MAX = -(2**63), 2**63 - 1


def _as_steps(steps: list[int]) -> tuple[array, bool]:  # type: ignore[type-arg]
    """Steps as int64, and whether some had to be clamped to fit."""
    try:
        return array("q", steps), False
    except OverflowError:
        return array("q", [max(STEP_MIN, min(STEP_MAX, s)) for s in steps]), True


def _as_floats(values: list[Any]) -> array:  # type: ignore[type-arg]
    try:
        return array("d", values)
    except OverflowError:  # an int too large for a double: the sign survives, as infinity
        return array("d", [_clamp(v) for v in values])


Columns = tuple[list[int], list[float], list[Any]]  # one key's steps, wall times, values
PERIOD_TRIES = 16


def by_key(flat: list[Any]) -> dict[Any, Columns]:
    """Each key's steps, times and values, in the order logged; ``flat`` holds calls as
    ``step, time, dict``. Taken apart in C whatever the mix of keys: Python-level work per
    call (or per run of calls with the same keys, which a loop logging ``loss`` and ``acc`` in
    turn makes one call long) held the GIL long enough to slow the logging loop eightfold."""
    steps, times, dicts = flat[0::3], flat[1::3], flat[2::3]
    if not dicts:
        return {}
    keys = tuple(dicts[0])
    counts = list(map(len, dicts))
    # The usual case, checked in C: every dict has as many keys as the first and all of the
    # first's keys (so the same keys, in whatever order).
    if counts.count(len(keys)) == len(dicts):
        try:
            return {k: (steps, times, c) for k, c in zip(keys, _columns(keys, dicts), strict=True)}
        except KeyError:
            pass
    # Keys vary: one item per value logged, each with its call's step and time.
    names = list(chain.from_iterable(dicts))
    values = list(chain.from_iterable(map(dict.values, dicts)))
    if len(names) != len(dicts):
        steps = list(chain.from_iterable(map(repeat, steps, counts)))
        times = list(chain.from_iterable(map(repeat, times, counts)))
    period = _period(names)
    if period:
        return _by_phase(names, steps, times, values, period)
    return _by_sort(names, steps, times, values)


def _columns(keys: tuple[str, ...], dicts: list[dict[str, Any]]) -> list[list[Any]]:
    if len(keys) == 1:
        return [list(map(itemgetter(keys[0]), dicts))]
    if not keys:
        return []
    values = list(chain.from_iterable(map(itemgetter(*keys), dicts)))
    return [values[j :: len(keys)] for j in range(len(keys))]


def _period(names: list[Any]) -> int:
    """The length of the cycle the keys repeat in (``loss, acc, loss, acc``: 2), if short
    enough to be worth it; else 0."""
    first, candidate = names[0], 0
    for _ in range(PERIOD_TRIES):
        try:
            candidate = names.index(first, candidate + 1)
        except ValueError:
            return 0
        if candidate * 4 > len(names):
            return 0
        if names[candidate:] == names[:-candidate]:
            return candidate
    return 0


def _by_phase(
    names: list[Any], steps: list[int], times: list[float], values: list[Any], period: int
) -> dict[Any, Columns]:
    """Items ``j, j + period, ...`` share a key: each key's columns are slices."""
    phases: dict[Any, list[int]] = {}
    for j in range(period):
        phases.setdefault(names[j], []).append(j)
    out: dict[Any, Columns] = {}
    for key, js in phases.items():
        if len(js) == 1:
            j = js[0]
            out[key] = (steps[j::period], times[j::period], values[j::period])
        else:  # a key logged at several places in the cycle: interleave them
            out[key] = (
                _interleave(steps, js, period),
                _interleave(times, js, period),
                _interleave(values, js, period),
            )
    return out


def _interleave(column: list[Any], js: list[int], period: int) -> list[Any]:
    parts = [column[j::period] for j in js]
    merged: list[Any] = [None] * sum(map(len, parts))
    for r, part in enumerate(parts):  # the earlier phases are the ones a cut cycle has
        merged[r :: len(parts)] = part
    return merged


def _by_sort(
    names: list[Any], steps: list[int], times: list[float], values: list[Any]
) -> dict[Any, Columns]:
    """Any mix: a stable sort of the items by key (in C), then one slice per key."""
    from collections import Counter

    sizes = Counter(names)  # keys in order of first appearance, as the codes below
    codes = {key: i for i, key in enumerate(sizes)}
    order = sorted(range(len(names)), key=list(map(codes.__getitem__, names)).__getitem__)
    columns = [list(map(c.__getitem__, order)) for c in (steps, times, values)]
    out: dict[Any, Columns] = {}
    start = 0
    for key, size in sizes.items():
        end = start + size
        out[key] = (columns[0][start:end], columns[1][start:end], columns[2][start:end])
        start = end
    return out


class Stream:
    """Metrics and params of one process in one run, kept in ``directory``."""

    def __init__(
        self,
        directory: str,
        on_state: Any = None,
        *,
        background: bool = True,
        reserved: bool = False,
    ) -> None:
        """``background=False``: no writer thread; the owner calls ``write()`` itself (the
        system sampler does, after each sample, rather than keep a thread waking for nothing).
        ``reserved``: the stream may hold naga's own ``sys/`` keys."""
        self.reserved = reserved
        self._good_keys: set[Any] = set()
        self._bad_keys: set[Any] = set()
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.flat: list[Any] = []
        self.extend = self.flat.extend
        self.params: dict[str, Any] = {}
        self.summary: dict[str, list[Any]] = {}  # key -> [last, min, max, count, step]
        self.ending: dict[str, Any] | None = None
        self.error: str | None = None
        self._on_state = on_state  # called after state.json changed (touches the run's marker)
        self._fds: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._unsynced: set[str] = set()  # written since the last fsync
        self._written = False
        self._dirty_state = True
        self._load_state()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._loop, name="naga-metrics", daemon=True)
            self._thread.start()

    def _load_state(self) -> None:
        """A stream reopened (a second `naga.run()` under the same `naga run`) carries on."""
        import json

        try:
            with open(os.path.join(self.directory, STATE_FILE), "rb") as f:
                state = json.loads(f.read())
            self.params.update(state.get("params") or {})
            if isinstance(state.get("ending"), dict):
                self.ending = state["ending"]
            for key, s in (state.get("metrics") or {}).items():
                self.summary[key] = [s["last"], s["min"], s["max"], s["count"], s["step"]]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return

    def next_step(self) -> int:
        steps = [s[4] for s in self.summary.values() if isinstance(s[4], int)]
        return max(steps) + 1 if steps else 0

    # -- the writer thread -----------------------------------------------------------------

    def _loop(self) -> None:
        keep_signals_off_this_thread()
        from .termination import wake_main_thread

        while not self._stop.wait(TICK_S):
            try:
                self.write()
            except Exception as exc:  # a full disk, or a bug: say it once, keep the run going
                self.warn(str(exc))
            wake_main_thread()  # a stop signal the main thread slept through

    def warn(self, message: str) -> None:
        if self.error is None:
            from ..notices import warn

            warn(message)
        self.error = message

    def write(self, *, durable: bool = False) -> None:
        """Write what was logged so far (and state.json when it changed); with ``durable``,
        fsync it too. Raises StoreError when the disk refuses (what could be written is)."""
        with self._write_lock:
            n = len(self.flat)
            if n:
                batch = self.flat[:n]
                del self.flat[:n]
                try:
                    self._write_batch(batch)
                except StoreError:
                    raise  # the disk refused: that batch is lost, and the user is told
                except BaseException:
                    if not self._written:  # interrupted (SIGTERM) before writing: close() will
                        self.flat[0:0] = batch
                    raise
            if durable:
                self._sync()
            if self._dirty_state or durable:
                self._write_state(durable)

    def _sync(self) -> None:
        keys = list(self._unsynced)
        if len(keys) > SYNC_SERIAL_MAX:
            self._sync_parallel(keys)
            return
        for key in keys:
            try:
                fd = self._fd(key)
                os.fdatasync(fd)
            except OSError as exc:
                raise _write_error(key, self._path(key), exc) from exc
            self._unsynced.discard(key)

    def _sync_parallel(self, keys: list[str]) -> None:
        """fsync many series at once from several threads: the filesystem commits them
        together (1,000 keys: 0.1-0.3 s on ext4, against 2-4 s one after the other)."""
        pending = list(keys)
        failed: dict[str, OSError] = {}

        def worker() -> None:
            keep_signals_off_this_thread()
            while pending:
                try:
                    key = pending.pop()  # atomic: each key to one worker
                except IndexError:
                    return
                try:
                    fd = os.open(self._path(key), os.O_WRONLY | os.O_APPEND)
                    try:
                        os.fdatasync(fd)
                    finally:
                        os.close(fd)
                except OSError as exc:
                    failed[key] = exc

        threads = [threading.Thread(target=worker) for _ in range(min(SYNC_THREADS, len(keys)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._unsynced.difference_update(k for k in keys if k not in failed)
        for key, exc in failed.items():
            raise _write_error(key, self._path(key), exc) from exc

    def _write_batch(self, batch: list[Any]) -> None:
        self._written = False
        failure: StoreError | None = None
        converted: dict[int, tuple[array, array]] = {}  # type: ignore[type-arg]
        for key, (step_list, time_list, column) in by_key(batch).items():
            if not self._key_ok(key):
                continue
            # Keys logged together share their steps and times: converted once
            known = converted.get(id(step_list))
            if known is None:
                steps, clamped = _as_steps(step_list)
                if clamped:
                    self.warn(f"steps beyond 64 bits were logged (e.g. {max(step_list)}); clamped")
                known = converted[id(step_list)] = (steps, array("d", time_list))
            steps, times = known
            values = _as_floats(column)
            try:  # one key that cannot be written must not cost the others theirs
                self._append_chunk(key, series.chunk_parts(steps, times, values))
            except StoreError as exc:
                failure = failure or exc
                continue
            self._written = True
            # min/max on the list: no float to allocate
            low, high = _nan_free(column, min), _nan_free(column, max)
            self._summarise(key, values[-1], steps[-1], len(values), low, high)
        self._dirty_state = True
        if failure is not None:
            raise failure

    def _key_ok(self, key: Any) -> bool:
        """Keys are checked here, once each, not in log(): a bad one is dropped with a
        warning (naga's own sys/ prefix is for the system sampler's stream only)."""
        if key in self._good_keys:
            return True
        try:
            series.check_key(key)
            if not self.reserved and isinstance(key, str) and key.startswith("sys/"):
                raise ValueError(f"metric key {key!r}: sys/ is naga's system metrics")
        except (TypeError, ValueError) as exc:
            if key not in self._bad_keys:
                self._bad_keys.add(key)
                from ..notices import warn

                warn(f"{exc}; its values are not recorded")
            return False
        self._good_keys.add(key)
        return True

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, series.file_name(key))

    def _fd(self, key: str) -> int:
        """An append descriptor for ``key``'s file; at most MAX_OPEN stay open (a run may log
        thousands of keys: it must not use up the process's file limit)."""
        fd = self._fds.pop(key, None)
        if fd is None:
            if len(self._fds) >= MAX_OPEN:
                oldest = next(iter(self._fds))
                os.close(self._fds.pop(oldest))
            fd = os.open(self._path(key), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if key not in self._sizes:
                self._sizes[key] = os.fstat(fd).st_size
        self._fds[key] = fd  # most recently used last
        return fd

    def _append_chunk(self, key: str, parts: list[Any]) -> None:
        fd: int | None = None
        try:
            fd = self._fd(key)
            size = sum(memoryview(p).nbytes for p in parts)
            written = os.writev(fd, parts)
            if written < size:  # a short write (a signal, a nearly full disk): the rest
                view = memoryview(b"".join(bytes(p) for p in parts))[written:]
                while view:
                    view = view[os.write(fd, view) :]
            self._sizes[key] += size
            self._unsynced.add(key)
        except OSError as exc:
            if fd is not None:  # cut a partial chunk off, so later chunks stay readable
                try:
                    os.ftruncate(fd, self._sizes[key])
                except OSError:
                    pass
            raise _write_error(key, self._path(key), exc) from exc

    def _summarise(
        self, key: str, last: float, step: int, count: int, low: float, high: float
    ) -> None:
        known = self.summary.get(key)
        if known is None:
            self.summary[key] = [last, low, high, count, step]
            return
        known[0], known[3], known[4] = last, known[3] + count, step
        known[1], known[2] = _pick(known[1], low, min), _pick(known[2], high, max)

    def state(self) -> dict[str, Any]:
        metrics = {
            key: {"last": s[0], "min": s[1], "max": s[2], "count": s[3], "step": s[4]}
            for key, s in self.summary.items()
        }
        doc: dict[str, Any] = {
            "pid": os.getpid(),
            "updated_at": utc_now_iso(),
            "params": self.params,
            "metrics": metrics,
        }
        if self.ending is not None:
            doc["ending"] = self.ending
        if self.error is not None:
            doc["error"] = self.error
        return doc

    def _write_state(self, durable: bool) -> None:
        self._dirty_state = False
        write_atomic(
            os.path.join(self.directory, STATE_FILE), _state_bytes(self.state()), fsync=durable
        )
        if self._on_state is not None:
            self._on_state()

    # -- what the run calls ------------------------------------------------------------------

    def set_params(self, params: dict[str, Any]) -> None:
        with self._write_lock:
            self.params.update(params)
            self._write_state(durable=False)

    def set_ending(self, ending: dict[str, Any]) -> None:
        with self._write_lock:
            self.ending = ending
            self._dirty_state = True

    def close(self) -> None:
        """Write everything, durably, and stop the writer thread."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(30)
        try:
            self.write(durable=True)
        finally:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
        for key in self._sizes:
            series.compact(self._path(key))
