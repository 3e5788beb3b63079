"""naga push / pull side by side with the plain ``rclone copy`` they are built on.

A synthetic store of ``--runs`` finished runs (each: a real run's meta.json under a new id, a
20 KB output.log, an 8 KB metric series, a ``--artifact-kb`` artifact) is moved to two remotes:
a local directory and a real WebDAV server (``rclone serve webdav`` on 127.0.0.1). Rows:

- first copy: ``naga push REMOTE --all`` vs ``rclone copy STORE/runs REMOTE/runs`` (the floor:
  the same bytes, no conflict check, no meta.json-last ordering, no markers);
- again, nothing new: ``naga push`` (compares every run by content: ``rclone check`` plus
  meta.json byte for byte) vs ``rclone copy`` (skips by size and modification time);
- pull into an empty store: ``naga pull REMOTE --all`` (lists the remote's records, then copies
  and renames) vs ``rclone copy REMOTE/runs EMPTY/runs``.

Each row runs ``--reps`` times on fresh destinations; medians are reported, with naga's time
over rclone's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from common import NAGA_VENV, bench_env, print_rows, venv_bin

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def make_store(store: Path, naga: str, runs: int, artifact_kb: int) -> None:
    env = bench_env({"NAGA_HOME": str(store)})
    subprocess.run([naga, "run", "--name", "seed", "true"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    (seed,) = list((store / "runs").iterdir())
    template = json.loads((seed / "meta.json").read_text())
    shutil.rmtree(seed)
    for i in range(runs):
        run_id = "".join(ALPHABET[(i >> (5 * k)) & 31] for k in range(8))
        run = store / "runs" / run_id
        (run / "metrics" / "main").mkdir(parents=True)
        (run / "artifacts").mkdir()
        (run / "meta.json").write_text(json.dumps({**template, "id": run_id, "name": f"r{i}"}))
        (run / "output.log").write_bytes(b"epoch %d loss=0.123\n" % i * 1000)
        (run / "metrics" / "main" / "loss.bin").write_bytes(os.urandom(8192))
        (run / "artifacts" / "model.bin").write_bytes(os.urandom(artifact_kb * 1024))
    subprocess.run([naga, "reindex"], env=env, check=True, capture_output=True)


@contextmanager
def webdav(root: Path) -> Iterator[str]:
    served = root / "served"
    served.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        ["rclone", "serve", "webdav", str(served), "--addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        os.environ["RCLONE_CONFIG_BENCHDAV_TYPE"] = "webdav"
        os.environ["RCLONE_CONFIG_BENCHDAV_URL"] = f"http://127.0.0.1:{port}/"
        os.environ["RCLONE_CONFIG_BENCHDAV_VENDOR"] = "other"
        yield "benchdav:"
    finally:
        server.terminate()
        server.wait()


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def join(remote: str, name: str) -> str:
    return remote + name if remote.endswith((":", "/")) else f"{remote}/{name}"


def measure(
    label: str, naga: str, store: Path, scratch: Path, make_remote: Callable[[int], str], reps: int
) -> list[list[str]]:
    env = bench_env({"NAGA_HOME": str(store)})
    times: dict[str, list[float]] = {}

    def add(row: str, seconds: float) -> None:
        times.setdefault(row, []).append(seconds)

    for rep in range(reps):
        plain, ours = make_remote(2 * rep), make_remote(2 * rep + 1)
        add(
            "rclone first", timed(["rclone", "copy", str(store / "runs"), join(plain, "runs")], env)
        )
        add("naga first", timed([naga, "push", ours, "--all"], env))
        add(
            "rclone again", timed(["rclone", "copy", str(store / "runs"), join(plain, "runs")], env)
        )
        add("naga again", timed([naga, "push", ours, "--all"], env))
        empty = scratch / f"pulled-{label}-{rep}"
        add(
            "rclone pull",
            timed(["rclone", "copy", join(plain, "runs"), str(empty / "rclone")], env),
        )
        pull_env = bench_env({"NAGA_HOME": str(empty / "naga")})
        add("naga pull", timed([naga, "pull", ours, "--all"], pull_env))
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = []
    for what, naga_row, rclone_row in (
        ("push, first copy", "naga first", "rclone first"),
        ("push again, nothing new", "naga again", "rclone again"),
        ("pull into an empty store", "naga pull", "rclone pull"),
    ):
        ratio = med[naga_row] / med[rclone_row]
        rows.append([f"{label}: {what}", f"{med[naga_row]:.2f}", f"{med[rclone_row]:.2f}",
                     f"{ratio:.1f}x", ""])  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--artifact-kb", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--naga", default=str(venv_bin(NAGA_VENV, "naga")))
    parser.add_argument("--targets", default="local,webdav", help="local, webdav or both")
    args = parser.parse_args()
    if shutil.which("rclone") is None:
        print("skip bench_share: rclone not installed (apt-get install rclone)")
        return
    with tempfile.TemporaryDirectory(prefix="naga-bench-share-") as tmp:
        scratch = Path(tmp)
        os.environ["RCLONE_CONFIG"] = str(scratch / "rclone.conf")
        (scratch / "rclone.conf").write_text("")
        store = scratch / "store"
        make_store(store, args.naga, args.runs, args.artifact_kb)
        size = sum(f.stat().st_size for f in (store / "runs").rglob("*") if f.is_file())
        targets = args.targets.split(",")
        rows = []
        if "local" in targets:
            rows += measure("local dir", args.naga, store, scratch,
                            lambda i: str(scratch / f"remote-{i}"), args.reps)  # fmt: skip
        if "webdav" in targets:
            with webdav(scratch) as remote:
                rows += measure("webdav", args.naga, store, scratch,
                                lambda i: join(remote, f"team-{i}"), args.reps)  # fmt: skip
    print_rows(
        f"naga push/pull vs rclone copy: {args.runs} runs, {size / 1e6:.0f} MB,"
        f" median of {args.reps} (seconds)",
        ["case", "naga", "rclone", "ratio", ""],
        rows,
    )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
