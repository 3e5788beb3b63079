"""The SQLite index's schema, as ordered migrations.

The index is a cache of the run directories: any migration may assume it can be rebuilt, but
shipped migrations are never edited; a change of schema is a new function appended to
``MIGRATIONS``. ``PRAGMA user_version`` records how many have been applied, and each migration
runs in the same transaction as its bookkeeping.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def _execute_all(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would commit the migration's transaction half-way: run statement by statement.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def m001_runs(conn: sqlite3.Connection) -> None:
    _execute_all(
        conn,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            name TEXT,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_s REAL,
            exit_code INTEGER,
            command TEXT NOT NULL,
            host TEXT,
            git_commit TEXT,
            git_dirty INTEGER,
            owner TEXT,
            meta_ns INTEGER,
            doc TEXT NOT NULL
        );
        CREATE INDEX runs_started ON runs (started_at DESC);
        CREATE INDEX runs_status ON runs (status, started_at DESC);
        CREATE INDEX runs_name ON runs (name);
        CREATE TABLE tags (
            run_id TEXT NOT NULL,
            tag TEXT NOT NULL,
            PRIMARY KEY (tag, run_id)
        );
        CREATE INDEX tags_run ON tags (run_id);
        -- touched/<hour>/<id> markers already ingested, and each hour directory's mtime then
        CREATE TABLE markers (
            bucket TEXT NOT NULL,
            run_id TEXT NOT NULL,
            mtime_ns INTEGER NOT NULL,
            PRIMARY KEY (bucket, run_id)
        );
        CREATE TABLE buckets (name TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL);
        -- run directories whose meta.json could not be read, reported by ls
        CREATE TABLE skipped (run_id TEXT PRIMARY KEY, reason TEXT NOT NULL);
        CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    )


def m002_sdk(conn: sqlite3.Connection) -> None:
    """Child runs, params and per-metric summaries (from the Python SDK) become queryable."""
    _execute_all(
        conn,
        """
        ALTER TABLE runs ADD COLUMN parent_id TEXT;
        CREATE INDEX runs_parent ON runs (parent_id);
        -- value: the JSON text, num: the number for comparisons (NULL when not a number)
        CREATE TABLE params (
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT,
            num REAL,
            PRIMARY KEY (run_id, key)
        );
        CREATE INDEX params_key ON params (key, num);
        CREATE TABLE metrics (
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            last REAL,
            min REAL,
            max REAL,
            count INTEGER,
            step INTEGER,
            PRIMARY KEY (run_id, key)
        );
        CREATE INDEX metrics_key ON metrics (key, last);
        -- rows indexed before this migration lack all of that, so rebuild at the next sync
        DELETE FROM state WHERE key = 'last_sync';
        """,
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [m001_runs, m002_sdk]


def is_corrupt(exc: sqlite3.DatabaseError, *, foreign_schema: bool = False) -> bool:
    """A damaged or foreign file, as opposed to a busy or unreachable one. ``foreign_schema``
    also counts a readable file whose tables are not the expected ones (a cache that can
    simply be rebuilt)."""
    name = getattr(exc, "sqlite_errorname", "")
    text = str(exc)
    return (
        name in ("SQLITE_CORRUPT", "SQLITE_NOTADB")
        or "malformed" in text
        or "not a database" in text
        or (foreign_schema and ("no such table" in text or "no such column" in text))
    )


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations this index lacks, each in its own transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(f"index schema {version} is newer than this naga knows")
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < number:
                migration(conn)
                conn.execute(f"PRAGMA user_version = {number:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
