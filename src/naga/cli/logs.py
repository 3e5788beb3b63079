"""``naga logs``: a run's captured output, raw bytes, optionally followed live."""

from __future__ import annotations

import errno
import os
import sys
import time
from typing import BinaryIO

import click

from ..errors import NagaError
from ..present.plain import Plain
from ..store import Store, liveness
from ..store.files import load_meta

BLOCK = 1 << 16
FOLLOW_POLL_S = 0.2


def _open_log(path: str) -> BinaryIO:
    """The log, never through a symbolic link: a run from elsewhere could point its
    output.log at any file of the reader's."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NagaError(f"{path} is a symbolic link; naga does not follow it") from None
        raise
    return os.fdopen(fd, "rb")


def tail_offset(path: str, lines: int) -> int:
    """Byte offset where the last ``lines`` lines of ``path`` start, reading from the end."""
    if not os.path.lexists(path):  # nothing written yet
        return 0
    with _open_log(path) as f:
        end = f.seek(0, os.SEEK_END)
        if lines == 0:
            return end
        pos, newlines = end, 0
        # A final newline ends the last line; it does not start a new one.
        f.seek(max(0, end - 1))
        if f.read(1) == b"\n":
            newlines = -1
        while pos > 0:
            step = min(BLOCK, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step)
            for i in range(len(block) - 1, -1, -1):
                if block[i] == 0x0A:
                    newlines += 1
                    if newlines == lines:
                        return pos + i + 1
        return 0


def copy_from(path: str, offset: int, out: BinaryIO, plain: Plain | None = None) -> int:
    """The log from ``offset`` on to ``out`` (through ``plain`` for --plain); the new offset."""
    if not os.path.lexists(path):
        return offset
    with _open_log(path) as f:
        f.seek(offset)
        while chunk := f.read(BLOCK):
            out.write(chunk if plain is None else plain.feed(chunk))
            offset += len(chunk)
    out.flush()
    return offset


def _still_running(store: Store, run_id: str) -> bool:
    meta = load_meta(store.layout, run_id)
    if meta.get("status") != "running":
        return False
    clock = store.layout.clock(liveness.hostname())
    return liveness.owner_is_alive(meta.get("owner") or {}, store.layout.heartbeat(run_id), clock)


@click.command("logs")
@click.argument("run", required=False)
@click.option("--tail", "-n", "lines", type=click.IntRange(min=0), help="Only the last N lines.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing output until the run ends.")
@click.option(
    "--plain",
    is_flag=True,
    help="Text only: colours and other escape codes removed, progress bars redrawn with \\r"
    " shown in their final state.",
)
def logs(run: str | None, lines: int | None, follow: bool, plain: bool) -> None:
    """Print the output captured from RUN (default: the latest run)."""
    store = Store.open()
    meta = store.get(run, newest=True)
    if meta.get("output") is None:
        raise NagaError(
            f"run {meta['id']} has no captured output: it was recorded by naga.run() in Python;"
            " start the script with `naga run` to capture its output"
        )
    path = store.layout.output(meta["id"])
    out = sys.stdout.buffer
    text = Plain() if plain else None
    offset = tail_offset(path, lines) if lines is not None else 0
    offset = copy_from(path, offset, out, text)
    while follow:
        running = _still_running(store, meta["id"])
        offset = copy_from(path, offset, out, text)
        if not running:
            break
        time.sleep(FOLLOW_POLL_S)
    if text is not None:
        out.write(text.finish())
        out.flush()
