"""Where a store keeps its archive (``<store>/archive/``, a store of its own nested in it).

A leaf apart from ``archive.py`` because the store itself asks it: ``Store.resolve`` looks in
the archive before saying a run does not exist, and ``archive.py`` is built on ``Store``.
"""

from __future__ import annotations

import os

from .layout import StoreLayout

ARCHIVE_DIRNAME = "archive"


def archive_root(layout: StoreLayout) -> str:
    return os.path.join(layout.root, ARCHIVE_DIRNAME)


def has_archive(layout: StoreLayout) -> bool:
    return os.path.isdir(os.path.join(archive_root(layout), "runs"))
