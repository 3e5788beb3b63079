"""``clicfg`` programs run as parallel tasks: ``--tasks``, ``--task-to``, ``--n_jobs``, resume.

Every test runs a real script (``python train.py ...``) in a subprocess, as a user would; the
--n_jobs path starts real worker processes, and resume is tested after a real SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Naga, runs_json

SCRIPT = '''
import ctypes
import os
import time
from pathlib import Path

import naga


@naga.clicfg({
    "model": {"lr": 0.01, "depth": 2},
    "lrs": [0.1, 0.2, 0.3],
    "empty": [],
    "save_dir": "runs/fixed",
})
def train(cfg):
    """Train on one task."""
    x = cfg.model.lr
    with open("executions.txt", "a") as f:
        f.write(f"{x} {os.getpid()}\\n")
    if Path(f"wait-{x}").exists() or Path("wait-all").exists():
        Path(f"started-{x}").write_text(str(os.getpid()))
        while not Path("go").exists():
            time.sleep(0.05)
    if Path("barrier").exists():  # hold until two processes run tasks at the same time
        Path(f"running-{os.getpid()}").write_text("")
        deadline = time.time() + 60
        while len(list(Path(".").glob("running-*"))) < 2:
            assert time.time() < deadline, "no second worker process"
            time.sleep(0.02)
    if Path(f"fail-{x}").exists():
        raise ValueError(f"diverged at {x}")
    if Path(f"segv-{x}").exists():
        ctypes.string_at(0)  # a crash that kills the process, as a bad extension does
    naga.log({"loss": x * 10})
    print("trained", x, "into", cfg.save_dir)


if __name__ == "__main__":
    train()
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(SCRIPT)
    return tmp_path


def script(project: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("timeout", 90)
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=project,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        **kwargs,
    )


def executions(project: Path) -> list[str]:
    path = project / "executions.txt"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def sweep_id(stderr: str) -> str:
    for word in stderr.split():
        if word.startswith("sw-"):
            return word.rstrip(":;,")
    raise AssertionError(f"no sweep id in {stderr!r}")


def lock(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((path / "run.lock").read_text())
    return doc


def test_each_task_is_its_own_run_with_its_own_save_dir_and_lock(project: Path, naga: Naga) -> None:
    done = script(project, "--tasks", "lrs", "--task-to", "model.lr", "model.depth=5")
    assert done.returncode == 0, done.stderr
    sweep = sweep_id(done.stderr)
    # every task resolves to runs/fixed: each gets a directory of its own below it
    for index, lr in enumerate([0.1, 0.2, 0.3]):
        task_dir = project / "runs" / "fixed" / f"task-{index}"
        doc = lock(task_dir)
        assert doc["status"] == "completed"
        assert doc["config"]["model"] == {"lr": lr, "depth": 5}
        assert doc["config"]["save_dir"] == str(Path("runs/fixed") / f"task-{index}")
    runs = runs_json(naga, "--tag", f"sweep:{sweep}")
    assert sorted(r["name"] for r in runs) == [f"{sweep}:{i}" for i in range(3)]
    by_task = {r["params"]["sweep.task"]: r for r in runs}
    assert {i: r["params"]["model.lr"] for i, r in by_task.items()} == {0: 0.1, 1: 0.2, 2: 0.3}
    assert all(r["status"] == "completed" and r["params"]["sweep.id"] == sweep for r in runs)
    assert by_task[2]["metrics"] == {"loss": 3.0}
    # the summary table: one row per task, in task order
    rows = [line.split() for line in done.stdout.splitlines() if line[:1].isdigit()]
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("0", "0.1", "completed"),
        ("1", "0.2", "completed"),
        ("2", "0.3", "completed"),
    ]


def test_mapping_items_from_a_yaml_file_set_several_keys(project: Path, naga: Naga) -> None:
    (project / "tasks.yaml").write_text("- {model.lr: 0.5, model.depth: 3}\n- model: {lr: 0.25}\n")
    done = script(project, "--tasks", "tasks.yaml", "save_dir=out/${model.lr}-${model.depth}")
    assert done.returncode == 0, done.stderr
    assert lock(project / "out" / "0.5-3")["config"]["model"] == {"lr": 0.5, "depth": 3}
    assert lock(project / "out" / "0.25-2")["config"]["model"] == {"lr": 0.25, "depth": 2}
    assert sorted(executions(project)) == ["0.25", "0.5"]


def test_task_to_a_group_with_json_items_and_an_inline_list(project: Path) -> None:
    (project / "tasks.json").write_text(json.dumps([{"lr": 0.7}, {"lr": 0.8, "depth": 9}]))
    done = script(project, "--tasks", "tasks.json", "--task-to", "model")
    assert done.returncode == 0, done.stderr
    assert lock(project / "runs/fixed/task-1")["config"]["model"] == {"lr": 0.8, "depth": 9}
    done = script(project, "--tasks", "[0.05, 0.06]", "--task-to=model.lr")
    assert done.returncode == 0, done.stderr
    assert sorted(executions(project)) == ["0.05", "0.06", "0.7", "0.8"]


def test_a_failing_task_is_recorded_failed_and_the_others_run(project: Path, naga: Naga) -> None:
    (project / "fail-0.2").write_text("")
    done = script(project, "--tasks", "lrs", "--task-to", "model.lr")
    assert done.returncode == 1
    runs = {r["params"]["sweep.task"]: r for r in runs_json(naga)}
    # the task's traceback, as the program alone would print it, then the others go on
    assert 'in train\n    raise ValueError(f"diverged at {x}")' in done.stderr
    failed = f"naga: task 1 failed (run {runs[1]['id']}): ValueError: diverged at 0.2"
    assert done.stderr.strip().endswith(failed)
    third = f"naga ▶ {sweep_id(done.stderr)}:2 (3/3) model.lr=0.3 · run {runs[2]['id']}"
    assert done.stderr.index("Traceback") < done.stderr.index(third)  # after task 1 failed
    assert [runs[i]["status"] for i in range(3)] == ["completed", "failed", "completed"]
    assert runs[1]["error"] == "ValueError: diverged at 0.2"
    assert lock(project / "runs/fixed/task-1")["status"] == "failed"


def test_launching_again_runs_only_what_did_not_complete(project: Path, naga: Naga) -> None:
    (project / "fail-0.2").write_text("")
    first = script(project, "--tasks", "lrs", "--task-to", "model.lr")
    assert first.returncode == 1
    (project / "fail-0.2").unlink()
    again = script(project, "--tasks", "lrs", "--task-to", "model.lr")
    assert again.returncode == 0, again.stderr
    assert sweep_id(again.stderr) == sweep_id(first.stderr)
    assert "3 tasks, 2 completed before" in again.stderr
    assert executions(project) == ["0.1", "0.2", "0.3", "0.2"]
    third = script(project, "--tasks", "lrs", "--task-to", "model.lr")
    assert third.returncode == 0
    assert "all 3 tasks completed before; nothing to run" in third.stderr
    assert len(executions(project)) == 4
    fresh = script(project, "--tasks", "lrs", "--task-to", "model.lr", "--new-sweep")
    assert fresh.returncode == 0 and sweep_id(fresh.stderr) != sweep_id(first.stderr)
    assert len(executions(project)) == 7
    # a different base command line is a different sweep
    other = script(project, "--tasks", "lrs", "--task-to", "model.lr", "model.depth=3")
    assert other.returncode == 0 and "completed before" not in other.stderr


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def test_a_sigkilled_sweep_resumes_with_only_the_undone_tasks(project: Path, naga: Naga) -> None:
    (project / "wait-0.2").write_text("")
    launcher = subprocess.Popen(
        [sys.executable, "train.py", "--tasks", "lrs", "--task-to", "model.lr"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(project / "started-0.2", launcher)
    launcher.send_signal(signal.SIGKILL)  # the worker dies mid-task, with no chance to clean up
    launcher.communicate(timeout=30)
    assert executions(project) == ["0.1", "0.2"]
    (project / "go").write_text("")
    again = script(project, "--tasks", "lrs", "--task-to", "model.lr")
    assert again.returncode == 0, again.stderr
    assert "3 tasks, 1 completed before" in again.stderr
    # task 0 never ran again; task 1, whose worker died, runs last, in a helper process
    ran = executions(project)
    assert ran == ["0.1", "0.2", "0.3", "0.2"]
    assert int((project / "started-0.2").read_text()) not in (launcher.pid, os.getpid())
    statuses = sorted((r["params"]["sweep.task"], r["status"]) for r in runs_json(naga))
    assert statuses == [(0, "completed"), (1, "completed"), (2, "completed")]  # a run a task
    [task1] = [r for r in runs_json(naga) if r["params"]["sweep.task"] == 1]
    attempts = json.loads(naga("show", "--json", task1["id"]).stdout)["attempts"]
    assert [a["status"] for a in attempts] == ["crashed", "completed"]  # its worker died once


def test_n_jobs_runs_the_tasks_of_a_plain_script_in_two_processes(project: Path) -> None:
    (project / "tasks.yaml").write_text(yaml.safe_dump([0.1 * i for i in range(1, 7)]))
    (project / "barrier").write_text("")
    launcher = subprocess.Popen(
        [sys.executable, "train.py", "--tasks", "tasks.yaml", "--task-to=model.lr", "--n_jobs=2"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = launcher.communicate(timeout=120)
    assert launcher.returncode == 0, err
    assert "6 tasks, 2 workers" in err
    lines = (project / "executions.txt").read_text().splitlines()
    assert len(lines) == 6
    assert sorted(float(line.split()[0]) for line in lines) == pytest.approx(
        [0.1 * i for i in range(1, 7)]
    )
    # the launcher is one worker, a helper process the other, running tasks at the same time
    pids = {int(line.split()[1]) for line in lines}
    assert len(pids) == 2 and launcher.pid in pids
    assert out.count("completed") == 6


def test_a_script_without_a_main_guard_runs_in_workers(tmp_path: Path) -> None:
    (tmp_path / "bare.py").write_text(
        "import os\nimport time\nfrom pathlib import Path\n\nimport naga\n\n"
        "@naga.clicfg({'x': 0})\n"
        "def main(cfg):\n"
        "    open(f'done-{cfg.x}', 'w').write(str(os.getpid()))\n"
        "    while len({p.read_text() for p in Path('.').glob('done-*')}) < 2:\n"
        "        time.sleep(0.02)  # until a task runs in the other process too\n\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "bare.py", "--tasks", "[1, 2, 3]", "--task-to", "x", "--n-jobs", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    done_files = sorted(tmp_path.glob("done-*"))
    assert [p.name for p in done_files] == ["done-1", "done-2", "done-3"]
    assert len({p.read_text() for p in done_files}) == 2  # the script loaded in a worker too


def test_two_workers_on_one_pool_run_each_task_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from naga.parallel.commands import prepare_command_sweep

    monkeypatch.chdir(project)  # a sweep made, not launched: workers started by hand run it
    append = "open('executions.txt', 'a').write(__import__('sys').argv[1] + '\\n')"
    sweep, _ = prepare_command_sweep(
        ["x=" + ",".join(str(float(i)) for i in range(8))], [sys.executable, "-c", append, "{x}"]
    )
    sweep_dir = Path(sweep.dir)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "naga.parallel.worker", str(sweep_dir)],
            cwd="/",  # a worker runs in the sweep's directory wherever it starts
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    ran = []
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        ran.append(int(err.split("ran ")[1].split()[0]))
    assert sum(ran) == 8
    assert sorted(executions(project)) == sorted(str(float(i)) for i in range(8))


def test_dry_run_prints_the_tasks_and_runs_nothing(project: Path, naga: Naga) -> None:
    done = script(project, "--tasks", "lrs", "--task-to", "model.lr", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "3 tasks, 3 to run (dry run: nothing is run or submitted)" in done.stdout
    assert "[1] run  model.lr=0.2  save_dir=runs/fixed/task-1" in done.stdout
    assert not (project / "runs").exists()
    assert not (project / "executions.txt").exists()
    assert runs_json(naga) == []


def test_tasks_under_naga_run_are_runs_of_their_own(project: Path, naga: Naga) -> None:
    done = naga("run", sys.executable, "train.py", "--tasks", "lrs", "--task-to", "model.lr")
    assert done.returncode == 0, done.stderr
    runs = runs_json(naga)
    assert len(runs) == 4
    wrapper = [r for r in runs if not r["name"]]
    assert len(wrapper) == 1 and wrapper[0]["status"] == "completed"
    assert sorted(r["params"].get("sweep.task", -1) for r in runs) == [-1, 0, 1, 2]


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (["--n_jobs", "2"], {}, "--n_jobs needs tasks: name them with --tasks KEY"),
        (["--slurm_config", "s.yaml"], {}, "--slurm_config needs tasks"),
        (["--task-to", "model.lr"], {}, "--task-to needs tasks"),
        (["--tasks", "empty"], {}, "--tasks empty is an empty list: there is no task to run"),
        (["--tasks", "[]", "--task-to", "model.lr"], {}, "is an empty list"),
        (
            ["--tasks", "lrs", "--task-to", "model.lrr"],
            {},
            "--task-to model.lrr is not a key of the config; did you mean model.lr?",
        ),
        (["--tasks", "nokey"], {}, "--tasks nokey is not a key of the config"),
        (["--tasks", "[1,2"], {}, "--tasks: cannot parse the value '[1,2'"),
        (["--tasks", "lrs"], {}, "task 0 is float 0.1, not a mapping of config keys"),
        (["--tasks", "t.yaml"], {}, "--tasks file t.yaml does not exist"),
        (["--tasks", "t.yaml"], {"t.yaml": "- [a\n"}, "is not valid YAML/JSON (line 2)"),
        (["--tasks", "t.json"], {"t.json": '{"a": 1}'}, "must be a list of tasks, not a mapping"),
        (
            ["--tasks", "t.yaml"],
            {"t.yaml": "- {model.lrr: 1}\n"},
            "task 0 ({'model.lrr': 1}): unknown config key model.lrr; did you mean model.lr?",
        ),
        (
            ["--tasks", "lrs", "--task-to", "model.lr", "--n_jobs", "0"],
            {},
            "--n_jobs expects a number of processes (1 or more), not '0'",
        ),
        (["--tasks"], {}, "--tasks needs a value: --tasks KEY|FILE"),
        (
            ["--tasks", "lrs", "--task-to", "model.lr", "--after", "12"],
            {},
            "--after chains Slurm jobs: it needs --slurm_config FILE",
        ),
        (["--tasks", "lrs", "--task-to", "model.lr", "model.lr=x"], {}, "model.lr expects a float"),
    ],
)
def test_strict_errors_are_one_line_and_exit_2(
    project: Path, naga: Naga, args: list[str], files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (project / name).write_text(text)
    done = script(project, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("train.py: error: ")
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (project / "executions.txt").exists()
    assert runs_json(naga) == []


def test_a_config_key_named_like_an_option_is_pointed_to(tmp_path: Path) -> None:
    (tmp_path / "nj.py").write_text(
        "import naga\n\n@naga.clicfg({'n_jobs': 1})\n"
        "def main(cfg):\n    print(cfg.n_jobs)\n\nmain()\n"
    )
    option = subprocess.run(
        [sys.executable, "nj.py", "--n_jobs", "4"], cwd=tmp_path, capture_output=True, text=True
    )
    assert option.returncode == 2
    assert option.stderr.rstrip().endswith("; to set the config key n_jobs, write n_jobs=VALUE")
    key = subprocess.run(
        [sys.executable, "nj.py", "n_jobs=4"], cwd=tmp_path, capture_output=True, text=True
    )
    assert (key.returncode, key.stdout) == (0, "4\n")


def test_a_main_not_at_module_level_cannot_go_to_other_processes(tmp_path: Path) -> None:
    (tmp_path / "nested.py").write_text(
        "import naga\n\n"
        "def build():\n"
        "    return naga.clicfg({'x': 0})(lambda cfg: print('x', cfg.x))\n\n"
        "build()()\n"
    )
    args = [sys.executable, "nested.py", "--tasks", "[1, 2]", "--task-to", "x"]
    alone = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert alone.returncode == 0, alone.stderr  # in this process, it is found as it is
    assert "x 1" in alone.stdout and "x 2" in alone.stdout
    parallel = subprocess.run(
        [*args, "--n_jobs", "2", "--new-sweep"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert parallel.returncode == 2
    assert "need the clicfg main at the top level of its module" in parallel.stderr


def _launch_until_both_run(project: Path, args: list[str]) -> subprocess.Popen[str]:
    """``train.py ARGS`` started, once a task runs in each of its two processes."""
    launcher = subprocess.Popen(
        [sys.executable, "train.py", *args],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(list(project.glob("started-*"))) < 2:  # a task in each process
        assert launcher.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return launcher


def test_a_helper_worker_killed_mid_task_loses_nothing(project: Path, naga: Naga) -> None:
    items = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    (project / "tasks.yaml").write_text(yaml.safe_dump(items))
    (project / "wait-all").write_text("")
    args = ["--tasks", "tasks.yaml", "--task-to", "model.lr", "--n_jobs", "2"]
    launcher = _launch_until_both_run(project, args)
    started = {p.name.split("-", 1)[1]: int(p.read_text()) for p in project.glob("started-*")}
    killed, helper_pid = next((x, pid) for x, pid in started.items() if pid != launcher.pid)
    os.kill(helper_pid, signal.SIGKILL)
    time.sleep(0.5)
    (project / "go").write_text("")
    out, err = launcher.communicate(timeout=120)
    # the launcher's worker took over the killed task and finished the sweep
    assert launcher.returncode == 0, err
    assert "naga: warning: a worker process died (signal 9, SIGKILL) running task" in err
    assert "Traceback" not in err
    ran = executions(project)
    assert sorted(set(ran)) == sorted(str(x) for x in items)
    assert ran.count(killed) == 2 and len(ran) == len(items) + 1
    [run] = [r for r in runs_json(naga) if r["params"]["model.lr"] == float(killed)]
    attempts = json.loads(naga("show", "--json", run["id"]).stdout)["attempts"]
    assert run["status"] == "completed"  # one run: the attempt whose worker died, then the next
    assert [a["status"] for a in attempts] == ["crashed", "completed"]
    assert out.count("✓ completed") == 6


DATACLASS_SCRIPT = """
from dataclasses import dataclass, field

