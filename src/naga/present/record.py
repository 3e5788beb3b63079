"""One run record laid out for reading: sections of labelled rows, styled by name.

``naga show`` prints it and the dashboard's details screen draws it, so the two say the same
things in the same order (before, each laid out the record itself, and they drifted apart: five
untracked files against ten, "Git" against "Head"). A web view can draw the same structure.

The layout is plain data: a ``Section`` holds ``Row``\\ s, a row holds ``Span``\\ s of text and a
look named as Rich names styles ('bold yellow', 'red', 'dim'), which a terminal front end maps to
ANSI and the dashboard hands to Rich as it is. Every piece of record text in a span is already
``inert``; front ends only style it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..sdk.artifacts import list_artifacts
from ..store.layout import StoreLayout
from ..store.sdkstate import MERGED_STREAMS, stream_names
from .fmt import duration, local_time, size, status_look, status_text, value
from .inert import inert

Span = tuple[str, str]  # text, look ('' for plain)
Where = Callable[[str], str]  # how a file of the run is named
LABEL_WIDTH = 10
UNTRACKED_SHOWN = 10


@dataclass(frozen=True)
class Row:
    """One line: a label ('Status') and its spans; a ``None`` label is an indented line of a
    list or table (a param, a metric, a traceback)."""

    label: str | None
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class Section:
    title: str  # '' for the first section, which has none
    rows: tuple[Row, ...]


def _row(label: str | None, *spans: Span | str) -> Row:
    return Row(label, tuple((s, "") if isinstance(s, str) else s for s in spans))


def run_record(
    meta: dict[str, Any],
    layout: StoreLayout,
    children: list[dict[str, Any]],
    *,
    full_paths: bool = True,
) -> list[Section]:
    """The record of one run (as ``Store.get`` returns it), with what its directory holds:
    the patch, the artifacts, the metric streams. Empty sections are left out. Files of the
    run (patch, output) are named by their whole path, to open them, or with ``full_paths``
    off by their name in the run's directory (the dashboard shows them itself)."""
    run_id = meta["id"]
    where = (lambda path: path) if full_paths else os.path.basename
    sections = [
        Section("", tuple(_head(meta, children))),
        Section("Timing", tuple(_timing(meta))),
        Section("Attempts", tuple(_attempts(meta.get("attempts")))),
        Section("Git", tuple(_git(meta.get("git"), layout.patch(run_id), where))),
        Section("Environment and resources", tuple(_environment(meta, layout, where))),
        Section("Params", tuple(_params(meta.get("params")))),
        Section("Metrics", tuple(_metrics(meta.get("metric_stats"), layout, run_id))),
        Section("Artifacts", tuple(_artifacts(list_artifacts(layout.run_dir(run_id))))),
        Section("Traceback", tuple(_traceback(meta.get("traceback")))),
        Section("Output, last lines", tuple(_last_output(meta, layout.output(run_id)))),
    ]
    return [s for s in sections if s.rows]


def lines(sections: list[Section]) -> Iterator[tuple[Span, ...]]:
    """The sections as lines of spans: a blank line and a title before each titled section,
    labels padded to one width. What both front ends draw, line by line."""
    for section in sections:
        if section.title:
            yield ()
            yield ((section.title, "bold underline"),)
        for row in section.rows:
            lead = ("  ", "") if row.label is None else (f"{row.label:<{LABEL_WIDTH}}", "bold")
            yield (lead, *row.spans)


def outcome(meta: dict[str, Any]) -> str:
    """'exit 1, killed by SIGTERM': how the process ended, or '' while it runs."""
    parts = []
    if meta.get("exit_code") is not None:
        parts.append(f"exit {inert(meta['exit_code'])}")
    if meta.get("signal"):
        parts.append(f"killed by {inert(meta['signal'])}")
    return ", ".join(parts)


def status_span(status: object) -> Span:
    return status_text(status), status_look(status)[1]


def _head(meta: dict[str, Any], children: list[dict[str, Any]]) -> Iterator[Row]:
    name = f"  {inert(meta['name'])}" if meta.get("name") else ""
    yield _row("Run", (inert(meta["id"]), "yellow"), name)
    ended = outcome(meta)
    yield _row("Status", status_span(meta.get("status", "?")), f"  ({ended})" if ended else "")
    if meta.get("error"):
        yield _row("Error", (inert(meta["error"]), "red"))
    yield _row("Command", inert(meta.get("command") or ""))
    yield _row("Cwd", inert(meta.get("cwd") or "-"))
    yield _row("Tags", ", ".join(inert(t) for t in meta.get("tags") or []) or "-")
    yield from _note(meta)
    if meta.get("parent_id"):
        yield _row("Parent", inert(meta["parent_id"]))
    if meta.get("rerun_of"):
        yield _row("Rerun of", inert(meta["rerun_of"]))
    for i, child in enumerate(children):
        line = f"{inert(child['id'])}  {inert(child.get('name') or '-')}  "
        yield _row("Children" if i == 0 else "", line, status_span(child.get("status")))


