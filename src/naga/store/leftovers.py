"""Run directories whose start was cut short: ``naga run`` killed (SIGKILL, OOM) in the few
milliseconds between reserving the directory and writing the first ``meta.json``, or a disk full
at that moment. Such a directory holds only what ``naga run`` writes before the record (the
``heartbeat``, the ``.reserve`` of 256 KiB, a temporary ``meta.json``) and no record, so no
command can list it.

Once its writer is provably gone it is garbage: the owner named in the temporary record is dead
(asked of the pid on this host, else by its heartbeat), or nothing in it moved for
``START_GRACE_S``, far longer than any start takes. ``naga gc`` removes it then, without
waiting the day it gives other directories without a record (which may hold a user's files).
"""

from __future__ import annotations

import os
import re

from ..jsonsafe import loads_record
from . import liveness
from .layout import StoreLayout

START_GRACE_S = 120.0
_TEMP_META = re.compile(r"\.meta\.json\.\d+\.[0-9a-f]{8}\.tmp")
# What naga run writes into a run directory before its first record.
_BEFORE_RECORD = frozenset(("heartbeat", ".reserve", "output.log", "git.patch", "packages.json"))


def aborted_start(layout: StoreLayout, run_id: str, now: float) -> bool:
    """Is ``run_id``'s directory a start cut short whose writer is gone?"""
    run_dir = layout.run_dir(run_id)
    if os.path.islink(run_dir) or os.path.lexists(layout.meta(run_id)):
        return False
    try:
        names = os.listdir(run_dir)
    except OSError:
        return False
    temps = [n for n in names if _TEMP_META.fullmatch(n)]
    if any(n not in _BEFORE_RECORD and n not in temps for n in names):
        return False  # holding what naga run never writes first: maybe a user's files
    owners = [_owner(os.path.join(run_dir, t)) for t in temps]
    if any(owners):
        heartbeat = layout.heartbeat(run_id)
        return not any(liveness.owner_is_alive(o, heartbeat) for o in owners if o)
    return now - _newest(run_dir, names) > START_GRACE_S


def _owner(path: str) -> dict[str, object] | None:
    try:
        with open(path, "rb") as f:
            doc = loads_record(f.read())
    except (OSError, ValueError):
        return None
    owner = doc.get("owner") if isinstance(doc, dict) else None
    return owner if isinstance(owner, dict) and owner else None


def _newest(run_dir: str, names: list[str]) -> float:
    newest = os.lstat(run_dir).st_mtime
    for name in names:
        try:
            newest = max(newest, os.lstat(os.path.join(run_dir, name)).st_mtime)
        except OSError:
            pass
    return newest
