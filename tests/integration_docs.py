"""The files that ``docs/integrations.md`` shows, as the tests save and run them.

A fenced block whose info string says ``file=NAME`` is that file, verbatim."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "integrations.md"
BLOCKING = """
import sys


class Blocked:
    '''Makes these packages impossible to import, as if they were not installed.'''

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Blocked())
"""


def doc_files() -> dict[str, str]:
    found = re.findall(r"```\w+ file=(\S+)\n(.*?)```", DOC.read_text(), flags=re.S)
    return dict(found)


def save_doc_files(directory: Path, *names: str) -> None:
    files = doc_files()
    for name in names:
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name])


def without(*packages: str) -> str:
    """Python code that, run first, makes ``packages`` unimportable."""
    return f"BLOCKED = {set(packages)!r}\n{BLOCKING}"
