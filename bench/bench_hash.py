"""Data hashing: naga (in-process and CLI) side by side with b3sum, md5sum and DVC.

Two data sets in a temp dir, read once into the page cache before anything is timed:
``big`` (1,000 random files of 1 MB) and ``small`` (20,000 random files of 4 KB in 20
directories). Each tool hashes the same files; DVC gets its own copy (``dvc add`` moves data
into its cache and relinks the workspace), made untimed and read into the page cache the same
way. Every timed command runs ``--reps`` times, tools interleaved round by round (each tool
going first in turn) so that a slow spell of this shared machine hits them all; medians are
reported.

Rows:
- naga ``hash_data`` in this process: ``cache=False``, and a first pass with an empty cache
  (which writes the cache), then the cached re-hash.
- ``naga hash`` (the CLI of .venv-naga, a fresh process each time): the same three.
- ``b3sum`` and ``md5sum`` over ``find DIR -type f -print0 | xargs -0``.
- DVC: ``dvc add DIR`` in a fresh ``dvc init --no-scm`` project (first add: md5 of every file,
  copy into .dvc/cache), and ``dvc add DIR`` again with nothing changed (its state db).

Files younger than 2 s are never cached by naga (see ``naga.hashing.cache``), so the timed
runs start once the data is that old (creating the copies for DVC takes longer anyway).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from common import NAGA_VENV, PEERS_VENV, bench_env, print_rows, venv_bin

MB = 1_000_000


def make_data(root: Path, count: int, size: int, per_dir: int) -> None:
    for i in range(count):
        d = root / f"d{i // per_dir:03d}" if per_dir < count else root
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}").write_bytes(os.urandom(size))


def warm(root: Path) -> None:
    for dirpath, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                while f.read(1 << 20):
                    pass


def timed(cmd: Sequence[str | Path], cwd: Path, env: dict[str, str], shell: bool = False) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        " ".join(map(str, cmd)) if shell else [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        shell=shell,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {done.stderr.decode()[-2000:]}")
    return elapsed


class Samples(dict[str, list[float]]):
    def add(self, label: str, seconds: float) -> None:
        self.setdefault(label, []).append(seconds)


def run_dataset(name: str, data: Path, work: Path, reps: int, dvc_reps: int) -> Samples:
    from naga.hashing import hash_data

    samples = Samples()
    env = bench_env()
    naga_cli = venv_bin(NAGA_VENV, "naga")
    dvc = venv_bin(PEERS_VENV, "dvc")
    b3sum, md5sum = shutil.which("b3sum"), shutil.which("md5sum")
    find = f"find {data} -type f -print0 | xargs -0"

    def inproc(rep: int) -> None:
        os.environ["NAGA_HASH_CACHE"] = str(work / f"cache-{name}-{rep}.sqlite")
        for label, use_cache in (("no cache", False), ("first pass", True), ("cached", True)):
            start = time.perf_counter()
            hash_data(data, cache=use_cache)
            samples.add(f"naga hash_data, {label}", time.perf_counter() - start)

    def cli(rep: int) -> None:
        cli_env = {**env, "NAGA_HASH_CACHE": str(work / f"cli-cache-{name}-{rep}.sqlite")}
        for label, flags in (("no cache", ["--no-cache"]), ("first pass", []), ("cached", [])):
            samples.add(
                f"naga hash, {label}", timed([naga_cli, "hash", *flags, data], work, cli_env)
            )

    steps: list[Callable[[int], None]] = [inproc]
    if naga_cli.exists():
        steps.append(cli)
    for tool in (b3sum, md5sum):
        if tool:
            steps.append(
                lambda rep, tool=tool: samples.add(
                    Path(tool).name, timed([find, tool], work, env, shell=True)
                )
            )
    for rep in range(reps):
        for step in (
            steps[rep % len(steps) :] + steps[: rep % len(steps)]
        ):  # each goes first in turn
            step(rep)
        if dvc.exists() and rep < dvc_reps:
            first, second = dvc_add_twice(dvc, data, work / f"dvc-{name}-{rep}", env)
            samples.add("dvc add, first", first)
            samples.add("dvc add, second (unchanged)", second)
    return samples


def dvc_add_twice(dvc: Path, data: Path, project: Path, env: dict[str, str]) -> tuple[float, float]:
    project.mkdir()
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=project, env=env, check=True)
    subprocess.run([dvc, "config", "core.analytics", "false"], cwd=project, env=env, check=True)
    shutil.copytree(data, project / data.name)
    warm(project / data.name)
    time.sleep(2.1)  # the same head start naga's data had
    first = timed([dvc, "add", "-q", data.name], project, env)
    second = timed([dvc, "add", "-q", data.name], project, env)
    shutil.rmtree(project)
    return first, second


def report(title: str, samples: Samples, files: int, nbytes: int) -> None:
    base = statistics.median(samples["naga hash_data, first pass"])
    rows = []
    for label, values in samples.items():
        med = statistics.median(values)
        rows.append(
            [
                label,
                f"{med:.3f}",
                f"{nbytes / med / 1e9:.2f}",
                f"{files / med:,.0f}",
                f"{med / base:.2f}x",
                str(len(values)),
            ]
        )
    headers = ["command", "median s", "GB/s", "files/s", "time / naga first pass", "n"]
    print_rows(title, headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--dvc-reps", type=int, default=1, help="DVC is slow: rounds with it")
    parser.add_argument("--big", type=int, default=1000, help="number of 1 MB files")
    parser.add_argument("--small", type=int, default=20000, help="number of 4 KB files")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="naga-bench-hash-"))
    try:
        big, small = work / "big", work / "small"
        make_data(big, args.big, MB, per_dir=args.big + 1)
        make_data(small, args.small, 4096, per_dir=1000)
        warm(big)
        warm(small)
        time.sleep(2.1)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, data in {work}")
        for version in (["b3sum", "--version"], [venv_bin(PEERS_VENV, "dvc"), "--version"]):
            try:
                out = subprocess.run(version, capture_output=True, text=True, check=False)
                print(f"{Path(version[0]).name}: {out.stdout.strip()}")
            except OSError:
                pass
        for name, data, files, nbytes in (
            (f"{args.big:,} x 1 MB", big, args.big, args.big * MB),
            (f"{args.small:,} x 4 KB", small, args.small, args.small * 4096),
        ):
            samples = run_dataset(data.name, data, work, args.reps, args.dvc_reps)
            report(f"{name} from the page cache", samples, files, nbytes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
