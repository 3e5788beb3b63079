"""The record of a run created by ``naga.run()`` in this process (not under ``naga run``).

``meta.json`` as ``naga run`` writes it (status, git, owner identity), a heartbeat for readers
on other hosts, git collected on a thread, the system-metrics sampler, and the final record,
written even on a full disk thanks to space held back at the start.
"""

from __future__ import annotations

import _thread
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from ..capture.background import Heartbeat, Job
from ..errors import NagaError
from ..record import new_record, next_attempt
from ..store.files import create_run_dir, hold_space, remove_quietly, save_meta
from ..store.layout import StoreLayout
from ..store.layout import metrics_dir as metrics_of
from ..store.sdkstate import attempt_stream
from ..store.timefmt import iso_from_ts
from .stream import Stream


class OwnRecord:
    """meta.json, heartbeat, git and the system sampler of a run created by naga.run(), or
    of a new attempt of one (``resume``: a preempted sweep task, a requeued Slurm job)."""

    def __init__(
        self,
        layout: StoreLayout,
        spec: dict[str, Any],
        parent_id: str | None,
        resume: str | None = None,
    ) -> None:
        from ..capture.git import GitProbe

        self.layout = layout
        self.started = time.time()
        self.t0 = time.monotonic()
        if resume is None:
            self.run_id = create_run_dir(layout)
            self.meta = _sdk_meta(self.run_id, spec, parent_id, self.started)
            self.attempt = 1
        else:
            self.run_id = resume
            self.meta = next_attempt(layout, resume, self.started, source="sdk")
            self.attempt = len(self.meta["attempts"])
        self.run_dir = layout.run_dir(self.run_id)
        self.heartbeat_path = layout.heartbeat(self.run_id)
        os.close(os.open(self.heartbeat_path, os.O_WRONLY | os.O_CREAT, 0o644))
        hold_space(layout.reserve(self.run_id))
        save_meta(layout, self.meta)
        self.heartbeat = Heartbeat(self.heartbeat_path, float(self.meta["owner"]["heartbeat_s"]))
        self.lock = _thread.allocate_lock()
        self.finished = False
        probe = GitProbe(self.meta["cwd"], layout.patch(self.run_id))
        self.git_job = Job(lambda: self._record_git(probe))
        self.sampler: Any = None

    def _record_git(self, probe: Any) -> None:
        git = probe.result()
        with self.lock:
            if not self.finished:
                self.meta["git"] = git
                save_meta(self.layout, self.meta)

    def start_sampler(self, interval: float | None, on_state: Callable[[], None]) -> None:
        from .sysmetrics import SystemSampler, sys_interval

        seconds = sys_interval(interval)
        if seconds > 0:
            stream = attempt_stream("sys", self.attempt)
            directory = os.path.join(metrics_of(self.run_dir), stream)
            self.sampler = SystemSampler(
                os.getpid(),
                seconds,
                lambda: Stream(directory, on_state=on_state, background=False, reserved=True),
            )

    def finish(
        self, status: str, error: str | None, trace: str | None, metrics_error: str | None
    ) -> list[str]:
        """Write the final record; returns what the user should be warned about."""
        warnings = []
        if self.sampler is not None:
            try:
                self.sampler.stop()
            except NagaError as exc:
                warnings.append(f"system metrics: {exc}")
        self.git_job.wait(30)
        duration = time.monotonic() - self.t0
        finished_at = iso_from_ts(self.started + duration)
        attempts = self.meta.get("attempts")
        if attempts:  # this attempt's own ending; the run's is the latest attempt's
            attempts[-1].update(
                status=status, error=error, finished_at=finished_at, duration_s=round(duration, 3)
            )
            duration += sum(a.get("duration_s") or 0 for a in attempts[:-1])
        self.meta.update(
            status=status,
            error=error,
            exit_code=None,
            finished_at=finished_at,
            duration_s=round(duration, 3),
            resources=_own_resources(),
        )
        self.meta.pop("traceback", None)  # an earlier attempt's is in its own output
        if trace:
            self.meta["traceback"] = trace
        if metrics_error:
            self.meta["metrics_error"] = metrics_error
        remove_quietly(self.layout.reserve(self.run_id))  # room for the final record on a full disk
        with self.lock:
            self.finished = True
            try:
                save_meta(self.layout, self.meta)
            except NagaError as exc:
                warnings.append(f"the end of run {self.run_id} could not be recorded: {exc}")
        self.heartbeat.stop()
        remove_quietly(self.heartbeat_path)
        return warnings


def _sdk_meta(
    run_id: str, spec: dict[str, Any], parent_id: str | None, started: float
) -> dict[str, Any]:
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    meta = new_record(
        run_id, name=spec["name"], tags=spec["tags"], argv=argv, cwd=os.getcwd(), started=started
    )
    meta.update(
        python={"executable": sys.executable, "version": sys.version.split()[0]},
        source="sdk",
        parent_id=parent_id,
    )
    return meta


def _own_resources() -> dict[str, Any]:
    import resource

    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return {
        "cpu_user_s": round(me.ru_utime + kids.ru_utime, 3),
        "cpu_system_s": round(me.ru_stime + kids.ru_stime, 3),
        "max_rss_bytes": max(me.ru_maxrss, kids.ru_maxrss) * 1024,
    }
