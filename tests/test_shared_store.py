"""One store shared by several hosts, as on a cluster filesystem.

Each "host" is a process in its own UTS namespace (``unshare -u``) with its own hostname, so
naga there believes it runs on another machine: its runs must appear in ``ls`` here with no
manual step, and a dead one must turn ``crashed`` once its heartbeat stops.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Naga, naga_cmd, runs_json


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-u", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not _can_unshare(), reason="needs `unshare -u` (root or user namespaces) to fake another host"
)


def on_host(
    host: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    inner = f"hostname {shlex.quote(host)} && exec {shlex.join(naga_cmd(*args))}"
    return subprocess.Popen(
        ["unshare", "-u", "sh", "-c", inner],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_runs_from_other_hosts_are_listed(naga: Naga, tmp_path: Path, store: Path) -> None:
    naga("ls")  # this host's index exists before the others write
    procs = [
        on_host(
            f"node{i}",
            "run",
            "--name",
            f"job{i}",
            sys.executable,
            "-c",
            f"print({i})",
            cwd=tmp_path,
        )
        for i in range(3)
    ]
    for proc in procs:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    runs = runs_json(naga)
    assert sorted((r["name"], r["host"], r["status"]) for r in runs) == [
        (f"job{i}", f"node{i}", "completed") for i in range(3)
    ]
    # Only this host's index file was written; the other hosts wrote run directories only.
    assert [p.name for p in (store / "index").glob("*.sqlite")] == [f"{os.uname().nodename}.sqlite"]


def test_dead_run_on_another_host_turns_crashed(naga: Naga, tmp_path: Path) -> None:
    env = {**os.environ, "NAGA_HEARTBEAT_INTERVAL": "0.2"}  # stale after 24 beats: 4.8 s
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    proc = on_host(
        "node-far", "run", "--name", "far", sys.executable, "-c", code, cwd=tmp_path, env=env
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    time.sleep(1.0)
    (run,) = runs_json(naga)
    assert (run["host"], run["status"]) == ("node-far", "running")  # its heartbeat is fresh
    # The node is lost: naga and its command die without a word.
    os.kill(_naga_pid_on(run), signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 20
    while (status := runs_json(naga)[0]["status"]) == "running":
        assert time.monotonic() < deadline, "the run never turned crashed"
        time.sleep(0.3)
    assert status == "crashed"


def _naga_pid_on(run: dict[str, object]) -> int:
    pid = run["pid"]
    assert isinstance(pid, int)
    return pid


def test_threads_opening_a_brand_new_index_at_once(tmp_path: Path) -> None:
    """The dashboard's UI and watcher threads open the same new index together: switching a
    new file to WAL got SQLITE_BUSY at once (about 1 start in 40 with 4 threads)."""
    import threading

    from naga.store import RunFilter, Store
    from naga.store.files import create_run_dir, save_meta
    from naga.store.layout import StoreLayout
    from naga.store.timefmt import iso_from_ts

    errors: list[BaseException] = []

    def open_and_list(root: Path, barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            store = Store(str(root))
            assert len(store.table_rows(RunFilter(limit=None))) == 1
            store.close()
        except BaseException as exc:  # collected: an assert in a thread would be lost
            errors.append(exc)

    for attempt in range(120):
        root = tmp_path / f"store{attempt}"
        layout = StoreLayout(str(root))
        run_id = create_run_dir(layout)
        meta = {"id": run_id, "name": "r", "status": "completed", "command": "x", "tags": []}
        save_meta(layout, {**meta, "started_at": iso_from_ts(time.time())}, fsync=False)
        barrier = threading.Barrier(4)
        threads = [threading.Thread(target=open_and_list, args=(root, barrier)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
