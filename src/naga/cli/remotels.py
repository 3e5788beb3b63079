"""``naga ls --remote REMOTE``: a remote's runs listed without pulling them.

Only the runs' small record files (``meta.json`` and the crash verdicts, what ``naga pull``
reads to choose) are copied, into a scratch directory laid out as a store, and listed by the
same code as local runs: the filters, ``--sort``, ``--columns`` and ``--json`` mean the same.
Nothing is written into this store; the scratch directory is gone when the listing is printed.
"""

from __future__ import annotations

import tempfile

from ..present.inert import inert
from ..share.rclone import Rclone
from ..share.transfer import fetch_records
from ..store import RunFilter, Store
from .fast import say
from .listing import show_listing


def list_remote(
    remote: str, flt: RunFilter, extra: list[str], as_json: bool, filtered: bool
) -> None:
    rclone = Rclone(remote)
    with tempfile.TemporaryDirectory(prefix="naga-ls-") as scratch:
        records = fetch_records(rclone, scratch)
        for name, why in records.skipped.items():
            say(inert(f"naga: warning: skipped {name} on {remote}: {why}"))
        for run_id in records.unfinished:
            say(inert(f"naga: warning: run {run_id} on {remote} has no meta.json yet"))
        store = Store(scratch)
        try:
            empty = "No runs match these filters." if filtered else f"No runs on {remote}."
            show_listing(store, flt, extra, as_json, empty)
        finally:
            store.close()
