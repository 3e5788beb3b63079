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
import unicodedata
from typing import Any

from ..errors import StoreError, UsageError
from .files import load_meta, touch_marker, write_atomic
from .layout import StoreLayout

FIELDS = ("name", "tag", "note")
MAX_NAME = 200
MAX_TAG = 100
MAX_NOTE = 10_000
EDIT_SUFFIX = ".json"


# -- checking what users type -------------------------------------------------------------------


def _control(text: str, allowed: str = "") -> str | None:
    """The first control or format character of ``text`` (not in ``allowed``), if any."""
    for char in text:
        if char not in allowed and unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            return char
    return None


def check_name(name: str | None) -> str | None:
    """A run name as it will be kept: trimmed, one line of printable text; blank: no name."""
    clean = (name or "").strip()
    if not clean:
        return None
    bad = _control(clean)
    if bad is not None:
        raise UsageError(f"a run name is one line of text, without control characters ({bad!r})")
    if len(clean) > MAX_NAME:
        raise UsageError(f"a run name has at most {MAX_NAME} characters, not {len(clean)}")
    return clean


def check_tag(tag: str) -> str:
    """A tag as it will be kept: one word of printable text."""
    clean = tag.strip()
    if not clean or any(c.isspace() for c in clean) or _control(clean) is not None:
        raise UsageError(f"a tag is one word without spaces or control characters, not {tag!r}")
    if len(clean) > MAX_TAG:
        raise UsageError(f"a tag has at most {MAX_TAG} characters, not {len(clean)}")
    return clean


def check_note(note: str) -> str:
    """A note as it will be kept: text (several lines allowed), trimmed; blank clears the note."""
    clean = note.strip()
    bad = _control(clean, allowed="\n\t")
    if bad is not None:
        raise UsageError(f"a note is text without control characters ({bad!r})")
    if len(clean) > MAX_NOTE:
        raise UsageError(f"a note has at most {MAX_NOTE} characters, not {len(clean)}")
    return clean


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
    return [{**e, "at": at, "by": ADOPTED_BY} for e in found if _valid({**e, "at": at})]


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


# -- reading ------------------------------------------------------------------------------------


def _valid(edit: object) -> dict[str, Any] | None:
    """An edit read from disk, if it is one naga could have written (pulled files are
    untrusted)."""
    if not isinstance(edit, dict) or not isinstance(edit.get("at"), str):
        return None
    from .timefmt import iso_from_ts, parse_iso

    when = parse_iso(edit["at"])
    if when is None or not 0 <= when < 1e11:
        return None
    edit = {**edit, "at": iso_from_ts(when)}  # one form, so times sort as text
    field, value = edit.get("field"), edit.get("value")
    try:
        if field == "name" and (value is None or isinstance(value, str)):
            return {**edit, "value": check_name(value)}
        if field == "note" and (value is None or isinstance(value, str)):
            return {**edit, "value": check_note(value or "") or None}
        if field == "tag" and isinstance(value, str) and isinstance(edit.get("on"), bool):
            return {**edit, "value": check_tag(value)}
    except UsageError:
        return None
    return None


def read_edits(layout: StoreLayout, run_id: str) -> list[dict[str, Any]]:
    """The run's valid edits, oldest first (by their time, then their file name)."""
    directory = edits_dir(layout, run_id)
    try:
        names = os.listdir(directory)
    except OSError:  # none (the usual case), or not a directory
        return []
    if os.path.islink(directory):  # planted in a pulled run: could point anywhere
        return []
    from ..jsonsafe import loads_record

    found: list[tuple[str, str, dict[str, Any]]] = []
    for name in names:
        if not name.endswith(EDIT_SUFFIX) or name.startswith("."):
            continue
        path = os.path.join(directory, name)
        try:
            if os.path.islink(path):  # a pulled link could point anywhere: never followed
                continue
            with open(path, "rb") as f:
                edit = _valid(loads_record(f.read(64 * 1024)))
        except (OSError, ValueError):
            continue
        if edit is not None:
            found.append((edit["at"], name, edit))
    found.sort(key=lambda item: (item[0], item[1]))
    return [edit for _, _, edit in found]


def apply_edits(layout: StoreLayout, meta: dict[str, Any]) -> None:
    """Lay the run's edit log over its record (in place): the newest edit of each field wins.
    ``meta["edits"]`` keeps how many there were, for ``show``."""
    edits = read_edits(layout, meta["id"])
    if edits:
        apply(meta, edits)


def apply(meta: dict[str, Any], edits: list[dict[str, Any]]) -> None:
    tags = dict.fromkeys(meta.get("tags") or [])
    for edit in edits:
        field, value = edit["field"], edit["value"]
        if field == "name":
            meta["name"] = value
        elif field == "note":
            meta["note"] = value
        elif edit["on"]:
            tags[value] = None
        else:
            tags.pop(value, None)
    meta["tags"] = list(tags)
    if meta.get("note") is None:
        meta.pop("note", None)
    last = edits[-1]
    meta["edited"] = {"count": len(edits), "at": last["at"], "by": str(last.get("by") or "")}
