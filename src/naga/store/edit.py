"""Edits to a run after it started: its name, its tags and a note, kept as a log beside the record.

Each edit is one small file of its own, ``runs/<id>/edits/<time>-<random>.json``::

    {"field": "name", "value": "baseline", "at": "2026-12-06T23:40:01.123456Z", "by": "ana@gpu3"}
    {"field": "tag", "value": "keep", "on": true, ...}      (false: the tag was removed)
    {"field": "note", "value": "diverged after the lr drop", ...}

Readers (``load_meta``, so the index, ``show``, the dashboard) lay the log over ``meta.json``:
for each field (the name, the note, each tag) the newest edit wins, the time first, the file name
breaking ties. Why a file per edit, and never a rewrite of ``meta.json``:

- A running run's own process replaces ``meta.json`` from its memory whenever it records
  something (its end, above all). An edit written into ``meta.json`` would be undone; an edit in a
  file that process never touches cannot be. No lock is needed, so a dead process never holds one.
- Two edits at once (two terminals, the dashboard and a script, two hosts on a shared
  filesystem) each create their own file with a unique name (written whole, then renamed in):
  neither can lose the other, where a read-modify-write of one shared file could.
- Sharing merges by union: ``push`` and ``pull`` copy the edit files the other side lacks and
  never need to change a file that is already there, so an edited run is never a conflict, and
  the log keeps who changed what and when on both sides.

Edits arrive from other people's stores, so each file is checked as it is read; a file that is no
valid edit is ignored, never fatal.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..errors import StoreError, UsageError
from .editlog import EDIT_SUFFIX, check_name, check_note, check_tag, valid
from .files import load_meta, touch_marker, write_atomic
from .layout import StoreLayout

# -- writing ------------------------------------------------------------------------------------


def edits_dir(layout: StoreLayout, run_id: str) -> str:
    return layout.edits_dir(run_id)


def _author() -> str:
    from .liveness import hostname, user_name

    return f"{user_name() or '?'}@{hostname()}"


def _stamp(now_ns: int) -> str:
    seconds, nanos = divmod(now_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1000:06d}Z"


def _record(layout: StoreLayout, run_id: str, edit: dict[str, Any]) -> None:
    """Write one edit as a file of its own (whole, then renamed in), and tell indexes."""
    from .._lean import json_bytes

    now_ns = time.time_ns()
    edit = {**edit, "at": _stamp(now_ns), "by": _author()}
    directory = edits_dir(layout, run_id)
    if os.path.islink(directory) or os.path.islink(layout.run_dir(run_id)):
        raise StoreError(f"cannot edit run {run_id}: its directory is a symbolic link")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot edit run {run_id}: {exc.strerror or exc}") from exc
    name = f"{now_ns:020d}-{os.urandom(4).hex()}{EDIT_SUFFIX}"
    write_atomic(os.path.join(directory, name), json_bytes(edit))
    touch_marker(layout, run_id)


def read_only(layout: StoreLayout, run_id: str) -> str | None:
    """Why no edit of run ``run_id`` can be written (a read-only directory), if none can; a
    stat or two, cheap enough for a dashboard to ask on every cursor move."""
    directory = edits_dir(layout, run_id)
    target = directory if os.path.isdir(directory) else layout.run_dir(run_id)
    if not os.access(target, os.W_OK | os.X_OK):
        return f"run {run_id} is read-only here ({target} cannot be written)"
    return None


def rename(layout: StoreLayout, run_id: str, name: str | None) -> None:
    """Give run ``run_id`` a new name (None or blank: no name)."""
    clean = check_name(name)
    load_meta(layout, run_id)  # a run that exists, with a readable record
    _record(layout, run_id, {"field": "name", "value": clean})


def add_tag(layout: StoreLayout, run_id: str, tag: str) -> bool:
    """Tag run ``run_id``; False when it had the tag already (nothing recorded)."""
    clean = check_tag(tag)
    if clean in load_meta(layout, run_id)["tags"]:
        return False
    _record(layout, run_id, {"field": "tag", "value": clean, "on": True})
    return True


def remove_tag(layout: StoreLayout, run_id: str, tag: str) -> None:
    tags = load_meta(layout, run_id)["tags"]
    if tag not in tags:
        shown = ", ".join(tags) or "none"
        raise UsageError(f"run {run_id} has no tag {tag!r} (its tags: {shown})")
    _record(layout, run_id, {"field": "tag", "value": tag, "on": False})


def set_note(layout: StoreLayout, run_id: str, note: str) -> None:
    """Replace run ``run_id``'s note (blank: remove it)."""
    clean = check_note(note)
    load_meta(layout, run_id)
    _record(layout, run_id, {"field": "note", "value": clean or None})


# -- records edited before edits had files of their own ---------------------------------------

ADOPTED_BY = "naga (an edit made in meta.json by an earlier naga)"


def adopted_edits(
    sender: dict[str, Any], receiver: dict[str, Any], at: str
) -> list[dict[str, Any]]:
    """The edits that bring ``receiver``'s name and tags to ``sender``'s: for two copies of a
    run whose ``meta.json`` an earlier naga rewrote on one side (rename, tag). ``at``: when the
    sender's record was written, so any later edit still wins over these."""
    found: list[dict[str, Any]] = []
    if sender.get("name") != receiver.get("name"):
        found.append({"field": "name", "value": sender.get("name")})
    had, has = receiver.get("tags") or [], sender.get("tags") or []
    found += [{"field": "tag", "value": t, "on": True} for t in has if t not in had]
    found += [{"field": "tag", "value": t, "on": False} for t in had if t not in has]
    return [{**e, "at": at, "by": ADOPTED_BY} for e in found if valid({**e, "at": at})]


def write_adopted(layout: StoreLayout, run_id: str, edits: list[dict[str, Any]]) -> None:
    """Write adopted edits under names made from their content: adopting the same difference
    again (every later push, until the other side has them) writes nothing new."""
    from .._lean import json_bytes

    directory = edits_dir(layout, run_id)
    if os.path.islink(directory):
        raise StoreError(f"cannot edit run {run_id}: its directory is a symbolic link")
    os.makedirs(directory, exist_ok=True)
    for found in edits:
        path = os.path.join(directory, adopted_name(found))
        if not os.path.exists(path):
            write_atomic(path, json_bytes(found))
    touch_marker(layout, run_id)


def adopted_name(edit: dict[str, Any]) -> str:
    """The file name of an adopted edit, made from its content."""
    import hashlib

    from .._lean import json_bytes

    return f"adopted-{hashlib.sha256(json_bytes(edit)).hexdigest()[:20]}{EDIT_SUFFIX}"
