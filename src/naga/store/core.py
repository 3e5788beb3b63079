"""``Store``: list, select, read and remove runs through the index."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from .. import jsonsafe
from ..errors import NagaError, RunIsRunning, RunNotFound, StoreError
from ..text import printable
from .archivedir import archive_root, has_archive
from .files import load_meta, remove_run_dir
from .index import MEMORY, Index
from .layout import StoreLayout, locate_store
from .query import SORT_COLUMNS, RunFilter, check_keys, resolve, sort_key_parts
from .schema import is_corrupt
from .timefmt import parse_iso

MAX_LIMIT = 2**62


def _check_selector(selector: str) -> None:
    """A selector naga can look up: ids and names are text (``naga show $'\\xff'`` is not)."""
    try:
        selector.encode("utf-8")
    except UnicodeEncodeError:
        raise RunNotFound(f"no run matches '{printable(selector)}'") from None


class Store:
    def __init__(self, root: str) -> None:
        self.layout = StoreLayout(root)
        self._index: Index | None = None
        self._fallback_note: str | None = None

    @classmethod
    def open(cls, cwd: str | None = None) -> Store:
        return cls(locate_store(cwd))

    def exists(self) -> bool:
        """Has anything ever been recorded here? Reading commands never create a store."""
        return self._index is not None or os.path.isdir(self.layout.runs_dir)

    @property
    def index(self) -> Index:
        """The index, synced with the run directories on first use."""
        if self._index is None:
            try:
                self._index = _synced(Index(self.layout))
            except (StoreError, sqlite3.OperationalError, OSError) as exc:
                self._index = self._index_elsewhere(exc)
        return self._index

    def _index_elsewhere(self, exc: Exception) -> Index:
        """The store cannot hold its index (a read-only mount, a full disk): keep one in the
        user's cache directory, else in memory, read from the run directories without writing
        a byte into the store. A full disk is said once; a read-only store is simply read."""
        from .fallback import cache_index_path

        reason = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
        if os.access(self.layout.root, os.W_OK):  # not read-only: full, or broken; say so
            self._fallback_note = f"the index in {self.layout.root} cannot be written ({reason})"
        last: Exception = exc
        for in_memory in (False, True):
            try:
                path = MEMORY if in_memory else cache_index_path(self.layout.root)
                return _synced(Index(self.layout, path=path))
            except (StoreError, sqlite3.OperationalError, OSError) as again:
                last = again
        raise StoreError(f"cannot read the runs in {self.layout.root}: {last}") from last

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    # -- reading ---------------------------------------------------------------------------

    def _select(self, columns: str, flt: RunFilter) -> Iterator[tuple[Any, ...]]:
        where, params = flt.where()
        order, order_params = flt.order()
        sql = f"SELECT {columns} FROM runs{where}{order}"  # noqa: S608 - all values are bound
        params += order_params
        if flt.limit is not None:
            sql += " LIMIT ?"
            params.append(min(flt.limit, MAX_LIMIT))  # more than SQLite counts: all of them
        return self.index.conn.execute(sql, params)

    def runs(self, flt: RunFilter | None = None) -> list[dict[str, Any]]:
        """Run records, newest first, with the elapsed time filled in for running runs."""
        if not self.exists():
            return []
        return [with_elapsed(json.loads(doc)) for (doc,) in self._select("doc", flt or RunFilter())]

    def run_docs(self, flt: RunFilter) -> list[tuple[str, str | None, str, str]]:
        """(id, name, status, JSON record) of each run, newest first: for callers that parse a
        record only when it is read (``naga.runs()``)."""
        if not self.exists():
            return []
        return list(self._select("id, name, status, doc", flt))

    def table_rows(self, flt: RunFilter) -> list[dict[str, Any]]:
        """What `ls` shows, straight from the index columns: no JSON to parse per run."""
        if not self.exists():
            return []
        columns = (
            "id, name, status, started_at, duration_s, git_commit, git_dirty, command, parent_id"
        )
        keys = columns.split(", ")
        now = time.time()
        return [
            with_elapsed(dict(zip(keys, row, strict=True)), now)
            for row in self._select(columns, flt)
        ]

    def runs_json(self, flt: RunFilter) -> Iterator[str]:
        """The same records as JSON text, parsed only where a running run needs its elapsed time.
        The query runs here, so a failing index fails before the caller prints anything."""
        if not self.exists():
            return iter(())
        rows = self._select("status, doc", flt)
        return (
            jsonsafe.dumps(with_elapsed(json.loads(doc))) if status == "running" else doc
            for status, doc in rows
        )

    def values(self, run_ids: list[str], columns: list[str]) -> dict[tuple[str, str], Any]:
        """(run id, column) -> value for ``param.KEY`` / ``metric.KEY`` / bare KEY columns (a
        param if the run has one by that name, else the metric's last value)."""
        found: dict[tuple[str, str], Any] = {}
        if not run_ids or not columns or not self.exists():
            return found
        for start in range(0, len(run_ids), 500):  # within SQLite's limit on bound variables
            batch = run_ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            for column in columns:
                head, dot, rest = column.partition(".")
                scope, key = (head, rest) if dot and head in ("param", "metric") else ("", column)
                key = printable(key)  # as the index holds keys
                if scope in ("", "metric"):
                    sql = f"SELECT run_id, last FROM metrics WHERE key = ? AND run_id IN ({marks})"  # noqa: S608
                    for run_id, value in self.index.conn.execute(sql, [key, *batch]):
                        found[(run_id, column)] = value
                if scope in ("", "param"):
                    sql = f"SELECT run_id, value FROM params WHERE key = ? AND run_id IN ({marks})"  # noqa: S608
                    for run_id, value in self.index.conn.execute(sql, [key, *batch]):
                        found[(run_id, column)] = json.loads(value)
        return found

    def statuses(self, ids: list[str]) -> dict[str, str]:
        """The index's status of each of ``ids`` (those it knows), in batches of 500 ids, one
        parameter each (SQLite's limit on a statement's parameters)."""
        found: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            sql = f"SELECT id, status FROM runs WHERE id IN ({','.join('?' * len(batch))})"  # noqa: S608
            found.update(self.index.conn.execute(sql, batch).fetchall())
        return found

    def children(self, run_id: str) -> list[dict[str, Any]]:
        sql = "SELECT id, name, status FROM runs WHERE parent_id = ? ORDER BY started_at"
        rows = self.index.conn.execute(sql, (run_id,)).fetchall()
        return [{"id": r[0], "name": r[1], "status": r[2]} for r in rows]

    def table_columns(self, flt: RunFilter) -> list[tuple[Any, ...]]:
        """``table_rows`` column by column (id, name, status, started_at, duration_s,
        git_commit, git_dirty, command, parent_id), transposed in C: `ls --all` lays out
        100,000 runs without making a dict for each (half its time)."""
        names = (
            "id, name, status, started_at, duration_s, git_commit, git_dirty, command, parent_id"
        )
        rows = list(self._select(names, flt)) if self.exists() else []
        columns = list(zip(*rows, strict=True)) or [() for _ in names.split(", ")]
        if "running" in columns[2]:  # their elapsed time, as with_elapsed gives it
            seconds, now = list(columns[4]), time.time()
            for i, (status, started) in enumerate(zip(columns[2], columns[3], strict=True)):
                if status == "running":
                    doc = {"status": status, "started_at": started, "duration_s": seconds[i]}
                    seconds[i] = with_elapsed(doc, now)["duration_s"]
            columns[4] = tuple(seconds)
        return columns

    def check_keys(self, flt: RunFilter) -> None:
        """UsageError naming the closest known key when a ``--where`` or ``--sort`` key is a
        param or metric that no run has (a typo would otherwise list nothing, silently)."""
        if not self.exists():
            return
        keys = [(c.scope, c.key) for c in flt.conditions]
        sort = (flt.sort or "").lstrip("-+")
        if sort and sort.lower() not in SORT_COLUMNS:
            keys.append(sort_key_parts(sort))
        check_keys(self.index.conn, keys)

    def count(self, flt: RunFilter | None = None) -> int:
        if not self.exists():
            return 0
        where, params = (flt or RunFilter()).where()
        sql = f"SELECT count(*) FROM runs{where}"  # noqa: S608 - where() is parametrised
        return int(self.index.conn.execute(sql, params).fetchone()[0])

    def resolve(self, selector: str, *, newest: bool = False) -> str:
        """The run id ``selector`` names (``query.resolve``; ``newest`` for reading commands:
        a name several runs share picks the newest, with a warning)."""
        _check_selector(selector)
        if not self.exists():
            raise RunNotFound(f"no run matches '{selector}': there are no runs yet")
        if (
            selector.isalnum()
            and os.path.isfile(self.layout.meta(selector))
            and not self._indexed(selector)
        ):
            with self.index.transaction() as conn:  # written since the last sync: take it now
                self.index.ingest(conn, selector)
        damaged = "SELECT 1 FROM skipped WHERE run_id = ?"
        if self.index.conn.execute(damaged, (selector,)).fetchone():
            return selector  # unreadable, but it can still be named, shown (an error) and removed
        try:
            return resolve(self.index.conn, selector, newest=newest)
        except RunNotFound:
            note = archived_note(self.layout, selector)
            if note is None:
                raise
            raise RunNotFound(note) from None

    def _indexed(self, run_id: str) -> bool:
        sql = "SELECT 1 FROM runs WHERE id = ?"
        return self.index.conn.execute(sql, (run_id,)).fetchone() is not None

    def latest(self) -> str:
        if not self.exists():
            raise RunNotFound("there are no runs yet; start one with `naga run python train.py`")
        row = self.index.conn.execute("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1")
        found = row.fetchone()
        if found is None:
            raise RunNotFound("there are no runs yet; start one with `naga run python train.py`")
        return str(found[0])

    def get(self, selector: str | None = None, *, newest: bool = False) -> dict[str, Any]:
        """The full record of one run, read from its directory (the truth, not the index)."""
        run_id = self.latest() if selector is None else self.resolve(selector, newest=newest)
        return load_meta(self.layout, run_id)

    def warnings(self) -> list[str]:
        """What the user should hear about: an index rebuilt, runs that cannot be read."""
        if not self.exists():
            return []
        skipped = [
            f"run {run_id} is not listed: {reason}" for run_id, reason in self.index.skipped()
        ]
        note = self._fallback_note
        notes = [f"{note}; read the run directories instead"] if note else []
        return notes + self.index.warnings + skipped

    # -- writing ---------------------------------------------------------------------------

    def remove(self, run_ids: list[str], *, force: bool = False) -> None:
        rows = self.index.conn.execute(
            f"SELECT id FROM runs WHERE status = 'running' AND id IN ({','.join('?' * len(run_ids))})",  # noqa: S608,E501
            run_ids,
        ).fetchall()
        if rows and not force:
            live = ", ".join(r[0] for r in rows)
            raise RunIsRunning(
                f"refusing to remove running run(s) {live}; add --force to remove anyway"
            )
        with self.index.transaction() as conn:
            for run_id in run_ids:
                remove_run_dir(self.layout, run_id)
                self.index.forget(conn, run_id)

    def reindex(self) -> int:
        if self._index is None:
            try:
                self._index = Index(self.layout)
                return self._index.rebuild()
            except (StoreError, sqlite3.OperationalError, OSError) as exc:
                self.close()
                self._index = self._index_elsewhere(exc)  # rebuilt from the directories
        return self._index.rebuild()


def _synced(index: Index) -> Index:
    """``index`` brought up to date (rebuilt if found corrupt); closed if that fails."""
    try:
        try:
            index.sync()
        except sqlite3.DatabaseError as exc:  # damage that opening the file did not show
            if not is_corrupt(exc):
                raise StoreError(f"cannot use the index {index.path}: {exc}") from exc
            index.reset()
            index.sync()
    except BaseException:
        index.close()
        raise
    return index


def with_elapsed(doc: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    if doc.get("status") == "running" and doc.get("duration_s") is None:
        started = parse_iso(doc.get("started_at"))
        if started is not None:
            doc["duration_s"] = round((time.time() if now is None else now) - started, 3)
    return doc


def archived_note(layout: StoreLayout, selector: str) -> str | None:
    """'run X is archived ...' when ``selector`` names an archived run, else None."""
    if not has_archive(layout):  # the archive's own archive never exists: no recursion
        return None
    archived = Store(archive_root(layout))
    try:
        run_id = archived.resolve(selector)
    except NagaError:
        return None
    finally:
        archived.close()
    return (
        f"run {run_id} is archived; `naga unarchive {run_id}` brings it back"
        " (`naga ls --archived` lists archived runs)"
    )
