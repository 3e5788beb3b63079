"""``naga export mlflow --follow``: MLflow kept level with naga runs as they run and end.

Every ``interval`` the runs are chosen again (runs that started since join), and each run whose
files changed since it was last sent (its record, metric series, artifacts, output: sizes and
modification times, a walk of its directory, no read of what is in it) is exported again by
the ordinary ``Exporter``: new points, params, files and, when the naga run has ended, its
final status and end time. Nothing is kept between two followers: the export reads where the
server stands, so a follower stopped (Ctrl-C) and started again, or a server restarted, goes
on from there. A round that fails (the server down) is told once and tried again at the next
tick, until a round succeeds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import MlflowError
from ..sdk.records import RunRecord
from .mlflow_export import Exported, Exporter

POLL_S = 1.0

# (path relative to the run directory, size, mtime in ns) of every file that a change to the
# run touches
Signature = tuple[tuple[str, int, int], ...]


@dataclass
class Round:
    """What one look at the store did: the runs sent, or the error that stopped the round."""

    sent: list[tuple[RunRecord, Exported]]
    error: MlflowError | None = None


class Follower:
    """Exports the runs ``select`` returns whenever their files change."""

    def __init__(self, exporter: Exporter, select: Callable[[], list[RunRecord]]) -> None:
        self.exporter = exporter
        self.select = select
        self.seen: dict[str, Signature] = {}  # naga id -> its files when last sent whole

    def poll(self) -> Round:
        """Export each chosen run that changed since it was last sent. A run's signature is
        taken before it is sent, so what it logs meanwhile goes in the next round."""
        done: list[tuple[RunRecord, Exported]] = []
        for record in self.select():
            signature = run_signature(record.dir)
            if self.seen.get(record.id) == signature:
                continue
            try:
                result = self.exporter.export(record)
            except MlflowError as error:
                return Round(done, error)
            self.seen[record.id] = signature
            done.append((record, result))
        return Round(done)

    def follow(self, interval: float = POLL_S, rounds: int | None = None) -> Iterator[Round]:
        """``poll`` every ``interval`` seconds, ``rounds`` times (None: until interrupted)."""
        count = 0
        while rounds is None or count < rounds:
            started = time.monotonic()
            yield self.poll()
            count += 1
            if rounds is None or count < rounds:
                time.sleep(max(0.0, interval - (time.monotonic() - started)))


def run_signature(run_dir: str) -> Signature:
    """The name, size and modification time of every file of the run (its metric series
    grow, its record is rewritten when it ends, its artifacts appear)."""
    found: list[tuple[str, int, int]] = []
    for root, dirs, names in os.walk(run_dir):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:  # replaced or removed meanwhile: the next round sees it
                continue
            found.append((os.path.relpath(path, run_dir), st.st_size, st.st_mtime_ns))
    return tuple(found)
