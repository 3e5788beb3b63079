"""The git capture's share of `naga run` start-up, and `naga run` itself, A/B between two trees.

What `naga run` waits for before the command starts is importing `naga.capture.git` and starting
its git probes (`GitProbe(...)`, three `posix_spawn`s); collecting them happens on a thread.
Each sample is a fresh interpreter (byte-compiled, without PYTHONDONTWRITEBYTECODE). With
`--base SRC` (another checkout's `src/`, e.g. `git worktree add /tmp/base main`), the two trees
alternate run by run and the median of the paired differences is printed: on a shared machine
whose load drifts by tens of milliseconds, only paired differences mean anything.

    python bench/bench_git_capture.py --n 100 --base /tmp/base/src
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"
PROBE = (
    "import time, naga.errors, naga.store.layout, naga.redact\n"
    "t = time.perf_counter()\n"
    "from naga.capture.git import GitProbe\n"
    "p = GitProbe({repo!r}, {patch!r})\n"
    "print(time.perf_counter() - t)\n"
    "p.result()\n"
)


def make_repo(root: Path, untracked: bool) -> Path:
    """A small repository with a modified tracked file (so a patch is written)."""
    repo = root / ("untracked" if untracked else "dirty")
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b"}
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    for i in range(50):
        (repo / f"m{i}.py").write_text(f"x = {i}\n")
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    (repo / "m1.py").write_text("x = 'changed'\n")
    if untracked:
        (repo / "new_module.py").write_text("y = 1\n")
    return repo


def env_for(src: Path, store: Path) -> dict[str, str]:
    drop = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "PYTHONPATH": str(src), "NAGA_HOME": str(store)}


def probe_once(src: Path, repo: Path, scratch: Path) -> float:
    code = PROBE.format(repo=str(repo), patch=str(scratch / "p.patch"))
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env_for(src, scratch / "store"),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


def run_once(src: Path, repo: Path, scratch: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "naga", "run", "true"],
        cwd=repo,
        env=env_for(src, scratch / f"store-{abs(hash(str(src)))}"),
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - t0


def measure(
    trees: dict[str, Path], n: int, sample: Callable[..., float], *args: Path
) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {name: [] for name in trees}
    names = list(trees)
    for name in names:  # warm-up: byte-compile both trees
        sample(trees[name], *args)
    for i in range(n):
        for name in names if i % 2 else names[::-1]:
            found[name].append(sample(trees[name], *args))
    return found


def report(label: str, found: dict[str, list[float]]) -> None:
    medians = ", ".join(f"{k} {statistics.median(v) * 1e3:.2f} ms" for k, v in found.items())
    line = f"{label}: {medians}"
    if len(found) == 2:
        base, this = found.values()
        diffs = [b - a for a, b in zip(base, this, strict=True)]
        line += f"; paired difference median {statistics.median(diffs) * 1e3:+.2f} ms"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--base", type=Path, help="another tree's src/ to compare with")
    options = parser.parse_args()
    trees = {"base": options.base, "this": HERE} if options.base else {"this": HERE}
    with tempfile.TemporaryDirectory(prefix="naga-bench-git-") as tmp:
        scratch = Path(tmp)
        for untracked in (False, True):
            repo = make_repo(scratch, untracked)
            kind = "with an untracked file (snapshot)" if untracked else "dirty, no untracked"
            if not untracked:
                report("git capture start-up", measure(trees, options.n, probe_once, repo, scratch))
            report(f"naga run true, {kind}", measure(trees, options.n, run_once, repo, scratch))


if __name__ == "__main__":
    main()
