"""System metrics of a run: CPU and memory of its process tree, GPU use, every few seconds.

Sampled by the process that owns the run (``naga run``, or the process that opened
``naga.run()``) into the run's ``sys`` stream, as metrics ``sys/cpu_percent``,
``sys/rss_mib`` and, where a GPU is present, ``sys/gpu<i>_util_percent`` and
``sys/gpu<i>_mem_mib``: they read and plot like any other metric. One sample walks /proc for the
tree (a few file reads per process) and asks NVML (``nvidia-ml-py``) or, without it,
``nvidia-smi``; at the default 10 s that is far below 1% of a core.

The sampler thread uses ``_thread``: in ``naga run`` it must not add imports to start-up, and
nothing is imported until the first sample, one interval after the command started.
"""

from __future__ import annotations

import _thread
import os
import time

from ..errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

INTERVAL_ENV = "NAGA_SYS_INTERVAL"
DEFAULT_INTERVAL_S = 10.0
MIN_INTERVAL_S = 0.1


def sys_interval(given: float | None = None) -> float:
    """Seconds between samples: the argument, else $NAGA_SYS_INTERVAL, else 10; 0 turns it off."""
    if given is None:
        text = os.environ.get(INTERVAL_ENV, "").strip()
        if not text:
            return DEFAULT_INTERVAL_S
        try:
            given = float(text)
        except ValueError:
            raise UsageError(
                f"{INTERVAL_ENV}={text!r} is not a number of seconds (0 turns sampling off)"
            ) from None
        source = INTERVAL_ENV
    else:
        source = "the system-metrics interval"
    if not (given == 0 or MIN_INTERVAL_S <= given < float("inf")):
        raise UsageError(
            f"{source} must be 0 (off) or at least {MIN_INTERVAL_S} seconds, not {given}"
        )
    return float(given)


class _Gpus:
    """GPU utilisation and memory through NVML, else nvidia-smi, else nothing."""

    def __init__(self) -> None:
        self.nvml: Any = None
        self.handles: list[Any] = []
        self.smi: str | None = None
        try:
            import pynvml  # type: ignore[import-not-found,unused-ignore]

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self.nvml = pynvml
        except Exception:  # not installed, or no driver: try the command line tool
            import shutil

            self.smi = shutil.which("nvidia-smi")

    def read(self) -> dict[str, float]:
        if self.nvml is not None:
            return self._read_nvml()
        if self.smi is not None:
            return self._read_smi()
        return {}

    def _read_nvml(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, handle in enumerate(self.handles):
            try:
                util = self.nvml.nvmlDeviceGetUtilizationRates(handle)
                memory = self.nvml.nvmlDeviceGetMemoryInfo(handle)
            except Exception:
                continue
            out[f"sys/gpu{i}_util_percent"] = float(util.gpu)
            out[f"sys/gpu{i}_mem_mib"] = memory.used / 2**20
        return out

    def _read_smi(self) -> dict[str, float]:
        import subprocess

        query = "--query-gpu=index,utilization.gpu,memory.used"
        try:
            done = subprocess.run(
                [str(self.smi), query, "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            return {}
        out: dict[str, float] = {}
        for line in done.stdout.splitlines():
            parts = [p.strip() for p in line.split(",")]
            try:
                index, util, used = int(parts[0]), float(parts[1]), float(parts[2])
            except (ValueError, IndexError):
                continue  # "[N/A]" on some boards
            out[f"sys/gpu{index}_util_percent"] = util
            out[f"sys/gpu{index}_mem_mib"] = used
        return out


class SystemSampler:
    """Samples ``pid``'s process tree every ``interval`` s into a stream made by ``open_stream``
    (on the first sample, so a short command never pays for it) until ``stop()``."""

    def __init__(self, pid: int, interval: float, open_stream: Callable[[], Any]) -> None:
        self.pid, self.interval, self.open_stream = pid, interval, open_stream
        self.stream: Any = None
        self._stop = _thread.allocate_lock()
        self._stop.acquire()
        self._done = _thread.allocate_lock()
        self._done.acquire()
        _thread.start_new_thread(self._run, ())

    def _run(self) -> None:
        from .._lean import keep_signals_off_this_thread

        keep_signals_off_this_thread()
        try:
            from ..capture import proctree

            baseline = proctree.cpu_seconds(proctree.tree_pids(self.pid)), time.monotonic()
            if not self._stop.acquire(True, self.interval):
                self._sample_until_stopped(*baseline)
        except Exception as exc:  # sampling must never disturb the run
            from ..notices import warn

            warn(f"system metrics stopped: {exc}")
        finally:
            self._done.release()

    def _sample_until_stopped(self, last_cpu: float, last_t: float) -> None:
        from ..capture import proctree

        self.stream = self.open_stream()
        gpus = _Gpus()
        step = 0
        while True:
            pids = proctree.tree_pids(self.pid)
            now = time.monotonic()
            cpu = proctree.cpu_seconds(pids)
            sample = {
                "sys/cpu_percent": max(0.0, 100.0 * (cpu - last_cpu) / max(now - last_t, 1e-6)),
                "sys/rss_mib": proctree.rss_bytes(pids) / 2**20,
                **gpus.read(),
            }
            last_cpu, last_t = cpu, now
            self.stream.extend((step, time.time(), sample))
            try:
                self.stream.write()  # this thread is the stream's writer: no other wakes up
            except Exception as exc:  # a full disk: keep sampling, say it once
                self.stream.warn(str(exc))
            step += 1
            if self._stop.acquire(True, self.interval):
                return

    def stop(self) -> None:
        """Stop sampling and write what was sampled."""
        self._stop.release()
        self._done.acquire(True, 30)
        if self.stream is not None:
            self.stream.close()
