"""``NagaCallback``: real Hydra and hydra-zen apps (those of ``docs/integrations.md``) run as a
user runs them, in subprocesses, alone and under ``naga run``; runs read back with the CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Naga, only_run, runs_json
from integration_docs import save_doc_files, without

# found, not imported: the tests run it in subprocesses; scripts/test installs the extra
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("hydra") is None, reason="needs pip install 'naga-runs[hydra]'"
)

APP_FILES = ("app.py", "conf/config.yaml")
SWEEP_LINE = re.compile(r"\[HYDRA\] naga: sweep (hydra-\S+): naga ls --sweep (\S+)\n")


def python(cwd: Path, *args: str, returncode: int = 0) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == returncode, done.stdout + done.stderr
    return done.stdout + done.stderr


def sweep_id(output: str) -> str:
    found = SWEEP_LINE.search(output)
    assert found is not None, output
    assert found.group(1) == found.group(2)
    return found.group(1)


def full(naga_cli: Naga, run: dict[str, Any]) -> dict[str, Any]:
    done = naga_cli("show", run["id"], "--json")
    assert done.returncode == 0, done.stderr
    shown: dict[str, Any] = json.loads(done.stdout)
    return shown


def test_a_multirun_records_each_job_with_its_config_dir_status_and_sweep(
    tmp_path: Path, naga_cli: Naga, store: Path
) -> None:
    save_doc_files(tmp_path, *APP_FILES)
    out = python(tmp_path, "app.py", "--multirun", "lr=0.1,0.5", "depth=1,4", returncode=1)
    sweep = sweep_id(out)
    runs = {r["name"]: full(naga_cli, r) for r in runs_json(naga_cli, "--sweep", sweep)}
    assert sorted(runs) == ["app-0", "app-1", "app-2", "app-3"]
    assert len(runs_json(naga_cli)) == 4  # nothing else recorded
    sweep_dir = Path(runs["app-0"]["params"]["hydra.sweep.dir"])
    for num, (lr, depth) in enumerate([(0.1, 1), (0.1, 4), (0.5, 1), (0.5, 4)]):
        run = runs[f"app-{num}"]
        params = run["params"]
        assert (params["lr"], params["depth"], params["model.width"]) == (lr, depth, depth)
        assert params["hydra.overrides"] == [f"lr={lr}", f"depth={depth}"]
        assert (params["hydra.job.num"], params["hydra.job.name"]) == (num, "app")
        assert (params["hydra.sweep.id"], params["hydra.sweep.dir"]) == (sweep, str(sweep_dir))
        output_dir = Path(params["hydra.output_dir"])
        assert output_dir == sweep_dir / str(num) and output_dir.is_dir()
        assert run["tags"] == [f"sweep:{sweep}"] and run["source"] == "sdk"
        artifacts = {a["name"] for a in run["artifacts"]}
        assert {"hydra/config.yaml", "hydra/overrides.yaml", "hydra/hydra.yaml"} <= artifacts
        assert "hydra/app.log" in artifacts
        copied = store / "runs" / run["id"] / "artifacts" / "hydra" / "config.yaml"
        assert copied.read_text() == (output_dir / ".hydra" / "config.yaml").read_text()
    for name in ("app-0", "app-1", "app-2"):
        assert runs[name]["status"] == "completed"
        assert runs[name]["metric_stats"]["loss"]["count"] == 3
    failed = runs["app-3"]
    assert failed["status"] == "failed"
    assert failed["error"] == "ValueError: diverged: lr=0.5 is too high for depth 4"
    assert 'File "' in failed["traceback"] and "in main" in failed["traceback"]
    assert "loss" not in failed["metrics"]


def test_under_naga_run_a_run_is_the_wrappers_and_a_multirun_its_children(
    tmp_path: Path, naga_cli: Naga
) -> None:
    save_doc_files(tmp_path, *APP_FILES)
    done = naga_cli("run", sys.executable, "app.py", "lr=0.2")
    assert done.returncode == 0, done.stderr
    run = only_run(naga_cli)
    assert (run["params"]["lr"], run["params"]["hydra.overrides"]) == (0.2, ["lr=0.2"])
    assert Path(run["params"]["hydra.output_dir"]).is_dir()
    assert run["status"] == "completed" and run["metric_stats"]["loss"]["count"] == 3
    assert "hydra/config.yaml" in {a["name"] for a in run["artifacts"]}

    done = naga_cli("run", "--name", "study", sys.executable, "app.py", "-m", "lr=0.1,0.5")
    assert done.returncode == 0, done.stderr
    study = full(naga_cli, runs_json(naga_cli, "--name", "study")[0])
    sweep = study["params"]["hydra.sweep.id"]
    assert sweep_id(done.stdout.decode() + done.stderr.decode()) == sweep
    children = runs_json(naga_cli, "--tag", f"sweep:{sweep}")
    assert sorted(c["id"] for c in children) == sorted(study["children"])
    assert {c["parent_id"] for c in children} == {study["id"]}
    assert sorted(c["params"]["lr"] for c in children) == [0.1, 0.5]
    assert {c["status"] for c in children} == {"completed"}


@pytest.mark.timeout(180)
def test_jobs_in_the_launchers_own_processes(tmp_path: Path, naga_cli: Naga) -> None:
    """joblib's launcher runs each job in a worker process, which gets the callback (and the
    sweep id in it) pickled; under `naga run` the jobs there are children of its run too."""
    save_doc_files(tmp_path, *APP_FILES)
    args = ("-m", "lr=0.1,0.5", "depth=1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    done = naga_cli("run", "--name", "parallel", sys.executable, "app.py", *args, timeout=150)
    assert done.returncode == 0, done.stderr
    sweep = sweep_id(done.stdout.decode() + done.stderr.decode())
    wrapper = runs_json(naga_cli, "--name", "parallel")[0]
    jobs = runs_json(naga_cli, "--tag", f"sweep:{sweep}")
    assert sorted(job["name"] for job in jobs) == ["app-0", "app-1"]
    assert {job["parent_id"] for job in jobs} == {wrapper["id"]}
    assert {job["pid"] for job in jobs}.isdisjoint({wrapper["pid"]})  # other processes
    assert {job["status"] for job in jobs} == {"completed"}
    assert sorted(job["params"]["lr"] for job in jobs) == [0.1, 0.5]
    assert wrapper["status"] == "completed"  # the workers' attachments end as quietly as they go


DRIVER = """
import os
import sys

