"""The one module that runs ``git``: every git process naga starts goes through here.

Everything naga does to a user's repository, in one place:

* **Read-only queries** (``GIT_OPTIONAL_LOCKS=0``, so the index lock is never taken and the
  user's own git commands are never disturbed): ``status``, ``config --get-regexp remote.*``,
  ``diff`` (the run's ``git.patch``, written into the run directory, not the repository),
  ``rev-parse``, ``cat-file -e``, ``ls-files``, ``for-each-ref``, ``merge-base``, ``show``,
  ``check-ref-format``, ``ls-remote``.
* **Objects, never the checkout**: snapshot commits are built in a scratch index
  (``GIT_INDEX_FILE`` in a temporary directory) with ``add``/``update-index``/``read-tree``/
  ``apply --cached``, then ``write-tree`` and ``commit-tree --no-gpg-sign`` (author ``naga
  <naga@localhost>`` only when git knows no identity). They add objects to ``.git/objects``;
  the user's index, HEAD, existing branches, stash, hooks and files are never touched.
  Secret-looking files and earlier runs' outputs never go in (``naga.secretfiles``).
* **Refs it creates**: ``refs/naga/snapshots/<id>`` (with a reflog), where ``<id>`` is a run
  (``naga run`` with untracked files, create-only; ``naga rerun`` pinning the commit it ran,
  create-only; ``naga.snapshot`` and ``naga.clicfg``/``naga.runlock``), a sweep launch, or
  ``lock-<id>`` for a ``run.lock`` no run records; ``refs/heads/<name>`` for ``naga branch``
  (create-only, never moved); and the snapshot refs ``naga pull --git-remote`` fetches.
* **Refs it deletes**: snapshot refs of runs that are gone (``naga gc``, unless
  ``--keep-refs``), and a sweep's launch ref when the sweep is removed.
* **Refs it pushes**: ``naga push --git-remote`` pushes snapshot refs, never forced, ``--atomic``.
* **Worktrees**: ``naga rerun`` adds a detached worktree (hooks off) under the store's
  ``worktrees/`` and removes it (``worktree remove --force``, then ``worktree prune``) when the
  command left no file there.

One environment policy for all of them (``env()``): the variables with which a git hook, ``git
rebase -x`` or a submodule command point git at *another* repository (``GIT_DIR``,
``GIT_WORK_TREE``, ``GIT_INDEX_FILE``, ...) are removed, so naga always works on the repository
that holds the directory it was given, the one ``store.layout.find_repo_root`` finds by walking
up to ``.git``, and never writes a snapshot or a ref into the wrong repository. Everything else
the user set (``HOME``, ``GIT_CONFIG_*``, ``GIT_CEILING_DIRECTORIES``, ssh settings) is kept, as
a read-only capture of the user's state needs it. On top: ``LC_ALL=C`` (messages naga parses),
``GIT_OPTIONAL_LOCKS=0`` and ``GIT_TERMINAL_PROMPT=0`` (a remote asking for a password fails
instead of hanging a run). Standard input is never the terminal.

Imports only ``os`` at load: ``naga run`` reaches this module on its start-up path, where it
starts its probes through ``posix_spawn`` (``start``); ``subprocess`` is imported by the other
commands when they first run git. There, import names (``from ..git import start``): ``from naga
import git`` first asks naga's lazy ``__getattr__``, which imports ``importlib``.
"""

from __future__ import annotations

import os

from .errors import GitError

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterable, Mapping, Sequence

    from .spawn import Helper

__all__ = [
    "DIFF",
    "SNAPSHOT_REFS",
    "GitError",
    "commit_exists",
    "commit_tree",
    "delete_snapshot_refs",
    "env",
    "first_error",
    "output",
    "recorded_repos",
    "resolve_ref",
    "run",
    "snapshot_refs",
    "start",
    "text",
    "toplevel",
    "update_ref",
]

