"""Every file of a sweep, named once (the tree is drawn in ``sweepdir.py``'s docstring).

Apart from ``sweepdir.py`` (a sweep's definition and its pool) because the pool names its own
files here too: ``sweepdir`` opens the pool, the pool never needs ``sweepdir``.
"""

from __future__ import annotations

import os

from ..store.layout import locate_store

SWEEPS_DIRNAME = "sweeps"
SWEEP_FILE = "sweep.json"


class SweepFiles:
    """The files of one sweep, in its directory ``dir``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = os.fspath(directory)
        self.definition = os.path.join(self.dir, SWEEP_FILE)
        self.pool = os.path.join(self.dir, "pool")
        self.clock = os.path.join(self.dir, "clock")
        self.snapshot = os.path.join(self.dir, "snapshot.json")
        self.slurm = os.path.join(self.dir, "slurm")
        self.study = os.path.join(self.dir, "study.journal")


class SweepLayout:
    """The sweeps of the store in ``store_root`` (else the store found from here)."""

    def __init__(self, store_root: str | None = None) -> None:
        self.store = os.path.abspath(store_root or locate_store())
        self.root = os.path.join(self.store, SWEEPS_DIRNAME)
        self.keys = os.path.join(self.root, "keys")

    def key(self, key: str) -> str:
        return os.path.join(self.keys, key)

    def sweep(self, sweep_id: str) -> SweepFiles:
        return SweepFiles(os.path.join(self.root, sweep_id))


def sweeps_root(store_root: str | None = None) -> str:
    return SweepLayout(store_root).root