import naga
from app import main

# imported, not run: Hydra looks for the config beside the module unless told where it is
sys.argv = ["app.py", "--config-path", os.path.abspath("conf"), "--multirun", "lr=0.1,0.2"]
with naga.run(name="outer") as outer:
    main()
print(outer.id)
"""


def test_jobs_inside_a_naga_run_block_are_its_children(tmp_path: Path, naga_cli: Naga) -> None:
    save_doc_files(tmp_path, *APP_FILES)
    (tmp_path / "driver.py").write_text(DRIVER)
    outer_id = python(tmp_path, "driver.py").splitlines()[-1]
    outer = full(naga_cli, {"id": outer_id})
    assert outer["name"] == "outer" and len(outer["children"]) == 2
    jobs = [full(naga_cli, {"id": child}) for child in outer["children"]]
    assert {job["parent_id"] for job in jobs} == {outer_id}
    assert sorted(job["params"]["lr"] for job in jobs) == [0.1, 0.2]


BARE_CONFIG = "lr: 0.1\ndepth: 1\nmodel:\n  width: ${depth}\n"
ONE_LINER = "+hydra.callbacks.naga._target_=naga.integrations.hydra.NagaCallback"


def test_the_command_line_form_and_tags(tmp_path: Path, naga_cli: Naga) -> None:
    save_doc_files(tmp_path, *APP_FILES)
    (tmp_path / "conf" / "bare.yaml").write_text(BARE_CONFIG)
    python(tmp_path, "app.py", "--config-name", "bare", ONE_LINER, "lr=0.3")
    python(tmp_path, "app.py", "lr=0.4", "+hydra.callbacks.naga.tags=[ablation,v2]")
    runs = {r["params"]["lr"]: r for r in runs_json(naga_cli)}
    assert sorted(runs) == [0.3, 0.4]
    assert runs[0.3]["name"] == "app" and runs[0.3]["tags"] == []
    assert runs[0.4]["tags"] == ["ablation", "v2"]
    assert {r["status"] for r in runs.values()} == {"completed"}


def test_a_job_that_changes_directory_records_into_the_apps_store(
    git_repo: Path, naga_cli: Naga
) -> None:
    """hydra.job.chdir=True runs the task in its output dir; the run is still created from the
    directory the app started in: the repository's store, with that directory as its cwd."""
    save_doc_files(git_repo, *APP_FILES)
    env = {k: v for k, v in os.environ.items() if k != "NAGA_HOME"}
    done = subprocess.run(
        [sys.executable, "app.py", "hydra.job.chdir=True"],
        cwd=git_repo,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    listed = naga_cli("ls", "--json", cwd=git_repo, env=env)
    [run] = json.loads(listed.stdout)
    assert (git_repo / ".naga" / "runs" / run["id"]).is_dir()
    assert run["cwd"] == str(git_repo) and run["git"]["commit"]
    assert Path(run["params"]["hydra.output_dir"]).parents[1] == git_repo / "outputs"


def test_two_multiruns_into_one_sweep_dir_get_two_sweep_ids(tmp_path: Path, naga_cli: Naga) -> None:
    save_doc_files(tmp_path, *APP_FILES)
    args = ("app.py", "-m", "lr=0.1,0.2", "hydra.sweep.dir=sweeps/fixed")
    first, second = sweep_id(python(tmp_path, *args)), sweep_id(python(tmp_path, *args))
    assert first != second
    for sweep in (first, second):
        assert len(runs_json(naga_cli, "--tag", f"sweep:{sweep}")) == 2


def test_a_hydra_zen_app(tmp_path: Path, naga_cli: Naga) -> None:
    save_doc_files(tmp_path, "zen_app.py")
    sweep = sweep_id(python(tmp_path, "zen_app.py", "--multirun", "lr=0.1,0.01"))
    runs = {r["name"]: r for r in runs_json(naga_cli, "--tag", f"sweep:{sweep}")}
    assert sorted(runs) == ["train-0", "train-1"]
    assert runs["train-0"]["params"]["lr"] == 0.1 and runs["train-1"]["params"]["lr"] == 0.01
    for run in runs.values():
        assert run["status"] == "completed"
        assert run["params"]["epochs"] == 3 and run["params"]["_target_"] == "__main__.train"
        assert run["metric_stats"]["loss"]["count"] == 3


SLOW_APP = """
import time
from pathlib import Path

import hydra

import naga


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg):
    naga.log({"loss": cfg.lr}, step=0)
    Path("started").touch()
    time.sleep(60)


if __name__ == "__main__":
    main()
"""


def test_a_job_stopped_by_sigterm_is_cancelled(tmp_path: Path, naga_cli: Naga) -> None:
    """Slurm's SIGTERM in the middle of a sweep: the job in progress ends cancelled, with what
    it logged, and the process exits 128+15 as it would without naga."""
    save_doc_files(tmp_path, *APP_FILES)
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    proc = subprocess.Popen(
        [sys.executable, "slow_app.py", "-m", "lr=0.1,0.2"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, output
    [run] = runs_json(naga_cli)  # the second job never started
    assert (run["name"], run["status"]) == ("slow_app-0", "cancelled")
    assert full(naga_cli, run)["error"] == "terminated by SIGTERM"
    assert run["metrics"] == {"loss": 0.1}
    assert run["tags"] == [f"sweep:{sweep_id(output)}"]


def test_naga_disabled_records_nothing(tmp_path: Path, naga_cli: Naga) -> None:
    save_doc_files(tmp_path, *APP_FILES)
    done = subprocess.run(
        [sys.executable, "app.py", "-m", "lr=0.1,0.2"],
        cwd=tmp_path,
        env={**os.environ, "NAGA_DISABLED": "1"},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert runs_json(naga_cli) == []
    assert len(list((tmp_path / "multirun").glob("*/*/[01]/.hydra/config.yaml"))) == 2


def test_missing_extra_is_one_line_naming_it() -> None:
    code = without("hydra") + "import naga.integrations.hydra"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "naga.errors.MissingExtra: this needs hydra, which is not installed:"
        " pip install 'naga-runs[hydra]'"
    )
    assert "During handling" not in done.stderr
