"""Listing a large store: `naga ls` and `naga ls --all --json` with 100,000 runs, and the peers.

Targets (issue: the foundation): `naga ls` (default limit 20) <= 150 ms and
`naga ls --all --json` <= 3 s with 100,000 runs in the store; the `naga ls --all` table within
2x of `naga ls --all --json` (printed side by side with their ratio). Also reported: the one-off
`naga reindex` of the whole store, and `naga ls` right after a new run was recorded (the index
then re-reads only what changed).

The store is filled through naga's own writer (the same atomic meta.json and markers as
`naga run`), with records shaped like real ones, then indexed once. The fill's change markers are
then removed, as naga prunes them for a history recorded over weeks.

Peer section (`--peer-runs`, default 2,000; 0 skips it): yanex, MLflow and Guild AI each get
that many runs, created in one process per tool through the tool's own Python API, in an
isolated store; then each tool's list commands and naga's equivalents on a naga store of the
same size are timed (median of `--peer-n` fresh processes) and shown as ratios to naga.

    bench/.venv-naga/bin/python bench/bench_ls.py --runs 100000 --peer-runs 2000

`--naga PATH` times another `naga` executable (a checkout's `bin/naga` behind a wrapper that
sets PYTHONPATH, say) instead of the bench venv's.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from common import (
    GUILD_VENV,
    NAGA_VENV,
    PEERS_VENV,
    Project,
    Timing,
    bench_env,
    installed,
    project,
    run_once,
    time_command,
    venv_bin,
)

STATUSES = ("completed", "completed", "completed", "failed", "cancelled")

# The peer projects' only file: flags as globals, so `guild run train.py lr=.. seed=..` works.
TRAIN_PY = 'lr = 0.1\nseed = 0\nprint(f"loss: {lr * seed}")\n'

# Creator scripts, run with `<peer venv python> -c CODE COUNT` in the project dir (so nothing
# is written into the committed worktree), store from the environment. Each mirrors fill():
# statuses in STATUSES' proportions, a few params, two metrics, tags bench + sweep<i % 10>.

# What `yanex run train.py` does, minus the child process: the experiment manager records the
# run (git commit, environment, project auto-detected from the git root like `yanex run`).
YANEX_CREATE = """
import sys
from pathlib import Path
from yanex.core.manager import ExperimentManager
from yanex.core.project import detect_project_from_cwd

count = int(sys.argv[1])
manager = ExperimentManager()
project = detect_project_from_cwd()
for i in range(count):
    lr = f"{0.001 * (i % 97):.3f}"
    exp_id = manager.create_experiment(
        Path("train.py"),
        name=f"exp-{i}" if i % 3 == 0 else None,
        config={"lr": float(lr), "seed": i},
        tags=["bench", f"sweep{i % 10}"],
        script_args=["--lr", lr, "--seed", str(i)],
        project=project,
    )
    manager.start_experiment(exp_id)
    manager.storage.add_result_step(exp_id, {"loss": 1 / (i + 1), "acc": 0.5})
    if i % 5 == 3:
        manager.fail_experiment(exp_id, "RuntimeError: bench")
    elif i % 5 == 4:
        manager.cancel_experiment(exp_id, "Interrupted by user (Ctrl+C)")
    else:
        manager.complete_experiment(exp_id)
"""

# Tracking client against MLFLOW_TRACKING_URI (sqlite); prints the experiment id.
MLFLOW_CREATE = """
import sys, time
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

count = int(sys.argv[1])
client = MlflowClient()
exp_id = client.create_experiment("bench")
statuses = ("FINISHED", "FINISHED", "FINISHED", "FAILED", "KILLED")
t0 = int(time.time() * 1000) - count * 60_000
for i in range(count):
    start = t0 + i * 60_000
    tags = {"bench": "true", "sweep": f"sweep{i % 10}", "mlflow.source.name": "train.py"}
    run = client.create_run(exp_id, start_time=start, run_name=f"exp-{i}", tags=tags)
    run_id = run.info.run_id
    params = [Param("lr", f"{0.001 * (i % 97):.3f}"), Param("seed", str(i))]
    metrics = [Metric("loss", 1 / (i + 1), start, 0), Metric("acc", 0.5, start, 0)]
    client.log_batch(run_id, metrics=metrics, params=params)
    client.set_terminated(run_id, statuses[i % 5], end_time=start + 30_000)
