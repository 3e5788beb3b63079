"""The task pool on plain files: who may take a task, and when a claim is dead.

Claims are made by real processes; a claim "from another host" is the JSON such a worker
writes (its host and boot id are not this machine's), with its heartbeat aged on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from naga.parallel.pool import Pool

CLAIM_AND_DIE = """
import os, sys
from naga.parallel.pool import Pool
claim = Pool(sys.argv[1], 3).claim_next()
print(claim.task, claim.attempt, flush=True)
os._exit(0)  # no release, no done marker: as if killed
"""


def claim_in_subprocess(sweep_dir: Path) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", CLAIM_AND_DIE, str(sweep_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    task, attempt = done.stdout.split()
    return int(task), int(attempt)


def remote_claim(pool: Pool, task: int, attempt: int, age_s: float, **slurm: str) -> Path:
    owner = {
        "host": "other-node",
        "pid": 4242,
        "boot_id": "another-boot",
        "pid_ns": 1,
        "start_ticks": 1,
        "heartbeat_s": 5.0,
        "stale_after_s": 120.0,
        "slurm": slurm,
    }
    path = Path(pool.path(f"claim.{task}.{attempt}"))
    path.write_text(json.dumps(owner))
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


@pytest.fixture
def pool(tmp_path: Path) -> Pool:
    pool = Pool(str(tmp_path), 3)
    pool.ensure()
    return pool


def test_a_dead_workers_task_is_taken_over_with_the_next_attempt(
    pool: Pool, tmp_path: Path
) -> None:
    assert claim_in_subprocess(tmp_path) == (0, 0)
    claim = pool.claim_next()
    assert claim is not None and (claim.task, claim.attempt) == (0, 1)
    pool.finish(claim, {"status": "completed"})
    assert pool.outcome(0) == {"status": "completed", "task": 0, "attempt": 1}


def test_a_live_remote_claim_is_left_alone_and_a_stale_one_taken(pool: Pool) -> None:
    remote_claim(pool, 0, 0, age_s=1)
    remote_claim(pool, 1, 0, age_s=600)
    taken = [pool.claim_next() for _ in range(3)]
    assert [(c.task, c.attempt) for c in taken if c] == [(1, 1), (2, 0)]
    assert taken[2] is None  # task 0's worker is alive elsewhere
    assert pool.state() == {0: "running", 1: "running", 2: "running"}
    for claim in taken[:2]:
        assert claim is not None
        claim.close()


def test_a_requeued_slurm_job_takes_back_its_own_task_at_once(
    pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {"SLURM_ARRAY_JOB_ID": "77", "SLURM_ARRAY_TASK_ID": "1"}
    remote_claim(pool, 0, 0, age_s=1, **ids, SLURM_RESTART_COUNT="0")
    remote_claim(pool, 1, 0, age_s=1, SLURM_ARRAY_JOB_ID="77", SLURM_ARRAY_TASK_ID="2")
    for key, value in {**ids, "SLURM_RESTART_COUNT": "1", "SLURM_JOB_ID": "78"}.items():
        monkeypatch.setenv(key, value)
    first = pool.claim_next()
    assert first is not None and (first.task, first.attempt) == (0, 1)
    second = pool.claim_next()
    assert second is not None and second.task == 2  # array task 2's claim is another job's
    assert pool.claim_next() is None
    first.close()
    second.close()


def test_a_released_task_is_free_and_failed_tasks_reopen(pool: Pool) -> None:
    claim = pool.claim_next()
    assert claim is not None
    claim.release()
    again = pool.claim_next()
    assert again is not None and (again.task, again.attempt) == (0, 1)
    pool.finish(again, {"status": "failed", "error": "boom"})
    rest = [pool.claim_next(), pool.claim_next()]
    for other in rest:
        assert other is not None
        pool.finish(other, {"status": "completed"})
    assert pool.claim_next() is None
    assert pool.reopen_failed() == [0]
    assert Path(pool.path("failed.0.1")).exists()  # the failed outcome is kept aside
    last = pool.claim_next()
    assert last is not None and (last.task, last.attempt) == (0, 2)
    last.close()


def test_a_task_that_killed_its_workers_twice_is_failed_and_once_more_on_relaunch(
    tmp_path: Path,
) -> None:
    pool = Pool(str(tmp_path), 3)
    assert claim_in_subprocess(tmp_path) == (0, 0)  # its worker dies
    # the launcher's own process (avoid_crashed) leaves the crashed task to a helper
    own = pool.claim_next(avoid_crashed=True)
    assert own is not None and own.task == 1
    pool.finish(own, {"status": "completed"})
    assert claim_in_subprocess(tmp_path) == (0, 1)  # a helper takes it over and dies too
    assert pool.note_death(12345, 9) == []  # no claim of that process
    helper = pool.claim_next()
    assert helper is not None and helper.task == 2  # task 0 is failed, not run a third time
    pool.finish(helper, {"status": "completed"})
    outcome = pool.outcome(0)
    assert outcome is not None and outcome["status"] == "failed"
    assert outcome["error"] == "the worker running it died; not run again in this launch"
    assert pool.state() == {0: "failed", 1: "completed", 2: "completed"}
    # a new launch gives it one attempt more, which a helper must run
    assert pool.reopen_failed() == [0]
    assert pool.claim_next(avoid_crashed=True) is None
    assert claim_in_subprocess(tmp_path) == (0, 2)
    assert pool.claim_next() is None
    assert pool.state()[0] == "failed"


def test_the_signal_that_killed_a_worker_is_named_in_the_outcome(tmp_path: Path) -> None:
    pool = Pool(str(tmp_path), 1)
    script = CLAIM_AND_DIE.replace("os._exit(0)", "import time; time.sleep(60)")
    for attempt in (0, 1):
        worker = subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        assert worker.stdout is not None
        assert worker.stdout.readline().split() == ["0", str(attempt)]
        worker.kill()  # SIGKILL, as the OOM killer sends
        worker.wait()
        worker.stdout.close()
        assert pool.note_death(worker.pid, 9) == [0]
    assert pool.claim_next() is None
    outcome = pool.outcome(0)
    assert outcome is not None
    assert outcome["error"].startswith("the worker running it died (signal 9, SIGKILL)")
