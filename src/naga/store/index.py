"""The SQLite index: a per-host cache of the run directories that answers queries fast.

Run directories are the truth; the index is rebuilt from them whenever it is missing, corrupt or
too old to trust. ``sync()`` brings it up to date cheaply before every query:

1. Which hour directories of ``touched/`` changed since the last sync (their mtime moved)? In
   those, re-read only the runs whose marker is newer than the one already ingested. A run
   written on another host shows up this way; an unchanged store costs one stat per hour kept.
2. Runs the index believes are running: ask the liveness check whether their owner is alive; a
   dead owner turns the run ``crashed`` (recorded in its meta.json too).

Hour directories untouched for ``MARKER_TTL_S`` are pruned; an index not synced for that long
compares every record's meta.json mtime with the one it indexed and re-reads what moved, so it
never misses a change whose marker is gone (a stat per run rather than a read and a parse).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from .. import jsonsafe
from .._lean import json_bytes
from ..errors import NagaError, RunNotFound, StoreError
from ..text import printable
from . import liveness
from .files import apply_verdict, load_meta, touch_marker, write_atomic
from .layout import StoreLayout
from .leftovers import aborted_start
from .schema import is_corrupt, migrate
from .timefmt import iso_from_ts, parse_iso, utc_now_iso

MARKER_TTL_S = 7 * 24 * 3600
# A directory mtime this recent may still move within the same clock tick: don't trust it yet.
RACY_S = 2.0
PRIVATE_KEYS = ("owner",)
# What `ls --json` leaves to `show --json`: bulky, and not what one lists runs by.
DETAIL_KEYS = ("owner", "env", "traceback")
INSERT_RUN = (
    "INSERT OR REPLACE INTO runs (id, name, status, started_at, finished_at, duration_s,"
    " exit_code, command, host, git_commit, git_dirty, owner, meta_ns, doc, parent_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_PARAM = "INSERT OR REPLACE INTO params (run_id, key, value, num) VALUES (?, ?, ?, ?)"
INSERT_METRIC = (
    "INSERT OR REPLACE INTO metrics (run_id, key, last, min, max, count, step)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
PER_RUN_TABLES = ("tags", "params", "metrics")


def _mtime_ns(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _record_ns(layout: StoreLayout, run_id: str) -> int | None:
    """When the run's record last changed: meta.json, or its edit log (``store.edit``: a new
    edit file moves the directory's mtime), whichever is later."""
    meta_ns = _mtime_ns(layout.meta(run_id))
    edits_ns = _mtime_ns(layout.edits_dir(run_id))
    if meta_ns is None or edits_ns is None:
        return meta_ns
    return max(meta_ns, edits_ns)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def public_doc(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in PRIVATE_KEYS}


def summary_doc(meta: dict[str, Any]) -> dict[str, Any]:
    """The run as the index keeps it: everything but the environment and untracked file list."""
    doc = {k: v for k, v in meta.items() if k not in DETAIL_KEYS}
    if isinstance(doc.get("git"), dict) and "untracked" in doc["git"]:
        doc["git"] = {k: v for k, v in doc["git"].items() if k != "untracked"}
    return doc


def _dumps(obj: object) -> str:
    """Compact strict JSON (``ls --json`` prints it as it is stored)."""
    text = jsonsafe.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes of an argument or path, kept as surrogates
            text = jsonsafe.dumps(obj, separators=(",", ":"))
    return text


def _row(meta: dict[str, Any], meta_ns: int | None) -> tuple[Any, ...]:
    git = meta.get("git") or {}
    return (
        meta["id"],
        None if meta.get("name") is None else printable(meta["name"]),
        printable(meta.get("status", "running")),
        printable(meta.get("started_at") or ""),
        _text(meta.get("finished_at")),
        meta.get("duration_s"),
        meta.get("exit_code"),
        printable(meta.get("command") or ""),
        printable(str(meta.get("host"))),
        _text(git.get("commit")),
        None if not git else int(bool(git.get("dirty"))),
        json.dumps(meta.get("owner")),
        meta_ns,
        _dumps(summary_doc(meta)),
        _text(meta.get("parent_id")),
    )


