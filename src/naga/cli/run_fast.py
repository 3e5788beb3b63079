"""``naga run`` without click: the hot path, called straight from ``naga.cli.main``.

The click command in ``run`` serves ``--help`` and bad options, then comes back here.
"""

from __future__ import annotations

import os

from ..errors import NagaError
from ..launch import RunRequest, run_command
from ..present.fmt import STATUS_LOOK, UNKNOWN_LOOK, duration
from ..present.inert import inert
from ..store.layout import locate_store
from .fast import report, say

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from typing import Any


def _paint(text: str, code: int) -> str:
    if os.environ.get("NO_COLOR") or not os.isatty(2):
        return text
    return f"\033[{code}m{text}\033[0m"


def start_line(meta: dict[str, Any]) -> None:
    """``naga ▶ run ID (NAME)  COMMAND``; the name and command inert (``--name $'\\e]0;x\a'``
    would otherwise set the terminal's title)."""
    label = f"{meta['id']} ({inert(meta['name'])})" if meta.get("name") else meta["id"]
    say(_paint(f"naga ▶ run {label}", 36) + f"  {inert(meta['command'])}")
    if meta.get("unrecorded"):  # a full disk as the run began: say it before the command runs
        say(_paint(f"naga: warning: {inert(meta['unrecorded'])}", 31))


def end_line(meta: dict[str, Any]) -> None:
    status = meta["status"]
    how = f"exit {meta['exit_code']}"
    cause = meta.get("signal") or meta.get("interrupted_by")
    if cause:
        how = f"{cause}, {how}"
    verb = "after" if status in ("cancelled", "failed") else "in"
    summary = f"naga {status} {verb} {duration(meta['duration_s'])} ({how}) · run {meta['id']}"
    symbol, _, colour = STATUS_LOOK.get(status, UNKNOWN_LOOK)
    say(_paint(symbol, colour) + " " + _paint(summary, 2))
    if meta.get("output", {}).get("error"):
        say(f"naga: warning: {inert(meta['output']['error'])}")
    if meta.get("record_error"):
        say(f"naga: warning: the run's end could not be recorded: {inert(meta['record_error'])}")


def _requeued_run(request: RunRequest) -> str | None:
    from ..sdk.requeue import earlier_attempt
    from ..store.layout import StoreLayout

    return earlier_attempt(StoreLayout(request.store_root), request.name, source=None)


def _say_name_taken(root: str, name: str) -> None:
    from ..store.names import name_taken

    taken = name_taken(root, name)
    if taken:
        say(_paint(f"naga: warning: {taken}", 33))


def _started(request: RunRequest) -> Any:
    """The start line; inside a Slurm job, also a note of which run this job step opened."""
    if not os.environ.get("SLURM_JOB_ID"):
        return start_line

    def started(meta: dict[str, Any]) -> None:
        from ..sdk.requeue import note_opened
        from ..store.layout import StoreLayout

        note_opened(StoreLayout(request.store_root), request.name, meta["id"])
        start_line(meta)

    return started


def run_fast(
    name: str | None,
    tags: list[str],
    command: list[str],
    sys_interval: float | None = None,
    require_clean: bool = False,
    *,
    no_params: bool = False,
    scalars: str | None = None,
    no_scalars: bool = False,
) -> int:
    """``naga run`` without click: the exit code to exit with, errors reported in one line,
    before the end line, so the summary stays last."""
    ended: list[dict[str, Any]] = []
    try:
        cwd = os.getcwd()  # the front end's defaults: this process's directory, env and store
        request = RunRequest(
            command,
            cwd=cwd,
            env=os.environ,
            store_root=locate_store(cwd),
            name=name,
            tags=tags,
            sys_interval=sys_interval,
            argv_params=not no_params,
            scalars=False if no_scalars else (True if scalars is None else scalars),
        )
        if os.environ.get("SLURM_JOB_ID"):  # a requeued job continues the run it was in
            request.resume = _requeued_run(request)
        if name and request.resume is None:
            _say_name_taken(request.store_root, name)
        if require_clean:  # refused before anything is recorded
            from ..capture.clean import require_clean as check_clean

            check_clean(request.cwd)
        code = run_command(request, on_start=_started(request), on_end=ended.append)
    except (NagaError, OSError) as exc:
        code = report(exc)
    except Exception:  # a bug in naga: the run is recorded as failed; show the summary first
        for meta in ended:
            end_line(meta)
        raise
    for meta in ended:
        end_line(meta)
    return code
