"""A real PostgreSQL server for tests: a fresh cluster (``initdb``) in a directory of its own,
listening on a free local port, stopped and removed at the end. PostgreSQL refuses to run as
root, so under root the cluster belongs to the ``postgres`` user, as Debian's own does."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow_server import free_port


def postgres_bin() -> Path | None:
    """The newest PostgreSQL installed (Debian keeps each version apart), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    return int(Path(path).parent.parent.name)


@contextmanager
def postgres_server(database: str = "mlflow") -> Iterator[str]:
    """A running server with an empty ``database``; yields its SQLAlchemy URI."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (scripts/test installs it)")
    root = Path(tempfile.mkdtemp(prefix="naga-pg-"))  # not under pytest's root-only tmp
    as_owner: list[str] = []
    if os.geteuid() == 0:
        root.chmod(0o755)
        shutil.chown(root, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    try:
        _run([*as_owner, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "naga",
              "--no-sync", "-E", "UTF8"])  # fmt: skip
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run([*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
              "-l", str(root / "server.log"), "-w", "start"])  # fmt: skip
        try:
            _run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "naga",
                  database])  # fmt: skip
            yield f"postgresql://naga@127.0.0.1:{port}/{database}"
        finally:
            _run([*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                  "-w", "stop"])  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}... failed: {done.stderr[-1000:]}")