print(exp_id)
"""

# Guild has no in-process API for script runs without pandas (guild.ipy needs it), so one real
# `guild run train.py` is the template: it is cloned with guild's Run API, which rewrites the
# attributes that differ per run (id, times, flags, label, exit status).
GUILD_CREATE = """
import os, shutil, sys, time
from guild import run as runlib
from guild import var

count = int(sys.argv[1])
runs_dir = var.runs_dir()
(template,) = os.listdir(runs_dir)
src = os.path.join(runs_dir, template)
exit_statuses = (0, 0, 0, 1, -15)
t0 = int(time.time() * 1_000_000) - count * 60_000_000
for i in range(count):
    run_id = template if i == 0 else runlib.mkid()
    path = os.path.join(runs_dir, run_id)
    if i:
        shutil.copytree(src, path)
    run = runlib.Run(run_id, path)
    lr = round(0.001 * (i % 97), 3)
    start = t0 + i * 60_000_000
    for name, val in (
        ("id", run_id),
        ("initialized", start),
        ("started", start),
        ("stopped", start + 30_000_000),
        ("flags", {"lr": lr, "seed": i}),
        ("user_flags", {"lr": lr, "seed": i}),
        ("label", f"lr={lr} seed={i}"),
        ("exit_status", exit_statuses[i % 5]),
    ):
        run.write_attr(name, val)
"""


class Skip(Exception):
    """A peer (or one of its commands) can't be measured; the message says why."""


@dataclass(frozen=True)
class ListCase:
    """A list command of `tool`; `equiv` is the label of naga's equivalent command."""

    tool: str
    label: str
    argv: tuple[str, ...]
    equiv: str
    note: str = ""


@dataclass(frozen=True)
class Row:
    """One measured list command in the peer table."""

    case: ListCase
    timing: Timing


NAGA_CASES = (
    ListCase("naga", "naga ls", ("ls",), "naga ls", "default limit 20"),
    ListCase("naga", "naga ls --all", ("ls", "--all"), "naga ls --all"),
    ListCase("naga", "naga ls --all --json", ("ls", "--all", "--json"), "naga ls --all --json"),
)


def template(naga: Path) -> dict[str, object]:
    """One real run record, recorded by naga itself, to copy."""
    with tempfile.TemporaryDirectory() as tmp:
        env = bench_env({"NAGA_HOME": tmp})
        subprocess.run(
            [str(naga), "run", "--tag", "bench", "python3", "-c", "pass"],
            env=env,
            check=True,
            capture_output=True,
        )
        out = subprocess.run(
            [str(naga), "show", "--json"], env=env, check=True, capture_output=True
        ).stdout
        meta: dict[str, object] = json.loads(out)
        return meta


def fill(naga: Path, store: Path, count: int) -> float:
    """Write ``count`` run directories with naga's writer; returns seconds taken."""
    from naga.store.files import create_run_dir, save_meta
    from naga.store.layout import StoreLayout
    from naga.store.timefmt import iso_from_ts

    layout = StoreLayout(str(store))
    base = template(naga)
    start = time.perf_counter()
    t0 = time.time() - count * 60
    for i in range(count):
        meta = copy.deepcopy(base)
        meta["id"] = create_run_dir(layout)
        meta["name"] = f"exp-{i}" if i % 3 == 0 else None
        meta["status"] = STATUSES[i % len(STATUSES)]
        meta["started_at"] = iso_from_ts(t0 + i * 60)
        meta["finished_at"] = iso_from_ts(t0 + i * 60 + 30)
        meta["command"] = f"python train.py --lr {0.001 * (i % 97):.3f} --seed {i}"
        meta["tags"] = ["bench", f"sweep{i % 10}"]
        save_meta(layout, meta, fsync=False)
    return time.perf_counter() - start


