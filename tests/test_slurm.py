"""Sweeps on a real Slurm cluster: slurmctld + slurmd + munged started on this machine by
``scripts/slurm/up.sh`` (a session fixture), jobs submitted through submitit.

The program is a real ``clicfg`` script launched with ``--tasks ... --slurm_config FILE``, as a
user would; tasks that must stay running while the test requeues or preempts their job wait for
a file the test creates. Slurm holds a requeued job back two minutes (its BeginTime); the tests
release it at once with ``scontrol update StartTime=now``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import HOSTILE, Naga, runs_json

from naga.parallel.profiles import load_profile

REPO = Path(__file__).resolve().parent.parent
NODE = socket.gethostname().split(".")[0]

PROGRAM = """\
import os, time, pathlib
import naga

@naga.clicfg({"lr": 0.1, "wait": "", "fail": False, "marks": "???", "save_dir": "out/${lr}"})
def main(cfg):
    restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
    with open(pathlib.Path(cfg.marks) / f"attempts-{cfg.lr}", "a") as f:
        f.write(restarts + "\\n")
    print(f"training at lr={cfg.lr}", flush=True)
    while cfg.wait and not os.path.exists(cfg.wait):
        time.sleep(0.05)
    if cfg.fail:
        raise RuntimeError(f"boom at lr={cfg.lr}")

if __name__ == "__main__":
    main()
"""


# -- the cluster ------------------------------------------------------------------------------


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            if port + 1 < 65536:
                return port
    raise RuntimeError("no two free consecutive ports")


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A single-node Slurm cluster, started once for these tests and stopped after them (not at
    the end of the whole session: SLURM_CONF must not leak into other modules' runs); yields
    its slurm.conf. ``NAGA_KEEP_SLURM=1`` keeps its state directory (slurmctld.log, slurmd.log)
    for reading after a failure."""
    path = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"  # where Debian puts the daemons
    daemons = ("slurmctld", "slurmd", "munged", "sbatch")
    missing = [c for c in daemons if shutil.which(c, path=path) is None]
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)}); scripts/test installs it")
    if os.geteuid() != 0:
        pytest.skip("starting slurmd needs root (CI runs scripts/test as root)")
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "NAGA_SLURM_DIR": str(state), "NAGA_SLURM_PORT": str(_free_port_pair())}
    up = subprocess.run(
        [str(REPO / "scripts/slurm/up.sh")], env=env, capture_output=True, text=True, timeout=90
    )
    assert up.returncode == 0, up.stderr
    conf = state / "slurm.conf"
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    try:
        yield conf
    finally:
        subprocess.run(
            [
                str(REPO / "scripts/slurm/down.sh"),
                *([] if os.environ.get("NAGA_KEEP_SLURM") else ["--clean"]),
            ],
            env=env,
            timeout=90,
        )
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved


@pytest.fixture
def slurm(slurm_cluster: Path) -> Iterator[Path]:
    """The cluster, left with no job of this test behind."""
    yield slurm_cluster
    jobs = _out("squeue", "-h", "-o", "%A").split()
    if jobs:
        subprocess.run(["scancel", *jobs], check=False)
        _wait_for(lambda: not _out("squeue", "-h", "-o", "%A").strip(), "jobs cancelled")


# -- helpers ----------------------------------------------------------------------------------


def _out(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30).stdout


def _wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; squeue:\n{_out('squeue')}")


def _job_gone(job: str) -> bool:
    found = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True)
    return (found.returncode == 0 and not found.stdout.strip()) or "Invalid job id" in found.stderr


def _job_field(job: str, key: str) -> list[str]:
    """``key``'s value for the job (one per array task) in ``scontrol show job``."""
    return re.findall(rf"\b{key}=(\S*)", _out("scontrol", "-o", "show", "job", job))


def _release_requeued(job: str) -> None:
    """Requeued jobs wait two minutes (BeginTime); start this one as soon as Slurm can.

    Not in the same second as the requeue: slurmd revokes the job's old credential with a
    one-second resolution, and refuses ("Job credential revoked", the job then ends for good) a
    launch whose new credential carries that same second. The two-minute hold is what spares a
    real cluster this race; a job whose old processes take a moment to exit (Lightning's
    teardown) met it here."""
    _wait_for(lambda: "PENDING" in _job_field(job, "JobState"), f"job {job} requeued")
    time.sleep(2)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)


