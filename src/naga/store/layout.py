"""Where a store lives on disk and what every file in it is called.

A store is a directory (``.naga/`` at the enclosing git repository's root; outside git, the
nearest ``.naga/`` store at or above the current directory, else a new one in it; ``NAGA_HOME``
overrides) laid out as::

    .naga/
      .gitignore          "*": the store never makes a repository dirty
      runs/<id>/          one directory per run: the source of truth
        meta.json         the run record, replaced atomically on every change
        output.log        captured stdout and stderr, raw bytes
        git.patch         uncommitted changes at start, when the tree was dirty
        heartbeat         touched while the run's process is alive
        crashed.json      written by a reader that found the owner dead; meta.json wins if final
        .reserve          space held back while the run is alive, freed to write its end
        metrics/<stream>/ one stream of metric series per process (main, sys, pid<N>, rank<N>),
                          and per attempt of the run (main~2, ...: naga.sdk.history)
        artifacts/        what the run saved (naga.log_artifact, run.lock, checkpoints)
        edits/            naga rename/tag/note: one file per edit, laid over meta.json
                          by every reader (naga.store.edit)
      touched/<hour>/<id> replaced on every change to run <id>: tells indexes what to re-read;
                          one directory per UTC hour, so an index rescans only the hours that moved
      index/<host>.sqlite the query index, one per host, rebuilt from runs/ at any time
      archive/            runs moved aside by ``naga archive``: a store of its own (store.archive)
      tmp/                ``naga pull``'s staging: a run enters runs/ by one rename, whole

Only the host named in an index file writes it, so a store on a shared cluster filesystem never
has one SQLite file written from several machines.

Paths are plain strings built with ``os.path``: this module is on ``naga run``'s start-up path,
where importing ``pathlib`` alone costs several milliseconds.
"""

from __future__ import annotations

import os
import time

STORE_DIRNAME = ".naga"
HOME_ENV = "NAGA_HOME"
_HOST_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def find_repo_root(start: str) -> str | None:
    """The nearest directory at or above ``start`` holding ``.git`` (a directory or a file)."""
    directory = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(directory, ".git")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def find_store_above(start: str) -> str | None:
    """The nearest ``.naga`` store (a ``.naga/runs`` directory) at or above ``start``: outside
    git, a script started from ``project/src`` records into ``project/.naga`` when that is
    where the earlier runs are, rather than starting a second store."""
    directory = os.path.abspath(start)
    while True:
        parent = os.path.dirname(directory)
        if parent == directory:
            return None  # never the filesystem's root
        store = os.path.join(directory, STORE_DIRNAME)
        if os.path.isdir(os.path.join(store, "runs")) and not _shared_scratch(directory):
            return store
        directory = parent


def _shared_scratch(directory: str) -> bool:
    """A world-writable sticky directory (/tmp, /var/tmp, /dev/shm): a store someone left
    there by accident must not take in every project below it."""
    try:
        mode = os.stat(directory).st_mode
    except OSError:
        return True
    return bool(mode & 0o1000 and mode & 0o002)


def metrics_dir(run_dir: str) -> str:
    """A run's ``metrics/``, for code that holds the run's directory rather than its store."""
    return os.path.join(run_dir, "metrics")


def artifacts_dir(run_dir: str) -> str:
    """A run's ``artifacts/``, for code that holds the run's directory rather than its store."""
    return os.path.join(run_dir, "artifacts")


def locate_store(cwd: str | None = None) -> str:
    """The store directory for ``cwd``: ``$NAGA_HOME``, else ``.naga`` at the repo root, else
    the nearest existing store above (outside git), else ``.naga`` in ``cwd``."""
    home = os.environ.get(HOME_ENV)
    if home:
        return os.path.abspath(os.path.expanduser(home))
    cwd = cwd or os.getcwd()
    repo = find_repo_root(cwd)
    if repo is not None:
        return os.path.join(repo, STORE_DIRNAME)
    return find_store_above(cwd) or os.path.join(cwd, STORE_DIRNAME)


def current_bucket(now: float | None = None) -> str:
    """The ``touched/`` subdirectory for changes made now: the UTC hour, e.g. 2026112203."""
    return time.strftime("%Y%m%d%H", time.gmtime(time.time() if now is None else now))


def safe_host(host: str) -> str:
    return "".join(c if c in _HOST_SAFE else "_" for c in host) or "host"


class StoreLayout:
    """Names every directory and per-run file of a store rooted at ``root``."""

    __slots__ = ("index_dir", "root", "runs_dir", "touched_dir")

    def __init__(self, root: str) -> None:
        self.root = os.fspath(root)
        self.runs_dir = os.path.join(self.root, "runs")
        self.touched_dir = os.path.join(self.root, "touched")
        self.index_dir = os.path.join(self.root, "index")

    def __repr__(self) -> str:
        return f"StoreLayout({self.root!r})"

    def index_file(self, host: str) -> str:
        return os.path.join(self.index_dir, f"{safe_host(host)}.sqlite")

    def run_dir(self, run_id: str) -> str:
        return os.path.join(self.runs_dir, run_id)

    def meta(self, run_id: str) -> str:
        return os.path.join(self.runs_dir, run_id, "meta.json")

    def output(self, run_id: str) -> str:
        return os.path.join(self.runs_dir, run_id, "output.log")

    def patch(self, run_id: str) -> str:
        return os.path.join(self.runs_dir, run_id, "git.patch")

    def metrics_dir(self, run_id: str) -> str:
        return metrics_dir(self.run_dir(run_id))

    def stream_dir(self, run_id: str, stream: str) -> str:
        return os.path.join(metrics_dir(self.run_dir(run_id)), stream)

    def artifacts_dir(self, run_id: str) -> str:
        return artifacts_dir(self.run_dir(run_id))

    def edits_dir(self, run_id: str) -> str:
        return os.path.join(self.runs_dir, run_id, "edits")

    def verdict(self, run_id: str) -> str:
        return os.path.join(self.runs_dir, run_id, "crashed.json")

    def clock(self, host: str) -> str:
        return os.path.join(self.index_dir, f"{safe_host(host)}.clock")

    def reserve(self, run_id: str) -> str:
        return os.path.join(self.runs_dir, run_id, ".reserve")

    def heartbeat(self, run_id: str) -> str:
        return os.path.join(self.runs_dir, run_id, "heartbeat")

    def bucket(self, name: str) -> str:
        return os.path.join(self.touched_dir, name)

    def marker(self, run_id: str, bucket: str) -> str:
        return os.path.join(self.touched_dir, bucket, run_id)

    def ensure(self) -> None:
        """Create the store's directories (idempotent); the .gitignore keeps git trees clean."""
        for directory in (self.runs_dir, self.touched_dir, self.index_dir):
            os.makedirs(directory, exist_ok=True)
        ignore = os.path.join(self.root, ".gitignore")
        if not os.path.exists(ignore):
            with open(ignore, "w") as f:
                f.write("*\n")
