"""Which untracked files a snapshot commit must leave out: secrets, and earlier runs' outputs.

A snapshot commit (``naga run`` with untracked files, ``naga.snapshot``, ``naga.clicfg``) takes
the untracked files git does not ignore, and ``naga push --git-remote`` sends it to the team's
remote. A ``.env`` or an ``id_rsa`` nobody thought to ignore must not travel with it, so every
snapshot passes its untracked files through ``withhold`` first:

* **secrets by name** (``SECRET_NAMES`` on the file name, ``SECRET_DIRS`` on a directory of its
  path, ``SECRET_PATHS`` on its end), and **by content**: a file that starts like a PEM private
  key (``-----BEGIN ... PRIVATE KEY-----``), whatever its name;
* **the project's own list**: ``.nagaignore`` at the repository root, one pattern a line (``#``
  comments), matched as the snapshot's ``exclude`` patterns are, plus on the file name alone for
  a pattern without ``/`` (as in ``.gitignore``);
* **earlier runs' outputs**: everything under a directory (other than the repository root) that
  holds a ``run.lock`` or an ``experiment.log`` (even one ``.gitignore`` hides), the files naga
  writes into a ``save_dir``; such a directory is data and logs, not code.

The secrets are returned so the caller can say, once, which it left out and record them
(``git.snapshot_secrets`` in a run's record). Only names are read, and the first bytes of each
candidate file: no per-file git process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from fnmatch import fnmatchcase

PROJECT_FILE = ".nagaignore"
OUTPUT_MARKERS = ("run.lock", "experiment.log")
SECRET_NAMES = (
    ".env",
    ".env.*",
    ".envrc",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".pgpass",
    ".pypirc",
    ".npmrc",
    ".htpasswd",
    "credentials*.json",
    "application_default_credentials.json",
    "service-account*.json",
)
SECRET_DIRS = (".aws", ".ssh", ".gnupg", ".config/gcloud", ".azure")
SECRET_PATHS = (".kube/config", ".docker/config.json")
_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_HEAD_BYTES = 128


def withhold(root: str, paths: list[str]) -> tuple[list[str], list[str]]:
    """(the secrets among ``paths``, the paths under an earlier run's output directory).

    ``paths`` are untracked files as paths from the repository ``root`` (``/``-separated)."""
    project = project_patterns(root)
    outputs = output_dirs(root, paths)
    secrets, under_outputs = [], []
    for path in paths:
        if any(path.startswith(d) for d in outputs):
            under_outputs.append(path)
        elif is_secret(root, path, project):
            secrets.append(path)
    return secrets, under_outputs


def is_secret(root: str, path: str, project: Sequence[str] = ()) -> bool:
    """Whether the untracked file ``path`` (from ``root``) is a secret by name, by the project's
    ``.nagaignore`` or by content."""
    name = path.rpartition("/")[2]
    if any(fnmatchcase(name.lower(), p) for p in SECRET_NAMES):
        return True
    if any(f"/{d}/" in f"/{path}" for d in SECRET_DIRS):
        return True
    if any(path == p or path.endswith("/" + p) for p in SECRET_PATHS):
        return True
    if _project_match(path, name, project):
        return True
    return _starts_like_private_key(os.path.join(root, path))


def project_patterns(root: str) -> list[str]:
    """The patterns of ``<root>/.nagaignore`` (none when there is no such file)."""
    try:
        with open(os.path.join(root, PROJECT_FILE), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    patterns = (line.strip() for line in lines)
    return [p.removeprefix("./").removeprefix("/") for p in patterns if p and p[0] != "#"]


def output_dirs(root: str, paths: list[str]) -> list[str]:
    """Directories (with a trailing ``/``) above ``paths`` that hold a naga output marker on
    disk (listed by git or ignored by it); never the repository root. One ``stat`` per marker
    and directory, whatever the number of files."""
    seen: dict[str, bool] = {}
    for path in paths:
        directory = path.rpartition("/")[0]
        while directory and directory not in seen:
            seen[directory] = any(
                os.path.isfile(os.path.join(root, directory, m)) for m in OUTPUT_MARKERS
            )
            directory = directory.rpartition("/")[0]
    return sorted(d + "/" for d, marked in seen.items() if marked)


def _project_match(path: str, name: str, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        bare = pattern.rstrip("/")
        if fnmatchcase(path, bare) or fnmatchcase(path, bare + "/*"):
            return True
        if "/" not in bare and (fnmatchcase(name, bare) or f"/{bare}/" in f"/{path}"):
            return True
    return False


def _starts_like_private_key(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return False
    return _PRIVATE_KEY.match(head.lstrip()) is not None