def reindex(naga: Path, store: Path) -> float:
    """Drop the fill's change markers (long pruned in a real history), rebuild the index."""
    shutil.rmtree(store / "touched", ignore_errors=True)
    env = bench_env({"NAGA_HOME": str(store)})
    t0 = time.perf_counter()
    subprocess.run([str(naga), "reindex"], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def bench_large(naga: Path, runs: int, n: int, keep: Path | None) -> None:
    """The targets: naga alone with `runs` runs in its store."""
    root = keep or Path(tempfile.mkdtemp(prefix="naga-bench-ls-"))
    store = root / "store"
    try:
        if not (store / "runs").is_dir():
            print(f"writing {runs:,} runs into {store} ...", flush=True)
            print(f"  fill: {fill(naga, store, runs):.1f} s", flush=True)
        reindex_s = reindex(naga, store)
        env = bench_env({"NAGA_HOME": str(store)})
        timings = [
            time_command("naga ls", [naga, "ls"], env, root, n),
            *time_alternating(
                {
                    "naga ls --all --json": [naga, "ls", "--all", "--json"],
                    "naga ls --all": [naga, "ls", "--all"],
                },
                env,
                root,
                5,
            ),
            time_command(
                "naga ls --status failed --tag sweep3",
                [naga, "ls", "--status", "failed", "--tag", "sweep3"],
                env,
                root,
                n,
            ),
        ]
        after_new = []
        for _ in range(5):
            subprocess.run([str(naga), "run", "true"], env=env, check=True, capture_output=True)
            after_new.append(time_command("", [naga, "ls"], env, root, 1, warmup=0).samples[0])
        timings.append(Timing("naga ls right after a new run", tuple(after_new)))
        report(runs, reindex_s, timings)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def time_alternating(
    commands: dict[str, list[Path | str]], env: dict[str, str], cwd: Path, n: int
) -> list[Timing]:
    """Each command ``n`` times, taking turns, so a busy moment of the machine falls on all
    of them alike: their ratio is what is compared (the table against the JSON)."""
    for cmd in commands.values():
        run_once(cmd, env, cwd)  # warm-up
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(n):
        for label, cmd in commands.items():
            samples[label].append(run_once(cmd, env, cwd))
    return [Timing(label, tuple(found)) for label, found in samples.items()]


def report(runs: int, reindex_s: float, timings: list[Timing]) -> None:
    targets = {"naga ls": 0.150, "naga ls --all --json": 3.0}
    print(f"\nListing {runs:,} runs (median of repeated runs, wall time)")
    print(f"  {'naga reindex (one-off, full rebuild)':42s} {reindex_s * 1000:9.1f} ms")
    for t in timings:
        target = targets.get(t.label)
        verdict = (
            ""
            if target is None
            else f"  target <= {target * 1000:.0f} ms: "
            + (f"ok ({target / t.median:.1f}x headroom)" if t.median <= target else "MISSED")
        )
        print(f"  {t.label:42s} {t.median * 1000:9.1f} ms  (p90 {t.p90 * 1000:.1f}){verdict}")
    by_label = {t.label: t.median for t in timings}
    table, as_json = by_label.get("naga ls --all"), by_label.get("naga ls --all --json")
    if table and as_json:
        ratio = table / as_json
        verdict = "ok" if ratio <= 2 else "MISSED"
        print(f"  {'table / JSON (--all)':42s} {ratio:9.2f} x   target <= 2x: {verdict}")


# --- peers at equal store size ------------------------------------------------------------


def create_runs(python: Path, code: str, p: Project, count: int) -> str:
    """Run a creator script in the project; returns its stdout, raises Skip if it fails."""
    start = time.perf_counter()
    proc = p.run([python, "-c", code, str(count)])
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise Skip(f"creating runs failed (exit {proc.returncode}): {tail}")
    print(f"  {p.tool}: created {count:,} runs in {time.perf_counter() - start:.1f} s", flush=True)
    return proc.stdout


def time_cases(
    exe: Path, cases: Sequence[ListCase], p: Project, n: int, env: dict[str, str] | None = None
) -> list[Row]:
    """Time each case in a fresh process; a failing command is skipped, the others still run."""
    rows = []
    for case in cases:
        try:
            timing = time_command(case.label, [exe, *case.argv], env or p.env(), p.proj, n)
        except RuntimeError as e:
            print(f"skip {case.tool}: `{case.label}` failed: {e}")
            continue
        rows.append(Row(case, timing))
    return rows


def peer_naga(runs: int, n: int) -> list[Row]:
    naga = venv_bin(NAGA_VENV, "naga")
    with project("naga", {"train.py": TRAIN_PY}) as p:
        start = time.perf_counter()
        fill(naga, p.store, runs)
        reindex(naga, p.store)
        print(f"  naga: filled and indexed {runs:,} runs in {time.perf_counter() - start:.1f} s")
        return time_cases(naga, NAGA_CASES, p, n)


def peer_yanex(runs: int, n: int) -> list[Row]:
    yanex = venv_bin(PEERS_VENV, "yanex")
    if not installed(yanex, "yanex"):
        return []
    cases = (
        ListCase("yanex", "yanex list", ("list",), "naga ls", "default limit 10"),
        ListCase("yanex", "yanex list --all", ("list", "--all"), "naga ls --all"),
        ListCase(
            "yanex",
            "yanex list --all --format json",
            ("list", "--all", "--format", "json"),
            "naga ls --all --json",
        ),
    )
    with project("yanex", {"train.py": TRAIN_PY}) as p:
        create_runs(venv_bin(PEERS_VENV, "python"), YANEX_CREATE, p, runs)
        return time_cases(yanex, cases, p, n)


def peer_mlflow(runs: int, n: int) -> list[Row]:
    mlflow = venv_bin(PEERS_VENV, "mlflow")
    if not installed(mlflow, "mlflow"):
        return []
    with project("mlflow", {"train.py": TRAIN_PY}) as p:
        out = create_runs(venv_bin(PEERS_VENV, "python"), MLFLOW_CREATE, p, runs)
        exp_id = out.strip().splitlines()[-1] if out.strip() else ""
        if not exp_id.isdigit():
            raise Skip(f"no experiment id in the creator's output: {out[-200:]!r}")
        # The CLI asks the store for one page: search_runs' default max_results is 1,000.
        note = "first 1,000 runs only" if runs > 1000 else ""
        argv = ("runs", "list", "--experiment-id", exp_id)
        label = "mlflow runs list --experiment-id ID"
        case = ListCase("mlflow", label, argv, "naga ls --all", note)
        return time_cases(mlflow, (case,), p, n)


def peer_guild(runs: int, n: int) -> list[Row]:
    guild = venv_bin(GUILD_VENV, "guild")
    if not installed(guild, "guild"):
        return []
    cases = (
        ListCase("guild", "guild runs", ("runs",), "naga ls", "default limit 20"),
        ListCase("guild", "guild runs --all", ("runs", "--all"), "naga ls --all"),
    )
    with project("guild", {"train.py": TRAIN_PY}) as p:
        env = p.env()
        template_run = [str(guild), "run", "train.py", "lr=0.5", "seed=3", "-y"]
        proc = subprocess.run(template_run, cwd=p.proj, env=env, capture_output=True, check=False)
        if proc.returncode != 0:
            raise Skip(f"`guild run train.py` failed (exit {proc.returncode})")
        create_runs(venv_bin(GUILD_VENV, "python"), GUILD_CREATE, p, runs)
        return time_cases(guild, cases, p, n, env)


PEERS: tuple[tuple[str, Callable[[int, int], list[Row]]], ...] = (
    ("yanex", peer_yanex),
    ("mlflow", peer_mlflow),
    ("guild", peer_guild),
)


def bench_peers(runs: int, n: int) -> None:
    print(f"\npeers: {runs:,} runs per store (one creator process per tool) ...", flush=True)
    rows = peer_naga(runs, n)
    for name, bench in PEERS:
        try:
            rows += bench(runs, n)
        except (Skip, OSError, subprocess.SubprocessError) as e:
            print(f"skip {name}: {e}")
    report_peers(runs, n, rows)


def report_peers(runs: int, n: int, rows: list[Row]) -> None:
    naga = {r.case.label: r.timing.median for r in rows if r.case.tool == "naga"}
    width = max(len(r.case.label) for r in rows) if rows else 10
    print(f"\nListing at equal store size: {runs:,} runs (median of {n} fresh processes)")
    print(f"  {'tool':6s}  {'command':<{width}}  {'runs':>7}  {'median ms':>9}  ratio to naga")
    for r in rows:
        ref = naga.get(r.case.equiv)
        ratio = "-" if ref is None else f"{r.timing.median / ref:6.1f}x  vs `{r.case.equiv}`"
        note = f"  ({r.case.note})" if r.case.note else ""
        print(
            f"  {r.case.tool:6s}  {r.case.label:<{width}}  {runs:>7,}  "
            f"{r.timing.median * 1000:9.1f}  {ratio}{note}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--n", type=int, default=15, help="timed repetitions of `naga ls`")
    parser.add_argument("--keep", type=Path, help="keep the store in this directory")
    parser.add_argument(
        "--peer-runs", type=int, default=2_000, help="store size for the peers (0: skip them)"
    )
    parser.add_argument("--peer-n", type=int, default=5, help="timed repetitions per peer command")
    parser.add_argument("--naga", type=Path, help="the naga executable (default: the bench venv's)")
    args = parser.parse_args()
    naga = args.naga or venv_bin(NAGA_VENV, "naga")
    if not installed(naga, "naga"):
        sys.exit(1)
    bench_large(naga, args.runs, args.n, args.keep)
    if args.peer_runs > 0:
        bench_peers(args.peer_runs, args.peer_n)


if __name__ == "__main__":
    main()
