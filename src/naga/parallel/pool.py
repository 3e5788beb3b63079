"""The task pool of a sweep: plain files in ``<sweep_dir>/pool/``, safe on a shared filesystem.

Workers on any number of hosts take tasks from one directory without a server and without
file locks (``flock`` is unreliable on NFS). Three kinds of files, each written once::

    claim.<task>.<attempt>      who runs the task (host, pid, boot id, Slurm job), as JSON;
                                created with link(2), which fails if the name exists, so only
                                one worker ever holds an attempt; its mtime is the heartbeat
    released.<task>.<attempt>   the claim's worker stopped before the task ended (SIGTERM,
                                Ctrl-C): the next worker may take the task at once
    done.<task>                 the task's outcome (status, run id, error), written atomically
    run.<task>.<attempt>        the run the attempt opened (so a crash can name it)
    died.<task>.<attempt>       the signal that killed the attempt's worker, when known
    failed.<task>.<attempt>     an outcome a new launch moved aside to run the task again

A task is *done* when ``done.<task>`` exists; *taken* while its newest claim's worker is alive;
otherwise (never claimed, released, or its worker dead) it is *free*, and a worker takes it by
creating the next attempt's claim. A dead worker is seen at once on its own machine (its pid is
gone) or by a Slurm job that restarted (``scontrol requeue``: same job and array task, a newer
restart count); from other hosts, by its claim's heartbeat going stale (``naga.store.liveness``).
So a killed worker's task is taken over, and a task done is never run again.

A task that kills its worker (a segfault, the OOM killer) would kill every worker that takes it
over: an attempt whose worker died without releasing it is a *crash*, a task with one crash is
not taken by the launcher's own process (a helper process runs it), and after
``MAX_CRASHES`` it is done, ``failed``, "the worker running it died". A new launch of the sweep
gives it ``MAX_CRASHES`` attempts again.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from ..errors import StoreError, describe_os_error
from ..store import liveness
from .sweeplayout import SweepFiles

MAX_CRASHES = 2  # attempts of one task whose worker died, per launch
_SLURM_KEYS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_RESTART_COUNT")


class Claim:
    """A worker's hold on one task: its heartbeat runs until ``release`` or ``close``."""

    def __init__(self, pool: Pool, task: int, attempt: int) -> None:
        from ..capture.background import Heartbeat

        self.pool, self.task, self.attempt = pool, task, attempt
        self.path = pool.path(f"claim.{task}.{attempt}")
        self._heartbeat = Heartbeat(self.path, liveness.heartbeat_interval())

    def close(self) -> None:
        self._heartbeat.stop()

    def release(self) -> None:
        """The task did not end: let the next worker take it without waiting for staleness."""
        self.close()
        _write_atomically(self.pool.path(f"released.{self.task}.{self.attempt}"), b"{}")


