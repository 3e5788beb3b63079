"""Is the process that owns a running run still alive?

A run records who runs it: host, pid, the kernel's boot id, the pid namespace and the pid's start
time. On the same machine and namespace, the pid (and its start time, which guards against pid
reuse) answers at once. Otherwise the run's ``heartbeat`` file answers: its owner touches it every
``heartbeat_s`` seconds, so a heartbeat older than ``stale_after_s`` means the owner is gone
(SIGKILL, OOM killer, node lost). Ages are measured against the clock of the filesystem holding
the store (``fs_now``), not the reader's own, so clock skew between hosts does not matter; the
default allowance (two minutes) outlasts an NFS client's attribute cache.
"""

from __future__ import annotations

import os
import time

from ..errors import UsageError

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from typing import Any

HEARTBEAT_ENV = "NAGA_HEARTBEAT_INTERVAL"
DEFAULT_HEARTBEAT_S = 5.0
STALE_INTERVALS = 24
MIN_STALE_S = 2.0


def heartbeat_interval() -> float:
    text = os.environ.get(HEARTBEAT_ENV)
    if text is None:
        return DEFAULT_HEARTBEAT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise UsageError(f"{HEARTBEAT_ENV} must be a positive number of seconds, not {text!r}")
    return value


def hostname() -> str:
    return os.uname().nodename


def user_name() -> str | None:
    """The login name of who runs this process (recorded with each run and edit)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER") or os.environ.get("LOGNAME")


def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def start_ticks(pid: int) -> int | None:
    """The pid's start time in clock ticks since boot (Linux), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[19])


def pid_namespace() -> int | None:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def identity(pid: int | None = None) -> dict[str, Any]:
    pid = pid or os.getpid()
    interval = heartbeat_interval()
    return {
        "host": hostname(),
        "pid": pid,
        "boot_id": boot_id(),
        "pid_ns": pid_namespace(),
        "start_ticks": start_ticks(pid),
        "heartbeat_s": interval,
        "stale_after_s": max(MIN_STALE_S, STALE_INTERVALS * interval),
    }


def _pid_alive(owner: dict[str, Any]) -> bool | None:
    """True or False when this machine can tell; None when it cannot (another user's process
    under ``hidepid``, no /proc): then the heartbeat decides."""
    pid = int(owner["pid"])
    ticks = start_ticks(pid)
    if ticks is not None and owner.get("start_ticks") is not None:
        return bool(ticks == owner["start_ticks"])  # the same process, not a reused pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return None
    return None if owner.get("start_ticks") is not None else True


def last_heartbeat(heartbeat: str) -> float | None:
    try:
        return os.stat(heartbeat).st_mtime
    except OSError:
        return None


def fs_now(clock_file: str) -> float:
    """The current time on the filesystem that holds ``clock_file`` (touched to read it)."""
    try:
        with open(clock_file, "a"):
            pass
        os.utime(clock_file)
        return os.stat(clock_file).st_mtime
    except OSError:
        return time.time()


def on_this_machine(owner: dict[str, Any]) -> bool:
    return bool(
        owner.get("pid")
        and owner.get("host") == hostname()
        and owner.get("boot_id") == boot_id()
        and owner.get("pid_ns", pid_namespace()) == pid_namespace()
    )


def owner_is_alive(owner: dict[str, Any], heartbeat: str, clock_file: str | None = None) -> bool:
    """Asks the pid on this machine; elsewhere compares the heartbeat with the store's clock
    (read by touching ``clock_file``; without one, this machine's clock)."""
    if on_this_machine(owner):
        alive = _pid_alive(owner)
        if alive is not None:
            return alive
    beat = last_heartbeat(heartbeat)
    if beat is None:
        return False
    now = fs_now(clock_file) if clock_file else time.time()
    return now - beat <= float(owner.get("stale_after_s", STALE_INTERVALS * DEFAULT_HEARTBEAT_S))