def _profile(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / "slurm.yaml"
    base = ["partition: debug", "time: 10", "cpus_per_task: 1", "mem: 300M"]
    given = {line.split(":")[0] for line in text.splitlines()}
    path.write_text("".join(f"{line}\n" for line in base if line.split(":")[0] not in given) + text)
    return path


def _program(tmp_path: Path) -> Path:
    (tmp_path / "marks").mkdir(exist_ok=True)
    path = tmp_path / "train.py"
    path.write_text(PROGRAM)
    return path


def _launch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    marks = f"marks={tmp_path / 'marks'}"
    return subprocess.run(
        [sys.executable, str(_program(tmp_path)), marks, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _submitted_job(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    found = re.search(r"submitted Slurm job (\d+)", done.stderr)
    assert found, done.stderr
    return found.group(1)


def _sweep(store: Path) -> dict[str, Any]:
    (path,) = store.glob("sweeps/sw-*/sweep.json")
    doc: dict[str, Any] = json.loads(path.read_text())
    doc["dir"] = str(path.parent)
    return doc


def _attempts(tmp_path: Path, lr: str) -> list[str]:
    path = tmp_path / "marks" / f"attempts-{lr}"
    return path.read_text().split() if path.exists() else []


def _runs_by_lr(naga: Naga, tag: str) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in sorted(runs_json(naga, "--tag", tag), key=lambda r: r["started_at"]):
        full = json.loads(naga("show", "--json", run["id"]).stdout)
        runs.setdefault(str(full["params"]["lr"]), []).append(full)
    return runs


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_array_of_tasks_completes_with_slurm_info(
    slurm: Path, tmp_path: Path, store: Path, naga: Naga
) -> None:
    profile = _profile(tmp_path, "array_parallelism: 2\n")
    done = _launch(
        tmp_path, "--tasks", "[0.1, 0.2, 0.3]", "--task-to", "lr", "--slurm_config", str(profile)
    )
    job = _submitted_job(done)
    sweep = _sweep(store)
    assert sweep["slurm"]["jobs"][0]["job_id"] == job
    assert sweep["slurm"]["jobs"][0]["array_size"] == 2  # no more workers than run at once
    assert set(_job_field(job, "ArrayTaskThrottle")) == {"2"}
    _wait_for(lambda: _job_gone(job), f"job {job} to end", timeout=120)

    runs = _runs_by_lr(naga, f"sweep:{sweep['id']}")
    assert sorted(runs) == ["0.1", "0.2", "0.3"]
    indexes = set()
    for (run,) in runs.values():
        assert run["status"] == "completed", run
        info = run["slurm"]
        assert info["array_job_id"] == job and info["node"] == NODE
        assert info["partition"] == "debug" and info["restart_count"] == 0
        assert Path(info["log_out"]).is_file() and Path(info["log_err"]).is_file()
        indexes.add(info["array_task_id"])
    assert indexes <= {0, 1}
    shown = naga("show", runs["0.2"][0]["id"]).stdout.decode()
    task = runs["0.2"][0]["slurm"]["array_task_id"]
    assert re.search(rf"Slurm\s+job {job}_{task} \(id \d+\) on {NODE}, partition debug", shown)
    assert f"worker stdout: {runs['0.2'][0]['slurm']['log_out']}" in shown

    again = _launch(
        tmp_path, "--tasks", "[0.1, 0.2, 0.3]", "--task-to", "lr", "--slurm_config", str(profile)
    )
    assert again.returncode == 0, again.stderr
    assert "nothing to run, no Slurm job submitted" in again.stderr
    assert len(_sweep(store)["slurm"]["jobs"]) == 1  # no job that would find nothing to do


@pytest.mark.timeout(180)
def test_requeued_job_resumes_only_unfinished_tasks(
    slurm: Path, tmp_path: Path, store: Path, naga: Naga
) -> None:
    go = tmp_path / "go"
    tasks = f"[{{lr: 0.1}}, {{lr: 0.2, wait: '{go}'}}, {{lr: 0.3}}]"
    done = _launch(
        tmp_path, "--tasks", tasks, "--n_jobs", "1", "--slurm_config", str(_profile(tmp_path))
    )
    job = _submitted_job(done)
    _wait_for(lambda: _attempts(tmp_path, "0.2"), "task 1 to start")
    subprocess.run(["scontrol", "requeue", job], check=True)
    _release_requeued(job)
    go.touch()
    _wait_for(lambda: _job_gone(job), f"job {job} to end", timeout=120)

    assert _attempts(tmp_path, "0.1") == ["0"]  # done before the requeue: not run again
    assert _attempts(tmp_path, "0.2") == ["0", "1"]  # in progress: run again
    assert _attempts(tmp_path, "0.3") == ["1"]
    runs = _runs_by_lr(naga, f"sweep:{_sweep(store)['id']}")
    [task] = runs["0.2"]  # one task, one run: the requeued job continued it
    first, second = task["attempts"]
    assert first["status"] in ("crashed", "cancelled") and first["slurm"]["restart_count"] == 0
    assert second["status"] == "completed" and second["slurm"]["restart_count"] == 1
    assert task["status"] == "completed"
    assert [r["status"] for r in runs["0.1"] + runs["0.3"]] == ["completed", "completed"]
    assert "requeued 1x" in naga("show", task["id"]).stdout.decode()


@pytest.mark.timeout(180)
def test_cancelled_sweep_launched_again_runs_only_what_is_left(
    slurm: Path, tmp_path: Path, store: Path, naga: Naga
) -> None:
    go = tmp_path / "go"
    tasks = f"[{{lr: 0.1}}, {{lr: 0.2, wait: '{go}'}}, {{lr: 0.3}}]"
    launch = ["--tasks", tasks, "--n_jobs", "1", "--slurm_config", str(_profile(tmp_path))]
    first_job = _submitted_job(_launch(tmp_path, *launch))
    _wait_for(lambda: _attempts(tmp_path, "0.2"), "task 1 to start")
    subprocess.run(["scancel", first_job], check=True)
    _wait_for(lambda: _job_gone(first_job), f"job {first_job} cancelled")

    go.touch()
    again = _launch(tmp_path, *launch[:-4], "--slurm_config", str(_profile(tmp_path)))
    second_job = _submitted_job(again)  # the same sweep, reopened: 2 tasks left
    _wait_for(lambda: _job_gone(second_job), f"job {second_job} to end", timeout=120)

    assert [_attempts(tmp_path, lr) for lr in ("0.1", "0.2", "0.3")] == [["0"], ["0", "0"], ["0"]]
    sweep = _sweep(store)
    jobs = sweep["slurm"]["jobs"]
    assert [(j["job_id"], j["array_size"]) for j in jobs] == [(first_job, 1), (second_job, 2)]
    runs = _runs_by_lr(naga, f"sweep:{sweep['id']}")
    [task] = runs["0.2"]  # the relaunch continued the cancelled task's run
    assert task["status"] == "completed"
    assert [a["status"] for a in task["attempts"]] == ["cancelled", "completed"]
    assert task["slurm"]["array_job_id"] == second_job


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["clicfg", "command"])
def test_preempted_job_checkpoints_and_requeues_itself(
    slurm: Path, tmp_path: Path, store: Path, naga: Naga, kind: str
) -> None:
    """Both kinds of task: a clicfg program run inside the worker, and a command (naga sweep)
    that Slurm's signal reaches too."""
    go = tmp_path / "go"
    profile = str(_profile(tmp_path))
    if kind == "clicfg":
        tasks = f"[{{lr: 0.1}}, {{lr: 0.2, wait: '{go}'}}, {{lr: 0.3}}]"
        done = _launch(tmp_path, "--tasks", tasks, "--n_jobs", "1", "--slurm_config", profile)
    else:
        for lr in ("0.1", "0.3"):
            (tmp_path / f"go-{lr}").touch()
        go = tmp_path / "go-0.2"
        command = [sys.executable, str(_program(tmp_path)), f"marks={tmp_path / 'marks'}"]
        done = naga(
            "sweep", "--slurm", profile, "--n-jobs", "1", "lr=0.1,0.2,0.3", "--",
            *command, "lr={lr}", f"wait={tmp_path}/go-{{lr}}",
        )  # fmt: skip
        done = subprocess.CompletedProcess(done.args, done.returncode, "", done.stderr.decode())
    job = _submitted_job(done)
    _wait_for(lambda: _attempts(tmp_path, "0.2"), "task 1 to start")
    # what Slurm sends before the time limit (--signal=USR2@...) and on preemption
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    _release_requeued(job)  # requeued by submitit's checkpoint, from inside the job
    go.touch()
    _wait_for(lambda: _job_gone(job), f"job {job} to end", timeout=120)

    assert _attempts(tmp_path, "0.1") == ["0"]
    assert _attempts(tmp_path, "0.2") == ["0", "1"]
    assert _attempts(tmp_path, "0.3") == ["1"]
    runs = _runs_by_lr(naga, f"sweep:{_sweep(store)['id']}")
    [task] = runs["0.2"]  # the requeued task continued its run (a program's or a command's)
    first, second = task["attempts"]
    assert task["status"] == "completed" and task["slurm"]["restart_count"] == 1
    assert first["status"] == "cancelled"  # interrupted, not failed: the task ran again
    assert second["status"] == "completed" and second["slurm"]["restart_count"] == 1
    log = Path(second["slurm"]["log_err"]).read_text()
    assert "Caught signal SIGUSR2" in log and f"JOB {job} ON {NODE} CANCELLED" in log
    assert "DUE TO JOB REQUEUE" in log  # submitit's requeue, from inside the job


@pytest.mark.timeout(180)
def test_failing_task_is_reported_with_its_logs(
    slurm: Path, tmp_path: Path, store: Path, naga: Naga
) -> None:
    tasks = "[{lr: 0.1}, {lr: 0.2, fail: true}]"
    done = _launch(tmp_path, "--tasks", tasks, "--slurm_config", str(_profile(tmp_path)))
    job = _submitted_job(done)
    _wait_for(lambda: _job_gone(job), f"job {job} to end", timeout=120)

    runs = _runs_by_lr(naga, f"sweep:{_sweep(store)['id']}")
    (ok,), (failed,) = runs["0.1"], runs["0.2"]
    assert ok["status"] == "completed"
    assert failed["status"] == "failed" and "boom at lr=0.2" in failed["error"]
    # a clicfg task runs inside the worker: its output is the worker's log, named on the run
    assert "training at lr=0.2" in Path(failed["slurm"]["log_out"]).read_text()
    worker_log = Path(failed["slurm"]["log_err"]).read_text()
    assert "SweepTasksFailed" in worker_log and failed["id"] in worker_log
    shown = naga("show", failed["id"]).stdout.decode()
    assert f"worker stderr: {failed['slurm']['log_err']}" in shown and "boom at lr=0.2" in shown
    assert "FAILED" in _job_field(job, "JobState")  # afterok dependents will not start


@pytest.mark.timeout(120)
def test_failing_command_point_keeps_its_output(
    slurm: Path, tmp_path: Path, naga: Naga, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a project and a store whose paths have spaces, quotes and unicode in them."""
    project = tmp_path / HOSTILE
    project.mkdir()
    store = project / "the store"
    monkeypatch.setenv("NAGA_HOME", str(store))
    script = "echo point {x}; echo oops >&2; exit {x}"
    profile = str(_profile(project))
    done = naga("sweep", "--slurm", profile, "x=0,3", "--", "sh", "-c", script, cwd=project)
    assert done.returncode == 0, done.stderr
    job = re.findall(r"submitted Slurm job (\d+)", done.stderr.decode())[0]
    _wait_for(lambda: _job_gone(job), f"job {job} to end", timeout=120)

    by_x = {r["params"]["x"]: r for r in runs_json(naga, "--tag", f"sweep:{_sweep(store)['id']}")}
    assert by_x[0]["status"] == "completed" and by_x[0]["cwd"] == str(project)
    failed = json.loads(naga("show", "--json", by_x[3]["id"]).stdout)
    assert failed["status"] == "failed" and failed["exit_code"] == 3
    assert naga("logs", failed["id"]).stdout == b"point 3\noops\n"  # the run's output.log
    assert failed["slurm"]["log_err"].startswith(str(store))
    assert "SweepTasksFailed" in Path(failed["slurm"]["log_err"]).read_text()


@pytest.mark.timeout(120)
def test_dry_run_prints_the_sbatch_script_and_submits_nothing(
    slurm: Path, tmp_path: Path, store: Path, naga: Naga
) -> None:
    profile = _profile(tmp_path, "array_parallelism: 2\nsbatch: {mail-type: END}\n")
    done = _launch(
        tmp_path,
        "--tasks",
        "[0.1, 0.2, 0.3]",
        "--task-to",
        "lr",
        "--slurm_config",
        str(profile),
        "--dry-run",
    )
    assert done.returncode == 0, done.stderr
    for line in (
        "#SBATCH --array=0-1%2",  # 3 tasks, 2 workers: each takes the next task left
        "#SBATCH --partition=debug",
        "#SBATCH --time=10",
        "#SBATCH --mem=300M",
        "#SBATCH --mail-type=END",
        "#SBATCH --signal=USR2@90",
        "-m submitit.core._submit",
    ):
        assert line in done.stdout, done.stdout
    assert "dry run: nothing submitted" in done.stdout
    assert not list(store.glob("sweeps/sw-*"))  # a dry run makes no sweep

    plain = str(_profile(tmp_path, "cpus_per_task: 2\n"))
    command = naga("sweep", "--slurm", plain, "--dry-run", "x=1,2", "--", "echo", "{x}").stdout
    assert b"#SBATCH --array=0-1%2" in command and b"#SBATCH --cpus-per-task=2" in command
    assert _out("squeue", "-h").strip() == ""


@pytest.mark.timeout(180)
def test_after_makes_a_sweep_wait_for_another(
    slurm: Path, tmp_path: Path, store: Path, naga: Naga
) -> None:
    go = tmp_path / "go"
    profile = str(_profile(tmp_path))
    first_job = _submitted_job(
        _launch(tmp_path, "--tasks", f"[{{lr: 0.1, wait: '{go}'}}]", "--slurm_config", profile)
    )
    first_sweep = _sweep(store)["id"]
    done = _launch(
        tmp_path,
        "--tasks",
        "[0.2]",
        "--task-to",
        "lr",
        "--slurm_config",
        profile,
        "--after",
        first_sweep,
    )
    second_job = _submitted_job(done)
    (dependency,) = _job_field(second_job, "Dependency")
    assert re.fullmatch(rf"afterok:{first_job}(_\*)?\(unfulfilled\)", dependency), dependency
    _wait_for(lambda: _job_field(second_job, "Reason") == ["Dependency"], "Reason=Dependency")
    _wait_for(lambda: _attempts(tmp_path, "0.1"), "the first sweep to start")
    assert _attempts(tmp_path, "0.2") == []  # the second waits
    go.touch()
    _wait_for(lambda: _job_gone(second_job), f"job {second_job} to end", timeout=120)

    first = runs_json(naga, "--tag", f"sweep:{first_sweep}")[0]
    (second,) = [r for r in runs_json(naga) if r["id"] != first["id"]]
    assert first["status"] == second["status"] == "completed"
    assert second["started_at"] >= first["finished_at"]


@pytest.mark.timeout(120)
def test_after_a_failed_stage_the_next_is_cancelled(
    slurm: Path, tmp_path: Path, store: Path
) -> None:
    go, profile = tmp_path / "go", str(_profile(tmp_path))
    first = f"[{{lr: 0.1, fail: true, wait: '{go}'}}]"
    first_job = _submitted_job(_launch(tmp_path, "--tasks", first, "--slurm_config", profile))
    second = ["--tasks", "[0.2]", "--task-to", "lr", "--slurm_config", profile]
    second_job = _submitted_job(_launch(tmp_path, *second, "--after", first_job))
    go.touch()
    _wait_for(lambda: _job_gone(second_job), f"job {second_job} to be cancelled")
    assert _attempts(tmp_path, "0.2") == []
    assert _job_field(second_job, "JobState") == ["CANCELLED"]

    # the failed stage is still known to Slurm: waiting on it again is refused up front
    again = _launch(tmp_path, *second, "--after", first_job)
    assert again.returncode == 2
    assert again.stderr == (
        f"train.py: error: --after {first_job}: Slurm job {first_job} ended FAILED, so a job"
        " waiting on it would never start; run that stage again first\n"
    )


@pytest.mark.timeout(120)
def test_bad_requests_get_one_line(slurm: Path, tmp_path: Path) -> None:
    tasks = ["--tasks", "[0.1]", "--task-to", "lr"]
    too_big = _launch(
        tmp_path, *tasks, "--slurm_config", str(_profile(tmp_path, "cpus_per_task: 512\n"))
    )
    assert too_big.returncode != 0
    assert too_big.stderr.count("\n") == 1, too_big.stderr
    assert "error: sbatch refused the job" in too_big.stderr
    assert "More processors requested than permitted" in too_big.stderr
    no_memory = _launch(tmp_path, *tasks, "--slurm_config", str(_profile(tmp_path, "mem: 64T\n")))
    assert no_memory.returncode != 0 and no_memory.stderr.count("\n") == 1, no_memory.stderr
    assert "Requested node configuration is not available" in no_memory.stderr
    no_gpu = _launch(tmp_path, *tasks, "--slurm_config", str(_profile(tmp_path, "gpus: 1\n")))
    assert no_gpu.returncode == 1 and no_gpu.stderr.count("\n") == 1, no_gpu.stderr
    assert no_gpu.stderr.endswith("): Invalid generic resource (gres) specification\n")

    profile = str(_profile(tmp_path))
    unknown = _launch(tmp_path, *tasks, "--slurm_config", profile, "--after", "sw-nope")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1, unknown.stderr
    assert "--after sw-nope: not a Slurm job id" in unknown.stderr
    no_job = _launch(tmp_path, *tasks, "--slurm_config", profile, "--after", "999999")
    assert no_job.returncode == 2 and no_job.stderr.count("\n") == 1, no_job.stderr
    assert "--after 999999: Slurm has no job 999999 (a typo, or it ended" in no_job.stderr
    assert _out("squeue", "-h").strip() == ""


def test_naga_run_inside_a_slurm_job_records_it(slurm: Path, tmp_path: Path, naga: Naga) -> None:
    done = subprocess.run(
        ["srun", "--job-name=by-hand", sys.executable, "-m", "naga", "run", "true"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (run,) = runs_json(naga)
    full = json.loads(naga("show", "--json", run["id"]).stdout)
    info = full["slurm"]
    assert info["job_id"].isdigit() and info["node"] == NODE and info["partition"] == "debug"
    assert info["array_job_id"] is None and info["restart_count"] == 0
    assert "Slurm     job " in naga("show", run["id"]).stdout.decode()


# -- errors before and around submission ------------------------------------------------------


def test_missing_profile_file_through_the_program(tmp_path: Path) -> None:
    done = _launch(tmp_path, "--tasks", "[0.1]", "--task-to", "lr", "--slurm_config", "nope.yaml")
    assert done.returncode == 2
    assert done.stderr == "train.py: error: slurm profile nope.yaml: no such file\n"


def test_after_a_completed_sweep_needs_no_dependency(tmp_path: Path, store: Path) -> None:
    local = _launch(tmp_path, "--tasks", "[0.5]", "--task-to", "lr")  # run here, completed
    assert local.returncode == 0, local.stderr
    done_sweep = _sweep(store)["id"]
    profile = str(_profile(tmp_path))
    tasks = ["--tasks", "[0.6]", "--task-to", "lr", "--slurm_config", profile, "--dry-run"]
    dry = _launch(tmp_path, *tasks, "--after", done_sweep)
    assert dry.returncode == 0, dry.stderr
    assert "#SBATCH --time=10" in dry.stdout and "dependency" not in dry.stdout

    with_job = _launch(tmp_path, *tasks, "--after", "812")
    assert "#SBATCH --dependency=afterok:812" in with_job.stdout
    assert "#SBATCH --kill-on-invalid-dep=yes" in with_job.stdout
    made = subprocess.run(  # a sweep made but never launched (dry runs make none)
        [
            sys.executable,
            "-c",
            "from naga.parallel.commands import prepare_command_sweep as p;"
            " print(p(['x=1'], ['echo', '{x}'])[0].id)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    never = made.stdout.strip()
    unsubmitted = _launch(
        tmp_path,
        "--tasks",
        "[0.7]",
        "--task-to",
        "lr",
        "--slurm_config",
        profile,
        "--after",
        never,
        "--dry-run",
    )
    assert unsubmitted.returncode == 2
    assert unsubmitted.stderr == (
        f"train.py: error: --after {never}: that sweep has tasks not completed and was never"
        " submitted to Slurm, so no job would ever end it; submit it first (--slurm_config, or"
        " naga sweep --slurm)\n"
    )
    fresh = ["--tasks", "[0.8]", "--task-to", "lr", "--slurm_config", profile, "--dry-run"]
    itself = _launch(tmp_path, *fresh, "--after", "latest")  # latest: the one being launched
    assert itself.returncode == 2
    assert "--after latest: that is the sweep being submitted" in itself.stderr


def test_without_slurm_or_submitit_one_line(tmp_path: Path, slurm: Path) -> None:
    tasks = ["--tasks", "[0.1]", "--task-to", "lr", "--slurm_config", str(_profile(tmp_path))]
    script, marks = str(_program(tmp_path)), f"marks={tmp_path / 'marks'}"
    no_extra = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys; sys.modules['submitit'] = None;"  # as if not installed
            f" sys.argv = {['train.py', marks, *tasks]!r};"
            f" runpy.run_path({script!r}, run_name='__main__')",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_extra.returncode == 1
    assert no_extra.stderr == (
        "train.py: error: this needs submitit, which is not installed:"
        " pip install 'naga-runs[slurm]'\n"
    )

    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no srun, no sbatch
    run = [sys.executable, script, marks, *tasks]
    no_slurm = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert no_slurm.returncode == 1
    assert (
        no_slurm.stderr.startswith(
            "train.py: error: cannot submit to Slurm from this machine: srun and sbatch"
        )
        and no_slurm.stderr.count("\n") == 1
    )

    dead = tmp_path / "dead.conf"  # the controller is down (nothing listens on its port)
    conf = slurm.read_text()
    conf = re.sub(r"(?m)^SlurmctldPort=.*$", "SlurmctldPort=1", conf)
    dead.write_text(re.sub(r"(?m)^MessageTimeout=.*$", "MessageTimeout=1", conf))
    env = {**os.environ, "SLURM_CONF": str(dead)}
    down = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 1
    assert (
        down.stderr.endswith("): Unable to contact slurm controller (connect failure)\n")
        and down.stderr.count("\n") == 1
    ), down.stderr


# -- docs/slurm.md, run as written --------------------------------------------------------------


@pytest.mark.timeout(300)
def test_docs_examples_run_as_written(
    slurm: Path, tmp_path: Path, naga: Naga, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (REPO / "docs" / "slurm.md").read_text()
    (program,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (profiles,) = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(program)
    (project / "slurm.yaml").write_text(profiles)
    assert load_profile(f"{project / 'slurm.yaml'}:gpu").parameters["gpus_per_node"] == 1
    monkeypatch.delenv("NAGA_HOME")  # the store is the project's .naga/, as for a user
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    outputs = []
    for block in blocks:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{block}\n{done.stderr}"
        outputs.append(done.stdout + done.stderr)
        _wait_for(lambda: not _out("squeue", "-h").strip(), "the queue to drain", timeout=120)

    dry_run, submit, listing, command_sweep, after = outputs
    assert "#SBATCH --array=0-1%2" in dry_run and "#SBATCH --partition=debug" in dry_run
    assert "submitted Slurm job" in submit and "submitted Slurm job" in command_sweep
    assert listing.count("completed") == 3 and listing.rstrip().endswith("debug")
    assert "submitted Slurm job" in after
    runs = json.loads(naga("ls", "--all", "--json", cwd=project).stdout)
    assert len(runs) == 3 + 2 + 2 and {r["status"] for r in runs} == {"completed"}
    seeds = [r for r in runs if "seed" in r["params"]]
    assert {naga("logs", r["id"], cwd=project).stdout for r in seeds} == {b"seed 1\n", b"seed 2\n"}
    assert (project / "prepared.txt").read_text() == "42\n"


LIGHTNING = """\
import os, pathlib, time
import torch
from lightning import LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset
import naga
from naga.integrations.lightning import NagaLogger


class Model(LightningModule):
    def __init__(self, lr, go):
        super().__init__()
        self.lr, self.go = lr, go
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        if self.global_step == 3:
            pathlib.Path(self.go).with_suffix(".training").touch()
        if not os.path.exists(self.go):
            time.sleep(0.25)  # mid-epoch, slowly, until the test has stopped the job
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


@naga.clicfg({"lr": 0.1, "go": "???", "save_dir": "out/${lr}"})
def main(cfg):
    x = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    data = DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)  # 64 steps
    trainer = Trainer(logger=NagaLogger(), max_epochs=1, log_every_n_steps=1,
                      enable_progress_bar=False, enable_checkpointing=False)
    trainer.fit(Model(cfg.lr, cfg.go), data)

if __name__ == "__main__":
    main()
"""


@pytest.mark.timeout(420)
@pytest.mark.skipif(importlib.util.find_spec("lightning") is None, reason="needs lightning")
@pytest.mark.parametrize("stop", ["scancel", "requeue", "usr2"])
def test_a_lightning_task_stopped_on_slurm_is_one_run_that_ends_true(
    slurm: Path, tmp_path: Path, store: Path, naga: Naga, stop: str
) -> None:
    """Lightning's own SLURM handling inside the job (SLURMEnvironment, auto-requeue on): a
    task stopped mid-epoch is cancelled, never completed, its task goes back to the pool, and
    the attempt that runs it again continues the same run to its end."""
    (tmp_path / "train.py").write_text(LIGHTNING)
    go = tmp_path / "go"
    profile = str(_profile(tmp_path, "mem: 1500M\n"))
    launch = [sys.executable, "train.py", f"go={go}", "--tasks", "[0.1]", "--task-to", "lr"]
    done = subprocess.run(
        [*launch, "--slurm_config", profile],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    job = _submitted_job(done)
    _wait_for(lambda: go.with_suffix(".training").exists(), "training to start", timeout=180)
    if stop == "scancel":
        subprocess.run(["scancel", job], check=True)
        _wait_for(lambda: _job_gone(job), f"job {job} cancelled")
    elif stop == "requeue":
        subprocess.run(["scontrol", "requeue", job], check=True)
    else:  # the preemption / time-limit warning, which submitit turns into a requeue
        subprocess.run(["scancel", "--signal=USR2", job], check=True)

    def first_attempt_ended() -> Any:
        [run] = runs_json(naga, "--all")
        return run if run["status"] != "running" else None

    stopped = _wait_for(first_attempt_ended, "the first attempt to end", timeout=120)
    assert stopped["status"] in ("cancelled", "crashed"), stopped  # never completed
    sweep = _sweep(store)
    assert not (Path(sweep["dir"]) / "pool" / "done.0").exists()  # the task is not done
    go.touch()
    if stop == "scancel":  # launched again by hand
        again = subprocess.run(
            [*launch, "--slurm_config", profile],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        job = _submitted_job(again)
    else:  # requeued: Slurm holds it back two minutes, the test releases it now
        _release_requeued(job)

    def second_attempt_began() -> bool:
        shown = json.loads(naga("show", "--json", stopped["id"]).stdout)
        return len(shown.get("attempts") or []) >= 2

    # the job restarts (not merely leaves the queue for a moment while it is requeued)
    _wait_for(second_attempt_began, "the second attempt to start", timeout=240)
    _wait_for(lambda: _job_gone(job), f"job {job} to end", timeout=240)

    [run] = runs_json(naga, "--all")  # one task, one run
    full = json.loads(naga("show", "--json", run["id"]).stdout)
    assert full["status"] == "completed", full
    first, second = full["attempts"]
    expected = {"scancel": "cancelled", "requeue": "cancelled", "usr2": "cancelled"}[stop]
    assert first["status"] in (expected, "crashed") and second["status"] == "completed"
    if stop == "usr2":
        assert first["status"] == "cancelled" and first["error"] == "terminated by SIGUSR2"
    if stop == "scancel":
        assert first["status"] == "cancelled" and first["error"] == "terminated by SIGTERM"
    import naga as sdk

    steps = sdk.load(run["id"]).metrics("train/loss").step.tolist()
    assert steps == list(range(64))  # one value per step: the second attempt started over
    assert (Path(sweep["dir"]) / "pool" / "done.0").exists()


SEARCH_PROGRAM = """\
import naga

@naga.clicfg({"x": 0.0})
def main(cfg):
    naga.log({"loss": (cfg.x - 2) ** 2})

if __name__ == "__main__":
    main()
"""


@pytest.mark.timeout(240)
def test_a_search_runs_its_trials_on_two_slurm_workers(
    slurm: Path, tmp_path: Path, store: Path, naga: Naga
) -> None:
    pytest.importorskip("optuna")
    (tmp_path / "search.py").write_text(SEARCH_PROGRAM)
    done = subprocess.run(
        [sys.executable, "search.py", "--search", "tpe", "--trials", "4", "--minimize", "loss",
         "--param", "x=range(-5,5)", "--n_jobs", "2", "--slurm_config", str(_profile(tmp_path))],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    job = _submitted_job(done)
    sweep = _sweep(store)
    assert sweep["slurm"]["jobs"][0]["array_size"] == 2
    _wait_for(lambda: _job_gone(job), f"job {job} to end", timeout=200)
    outcomes = [json.loads(p.read_text()) for p in Path(sweep["dir"]).glob("pool/done.*")]
    assert sorted(o["status"] for o in outcomes) == ["completed"] * 4, outcomes
    assert all(isinstance(o["value"], float) for o in outcomes)
    runs = runs_json(naga, "--tag", f"sweep:{sweep['id']}")
    assert len(runs) == 4
    full = [json.loads(naga("show", "--json", r["id"]).stdout) for r in runs]
    assert {f["slurm"]["array_job_id"] for f in full} == {job}
    shown = naga("sweep", "show", sweep["id"])
    assert shown.returncode == 0, shown.stderr
    assert "naga: study: 4 complete (minimize loss)" in shown.stdout.decode()
