"""``naga ls --remote REMOTE``: a remote's runs listed without pulling them.

Only the runs' small record files (``meta.json`` and the crash verdicts, what ``naga pull``
reads to choose) are copied, into a scratch directory laid out as a store, and listed by the
same code as local runs: the filters, ``--sort``, ``--columns`` and ``--json`` mean the same.
Nothing is written into this store; the scratch directory is gone when the listing is printed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from ..present.inert import inert
from ..share.rclone import Rclone
from ..share.transfer import fetch_records
from ..store import Store
from .fast import say


@contextmanager
def remote_store(remote: str) -> Iterator[Store]:
    """The remote's run records as a store of their own, in a scratch directory that is gone
    when the block ends (``listing`` lists it as it lists this one)."""
    rclone = Rclone(remote)
    with tempfile.TemporaryDirectory(prefix="naga-ls-") as scratch:
        records = fetch_records(rclone, scratch)
        for name, why in records.skipped.items():
            say(inert(f"naga: warning: skipped {name} on {remote}: {why}"))
        for run_id in records.unfinished:
            say(inert(f"naga: warning: run {run_id} on {remote} has no meta.json yet"))
        store = Store(scratch)
        try:
            yield store
        finally:
            store.close()
