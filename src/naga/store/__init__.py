"""The run store: plain run directories as the truth, a SQLite index to query them.

``Store`` (in ``core``) is the one object the rest of naga talks to; ``layout`` names the files
and ``index`` keeps the SQLite index in step with the directories. Names are loaded lazily:
``naga run`` imports ``store.files`` without paying for SQLite.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from typing import Any

    from .core import Store, with_elapsed
    from .query import RunFilter

__all__ = ["RunFilter", "Store", "with_elapsed"]


def __getattr__(name: str) -> Any:
    if name in ("Store", "with_elapsed"):
        from . import core

        return getattr(core, name)
    if name == "RunFilter":
        from .query import RunFilter

        return RunFilter
    raise AttributeError(name)