INT64 = 2**63
ABORTED = (
    "its start was cut short (naga run killed, or the disk full, before its record was"
    " written); `naga gc` removes it"
)
MEMORY = ":memory:"


def _text(value: Any) -> str | None:
    """A string column's value: text that SQLite can hold (bytes that were not UTF-8, kept in
    records as surrogates, shown as U+FFFD), or NULL for anything else."""
    return printable(value) if isinstance(value, str) else None


def _usable(name: str) -> bool:
    """A directory entry that can be a run id, an hour or a marker: not hidden, and text (a
    name of undecodable bytes in a shared store names no run naga made)."""
    return not name.startswith(".") and printable(name) == name


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value) if value == value else None  # SQLite has no NaN
    except OverflowError:  # an int beyond a double: its sign, as infinity
        return float("inf") if value > 0 else float("-inf")


def _int64(value: Any) -> int | None:
    return value if isinstance(value, int) and -INT64 <= value < INT64 else None


def _param_rows(meta: dict[str, Any]) -> list[tuple[Any, ...]]:
    params = meta.get("params")
    if not isinstance(params, dict):
        return []
    return [(meta["id"], printable(str(k)), _dumps(v), _number(v)) for k, v in params.items()]


def _metric_rows(meta: dict[str, Any]) -> list[tuple[Any, ...]]:
    stats = meta.get("metric_stats")
    if not isinstance(stats, dict):
        return []
    return [
        (
            meta["id"],
            printable(str(key)),
            _number(s.get("last")),
            _number(s.get("min")),
            _number(s.get("max")),
            _int64(s.get("count")),
            _int64(s.get("step")),
        )
        for key, s in stats.items()
        if isinstance(s, dict)
    ]