import naga


@dataclass
class Model:
    arch: str = "???"
    lr: float = 0.1


@dataclass
class Config:
    model: Model = field(default_factory=Model)
    archs: list = field(default_factory=lambda: ["resnet", "vit"])
    save_dir: str = "runs/${model.arch}"


@naga.clicfg(Config)
def main(cfg):
    print("arch", cfg.model.arch)


if __name__ == "__main__":
    main()
"""


def test_tasks_fill_a_value_the_defaults_leave_missing_in_a_dataclass_program(
    tmp_path: Path,
) -> None:
    (tmp_path / "dc.py").write_text(DATACLASS_SCRIPT)
    args = ["dc.py", "--tasks", "archs", "--task-to", "model.arch", "--n_jobs", "2"]
    done = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    for arch in ("resnet", "vit"):
        assert lock(tmp_path / "runs" / arch)["config"]["model"] == {"arch": arch, "lr": 0.1}
    bad = subprocess.run(
        [sys.executable, "dc.py", "--tasks", "[{lr: fast, arch: x}]", "--task-to", "model"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr == (
        "dc.py: error: task 0 ({'lr': 'fast', 'arch': 'x'}): model.lr expects a float,"
        " not 'fast' (model.lr='fast')\n"
    )


def test_sigterm_cancels_the_task_in_progress_and_stops_the_sweep(
    project: Path, naga: Naga
) -> None:
    (project / "wait-0.2").write_text("")
    args = ["--tasks", "lrs", "--task-to", "model.lr"]
    launcher = subprocess.Popen(
        [sys.executable, "train.py", *args], cwd=project, stderr=subprocess.PIPE, text=True
    )
    wait_for(project / "started-0.2", launcher)
    launcher.send_signal(signal.SIGTERM)  # what Slurm sends on preemption or at the time limit
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert executions(project) == ["0.1", "0.2"]  # task 2 never started
    pool = Path(os.environ["NAGA_HOME"]) / "sweeps" / sweep_id(err) / "pool"
    assert (pool / "released.1.0").exists()  # free for the next worker at once, on any host
    assert lock(project / "runs/fixed/task-1")["status"] == "cancelled"
    statuses = sorted((r["params"]["sweep.task"], r["status"]) for r in runs_json(naga))
    assert statuses == [(0, "completed"), (1, "cancelled")]
    (project / "go").write_text("")
    again = script(project, *args)
    assert again.returncode == 0, again.stderr
    assert executions(project) == ["0.1", "0.2", "0.2", "0.3"]


def test_a_module_run_with_python_m_is_imported_by_name_in_workers(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "train.py").write_text(
        "import time\nfrom pathlib import Path\n\nimport naga\n\n"
        "@naga.clicfg({'x': 0})\n"
        "def main(cfg):\n"
        "    open(f'done-{cfg.x}', 'w').write(__name__)\n"
        "    while len({p.read_text() for p in Path('.').glob('done-*')}) < 2:\n"
        "        time.sleep(0.02)  # until a task runs in the other process too\n\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    args = ["-m", "pkg.train", "--tasks", "[1, 2, 3]", "--task-to", "x", "--n_jobs", "2"]
    done = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    names = {p.name: p.read_text() for p in tmp_path.glob("done-*")}
    assert sorted(names) == ["done-1", "done-2", "done-3"]
    # the launcher runs it as __main__; its helper imported it by its name
    assert set(names.values()) == {"pkg.train", "__main__"}


def test_a_worker_given_no_sweep_says_so_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "naga.parallel.worker", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert (
        done.stderr
        == f"naga: error: {tmp_path / 'nope'} is not a sweep directory (it has no sweep.json)\n"
    )


def test_an_edited_config_file_makes_a_new_sweep(project: Path) -> None:
    (project / "exp.yaml").write_text("model: {depth: 3}\n")
    args = ["--config", "exp.yaml", "--tasks", "lrs", "--task-to", "model.lr"]
    first = script(project, *args)
    assert first.returncode == 0, first.stderr
    same = script(project, *args)
    assert sweep_id(same.stderr) == sweep_id(first.stderr)
    (project / "exp.yaml").write_text("model: {depth: 4}\n")  # a different base config
    edited = script(project, *args)
    assert edited.returncode == 0, edited.stderr
    assert sweep_id(edited.stderr) != sweep_id(first.stderr)
    assert "completed before" not in edited.stderr
    assert len(executions(project)) == 6


def test_a_task_that_segfaults_fails_and_the_others_still_run(project: Path, naga: Naga) -> None:
    (project / "segv-0.2").write_text("")
    args = ["--tasks", "lrs", "--task-to", "model.lr"]
    first = script(project, *args)
    assert first.returncode == -signal.SIGSEGV  # the first crash takes its process down
    assert executions(project) == ["0.1", "0.2"]
    again = script(project, *args)
    # the task that crashed goes to a helper process: the launcher runs the rest, and the
    # task fails after its second crash instead of killing every launch
    assert again.returncode == 1, again.stderr
    assert executions(project) == ["0.1", "0.2", "0.3", "0.2"]
    assert "a worker process died (signal 11, SIGSEGV) running task 1" in again.stderr
    assert "task 1 failed (run " in again.stderr
    assert "the worker running it died (signal 11, SIGSEGV); not run again" in again.stderr
    assert "✗ failed" in again.stdout and again.stdout.count("✓ completed") == 2
    # a new launch gives it one more chance, in a helper process, as for any failed task
    third = script(project, *args)
    assert third.returncode == 1, third.stderr
    assert executions(project)[4:] == ["0.2"]
    assert "the worker running it died (signal 11, SIGSEGV); not run again" in third.stderr
    [run] = [r for r in runs_json(naga) if r["params"]["model.lr"] == 0.2]
    assert run["status"] == "crashed"  # one run, three attempts, each killed its worker
    attempts = json.loads(naga("show", "--json", run["id"]).stdout)["attempts"]
    assert len(attempts) == 3 and [a["status"] for a in attempts[:2]] == ["crashed"] * 2


def test_with_n_jobs_a_crashing_task_never_takes_the_launcher_down(project: Path) -> None:
    (project / "wait-0.1").write_text("")
    (project / "segv-0.2").write_text("")
    launcher = subprocess.Popen(
        [sys.executable, "train.py", "--tasks", "lrs", "--task-to", "model.lr", "--n_jobs", "2"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(project / "started-0.1", launcher)
    assert int((project / "started-0.1").read_text()) == launcher.pid
    deadline = time.monotonic() + 60
    # while the launcher is busy with task 0, helpers (each replacing the one that died) run
    # task 1 twice, then task 2
    while sorted(executions(project)) != ["0.1", "0.2", "0.2", "0.3"]:
        assert launcher.poll() is None and time.monotonic() < deadline, executions(project)
        time.sleep(0.05)
    (project / "go").write_text("")
    out, err = launcher.communicate(timeout=90)
    assert launcher.returncode == 1, err
    assert sorted(executions(project)) == ["0.1", "0.2", "0.2", "0.3"]
    assert err.count("a worker process died (signal 11, SIGSEGV) running task 1") == 2
    assert "the worker running it died (signal 11, SIGSEGV); not run again" in err
    assert out.count("✓ completed") == 2 and "✗ failed" in out


def test_sigterm_with_n_jobs_ends_every_task_in_progress_cancelled(
    project: Path, naga: Naga
) -> None:
    (project / "wait-all").write_text("")
    launcher = _launch_until_both_run(
        project, ["--tasks", "lrs", "--task-to", "model.lr", "--n_jobs", "2"]
    )
    launcher.send_signal(signal.SIGTERM)
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("interrupted by SIGTERM; launch it again to run the tasks not done")
    )
    runs = runs_json(naga)
    assert sorted(r["status"] for r in runs) == ["cancelled", "cancelled"]  # none crashed
    (project / "go").write_text("")
    again = script(project, "--tasks", "lrs", "--task-to", "model.lr", "--n_jobs", "2")
    assert again.returncode == 0, again.stderr
    assert sorted(executions(project)) == ["0.1", "0.1", "0.2", "0.2", "0.3"]


def test_each_task_records_its_own_command_which_reruns_it_alone(project: Path, naga: Naga) -> None:
    args = ["--tasks", "lrs", "--task-to", "model.lr", "--n_jobs", "2", "model.depth=5"]
    done = script(project, *args)
    assert done.returncode == 0, done.stderr
    commands = {}
    for listed in runs_json(naga):  # in the launcher's process and in the helper's
        shown = json.loads(naga("show", listed["id"], "--json").stdout)
        lr, task = listed["params"]["model.lr"], listed["params"]["sweep.task"]
        assert shown["argv"] == [
            sys.executable,
            "train.py",
            "model.depth=5",
            f"model.lr={lr}",
            f"save_dir=runs/fixed/task-{task}",
        ]
        assert shown["command"].endswith(
            f"train.py model.depth=5 model.lr={lr} save_dir=runs/fixed/task-{task}"
        )
        assert lock(project / f"runs/fixed/task-{task}")["command"] == shown["argv"]
        commands[lr] = listed["id"]
    rerun = naga("rerun", commands[0.2], "--here", timeout=90)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(executions(project)) == ["0.1", "0.2", "0.2", "0.3"]


def test_a_main_defined_under_the_main_guard_is_refused_before_launching(tmp_path: Path) -> None:
    (tmp_path / "guarded.py").write_text(
        "import naga\n\n"
        "if __name__ == '__main__':\n"
        "    @naga.clicfg({'x': 0})\n"
        "    def main(cfg):\n"
        "        print('x', cfg.x)\n\n"
        "    main()\n"
    )
    base = [sys.executable, "guarded.py", "--tasks", "[1, 2]", "--task-to", "x"]
    for extra in (["--n_jobs", "2"], ["--slurm_config", "slurm.yaml", "--dry-run"]):
        done = subprocess.run(
            [*base, *extra], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        assert "main 'main' defined at the top level of guarded.py" in done.stderr
        assert "x 1" not in done.stdout  # nothing ran


def test_a_refused_slurm_launch_leaves_no_sweep_and_no_snapshot_ref(git_repo: Path) -> None:
    (git_repo / "train.py").write_text(SCRIPT)
    (git_repo / "bad.yaml").write_text("cpus_per_task: [unclosed\n")
    done = script(git_repo, "--tasks", "lrs", "--task-to", "model.lr", "--slurm_config", "bad.yaml")
    assert done.returncode != 0 and "error:" in done.stderr, done.stderr
    assert not list((Path(os.environ["NAGA_HOME"]) / "sweeps").glob("sw-*"))
    refs = subprocess.run(
        ["git", "for-each-ref", "refs/naga/"], cwd=git_repo, capture_output=True, text=True
    )
    assert refs.returncode == 0 and refs.stdout == ""
    assert executions(git_repo) == []