def _note(meta: dict[str, Any]) -> Iterator[Row]:
    """The note (``naga note``), a line a row, and who edited the run last (``store.edit``)."""
    note = meta.get("note")
    if isinstance(note, str) and note:
        for i, line in enumerate(note.splitlines() or [""]):
            yield _row("Note" if i == 0 else "", inert(line.expandtabs()))
    edited = meta.get("edited")
    if isinstance(edited, dict) and edited.get("count"):
        count = edited["count"]
        who = f" by {inert(edited.get('by'))}" if edited.get("by") else ""
        last = f"{count} edit{'s' if count != 1 else ''}, the last {local_time(edited.get('at'))}"
        yield _row("Edited", (last + who, "dim"))


def _timing(meta: dict[str, Any]) -> Iterator[Row]:
    yield _row("Started", local_time(meta.get("started_at")))
    yield _row("Finished", local_time(meta.get("finished_at")))
    yield _row("Duration", duration(meta.get("duration_s")))
    host, user, pid = (inert(meta.get(k)) for k in ("host", "user", "pid"))
    yield _row("Host", f"{host} (user {user}, pid {pid})")


def _git(git: dict[str, Any] | None, patch_path: str, where: Where) -> Iterator[Row]:
    if not git:
        yield _row("Head", "-")
        return
    branch = inert(git.get("branch") or "(detached)")
    head = f"{branch}@{inert(git.get('commit') or '(no commit)')[:12]}"
    yield _row("Head", head, (" dirty", "red") if git.get("dirty") else "")
    for remote, url in (git.get("remotes") or {}).items():
        yield _row("Remote", f"{inert(remote)}: {inert(url)}")
    untracked = git.get("untracked") or []
    if untracked:
        more = (git.get("untracked_count") or len(untracked)) - min(UNTRACKED_SHOWN, len(untracked))
        shown = ", ".join(inert(u) for u in untracked[:UNTRACKED_SHOWN])
        yield _row("Untracked", shown + (f" (+{more} more)" if more > 0 else ""))
    secrets = git.get("snapshot_secrets")
    if isinstance(secrets, list) and secrets:
        shown = ", ".join(inert(str(name)) for name in secrets)
        yield _row("Secrets", f"not in the snapshot (secrets): {shown}")
    if os.path.exists(patch_path):
        yield _row("Patch", inert(where(patch_path)))


def _attempts(attempts: object) -> Iterator[Row]:
    """A run continued after a preemption, a requeue or a resumed checkpoint: one row per
    attempt (when, where, which Slurm job, how it ended)."""
    if not isinstance(attempts, list) or len(attempts) < 2:
        return
    for entry in attempts:
        if not isinstance(entry, dict):
            continue
        slurm = entry.get("slurm") if isinstance(entry.get("slurm"), dict) else {}
        job = ""
        if slurm and slurm.get("job_id"):
            job = f", Slurm job {inert(slurm['job_id'])}"
            if slurm.get("restart_count"):
                job += f" (restart {inert(slurm['restart_count'])})"
        error = f"  {inert(entry['error'])}" if entry.get("error") else ""
        yield _row(
            f"#{inert(entry.get('attempt', '?'))}",
            status_span(entry.get("status", "?")),
            f"  {local_time(entry.get('started_at'))} to {local_time(entry.get('finished_at'))}"
            f"  {duration(entry.get('duration_s'))}  on {inert(entry.get('host') or '?')}{job}",
            (error, "red") if error else "",
        )


def _environment(meta: dict[str, Any], layout: StoreLayout, where: Where) -> Iterator[Row]:
    python = meta.get("python")
    if python:
        yield _row(
            "Python", f"{inert(python.get('executable'))} ({inert(python.get('version') or '?')})"
        )
    yield from _packages(meta.get("packages"), meta.get("lockfiles") or {})
    res = meta.get("resources") or {}
    if res:
        yield _row(
            "CPU",
            f"{_seconds(res.get('cpu_user_s'))} user + {_seconds(res.get('cpu_system_s'))} sys",
        )
        tree = res.get("peak_tree_rss_bytes")
        yield _row(
            "Max RSS",
            size(res.get("max_rss_bytes")) + (f" (process tree {size(tree)})" if tree else ""),
        )
    for gpu in meta.get("gpus") or []:
        yield _row(
            "GPU",
            inert(f"{gpu.get('index')}: {gpu.get('name')} ({gpu.get('memory_total_mib')} MiB)"),
        )
    yield from _slurm(meta.get("slurm"))
    for i, (key, val) in enumerate(sorted((meta.get("env") or {}).items())):
        yield _row("Env" if i == 0 else "", f"{inert(key)}={inert(val)}")
    yield from _output(meta.get("output"), where(layout.output(meta["id"])))


