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
removes a ``*.dist-info`` directory, which changes its parent's mtime (as in the hash cache, a
directory changed within 2 s of the listing is not trusted: its listing is not cached). The
full listing goes to ``packages.json`` in the run directory; the record keeps a short summary.
"""

from __future__ import annotations

import os

from ..spawn import start as spawn_start
from ..spawn import which
from ..store.liveness import hostname
from . import environment
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
# A directory changed less than this before the listing may change again within the same mtime
# tick (1-2 s on some filesystems) without its mtime moving: such a listing is not cached.
RACY_NS = 2_000_000_000
CACHE_FORMAT = "naga-packages 1"
# Run by the interpreter in question, with its path as argv[1]. It prints a header that naga reads
# without importing json (``key<TAB>value`` lines; ``path<TAB>mtime<TAB>dir`` for each sys.path
# directory), a ``--`` line, then the document naga copies as it is into packages.json. The
# mtimes are read before the listing, so a package installed while it runs makes the next run
# list again rather than trust a stale answer.
LISTING_CODE = r"""
import sys
if sys.path and sys.path[0] in ("", "."):
    del sys.path[0]
import json, os, re, site, time
from importlib import metadata
lines = ["listed_at\t" + str(time.time_ns())]
dirs = [p for p in sys.path if p]
if site.ENABLE_USER_SITE:
    dirs.append(site.getusersitepackages())
for p in dict.fromkeys(os.path.abspath(p) for p in dirs):
    try:
        mtime = str(os.stat(p).st_mtime_ns)
    except OSError:
        mtime = "-"
    if "\n" in p or "\t" in p:
        lines.append("nocache\t1")
    lines.append("path\t" + mtime + "\t" + p)
packages = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        packages.setdefault(re.sub(r"[-_.]+", "-", name).lower(), dist.version)
version = sys.version.split()[0]
doc = {"python": sys.argv[1], "version": version, "prefix": sys.prefix,
       "packages": dict(sorted(packages.items()))}
lines += ["version\t" + version, "count\t" + str(len(packages)), "--"]
out = "\n".join(lines) + "\n" + json.dumps(doc, indent=1) + "\n"
sys.stdout.buffer.write(out.encode("utf-8", "surrogateescape"))
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
        found = which(name, path)
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
    """What a listing depends on besides the directories: the interpreter and its variables."""
    return "\0".join([python, *(f"{name}={env.get(name, '')}" for name in PATH_VARIABLES)])


def _cache_file(key: str) -> str:
    import zlib  # a file name for the key; the key itself is checked inside the file

    name = f"{zlib.crc32(key.encode('utf-8', 'surrogateescape')):08x}.txt"
    return os.path.join(cache_dir(), name)


def _mtime(path: str) -> str:
    try:
        return str(os.stat(path).st_mtime_ns)
    except OSError:
        return "-"


def parse_listing(raw: bytes) -> tuple[dict[str, str], list[tuple[str, str]], bytes] | None:
    """(header fields, (mtime, directory) pairs, the packages.json document) of a listing."""
    head, sep, doc = raw.partition(b"\n--\n")
    if not sep or not doc.startswith(b"{"):
        return None
    fields: dict[str, str] = {}
    paths: list[tuple[str, str]] = []
    for line in head.decode("utf-8", "surrogateescape").split("\n"):
        key, _, value = line.partition("\t")
        if key == "path":
            mtime, _, directory = value.partition("\t")
            paths.append((mtime, directory))
        else:
            fields[key] = value
    return fields, paths, doc


def read_cached(python: str, env: dict[str, str]) -> tuple[dict[str, str], bytes] | None:
    """The cached listing (header fields, document) while nothing it was read from changed."""
    key = cache_key(python, env)
    try:
        with open(_cache_file(key), "rb") as f:
            parsed = parse_listing(f.read())
    except OSError:
        return None
    if parsed is None:
        return None
    fields, paths, doc = parsed
    if fields.get("format") != CACHE_FORMAT or fields.get("key") != key.replace("\0", "\1"):
        return None  # another version's file, or another interpreter under the same name
    if fields.get("python_mtime") != _mtime(os.path.realpath(python)):
        return None
    if any(_mtime(directory) != mtime for mtime, directory in paths):
        return None
    return fields, doc


def write_cached(python: str, env: dict[str, str], raw: bytes) -> None:
    from ..store.files import write_atomic

    key = cache_key(python, env)
    header = [
        f"format\t{CACHE_FORMAT}",
        f"key\t{key.replace(chr(0), chr(1))}",
        f"python_mtime\t{_mtime(os.path.realpath(python))}",
    ]
    data = "\n".join(header).encode("utf-8", "surrogateescape") + b"\n" + raw
    try:
        os.makedirs(cache_dir(), exist_ok=True)
        write_atomic(_cache_file(key), data, fsync=False)
    except OSError:
        pass  # a read-only or full cache only costs a listing next time


def list_packages(python: str, env: dict[str, str]) -> tuple[dict[str, str], bytes, bool] | None:
    """(header fields, packages.json document, whether it came from the cache) for the
    interpreter; None when it cannot say (not Python, failed, too slow)."""
    cached = read_cached(python, env)
    if cached is not None:
        return cached[0], cached[1], True
    helper = spawn_start([python, "-c", LISTING_CODE, python], env)
    raw = helper.result(timeout=LIST_TIMEOUT_S) if helper else None
    parsed = parse_listing(raw) if raw else None
    if raw is None or parsed is None:
        return None
    fields, paths, doc = parsed
    if "nocache" not in fields and not _racy(paths, fields.get("listed_at", "")):
        write_cached(python, env, raw)
    return fields, doc, False


def _racy(paths: list[tuple[str, str]], listed_at: str) -> bool:
    """Whether a directory changed too shortly before the listing for its mtime to be trusted
    (``nocache`` marks a directory whose name holds a newline or tab: it cannot be checked)."""
    if not listed_at.isdigit():
        return True
    limit = int(listed_at) - RACY_NS
    return any(mtime.isdigit() and int(mtime) > limit for mtime, _ in paths)


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
        from ..store.files import write_atomic
        from ..store.layout import find_repo_root

        self.summary["lockfiles"] = lock_file_hashes(self.cwd, find_repo_root(self.cwd))
        found = find_interpreter(self.argv, self.env, self.cwd)
        if found is None:
            return
        python, how = found
        listed = list_packages(python, self.env)
        if listed is None:
            self.summary["packages"] = {"python": python, "found_by": how, "error": "not listed"}
            return
        fields, doc, cached = listed
        write_atomic(os.path.join(self.run_dir, PACKAGES_FILE), doc, fsync=False)
        self.summary["packages"] = {
            "python": python,
            "found_by": how,
            "version": fields.get("version"),
            "count": int(fields.get("count") or 0),
            "file": PACKAGES_FILE,
            "cached": cached,
        }

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
