"""A process and its descendants, read from /proc: memory and CPU time of the whole tree.

Training scripts spread over DataLoader workers and subprocesses, so the figures that matter are
those of the tree, not of the one process naga started. Readings are best effort: a process that
exits mid-walk is skipped, and where /proc is missing the figures are zero.
"""

from __future__ import annotations

import os


def tree_pids(pid: int) -> list[int]:
    """``pid`` and every live descendant (through /proc/<pid>/task/<tid>/children)."""
    found: list[int] = []
    pending, seen = [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        found.append(current)
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    pending.extend(int(c) for c in f.read().split())
            except (OSError, ValueError):
                continue
    return found


def rss_bytes(pids: list[int]) -> int:
    total, page = 0, os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (0 where unavailable)."""
    return rss_bytes(tree_pids(pid))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and of the children they have reaped."""
    ticks, per_second = 0, os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            # Fields after the command name, which may itself hold spaces and parentheses.
            fields = stat[stat.rindex(b")") + 2 :].split()
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
        except (OSError, ValueError, IndexError):
            continue
    return ticks / per_second
