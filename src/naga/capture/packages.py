"""The Python packages a run could import, and the lock files beside its code.

``naga diff`` and ``naga rerun`` need to know what was installed: the distributions of the
interpreter that runs the command (``naga run python ...``: that python; a script: its ``#!``
interpreter; ``uv run``/``pixi run``: the project's environment; anything else: ``$VIRTUAL_ENV``,
``$CONDA_PREFIX``, then ``python3`` on ``PATH``), with their versions, read by that interpreter
through ``importlib.metadata``; and the BLAKE3 hash of each lock file (``uv.lock``,
``requirements*.txt`` ...) in the run's directory and at the repository root.

Asking an interpreter costs its start-up plus a scan of every ``*.dist-info`` (a few hundred
milliseconds), so it never happens on ``naga run``'s start-up path: ``PackagesProbe`` works on a
thread once the command runs, and its answer is cached per host and per interpreter (its path and
the variables that change ``sys.path``). A cached listing holds while every ``sys.path`` directory
has the mtime it had before the listing: installing, upgrading or removing a distribution adds or
removes a ``*.dist-info`` directory, which changes its parent's mtime. The full listing goes to
``packages.json`` in the run directory; the record keeps a short summary.
"""

from __future__ import annotations

import os

from ..store.liveness import hostname
from . import environment, spawn
from .background import Job

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from typing import Any

PACKAGES_FILE = "packages.json"
CACHE_ENV = "NAGA_PACKAGES_CACHE"
LOCK_NAMES = (
    "uv.lock",
    "pixi.lock",
    "poetry.lock",
    "Pipfile.lock",
    "environment.yml",
    "environment.yaml",
    "conda-lock.yml",
)
# Variables that change which directories the interpreter looks in: part of the cache key.
PATH_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONNOUSERSITE")
# Launchers whose `run` uses the project's own environment, relative to the project directory.
PROJECT_ENVS = {"uv": ".venv/bin/python", "pixi": ".pixi/envs/default/bin/python"}
LIST_TIMEOUT_S = 60.0
# Run by the interpreter in question. The mtimes are read before the listing, so a package
# installed while it runs makes the next run list again rather than trust a stale answer.
LISTING_CODE = r"""
import sys
if sys.path and sys.path[0] in ("", "."):
    del sys.path[0]
import json, os, re, site
from importlib import metadata
dirs = [p for p in sys.path if p]
if site.ENABLE_USER_SITE:
    dirs.append(site.getusersitepackages())
def mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None
paths = {os.path.abspath(p): mtime(p) for p in dirs}
packages = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        packages.setdefault(re.sub(r"[-_.]+", "-", name).lower(), dist.version)
json.dump({"version": sys.version.split()[0], "prefix": sys.prefix, "paths": paths,
           "packages": dict(sorted(packages.items()))}, sys.stdout)
"""


def find_interpreter(argv: list[str], env: dict[str, str], cwd: str) -> tuple[str, str] | None:
    """(the interpreter whose packages the command sees, how it was found) or None."""
    path = env.get("PATH")
    direct = environment.python_executable(argv, path)
    if direct:
        return direct, "command"
    launcher = os.path.basename(argv[0]) if argv else ""
    if launcher in PROJECT_ENVS and "run" in argv[1:]:
        project = _project_python(cwd, PROJECT_ENVS[launcher])
        if project:
            return project, launcher
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = env.get(variable)
        candidate = os.path.join(prefix, "bin", "python") if prefix else ""
        if candidate and os.access(candidate, os.X_OK):
            return candidate, variable
    for name in ("python3", "python"):
        found = spawn.which(name, path)
        if found:
            return os.path.abspath(found), "PATH"
    return None


