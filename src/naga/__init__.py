"""naga: zero-config experiment tracking and reproducibility for machine-learning research.

Wrap any command with ``naga run`` to record it; this package's Python API grows from here.
"""

from __future__ import annotations

from ._version import __version__
from .errors import NagaError

__all__ = ["NagaError", "__version__"]