def _use_wal(conn: sqlite3.Connection, timeout: float = 30.0) -> None:
    """Switch to WAL, waiting out another connection that is creating the same new file:
    the switch gets SQLITE_BUSY at once, without the busy handler's wait."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class Index:
    """The index of one store. ``path`` puts it outside the store (a store naga cannot write:
    a read-only mount, a full disk); such an index never writes into the store either."""

    def __init__(self, layout: StoreLayout, *, path: str | None = None) -> None:
        self.layout = layout
        self.readonly = path is not None
        self.path = path or layout.index_file(liveness.hostname())
        self.warnings: list[str] = []
        self.conn = self._open()

    # -- opening -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection:
        if not self.readonly:
            self.layout.ensure()
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise StoreError(f"cannot use the index {self.path}: {exc}") from exc
            with self._exclusive():
                try:  # another naga may have replaced it while this one waited
                    return self._connect()
                except sqlite3.DatabaseError:
                    self.warnings.append(f"the index {self.path} was corrupt; rebuilt it")
                    self._delete_files()
                    return self._connect()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One rebuild at a time on this host (flock; where the filesystem has none, go on)."""
        if self.path == MEMORY:
            yield
            return
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def reset(self) -> None:
        """Throw away a corrupt index and start a fresh one (rebuilt by the next sync)."""
        self.conn.close()
        with self._exclusive():
            self._delete_files()
        self.conn = self._connect()
        self.warnings.append(f"the index {self.path} was corrupt; rebuilt it")

    def _delete_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- state -------------------------------------------------------------------------------

    def _state(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_state(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))

    # -- writing rows ------------------------------------------------------------------------

    def upsert(self, conn: sqlite3.Connection, meta: dict[str, Any], meta_ns: int | None) -> None:
        conn.execute(INSERT_RUN, _row(meta, meta_ns))
        for table in PER_RUN_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (meta["id"],))  # noqa: S608
        tags = {printable(str(t)) for t in meta.get("tags") or []}
        conn.executemany(
            "INSERT INTO tags (run_id, tag) VALUES (?, ?)", [(meta["id"], t) for t in tags]
        )
        conn.executemany(INSERT_PARAM, _param_rows(meta))
        conn.executemany(INSERT_METRIC, _metric_rows(meta))
        conn.execute("DELETE FROM skipped WHERE run_id = ?", (meta["id"],))

    def forget(self, conn: sqlite3.Connection, run_id: str) -> None:
        conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        for table in (*PER_RUN_TABLES, "skipped"):
            conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))  # noqa: S608

    def _read(self, run_id: str) -> tuple[dict[str, Any], int | None] | str | None:
        """A run's record with its meta.json mtime (taken first, so a newer file is never
        mistaken for the one read); the reason it cannot be read; None when there is none."""
        meta_ns = _record_ns(self.layout, run_id)
        try:
            return load_meta(self.layout, run_id), meta_ns
        except RunNotFound:  # gone, or being created and without meta.json yet
            return None
        except StoreError as exc:  # corrupt or unreadable: reported by ls, never fatal
            return str(exc)

    def ingest(self, conn: sqlite3.Connection, run_id: str) -> None:
        """Re-read one run directory into the index (or drop it if the directory is gone)."""
        found = self._read(run_id)
        if isinstance(found, tuple):
            self.upsert(conn, *found)
            return
        self.forget(conn, run_id)
        if isinstance(found, str):
            sql = "INSERT OR REPLACE INTO skipped (run_id, reason) VALUES (?, ?)"
            conn.execute(sql, (run_id, printable(found)))

    # -- syncing -----------------------------------------------------------------------------

    def sync(self) -> None:
        last = self._state("last_sync")
        if last is None:
            self.rebuild(unless_rebuilt_since=time.time() - 60)
            return
        if time.time() - float(last) > MARKER_TTL_S - 3600:
            # Away longer than markers are kept: check every record's mtime, read what moved.
            with self._exclusive():
                self._rebuild(full=False)
        self._sync_markers()
        self._check_running()
        self._sync_markers()
        self._check_running()

    def _sync_markers(self) -> None:
        """Re-read the runs whose markers changed, looking only into hours whose mtime moved."""
        now = time.time()
        known = dict(self.conn.execute("SELECT name, mtime_ns FROM buckets").fetchall())
        current = self._bucket_mtimes()
        changed = [b for b, ns in current.items() if known.get(b) != ns]
        gone = [b for b in known if b not in current]
        if not changed and not gone:
            return
        with self.transaction() as conn:
            for bucket in changed:
                self._sync_bucket(conn, bucket)
                trusted = now - current[bucket] / 1e9 > RACY_S
                conn.execute(
                    "INSERT OR REPLACE INTO buckets (name, mtime_ns) VALUES (?, ?)",
                    (bucket, current[bucket] if trusted else -1),
                )
            for bucket in gone:
                conn.execute("DELETE FROM buckets WHERE name = ?", (bucket,))
                conn.execute("DELETE FROM markers WHERE bucket = ?", (bucket,))
            self._prune_buckets(conn, current, now)
            self._set_state(conn, "last_sync", repr(now))

    def _bucket_mtimes(self) -> dict[str, int]:
        buckets: dict[str, int] = {}
        try:
            names = os.listdir(self.layout.touched_dir)
        except FileNotFoundError:
            if not self.readonly:
                self.layout.ensure()
            return buckets
        for name in names:
            if _usable(name):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    buckets[name] = os.stat(self.layout.bucket(name)).st_mtime_ns
        return buckets

    def _scan_bucket(self, bucket: str) -> dict[str, int]:
        markers: dict[str, int] = {}
        with (
            contextlib.suppress(FileNotFoundError, NotADirectoryError),
            os.scandir(self.layout.bucket(bucket)) as entries,
        ):
            for entry in entries:
                if _usable(entry.name):
                    with contextlib.suppress(FileNotFoundError):
                        markers[entry.name] = entry.stat().st_mtime_ns
        return markers

    def _sync_bucket(self, conn: sqlite3.Connection, bucket: str) -> None:
        seen = dict(
            conn.execute("SELECT run_id, mtime_ns FROM markers WHERE bucket = ?", (bucket,))
        )
        for run_id, marker_ns in self._scan_bucket(bucket).items():
            if seen.get(run_id) != marker_ns:
                self.ingest(conn, run_id)
                conn.execute(
                    "INSERT OR REPLACE INTO markers (bucket, run_id, mtime_ns) VALUES (?, ?, ?)",
                    (bucket, run_id, marker_ns),
                )

    def _prune_buckets(self, conn: sqlite3.Connection, buckets: dict[str, int], now: float) -> None:
        """Hours untouched for MARKER_TTL_S were seen by every index synced since: drop them."""
        cutoff = (now - MARKER_TTL_S) * 1e9
        for bucket, mtime_ns in buckets.items():
            if 0 <= mtime_ns < cutoff:
                if not self.readonly:
                    shutil.rmtree(self.layout.bucket(bucket), ignore_errors=True)
                conn.execute("DELETE FROM buckets WHERE name = ?", (bucket,))
                conn.execute("DELETE FROM markers WHERE bucket = ?", (bucket,))

    def _check_running(self) -> None:
        rows = self.conn.execute("SELECT id, owner FROM runs WHERE status = 'running'").fetchall()
        dead = []
        clock = self.layout.clock(liveness.hostname())
        for run_id, owner_json in rows:
            owner = json.loads(owner_json or "null") or {}
            if not liveness.owner_is_alive(owner, self.layout.heartbeat(run_id), clock):
                dead.append(run_id)
        if not dead:
            return
        with self.transaction() as conn:
            for run_id in dead:
                self._mark_crashed(conn, run_id)

    def _mark_crashed(self, conn: sqlite3.Connection, run_id: str) -> None:
        try:
            meta = load_meta(self.layout, run_id)
        except NagaError:
            self.ingest(conn, run_id)
            return
        if meta.get("status") == "running":  # it may have finished since the index last looked
            # The last sign of life: its last heartbeat or its last output, whichever is later.
            output = _stat(self.layout.output(run_id))
            beat = liveness.last_heartbeat(self.layout.heartbeat(run_id))
            signs = [t for t in (beat, output and output.st_mtime) if t]
            ended = max(signs) if signs else time.time()
            started = parse_iso(meta.get("started_at"))
            verdict = {
                "status": "crashed",
                "finished_at": iso_from_ts(ended),
                "duration_s": None if started is None else round(max(0.0, ended - started), 3),
                "output_bytes": output.st_size if output else 0,
                "error": "the naga process recording this run stopped without finishing it",
                "decided_at": utc_now_iso(),
                "decided_by": liveness.hostname(),
            }
            try:
                if self.readonly:  # another naga, one that can write there, records it
                    raise StoreError("the store is read-only here")
                write_atomic(self.layout.verdict(run_id), json_bytes(verdict))
                touch_marker(self.layout, run_id)  # other hosts' indexes learn it too
                with contextlib.suppress(OSError):
                    os.unlink(self.layout.reserve(run_id))  # its owner will not need it now
            except StoreError as exc:  # a full or read-only disk: this index still knows
                if not self.readonly:
                    self.warnings.append(
                        f"run {run_id} crashed, but its record cannot say so: {exc}"
                    )
            apply_verdict(meta, verdict)
        self.upsert(conn, meta, _record_ns(self.layout, run_id))

    def rebuild(self, *, unless_rebuilt_since: float | None = None) -> int:
        """Rebuild the index from every run directory; returns the number of runs indexed.

        With ``unless_rebuilt_since``, a rebuild another naga finished after that time (while
        this one waited for the lock) is taken as it is.
        """
        with self._exclusive():
            last = self._state("last_rebuild")
            if unless_rebuilt_since is None or last is None or float(last) < unless_rebuilt_since:
                self._rebuild(full=True)
        self._check_running()
        return int(self.conn.execute("SELECT count(*) FROM runs").fetchone()[0])

    def _rebuild(self, *, full: bool) -> None:
        """Index every run directory: all of them read (``full``), or only those whose meta.json
        mtime differs from the one indexed (a stat per run instead of a read and a parse)."""
        now = time.time()
        # Markers first: a change made while the runs are read is picked up by the next sync.
        buckets = self._bucket_mtimes()
        markers = [(b, r, ns) for b in buckets for r, ns in self._scan_bucket(b).items()]
        if not self.readonly:
            self.layout.ensure()
        run_ids = self._run_dirs()
        with self.transaction() as conn:
            if full:
                for table in ("runs", "skipped", *PER_RUN_TABLES):
                    conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names; truncates
            else:
                run_ids = self._changed(conn, run_ids)
            for table in ("markers", "buckets"):
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
            self._bulk_insert(conn, run_ids)
            conn.executemany(
                "INSERT INTO markers (bucket, run_id, mtime_ns) VALUES (?, ?, ?)", markers
            )
            conn.executemany(
                "INSERT INTO buckets (name, mtime_ns) VALUES (?, ?)",
                [(b, ns if now - ns / 1e9 > RACY_S else -1) for b, ns in buckets.items()],
            )
            self._set_state(conn, "last_sync", repr(now))
            if full:
                self._set_state(conn, "last_rebuild", repr(now))

    def _run_dirs(self) -> list[str]:
        """Every run directory's name (a symlink to one, too: ``load_meta`` judges it)."""
        try:
            with os.scandir(self.layout.runs_dir) as entries:
                return [e.name for e in entries if _usable(e.name) and e.is_dir()]
        except FileNotFoundError:
            return []

    def _changed(self, conn: sqlite3.Connection, run_ids: list[str]) -> list[str]:
        """Runs to re-read; drops from the index the runs whose directories are gone."""
        indexed = dict(conn.execute("SELECT id, meta_ns FROM runs").fetchall())
        damaged = {r for (r,) in conn.execute("SELECT run_id FROM skipped")}
        present = set(run_ids)
        for run_id in [r for r in indexed if r not in present] + [
            r for r in damaged if r not in present
        ]:
            self.forget(conn, run_id)
        changed = []
        for run_id in run_ids:
            if run_id in damaged or indexed.get(run_id, -1) != _record_ns(self.layout, run_id):
                self.forget(conn, run_id)
                changed.append(run_id)
        return changed

    def _bulk_insert(self, conn: sqlite3.Connection, run_ids: list[str]) -> None:
        rows: list[tuple[Any, ...]] = []
        tags: list[tuple[str, str]] = []
        params: list[tuple[Any, ...]] = []
        metrics: list[tuple[Any, ...]] = []
        skipped: list[tuple[str, str]] = []
        for run_id in run_ids:
            found = self._read(run_id)
            if isinstance(found, tuple):
                rows.append(_row(*found))
                tags.extend((run_id, t) for t in {printable(str(t)) for t in found[0]["tags"]})
                params.extend(_param_rows(found[0]))
                metrics.extend(_metric_rows(found[0]))
            elif isinstance(found, str):
                skipped.append((run_id, printable(found)))
            elif aborted_start(self.layout, run_id, time.time()):
                skipped.append((run_id, ABORTED))
        conn.executemany(INSERT_RUN, rows)
        conn.executemany(INSERT_PARAM, params)
        conn.executemany(INSERT_METRIC, metrics)
        conn.executemany("INSERT INTO tags (run_id, tag) VALUES (?, ?)", tags)
        conn.executemany("INSERT INTO skipped (run_id, reason) VALUES (?, ?)", skipped)

    def skipped(self) -> list[tuple[str, str]]:
        return [
            (str(a), str(b)) for a, b in self.conn.execute("SELECT run_id, reason FROM skipped")
        ]