def _seconds(found: object) -> str:
    return f"{found:.2f}s" if isinstance(found, (int, float)) else "?"


def _packages(packages: dict[str, Any] | None, lockfiles: dict[str, Any]) -> Iterator[Row]:
    if packages:
        text = f"{inert(packages.get('count'))} in {inert(packages.get('python'))} (packages.json)"
        if packages.get("error"):
            text = f"{packages.get('python') or ''} not listed: {packages['error']}".strip()
        yield _row("Packages", inert(text))
    for i, (name, digest) in enumerate(lockfiles.items()):
        yield _row("Locks" if i == 0 else "", f"{inert(name)}  {inert(digest)[:19]}...")


def _slurm(info: dict[str, Any] | None) -> Iterator[Row]:
    if not info:
        return
    from ..capture.slurm import describe

    yield _row("Slurm", inert(describe(info)))
    for stream in ("out", "err"):
        if info.get(f"log_{stream}"):
            yield _row("", f"worker std{stream}: {inert(info[f'log_{stream}'])}")


def _output(output: dict[str, Any] | None, where: str) -> Iterator[Row]:
    if output is None:
        yield _row("Output", "not captured (recorded by naga.run(); `naga run` captures)")
        return
    yield _row("Output", f"{size(output.get('bytes'))} in {inert(where)}")
    if output.get("error"):
        yield _row("", (inert(output["error"]), "red"))


def _params(params: dict[str, Any] | None) -> Iterator[Row]:
    for key, val in sorted((params or {}).items()):
        yield _row(None, (f"{inert(key)} = ", "dim"), value(val))


def _metrics(stats: dict[str, Any] | None, layout: StoreLayout, run_id: str) -> Iterator[Row]:
    rows = [
        [inert(key), *(value(s.get(k)) for k in ("last", "min", "max", "step", "count"))]
        for key, s in sorted((stats or {}).items())
        if isinstance(s, dict)
    ]
    if not rows:
        return
    header = ["METRIC", "LAST", "MIN", "MAX", "STEP", "POINTS"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for i, row in enumerate([header, *rows]):
        text = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        yield _row(None, (text, "bold") if i == 0 else text)
    streams = [s for s in stream_names(layout, run_id) if s not in MERGED_STREAMS]
    if streams:
        yield _row(
            None, f"other streams: {', '.join(inert(s) for s in streams)} (naga metrics --stream)"
        )


def _artifacts(found: list[tuple[str, int]]) -> Iterator[Row]:
    for name, nbytes in found:
        yield _row(None, inert(name), (f" ({size(nbytes)})", "dim"))


OUTPUT_TAIL_LINES = 20
OUTPUT_TAIL_BYTES = 1 << 16
_CONTROL_SEQUENCE = r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])"


def _last_output(meta: dict[str, Any], path: str) -> Iterator[Row]:
    """A failed or crashed wrapped command's last lines, where an SDK run shows its
    traceback: what the program printed last is usually why. Redraws (``\r``) are shown in
    their final state, colour codes dropped, the rest ``inert``."""
    if meta.get("status") not in ("failed", "crashed") or meta.get("traceback"):
        return
    if not isinstance(meta.get("output"), dict):
        return
    for line in output_tail(path):
        yield _row(None, (inert(line.expandtabs()), "dim"))


def output_tail(path: str, count: int = OUTPUT_TAIL_LINES) -> list[str]:
    """The last ``count`` lines of a captured output log as a terminal last showed them."""
    import re

    try:
        with open(path, "rb") as f:
            size_now = f.seek(0, os.SEEK_END)
            f.seek(max(0, size_now - OUTPUT_TAIL_BYTES))
            data = f.read(OUTPUT_TAIL_BYTES)
    except OSError:
        return []
    text = re.sub(_CONTROL_SEQUENCE, "", data.decode("utf-8", "replace"))
    found = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    if size_now > OUTPUT_TAIL_BYTES:
        found = found[1:]  # the first line was cut by the seek
    lines = [line.rstrip("\r").rpartition("\r")[2] for line in found]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines[-count:]


def _traceback(text: object) -> Iterator[Row]:
    for line in str(text or "").rstrip().splitlines():
        yield _row(None, (inert(line.expandtabs()), "dim"))
