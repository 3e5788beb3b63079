"""Reading the edit log of a run (``runs/<id>/edits/``, written by :mod:`naga.store.edit`) and
laying it over the run's record: ``load_meta`` does it for every reader (the index, ``show``,
the dashboard, push and pull). The newest edit of each field wins, the time first, the file name
breaking ties.

Edits arrive from other people's stores, so each file is checked as it is read (the same checks
as what users type, here too); a file that is no valid edit is ignored, never fatal, and no
symbolic link is followed.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any

from ..errors import UsageError
from .layout import StoreLayout

FIELDS = ("name", "tag", "note")
MAX_NAME = 200
MAX_TAG = 100
MAX_NOTE = 10_000
EDIT_SUFFIX = ".json"


# -- checking what users type (and what pulled files hold) --------------------------------------


def _control(text: str, allowed: str = "") -> str | None:
    """The first control or format character of ``text`` (not in ``allowed``), if any."""
    for char in text:
        if char not in allowed and unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            return char
    return None


def _check_utf8(text: str, what: str) -> None:
    """Refuse what is not UTF-8 text: Python reads the bytes of an argument that are not UTF-8
    (``$'\\xff'``) as lone surrogates, which no file, JSON reader or browser takes as text (a
    run page holding one could not be served)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        try:  # the bytes as the user typed them
            shown = repr(bad.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:  # a surrogate that stood for no byte (a pulled edit file)
            shown = ascii(bad)
        raise UsageError(f"{what} must be UTF-8 text, and this one holds {shown}") from None


def check_name(name: str | None) -> str | None:
    """A run name as it will be kept: trimmed, one line of printable text; blank: no name."""
    clean = (name or "").strip()
    if not clean:
        return None
    _check_utf8(clean, "a run name")
    bad = _control(clean)
    if bad is not None:
        raise UsageError(f"a run name is one line of text, without control characters ({bad!r})")
    if len(clean) > MAX_NAME:
        raise UsageError(f"a run name has at most {MAX_NAME} characters, not {len(clean)}")
    return clean


def check_tag(tag: str) -> str:
    """A tag as it will be kept: one word of printable text."""
    clean = tag.strip()
    _check_utf8(clean, "a tag")
    if not clean or any(c.isspace() for c in clean) or _control(clean) is not None:
        raise UsageError(f"a tag is one word without spaces or control characters, not {tag!r}")
    if len(clean) > MAX_TAG:
        raise UsageError(f"a tag has at most {MAX_TAG} characters, not {len(clean)}")
    return clean


def check_note(note: str) -> str:
    """A note as it will be kept: text (several lines allowed), trimmed; blank clears the note."""
    clean = note.strip()
    _check_utf8(clean, "a note")
    bad = _control(clean, allowed="\n\t")
    if bad is not None:
        raise UsageError(f"a note is text without control characters ({bad!r})")
    if len(clean) > MAX_NOTE:
        raise UsageError(f"a note has at most {MAX_NOTE} characters, not {len(clean)}")
    return clean


# -- reading ------------------------------------------------------------------------------------


def valid(edit: object) -> dict[str, Any] | None:
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
    directory = layout.edits_dir(run_id)
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
                edit = valid(loads_record(f.read(64 * 1024)))
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