def _project_python(cwd: str, relative: str) -> str | None:
    directory = os.path.abspath(cwd)
    while True:
        candidate = os.path.join(directory, relative)
        if os.access(candidate, os.X_OK):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def cache_dir() -> str:
    """``$NAGA_PACKAGES_CACHE``, else ``packages-<host>`` under naga's per-user cache."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    from ..store.layout import safe_host

    return os.path.join(base, "naga", f"packages-{safe_host(hostname())}")


def cache_key(python: str, env: dict[str, str]) -> str:
    import hashlib

    parts = [python, *(f"{name}={env.get(name, '')}" for name in PATH_VARIABLES)]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def read_cached(python: str, env: dict[str, str]) -> dict[str, Any] | None:
    """The cached listing for this interpreter while nothing it reads from has changed."""
    import json

    try:
        with open(os.path.join(cache_dir(), cache_key(python, env) + ".json"), "rb") as f:
            entry = json.loads(f.read())
        paths = entry["listing"]["paths"]
        if entry["python_mtime"] != _mtime(os.path.realpath(python)):
            return None
        if any(_mtime(p) != recorded for p, recorded in paths.items()):
            return None
        listing: dict[str, Any] = entry["listing"]
        return listing
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing, corrupt or from another version: list again


def write_cached(python: str, env: dict[str, str], listing: dict[str, Any]) -> None:
    import json

    from ..store.files import write_atomic

    directory = cache_dir()
    entry = {"python": python, "python_mtime": _mtime(os.path.realpath(python)), "listing": listing}
    try:
        os.makedirs(directory, exist_ok=True)
        target = os.path.join(directory, cache_key(python, env) + ".json")
        write_atomic(target, json.dumps(entry).encode(), fsync=False)
    except OSError:
        pass  # a read-only or full cache only costs a listing next time


def list_packages(python: str, env: dict[str, str]) -> tuple[dict[str, Any] | None, bool]:
    """(the interpreter's listing, whether it came from the cache); None when it cannot say."""
    cached = read_cached(python, env)
    if cached is not None:
        return cached, True
    import json

    helper = spawn.start([python, "-c", LISTING_CODE], env)
    raw = helper.result(timeout=LIST_TIMEOUT_S) if helper else None
    try:
        listing = json.loads(raw) if raw else None
    except ValueError:
        listing = None
    if not isinstance(listing, dict) or not isinstance(listing.get("packages"), dict):
        return None, False
    write_cached(python, env, listing)
    return listing, False


def lock_file_hashes(cwd: str, repo_root: str | None) -> dict[str, str]:
    """``blake3:<hex>`` of each lock file in ``cwd`` and at the repository root, named by its
    path from the repository root (from ``cwd`` outside a repository)."""
    import blake3

    base = repo_root or cwd
    found: dict[str, str] = {}
    for directory in dict.fromkeys([os.path.abspath(cwd), os.path.abspath(base)]):
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if not _is_lock_name(name):
                continue
            path = os.path.join(directory, name)
            try:
                with open(path, "rb") as f:
                    digest = blake3.blake3(f.read()).hexdigest()
            except OSError:  # a directory of that name, unreadable: not a lock file to record
                continue
            found[os.path.relpath(path, base)] = f"blake3:{digest}"
    return dict(sorted(found.items()))


def _is_lock_name(name: str) -> bool:
    if name in LOCK_NAMES:
        return True
    return name.startswith("requirements") and name.endswith(".txt")


def listing_env(env: dict[str, str]) -> dict[str, str]:
    """The command's environment, minus naga's own run variables (the listing is no run)."""
    return {k: v for k, v in env.items() if k not in ("NAGA_RUN_ID", "NAGA_RUN_DIR")}


class PackagesProbe:
    """Lists the command's packages and hashes its lock files on a thread while it runs."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str, run_dir: str) -> None:
        self.argv, self.env, self.cwd, self.run_dir = argv, listing_env(env), cwd, run_dir
        self.summary: dict[str, Any] = {"packages": None, "lockfiles": {}}
        self._job = Job(self._probe)

    def _probe(self) -> None:
        from ..store.layout import find_repo_root

        self.summary["lockfiles"] = lock_file_hashes(self.cwd, find_repo_root(self.cwd))
        found = find_interpreter(self.argv, self.env, self.cwd)
        if found is None:
            return
        python, how = found
        listing, cached = list_packages(python, self.env)
        if listing is None:
            self.summary["packages"] = {"python": python, "found_by": how, "error": "not listed"}
            return
        self._save(python, how, listing)
        self.summary["packages"] = {
            "python": python,
            "found_by": how,
            "version": listing.get("version"),
            "count": len(listing["packages"]),
            "file": PACKAGES_FILE,
            "cached": cached,
        }

    def _save(self, python: str, how: str, listing: dict[str, Any]) -> None:
        import json

        from ..store.files import write_atomic

        doc = {
            "python": python,
            "found_by": how,
            "version": listing.get("version"),
            "prefix": listing.get("prefix"),
            "packages": listing["packages"],
        }
        data = json.dumps(doc, indent=1, sort_keys=False).encode()
        write_atomic(os.path.join(self.run_dir, PACKAGES_FILE), data, fsync=False)

    def collect(self, timeout: float = LIST_TIMEOUT_S) -> dict[str, Any]:
        """``packages`` (summary) and ``lockfiles`` for the record; what is known by then."""
        if not self._job.wait(timeout):
            return {"packages": {"error": "still listing when the run ended"}, "lockfiles": {}}
        if self._job.error is not None:
            error = f"could not be listed: {self._job.error}"
            return {"packages": {"error": error}, "lockfiles": self.summary["lockfiles"]}
        return dict(self.summary)


def load_packages(run_dir: str) -> dict[str, Any] | None:
    """A run's ``packages.json``; None when it has none (or it is unreadable)."""
    import json

    try:
        with open(os.path.join(run_dir, PACKAGES_FILE), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("packages"), dict) else None
