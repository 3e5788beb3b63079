"""The distribution's name: ``naga`` on the package index is someone else's project, so naga
ships as ``naga-runs`` and every install hint it prints or documents must say so."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent


def test_the_distribution_is_naga_runs_and_keeps_the_naga_command() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["name"] == "naga-runs"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert scripts["targets"]["wheel"]["shared-scripts"] == {"bin/naga": "naga"}


def test_no_install_hint_names_the_other_project() -> None:
    """``pip install naga`` / ``'naga[extra]'`` would install the unrelated project."""
    wrong = re.compile(r"pip install\s+['\"]?naga(\[|['\"]?(\s|$))")
    files = [REPO / "README.md", *REPO.glob("docs/*.md"), *REPO.glob("src/naga/**/*.py")]
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if wrong.search(line)
    ]
    assert offenders == []
    hints = [p for p in files if "pip install 'naga-runs[" in p.read_text()]
    assert len(hints) >= 5  # the hints exist, under the new name