SNAPSHOT_REFS = "refs/naga/snapshots/"
# What a hook, `git rebase -x`, a submodule command or a receive-pack quarantine may have set to
# point git at another repository than the one holding the directory naga was given.
REPO_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_NAMESPACE",
)
POLICY = {"GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
# Used only when git has no identity for the user (no user.email, auto-detection off or failing).
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "naga",
    "GIT_AUTHOR_EMAIL": "naga@localhost",
    "GIT_COMMITTER_NAME": "naga",
    "GIT_COMMITTER_EMAIL": "naga@localhost",
}
# A patch `git apply` takes back, whatever the user's diff settings (external tools, textconv,
# colours, prefixes, relative paths) would make of their own `git diff`.
DIFF = [
    "diff",
    "--binary",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--no-relative",
    "--src-prefix=a/",
    "--dst-prefix=b/",
]
NOT_INSTALLED = "git is not installed (not found on PATH); install git"


def env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every git naga runs: the caller's, minus the variables that would
    point git at another repository, plus ``POLICY`` and ``extra``."""
    found = {**os.environ, **POLICY}  # then a few pops: cheaper than filtering every variable
    for name in REPO_ENV:
        found.pop(name, None)
    if extra:
        found.update(extra)
    return found


def first_error(stderr: bytes | str) -> str:
    """The line of git's stderr that says what went wrong: the first ``fatal:``/``error:`` line
    (or a push's ``!`` rejection), else the first line, else ``no message``."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("fatal:", "error:", "!"))]
    return (errors or lines or ["no message"])[0]


def run(
    cwd: str,
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """``git ARGS`` in ``cwd``, its output collected; GitError only when git is missing."""
    import subprocess

    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env(extra_env),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError(NOT_INSTALLED) from exc


def output(
    cwd: str,
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> bytes:
    """git's stdout; GitError with git's own first error line when it fails."""
    done = run(cwd, args, stdin=stdin, extra_env=extra_env)
    if done.returncode != 0:
        raise GitError(f"git {_command(args)} failed in {cwd}: {first_error(done.stderr)}")
    return done.stdout


def text(cwd: str, args: Sequence[str], *, stdin: bytes | None = None) -> str:
    """``output`` decoded and stripped."""
    return os.fsdecode(output(cwd, args, stdin=stdin)).strip()


def start(
    cwd: str,
    args: Sequence[str],
    stdout_fd: int | None = None,
    environ: dict[str, str] | None = None,
) -> Helper | None:
    """``git -C CWD ARGS`` started through ``posix_spawn`` (``naga run``'s start-up path, where
    ``subprocess`` is too slow to import); None when git cannot be started. ``environ``: an
    ``env()`` made once for several gits started together."""
    from .spawn import start as spawn_start  # names, not `from . import`: see above

    git = executable()
    if git is None:
        return None
    return spawn_start([git, "-C", cwd, *args], environ or env(), stdout_fd=stdout_fd)


_found: dict[str, str | None] = {}


def executable() -> str | None:
    """The path of ``git`` on PATH (searched once per PATH), or None when it is missing."""
    path = os.environ.get("PATH", "")
    if path not in _found:
        from .spawn import which

        _found[path] = which("git", path)
    return _found[path]


def toplevel(path: str) -> str | None:
    """The root of the work tree containing ``path``, or None outside any repository."""
    if not os.path.isdir(path):
        return None
    done = run(path, ["rev-parse", "--show-toplevel"])
    return os.fsdecode(done.stdout).strip() if done.returncode == 0 else None


def commit_exists(repo: str, sha: str | None) -> bool:
    """Whether ``repo`` holds commit ``sha`` (full or abbreviated)."""
    if not isinstance(sha, str) or not 4 <= len(sha) <= 64:
        return False
    if not all(c in "0123456789abcdefABCDEF" for c in sha):
        return False
    return run(repo, ["cat-file", "-e", f"{sha}^{{commit}}"]).returncode == 0


def resolve_ref(repo: str, ref: str) -> str | None:
    """The commit ``ref`` names in ``repo``, or None."""
    done = run(repo, ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"])
    return os.fsdecode(done.stdout).strip() if done.returncode == 0 else None


def commit_tree(
    repo: str, tree: str, parents: Sequence[str], message: str, date: str | None = None
) -> str:
    """A commit of ``tree`` (never signed, no hook runs); with ``date`` (ISO 8601) as its author
    and committer date, the same inputs make the same commit, whenever they are made."""
    args = ["commit-tree", "--no-gpg-sign", "-m", message, tree]
    for parent in parents:
        args += ["-p", parent]
    dates = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}
    done = run(repo, args, extra_env=dates)
    if done.returncode != 0 and b"ident" in done.stderr.lower():
        # No identity configured (common on cluster accounts): a snapshot must not fail for it.
        done = run(repo, args, extra_env={**dates, **FALLBACK_IDENTITY})
    if done.returncode != 0:
        raise GitError(f"git commit-tree failed in {repo}: {first_error(done.stderr)}")
    return os.fsdecode(done.stdout).strip()


def update_ref(repo: str, ref: str, sha: str, message: str, *, create_only: bool = False) -> bool:
    """Point ``ref`` at ``sha`` with a reflog entry; ``create_only`` refuses to move a ref that
    exists. Returns whether git did it."""
    args = ["update-ref", "--create-reflog", "-m", message, ref, sha]
    return run(repo, [*args, ""] if create_only else args).returncode == 0


def delete_ref(repo: str, ref: str) -> bool:
    return run(repo, ["update-ref", "-d", ref]).returncode == 0


def snapshot_refs(root: str, run_ids: Iterable[str] | None = None) -> dict[str, str]:
    """run id -> snapshot commit, for the snapshot refs of repository ``root``."""
    done = run(root, ["for-each-ref", "--format=%(refname) %(objectname)", SNAPSHOT_REFS])
    if done.returncode != 0:
        raise GitError(f"cannot list the snapshot refs of {root}: {first_error(done.stderr)}")
    wanted = None if run_ids is None else set(run_ids)
    found = {}
    for line in os.fsdecode(done.stdout).splitlines():
        ref, _, sha = line.partition(" ")
        run_id = ref[len(SNAPSHOT_REFS) :]
        if wanted is None or run_id in wanted:
            found[run_id] = sha
    return found


def delete_snapshot_refs(root: str, run_ids: Iterable[str]) -> None:
    """Delete the snapshot refs of ``run_ids`` in ``root``, in one transaction."""
    lines = "".join(f"delete {SNAPSHOT_REFS}{r}\n" for r in run_ids)
    done = run(root, ["update-ref", "--stdin"], stdin=lines.encode())
    if done.returncode != 0:
        raise GitError(f"cannot delete snapshot refs in {root}: {first_error(done.stderr)}")


def recorded_repos(run_dir: str) -> list[str]:
    """The repositories a run recorded, as paths that exist here: the one ``naga run`` saw
    (``git.root`` in meta.json) and those its ``run.lock`` (among its artifacts) names. These
    are where its snapshot refs live. The lock is read as the YAML it is, tolerantly (an
    unreadable one names no repository), so this module needs nothing above it."""
    import json

    paths: list[object] = []
    try:
        with open(os.path.join(run_dir, "meta.json"), "rb") as handle:
            git = json.loads(handle.read()).get("git") or {}
        paths.append(git.get("root") if isinstance(git, dict) else None)
    except (OSError, ValueError, AttributeError, RecursionError):
        pass
    lock_path = os.path.join(run_dir, "artifacts", "run.lock")
    if os.path.isfile(lock_path):
        try:
            import yaml

            with open(lock_path, "rb") as handle:
                doc = yaml.load(handle.read(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            repos = doc.get("repos") or {}
            paths += [entry.get("path") for entry in repos.values() if isinstance(entry, dict)]
        except Exception:  # an unreadable lock records no repository to push from
            pass
    return [p for p in dict.fromkeys(paths) if isinstance(p, str) and os.path.isdir(p)]


def _command(args: Sequence[str]) -> str:
    """The git subcommand among ``args`` (after ``-c key=value`` options), for messages."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-c", "-C"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return "command"