class Pool:
    """The pool of the sweep in ``sweep_dir`` with ``n_tasks`` tasks numbered from 0."""

    def __init__(self, sweep_dir: str, n_tasks: int) -> None:
        files = SweepFiles(sweep_dir)
        self.dir = files.pool
        self.n_tasks = n_tasks
        self.clock = files.clock

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def ensure(self) -> None:
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the task pool: {describe_os_error(exc)}") from None

    # -- reading -------------------------------------------------------------------------------

    def _scan(self) -> tuple[dict[int, int], set[tuple[int, int]], set[int]]:
        """Newest attempt per claimed task, released (task, attempt) pairs, done tasks."""
        newest, released, done, _, _ = self._scan_all()
        return newest, released, done

    def _scan_all(
        self,
    ) -> tuple[dict[int, int], set[tuple[int, int]], set[int], dict[int, set[int]], dict[int, int]]:
        """Also every claimed attempt per task, and the newest attempt a launch reopened."""
        newest: dict[int, int] = {}
        released: set[tuple[int, int]] = set()
        done: set[int] = set()
        claims: dict[int, set[int]] = {}
        reopened: dict[int, int] = {}
        for name in os.listdir(self.dir):
            kind, _, rest = name.partition(".")
            parts = rest.split(".")
            if not all(p.isdigit() for p in parts):
                continue  # temporary files
            if kind == "done" and len(parts) == 1:
                done.add(int(parts[0]))
            elif kind == "claim" and len(parts) == 2:
                task, attempt = int(parts[0]), int(parts[1])
                newest[task] = max(attempt, newest.get(task, -1))
                claims.setdefault(task, set()).add(attempt)
            elif kind == "released" and len(parts) == 2:
                released.add((int(parts[0]), int(parts[1])))
            elif kind == "failed" and len(parts) == 2:
                task, attempt = int(parts[0]), int(parts[1])
                reopened[task] = max(attempt, reopened.get(task, -1))
        return newest, released, done, claims, reopened

    def _crashes(
        self,
        task: int,
        attempts: set[int],
        released: set[tuple[int, int]],
        since: int,
        newest_held: bool,
    ) -> list[int]:
        """The attempts of ``task`` (after the launch that reopened it) whose worker died."""
        newest = max(attempts, default=-1)
        return sorted(
            a
            for a in attempts
            if a > since and (task, a) not in released and (a != newest or not newest_held)
        )

    def outcome(self, task: int) -> dict[str, Any] | None:
        try:
            with open(self.path(f"done.{task}"), "rb") as f:
                found = json.loads(f.read())
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def outcomes(self) -> dict[int, dict[str, Any]]:
        """The recorded outcome of every done task."""
        _, _, done = self._scan()
        found = {task: self.outcome(task) for task in sorted(done)}
        return {task: outcome for task, outcome in found.items() if outcome is not None}

    def state(self) -> dict[int, str]:
        """Each task's state: ``completed``/``failed`` (done), ``running`` (taken) or
        ``pending``."""
        newest, released, done = self._scan()
        states: dict[int, str] = {}
        for task in range(self.n_tasks):
            if task in done:
                outcome = self.outcome(task) or {}
                states[task] = str(outcome.get("status", "failed"))
            elif task in newest and self._holds(task, newest[task], released):
                states[task] = "running"
            else:
                states[task] = "pending"
        return states

    def _holds(self, task: int, attempt: int, released: set[tuple[int, int]]) -> bool:
        """Whether the worker behind this claim is still at work on the task."""
        if (task, attempt) in released:
            return False
        path = self.path(f"claim.{task}.{attempt}")
        try:
            with open(path, "rb") as f:
                owner = json.loads(f.read())
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            return True  # unreadable for now (a filesystem hiccup): never steal on a guess
        if _restarted_slurm_job(owner):
            return False
        return liveness.owner_is_alive(owner, path, self.clock)

    # -- claiming --------------------------------------------------------------------------------

    def claim_next(self, *, avoid_crashed: bool = False) -> Claim | None:
        """Take the first free task, or None when every task is done or taken. A task whose
        worker died before is never taken with ``avoid_crashed`` (the launcher's own process
        leaves it to a helper), and after ``MAX_CRASHES`` it is recorded failed."""
        self.ensure()
        while True:
            newest, released, done, claims, reopened = self._scan_all()
            candidates: list[tuple[int, int, int]] = []
            for task in range(self.n_tasks):
                if task in done:
                    continue
                held = task in newest and self._holds(task, newest[task], released)
                if held:
                    continue
                crashes = self._crashes(
                    task, claims.get(task, set()), released, reopened.get(task, -1), held
                )
                count = len(crashes) + self._crashed_before(task, reopened)
                if count >= MAX_CRASHES:
                    self._record_crash(task, crashes[-1])
                    continue
                if count and avoid_crashed:
                    continue
                candidates.append((count, task, newest.get(task, -1) + 1))
            if not candidates:
                return None
            for _, task, attempt in candidates:
                if os.path.exists(self.path(f"done.{task}")):
                    continue  # finished since the scan
                if self._create_claim(task, attempt):
                    return Claim(self, task, attempt)
            # every candidate was taken by another worker meanwhile (or a shared filesystem
            # showed a stale listing): look again, without spinning
            time.sleep(0.05)

    def _crashed_before(self, task: int, reopened: dict[int, int]) -> int:
        """A task a new launch reopened after it crashed its workers gets one attempt more."""
        if task not in reopened:
            return 0
        return (
            MAX_CRASHES - 1 if self._read(f"failed.{task}.{reopened[task]}").get("crashed") else 0
        )

    def crashed_tasks(self) -> list[int]:
        """Tasks not done whose worker died at least once and that nobody holds now."""
        newest, released, done, claims, reopened = self._scan_all()
        found = []
        for task in range(self.n_tasks):
            if task in done or task not in newest:
                continue
            held = self._holds(task, newest[task], released)
            crashes = self._crashes(task, claims[task], released, reopened.get(task, -1), held)
            if not held and (crashes or self._crashed_before(task, reopened)):
                found.append(task)
        return found

    def _record_crash(self, task: int, attempt: int) -> None:
        """The task killed its worker MAX_CRASHES times: it is done, failed, and not run again
        in this launch."""
        died = self._read(f"died.{task}.{attempt}")
        signum = died.get("signal")
        how = f" (signal {signum}{_signal_name(signum)})" if signum else ""
        outcome = {
            "status": "failed",
            "run_id": self._read(f"run.{task}.{attempt}").get("run_id"),
            "error": f"the worker running it died{how}; not run again in this launch",
            "task": task,
            "attempt": attempt,
            "crashed": True,
        }
        _write_atomically(self.path(f"done.{task}"), json.dumps(outcome).encode())

    def _read(self, name: str) -> dict[str, Any]:
        try:
            with open(self.path(name), "rb") as f:
                found = json.loads(f.read())
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def note_run(self, claim: Claim, run_id: str | None) -> None:
        """Which run the claim's attempt opened, for the outcome if its worker dies."""
        if run_id:
            data = json.dumps({"run_id": run_id}).encode()
            _write_atomically(self.path(f"run.{claim.task}.{claim.attempt}"), data)

    def earlier_run(self, claim: Claim) -> str | None:
        """The run an earlier attempt of the claim's task opened: the new attempt continues
        it (one task, one run, however often it is preempted or its worker dies)."""
        for attempt in range(claim.attempt - 1, -1, -1):
            run_id = self._read(f"run.{claim.task}.{attempt}").get("run_id")
            if isinstance(run_id, str) and run_id.isalnum():
                return run_id
        return None

    def note_death(self, pid: int, signum: int) -> list[int]:
        """The worker process ``pid`` of this host died by ``signum``: record it on the
        attempts it held that did not end; returns their tasks."""
        newest, _, done, _, _ = self._scan_all()
        hit = []
        for task, attempt in newest.items():
            if task in done:
                continue
            owner = self._read(f"claim.{task}.{attempt}")
            if owner.get("pid") == pid and owner.get("host") == liveness.hostname():
                data = json.dumps({"signal": signum}).encode()
                _write_atomically(self.path(f"died.{task}.{attempt}"), data)
                hit.append(task)
        return hit

    def _create_claim(self, task: int, attempt: int) -> bool:
        owner = {**liveness.identity(), "claimed_at": time.time(), "slurm": _slurm_identity()}
        temporary = self.path(f".tmp-{uuid.uuid4().hex}")
        with open(temporary, "wb") as f:
            f.write(json.dumps(owner).encode())
        try:
            os.link(temporary, self.path(f"claim.{task}.{attempt}"))  # atomic, even on NFS
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(temporary)

    def finish(self, claim: Claim, outcome: dict[str, Any]) -> None:
        """Record the task's outcome (which makes it done) and stop the claim's heartbeat."""
        try:
            record = {**outcome, "task": claim.task, "attempt": claim.attempt}
            _write_atomically(self.path(f"done.{claim.task}"), json.dumps(record).encode())
        finally:
            claim.close()

    def reopen_failed(self) -> list[int]:
        """A new launch of the sweep runs its failed tasks again: their outcomes move aside
        (kept as ``failed.<task>.<attempt>``), so the tasks are free again."""
        self.ensure()
        reopened = []
        for task, outcome in self.outcomes().items():
            if outcome.get("status") != "completed":
                attempt = outcome.get("attempt", 0)
                try:
                    os.replace(self.path(f"done.{task}"), self.path(f"failed.{task}.{attempt}"))
                except FileNotFoundError:
                    continue
                # the worker that ran it may still be alive, busy elsewhere: its claim is over
                _write_atomically(self.path(f"released.{task}.{attempt}"), b"{}")
                reopened.append(task)
        return reopened


