"""``naga sweep``: any command over a grid or a random sample, each point a recorded run.

The grammar is tested as a library (every bad spelling gets its own message) and through the
real command line: real subprocesses, real runs in the store, ``naga ls --sweep``.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, naga_cmd, runs_json

from naga.errors import UsageError
from naga.parallel.grammar import check_command, fill_command, parse_params, points

PROGRAM = """
import sys
import naga

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
lr, batch = float(args["--lr"]), int(args["--batch"])
with open("points.txt", "a") as f:
    f.write(f"{args['--lr']} {batch}\\n")
naga.log({"loss": lr * batch})
print("point", lr, batch)
sys.exit(3 if (lr, batch) == (0.01, 64) else 0)
"""

COMMAND = ["--", sys.executable, "prog.py", "--lr", "{lr}", "--batch", "{batch}"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "prog.py").write_text(PROGRAM)
    return tmp_path


def text(done: Any) -> tuple[str, str]:
    return done.stdout.decode(), done.stderr.decode()


def sweep_of(stderr: str) -> str:
    return next(w.rstrip(":;,") for w in stderr.split() if w.startswith("sw-"))


def points_run(project: Path) -> list[str]:
    path = project / "points.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_a_grid_runs_every_point_as_a_tagged_run_and_prints_a_summary(
    project: Path, naga: Naga
) -> None:
    done = naga("sweep", "--metric", "loss", "lr=0.1,0.01", "batch=32,64", *COMMAND)
    out, err = text(done)
    assert done.returncode == 1, err  # one point failed; the others still ran
    assert points_run(project) == ["0.1 32", "0.1 64", "0.01 32", "0.01 64"]
    sweep = sweep_of(err)
    runs = {r["params"]["sweep.task"]: r for r in runs_json(naga, "--tag", f"sweep:{sweep}")}
    assert len(runs) == 4
    assert runs[2]["argv"][-4:] == ["--lr", "0.01", "--batch", "32"]
    assert (runs[2]["params"]["lr"], runs[2]["params"]["batch"]) == (0.01, 32)
    assert runs[2]["name"] == f"{sweep}:2"
    assert [runs[i]["status"] for i in range(4)] == ["completed"] * 3 + ["failed"]
    assert runs[1]["metrics"] == {"loss": pytest.approx(6.4)}
    assert f"naga: task 3 failed (run {runs[3]['id']}): exit 3" in err
    assert f"naga ▶ {sweep}:1 (2/4) lr=0.1 batch=64 · run {runs[1]['id']}" in err
    header, *rows = [line.split() for line in out.splitlines() if line.strip()][-5:]
    assert header == ["TASK", "lr", "batch", "STATUS", "loss", "DURATION", "RUN"]
    assert [row[:6] for row in rows] == [
        ["0", "0.1", "32", "✓", "completed", "3.2"],
        ["1", "0.1", "64", "✓", "completed", "6.4"],
        ["2", "0.01", "32", "✓", "completed", "0.32"],
        ["3", "0.01", "64", "✗", "failed", "0.64"],
    ]
    assert [row[-1] for row in rows] == [runs[i]["id"] for i in range(4)]


def test_naga_ls_sweep_shows_its_runs_with_the_swept_values(project: Path, naga: Naga) -> None:
    first = naga("sweep", "lr=0.1,0.01", "batch=32", *COMMAND)
    assert first.returncode == 0, first.stderr
    other = naga("run", "--", sys.executable, "-c", "pass")
    assert other.returncode == 0
    sweep = sweep_of(text(first)[1])
    listed = naga("ls", "--sweep", sweep[:-2])  # any unique prefix
    out, err = text(listed)
    assert listed.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:8] == [
        "ID",
        "NAME",
        "STATUS",
        "STARTED",
        "DURATION",
        "GIT",
        "PARAM.LR",
        "PARAM.BATCH",
    ]
    assert sorted(line.split()[1] for line in lines[1:]) == [f"{sweep}:0", f"{sweep}:1"]
    as_json = runs_json(naga, "--sweep", sweep)
    assert sorted(r["params"]["lr"] for r in as_json) == [0.01, 0.1]
    # all of a sweep's runs, unless --limit says how many (it was ignored); -n1 goes through click
    for limit in (("--limit", "1"), ("-n1",)):
        limited = naga("ls", "--sweep", sweep, *limit)
        assert limited.returncode == 0
        assert len(limited.stdout.decode().splitlines()) == 2, limit
        assert "showing 1 of 2 runs" in limited.stderr.decode()
    missing = naga("ls", "--sweep", "sw-nope")
    assert missing.returncode == 2
    assert missing.stderr.decode().startswith("naga: error: no sweep 'sw-nope'")


def test_launching_the_same_sweep_again_runs_only_what_did_not_complete(
    project: Path, naga: Naga
) -> None:
    first = naga("sweep", "lr=0.1,0.01", "batch=32,64", *COMMAND)
    assert first.returncode == 1
    again = naga("sweep", "lr=0.1,0.01", "batch=32,64", *COMMAND)
    err = text(again)[1]
    assert sweep_of(err) == sweep_of(text(first)[1])
    assert "4 tasks, 3 completed before, 1 worker" in err
    assert points_run(project)[4:] == ["0.01 64"]  # only the failed point ran again
    fresh = naga("sweep", "--new", "lr=0.1,0.01", "batch=32,64", *COMMAND)
    assert sweep_of(text(fresh)[1]) != sweep_of(err)
    assert len(points_run(project)) == 9


def test_n_jobs_runs_points_in_worker_processes(project: Path, naga: Naga) -> None:
    done = naga("sweep", "--n-jobs", "2", "lr=0.1,0.2,0.3", "batch=1,2", *COMMAND, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "6 tasks, 2 workers" in text(done)[1]
    assert "worker ran" not in text(done)[1]  # the helpers' counts are theirs, not the user's
    assert sorted(points_run(project)) == sorted(
        f"{lr} {b}" for lr in ("0.1", "0.2", "0.3") for b in (1, 2)
    )
    assert len(runs_json(naga)) == 6


def test_random_search_draws_in_the_ranges_and_is_repeatable(project: Path, naga: Naga) -> None:
    args = ["--random", "5", "--seed", "7", "lr=log(1e-4,1e-1)", "batch=int(1,4)"]
    dry = naga("sweep", "--dry-run", *args, *COMMAND)
    assert dry.returncode == 0, dry.stderr
    listed = text(dry)[0]
    assert "5 tasks, 5 to run (dry run: nothing is run or submitted)" in listed
    assert points_run(project) == [] and runs_json(naga) == []
    done = naga("sweep", *args, *COMMAND)
    assert done.returncode in (0, 1), done.stderr
    drawn = [line.split() for line in points_run(project)]
    assert len(drawn) == 5
    for lr, batch in drawn:
        assert 1e-4 <= float(lr) <= 1e-1 and 1 <= int(batch) <= 4
        assert f"lr={float(lr):.6g} batch={batch}" in listed  # what the dry run showed ran
    params = sorted((r["params"]["lr"], r["params"]["batch"]) for r in runs_json(naga))
    assert params == sorted((float(lr), int(b)) for lr, b in drawn)


def test_dry_run_prints_the_commands_and_runs_nothing(project: Path, naga: Naga) -> None:
    done = naga("sweep", "--dry-run", "lr=0.1", "batch=8,9", *COMMAND)
    out, _ = text(done)
    assert done.returncode == 0
    assert f"[1] run  lr=0.1 batch=9  {sys.executable} prog.py --lr 0.1 --batch 9" in out
    assert points_run(project) == [] and runs_json(naga) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lr", *COMMAND], "'lr' is not a parameter: write NAME=V1,V2"),
        (["lr=", *COMMAND], "'lr=' has no values"),
        (["lr=0.1,,0.2", *COMMAND], "has an empty value"),
        (["1lr=3", *COMMAND], "'1lr' in '1lr=3' is not a parameter name"),
        (["lr=log(1e-4,1e-1)", "batch=1", *COMMAND], "is a range for random search: add"),
        (["--random", "2", "lr=exp(1,2)", *COMMAND], "unknown range exp(...)"),
        (["--random", "2", "lr=log(1e-4)", *COMMAND], "log(...) takes two bounds"),
        (["--random", "2", "lr=log(0,1)", *COMMAND], "log(LOW,HIGH) needs LOW > 0"),
        (["--random", "2", "lr=range(1,a)", *COMMAND], "'a' is not a number"),
        (["--random", "2", "lr=range(2,1)", *COMMAND], "LOW must be below HIGH"),
        (["--random", "2", "n=int(1.5,3)", *COMMAND], "int(LOW,HIGH) takes whole numbers"),
        (["lr=1", "lr=2", *COMMAND], "parameter lr is given twice"),
        (["lr=0.1", "batch=1", "epochs=3", *COMMAND], "{epochs} appears nowhere in the command"),
        (["lr=0.1", "batch=1", "--"], "naga sweep needs a command after --"),
        (["lr=0.1", "batch=1", "python", "x.py"], "naga sweep needs parameters, then -- and"),
        (["lr=0.1", "--n-jobs", "2", *COMMAND], "naga sweep's options go before the parameters"),
        (["--after", "12", "lr=0.1", "batch=1", *COMMAND], "--after chains Slurm jobs"),
        (["lr=0.1", "batch=1", *COMMAND, "{epochs}"], "{epochs} in the command is not a swept"),
        (["lr=[0.1,0.2", "batch=1", *COMMAND], "unclosed bracket (missing ])"),
        (["lr=0.1]", "batch=1", *COMMAND], "unbalanced ']'"),
        (["lr='0.1", "batch=1", *COMMAND], "unclosed '"),
        (
            ["shwo", "latest"],
            "naga sweep has no command 'shwo'; did you mean: naga sweep show latest",
        ),
        (["show", ""], "naga sweep show takes one sweep: naga sweep show [--json] ID (or latest)"),
        (["show", "--jsn", "latest"], "naga sweep show has no option '--jsn' (it has --json)"),
    ],
)
def test_bad_grammar_is_one_line_and_exit_2(
    project: Path, naga: Naga, args: list[str], message: str
) -> None:
    done = naga("sweep", *args)
    err = text(done)[1]
    assert done.returncode == 2, err
    assert err.startswith("naga: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert runs_json(naga) == []


def test_grid_order_and_values() -> None:
    params = parse_params(["a=1,2", "b=x,y,z"])
    grid = points(params, None, 0)
    assert [(p["a"], p["b"]) for p in grid] == [
        ("1", "x"),
        ("1", "y"),
        ("1", "z"),
        ("2", "x"),
        ("2", "y"),
        ("2", "z"),
    ]


def test_random_draws_cover_their_ranges() -> None:
    params = parse_params(["lr=log(1e-4,1)", "x=range(-1,1)", "n=int(2,3)", "opt=adam,sgd"])
    drawn = points(params, 400, seed=1)
    lrs = [float(p["lr"]) for p in drawn]
    assert min(lrs) >= 1e-4 and max(lrs) <= 1
    # log-uniform: about as many draws in each decade
    decades = [sum(1 for v in lrs if 10**-k > v >= 10 ** -(k + 1)) for k in range(4)]
    assert all(60 < count < 140 for count in decades), decades
    assert {p["n"] for p in drawn} == {"2", "3"} and {p["opt"] for p in drawn} == {"adam", "sgd"}
    assert all(-1 <= float(p["x"]) < 1 for p in drawn)
    assert points(params, 5, seed=3) == points(params, 5, seed=3)
    assert all(math.isfinite(float(p["lr"])) for p in drawn)


def test_placeholders_fill_only_swept_names() -> None:
    argv = ["sh", "-c", "echo {lr} ${HOME} {other}", "--lr={lr}"]
    assert fill_command(argv, {"lr": "0.1"}) == [
        "sh",
        "-c",
        "echo 0.1 ${HOME} {other}",
        "--lr=0.1",
    ]
    with pytest.raises(UsageError, match="appears nowhere"):
        check_command(["train"], parse_params(["lr=1"]))


def test_sigterm_stops_a_command_sweep_and_the_point_runs_again_later(project: Path) -> None:
    (project / "slow.py").write_text(
        "import sys, time, pathlib\n"
        "open('points.txt', 'a').write(sys.argv[1] + '\\n')\n"
        "pathlib.Path('started').write_text('')\n"
        "while sys.argv[1] == '1' and not pathlib.Path('go').exists():\n"
        "    time.sleep(0.05)\n"
    )
    args = naga_cmd("sweep", "x=0,1,2", "--", sys.executable, "slow.py", "{x}")
    sweep = subprocess.Popen(args, cwd=project, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while points_run(project) != ["0", "1"] or not (project / "started").exists():
        assert sweep.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # point 1's command is running
    os.kill(sweep.pid, signal.SIGTERM)
    _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 128 + signal.SIGTERM, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("naga: error: task 1 of sweep sw-")
    assert last.endswith(
        "was interrupted by SIGTERM; it runs again when the sweep is launched again"
    )
    (project / "go").write_text("")
    again = subprocess.run(args, cwd=project, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert points_run(project) == ["0", "1", "1", "2"]


def test_latest_is_the_newest_sweep_even_within_one_second(store: Path) -> None:
    from naga.parallel.sweepdir import create_sweep, resolve_sweep

    later, _ = create_sweep("command", [], key="a", program={}, now=1_000_000_000.9)
    earlier, _ = create_sweep("command", [], key="b", program={}, now=1_000_000_000.1)
    assert later.id[:16] == earlier.id[:16]  # the same second: the ids' suffixes are random
    assert resolve_sweep("latest").id == later.id
    assert resolve_sweep(earlier.id).id == earlier.id


def test_ls_sweep_finds_runs_of_other_sweeps_by_their_tag(project: Path, naga: Naga) -> None:
    # a Hydra multirun recorded through naga's callback tags its jobs the same way
    for _ in range(2):
        done = naga(
            "run", "--tag", "sweep:hydra-20261122-1015-ab12", "--", sys.executable, "-c", ""
        )
        assert done.returncode == 0
    assert len(runs_json(naga, "--sweep", "hydra-20261122-1015-ab12")) == 2
    unknown = naga("ls", "--sweep", "hydra-nope")
    assert unknown.returncode == 2
    assert unknown.stderr.decode().startswith("naga: error: no sweep 'hydra-nope'")


def test_sigterm_with_n_jobs_ends_the_helpers_runs_cancelled(project: Path, naga: Naga) -> None:
    (project / "slow.py").write_text(
        "import sys, time, pathlib\n"
        "pathlib.Path('started-' + sys.argv[1]).write_text('')\n"
        "while not pathlib.Path('go').exists():\n"
        "    time.sleep(0.05)\n"
    )
    args = naga_cmd("sweep", "--n-jobs", "2", "x=0,1,2", "--", sys.executable, "slow.py", "{x}")
    sweep = subprocess.Popen(args, cwd=project, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(list(project.glob("started-*"))) < 2:
        assert sweep.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(sweep.pid, signal.SIGTERM)
    _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert sorted(r["status"] for r in runs_json(naga)) == ["cancelled", "cancelled"]


def sweep_dirs() -> list[str]:
    root = Path(os.environ["NAGA_HOME"]) / "sweeps"
    return sorted(p.name for p in root.glob("sw-*")) if root.exists() else []


def test_a_dry_run_or_a_refused_launch_leaves_no_sweep(project: Path, naga: Naga) -> None:
    dry = naga("sweep", "--dry-run", "lr=0.1", "batch=8,9", *COMMAND)
    assert dry.returncode == 0, dry.stderr
    (project / "bad.yaml").write_text("cpus: [unclosed\n")
    refused = naga("sweep", "--slurm", "bad.yaml", "lr=0.1", "batch=8,9", *COMMAND)
    assert refused.returncode != 0 and "naga: error:" in text(refused)[1]
    assert sweep_dirs() == []
    latest = naga("ls", "--sweep", "latest")
    assert latest.returncode == 2 and "there is no sweep yet" in text(latest)[1]


def test_a_dry_run_of_a_sweep_with_failed_points_moves_nothing(project: Path, naga: Naga) -> None:
    done = naga("sweep", "lr=0.01", "batch=32,64", *COMMAND)
    assert done.returncode == 1  # (0.01, 64) exits 3
    pool = Path(os.environ["NAGA_HOME"]) / "sweeps" / sweep_of(text(done)[1]) / "pool"
    before = sorted(p.name for p in pool.iterdir())
    dry = naga("sweep", "--dry-run", "lr=0.01", "batch=32,64", *COMMAND)
    assert dry.returncode == 0, dry.stderr
    assert "2 tasks, 1 to run" in text(dry)[0]
    assert sorted(p.name for p in pool.iterdir()) == before
    assert sweep_dirs() == [pool.parent.name]
    again = naga("sweep", "lr=0.01", "batch=32,64", *COMMAND)  # a real launch reruns it
    assert again.returncode == 1
    assert points_run(project) == ["0.01 32", "0.01 64", "0.01 64"]


def test_commas_inside_brackets_or_quotes_do_not_split_values(project: Path, naga: Naga) -> None:
    assert parse_params(["arch=[1,2],[3]"])[0].values == ["[1,2]", "[3]"]
    assert parse_params(["f=log(1,2),(3,4)"])[0].values == ["log(1,2)", "(3,4)"]
    assert parse_params(["tag='a,b',c", 'n="x"'])[0].values == ["a,b", "c"]
    dry = naga("sweep", "--dry-run", "arch=[1,2],[3]", "--", "echo", "{arch}")
    assert dry.returncode == 0, dry.stderr
    out = text(dry)[0]
    assert "2 tasks" in out and "echo [1,2]" in out and "echo [3]" in out


def test_random_over_listed_values_draws_distinct_points_at_most_the_grid(
    project: Path, naga: Naga
) -> None:
    params = parse_params(["a=1,2,3", "b=x,y"])
    drawn = points(params, 4, seed=5)
    assert len(drawn) == 4 and len({tuple(p.items()) for p in drawn}) == 4
    everything = points(params, 50, seed=5)
    assert sorted(tuple(p.values()) for p in everything) == sorted(
        tuple(p.values()) for p in points(params, None, seed=0)
    )
    dry = naga("sweep", "--dry-run", "--random", "5", "lr=1,2", "--", "echo", "{lr}")
    assert dry.returncode == 0, dry.stderr
    out, err = text(dry)
    assert "2 tasks, 2 to run" in out
    assert "naga: note: --random 5, but the grid has only 2 distinct points" in err
