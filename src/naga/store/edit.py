"""Changing a finished run's record: its name and tags.

Edits go through ``save_meta`` (atomic replace plus a touched marker), so every index picks them
up. They rewrite meta.json as it is on disk, never the record readers see: that one has the SDK's
params and metrics and a crash verdict merged in, which belong in their own files. A run still
running is refused: its recording process rewrites meta.json when it ends and would undo the edit.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import RunIsRunning, UsageError
from .files import load_meta, save_meta
from .layout import StoreLayout


def _raw_meta(layout: StoreLayout, run_id: str) -> dict[str, Any]:
    """meta.json as written, after checking (through load_meta) that it is a valid record."""
    seen = load_meta(layout, run_id)
    if seen.get("status") == "running":
        raise RunIsRunning(f"run {run_id} is still running; change it once it has ended")
    with open(layout.meta(run_id), "rb") as f:
        raw: dict[str, Any] = json.loads(f.read())
    return raw


def rename(layout: StoreLayout, run_id: str, name: str | None) -> None:
    """Give run ``run_id`` a new name (None or blank: no name)."""
    clean = (name or "").strip() or None
    if clean is not None and "\n" in clean:
        raise UsageError("a run name must be one line")
    meta = _raw_meta(layout, run_id)
    meta["name"] = clean
    save_meta(layout, meta)


def add_tag(layout: StoreLayout, run_id: str, tag: str) -> None:
    clean = _check_tag(tag)
    meta = _raw_meta(layout, run_id)
    if clean not in meta["tags"]:
        meta["tags"] = [*meta["tags"], clean]
        save_meta(layout, meta)


def remove_tag(layout: StoreLayout, run_id: str, tag: str) -> None:
    meta = _raw_meta(layout, run_id)
    if tag not in meta["tags"]:
        shown = ", ".join(meta["tags"]) or "none"
        raise UsageError(f"run {run_id} has no tag {tag!r} (its tags: {shown})")
    meta["tags"] = [t for t in meta["tags"] if t != tag]
    save_meta(layout, meta)


def _check_tag(tag: str) -> str:
    clean = tag.strip()
    if not clean or any(c.isspace() for c in clean):
        raise UsageError(f"a tag is one word without spaces, not {tag!r}")
    return clean