def _signal_name(signum: Any) -> str:
    import signal

    try:
        return f", {signal.Signals(int(signum)).name}"
    except (ValueError, TypeError):
        return ""


def _slurm_identity() -> dict[str, str]:
    return {key: os.environ[key] for key in _SLURM_KEYS if key in os.environ}


def _restarted_slurm_job(owner: dict[str, Any]) -> bool:
    """This process is a later incarnation of the claim's Slurm job (requeued): the claim's
    worker is gone, wherever it ran."""
    theirs, mine = owner.get("slurm") or {}, _slurm_identity()
    array = "SLURM_ARRAY_JOB_ID" in mine
    job = ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID") if array else ("SLURM_JOB_ID",)
    if not mine or any(theirs.get(key) != mine.get(key) for key in job):
        return False
    return int(theirs.get("SLURM_RESTART_COUNT", 0)) < int(mine.get("SLURM_RESTART_COUNT", 0))


def _write_atomically(path: str, data: bytes) -> None:
    # No fsync: a marker lost to a power cut only means its task runs again, and an fsync per
    # task is a measurable part of a tiny task's overhead on a slow disk.
    temporary = f"{os.path.dirname(path)}/.tmp-{uuid.uuid4().hex}"
    with open(temporary, "wb") as f:
        f.write(data)
    os.replace(temporary, path)
