"""A run with several attempts (a preempted sweep task, a requeued Slurm job) is one run.

Each attempt is a real process; the history readers see one value per step, the latest
attempt's, and keep what earlier attempts logged readable on request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import Naga

import naga
from naga.sdk import history
from naga.sdk.run import Run


def _python(tmp_path: Path, code: str, env: dict[str, str] | None = None) -> str:
    script = tmp_path / "attempt.py"
    script.write_text(textwrap.dedent(code))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return done.stdout + done.stderr


def test_a_resumed_run_supersedes_the_steps_it_logs_again(store: Path) -> None:
    with Run(name="task") as first:
        for step in range(10):
            naga.log({"loss": float(step)}, step=step)
    with pytest.raises(KeyboardInterrupt), Run(resume=first.id):
        for step in range(6, 8):  # resumed from the checkpoint of step 6
            naga.log({"loss": 100.0 + step}, step=step)
        raise KeyboardInterrupt
    with Run(resume=first.id):
        naga.log({"loss": 200.0}, step=7)
        naga.log({"acc": 1.0}, step=0)

    record = naga.load(first.id)
    assert record.status == "completed"
    attempts = record.meta["attempts"]
    assert [(a["attempt"], a["status"]) for a in attempts] == [
        (1, "completed"),
        (2, "cancelled"),
        (3, "completed"),
    ]
    assert all(a["started_at"] and a["finished_at"] and a["host"] for a in attempts)
    loss = record.metrics("loss")
    assert loss.step.tolist() == list(range(8))
    assert loss.value.tolist() == [0.0, 1, 2, 3, 4, 5, 106.0, 200.0]
    everything = record.metrics("loss", superseded=True)
    assert len(everything) == 10 + 2 + 1  # nothing deleted
    assert record.meta["metrics"] == {"loss": 200.0, "acc": 1.0}
    assert "main" in record.streams() and not any("~" in s for s in record.streams())


def test_an_attempt_that_starts_over_supersedes_everything(store: Path) -> None:
    with Run(name="task") as first:
        for value in (1.0, 2.0, 3.0):
            naga.log({"x": value})
    with Run(resume=first.id):
        naga.log({"x": 9.0})  # step 0 again: the program started over
    metrics_dir = os.path.join(naga.load(first.id).dir, "metrics")
    points = history.read_points(metrics_dir, "main", "x")
    assert list(points.steps) == [0] and list(points.values) == [9.0]
    assert len(history.read_points(metrics_dir, "main", "x", superseded=True)) == 4


def test_resume_takes_run_ids_only(store: Path) -> None:
    with pytest.raises(naga.NagaError, match="is not a run id"):
        Run(resume="../outside").__enter__()


def test_a_running_run_cannot_get_a_second_attempt(store: Path) -> None:
    with Run(name="busy") as busy, pytest.raises(naga.NagaError, match="still running"):
        Run(resume=busy.id).__enter__()


def test_a_requeued_slurm_job_continues_the_run_it_was_in(tmp_path: Path, naga_cli: Naga) -> None:
    code = """
        import os, naga
        for cfg in ["a", "b"]:
            with naga.run(name="train", params={"cfg": cfg}) as run:
                naga.log({"loss": 1.0}, step=0)
                print(cfg, run.id, flush=True)
                if cfg == "b" and os.environ["SLURM_RESTART_COUNT"] == "0":
                    raise SystemExit(3)  # preempted while training b
    """
    job = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "train"}
    first = _python(tmp_path, code, {**job, "SLURM_RESTART_COUNT": "0"})
    again = _python(tmp_path, code, {**job, "SLURM_RESTART_COUNT": "1"})
    ids = dict(line.split() for line in first.splitlines() if line[:2] in ("a ", "b "))
    ids2 = dict(line.split() for line in again.splitlines() if line[:2] in ("a ", "b "))
    assert ids2["b"] == ids["b"], again  # continued
    assert ids2["a"] != ids["a"]  # a completed: the job ran it again as a new run
    shown = json.loads(naga_cli("show", "--json", ids["b"]).stdout)
    assert shown["status"] == "completed"
    assert [a["status"] for a in shown["attempts"]] == ["failed", "completed"]
    assert [a["slurm"]["restart_count"] for a in shown["attempts"]] == [0, 1]


def test_naga_run_in_a_requeued_slurm_job_continues_its_run(
    tmp_path: Path, naga_cli: Naga, store: Path
) -> None:
    """The wrapper too: Slurm restarts the job's script from the top, and `naga run` there
    continues the run it started before, its output appended to the same output.log."""
    job = {"SLURM_JOB_ID": "5150", "SLURM_JOB_NAME": "train"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    first = subprocess.run(
        [sys.executable, "-m", "naga", "run", "--name", "fit", "sh", "-c", "echo one; exit 3"],
        cwd=tmp_path, env={**env, **job, "SLURM_RESTART_COUNT": "0"}, capture_output=True,
        timeout=60,
    )  # fmt: skip
    assert first.returncode == 3
    again = subprocess.run(
        [sys.executable, "-m", "naga", "run", "--name", "fit", "sh", "-c", "echo two"],
        cwd=tmp_path, env={**env, **job, "SLURM_RESTART_COUNT": "1"}, capture_output=True,
        timeout=60,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    [run] = json.loads(naga_cli("ls", "--all", "--json").stdout)  # one run, not two
    shown = json.loads(naga_cli("show", "--json", run["id"]).stdout)
    assert (shown["status"], shown["exit_code"], shown["command"]) == (
        "completed",
        0,
        "sh -c 'echo two'",
    )
    assert [(a["status"], a["exit_code"]) for a in shown["attempts"]] == [
        ("failed", 3),
        ("completed", 0),
    ]
    assert [a["slurm"]["restart_count"] for a in shown["attempts"]] == [0, 1]
    assert shown["attempts"][1]["output_offset"] == 4
    assert (store / "runs" / run["id"] / "output.log").read_bytes() == b"one\ntwo\n"
    elsewhere = subprocess.run(  # another job's step is a run of its own
        [sys.executable, "-m", "naga", "run", "--name", "fit", "true"],
        cwd=tmp_path, env={**env, "SLURM_JOB_ID": "5151", "SLURM_RESTART_COUNT": "1"},
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert elsewhere.returncode == 0
    assert len(json.loads(naga_cli("ls", "--all", "--json").stdout)) == 2
