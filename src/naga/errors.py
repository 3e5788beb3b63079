"""Errors naga raises for things a user can fix.

Every error says what went wrong and what to do next, in one line. The library raises them and
never prints or exits; the CLI turns them into ``naga: error: ...`` and the exit code each class
carries.

    NagaError                 exit 1
    ├── UsageError            exit 2: a malformed flag value, filter or expression
    │   └── ConfigError       exit 2: a bad config key, value, file or override (``clicfg``)
    │       └── ProfileError  a Slurm profile that is missing, malformed or impossible
    ├── CommandNotFound       exit 127: ``naga run`` was given a program that does not exist
    ├── CommandNotExecutable  exit 126: the program exists but cannot be executed
    ├── RunNotFound           no run matches an id, prefix or name
    ├── AmbiguousRun          several runs match; lists them
    ├── RunIsRunning          a destructive command refused on a live run
    ├── StoreError            the store cannot be read or written (permissions, full disk)
    │   └── CorruptMeta       a run's meta.json exists but is not a valid record
    ├── NoActiveRun           an SDK call outside any run (``naga.log`` with no ``naga.run()``)
    ├── BadArtifactName       an artifact name escaping the run directory (also a ValueError)
    ├── LockError             a missing, malformed or unusable ``run.lock`` or previous stage
    ├── GitError              git missing, a path outside any repository, a failed git command
    ├── CodeNotRestorable     a run's code cannot be restored (``naga rerun``, ``naga diff``)
    ├── NoSnapshot            a stage whose code is not in this repository (``naga branch``)
    ├── DataError             data to hash is missing, unreadable or not a file or directory
    ├── RemoteError           rclone missing, a remote out of reach, a run that differs there
    ├── MissingExtra          an optional dependency is not installed (names the pip extra)
    ├── MlflowError           the MLflow tracking store cannot be reached, or refused a call
    ├── SlurmError            Slurm refused or could not be reached
    ├── SweepTasksFailed      tasks of a sweep failed (their runs hold the details)
    ├── Pruned                exit 0: a search's pruner stopped the trial early; a clean
    │                         ending (``naga.run`` catches it), status ``pruned``
    └── Interrupted           exit 130 (128 + N): a sweep task was stopped by a signal; it
                              stays in the pool for the next worker
"""

from __future__ import annotations


class NagaError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 1


class UsageError(NagaError):
    exit_code = 2


class CommandNotFound(NagaError):
    exit_code = 127


class CommandNotExecutable(NagaError):
    exit_code = 126


class RunNotFound(NagaError):
    pass


class AmbiguousRun(NagaError):
    def __init__(self, selector: str, candidates: list[str]) -> None:
        shown = ", ".join(candidates[:10]) + (" ..." if len(candidates) > 10 else "")
        super().__init__(
            f"'{selector}' matches {len(candidates)} runs ({shown}); name one by its id"
            " (any unique prefix of it)"
        )
        self.candidates = candidates


class RunIsRunning(NagaError):
    pass


class StoreError(NagaError):
    pass


class CorruptMeta(StoreError):
    """A run's meta.json exists but cannot be parsed or lacks what readers rely on."""


def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system error: what failed and on which file."""
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


class NoActiveRun(NagaError):
    """An SDK call that needs a run, made outside any (or after it ended)."""


class BadArtifactName(NagaError, ValueError):
    """An artifact name that would land outside the run's artifacts directory."""


class ConfigError(UsageError):
    """A configuration a program cannot run with: unknown key, wrong type, missing value."""


class LockError(NagaError):
    """A ``run.lock`` that is missing, malformed, or records a stage that cannot be used."""


class GitError(NagaError):
    """git is not installed, a path is not inside a repository, or a git command failed."""


class DataError(NagaError):
    """Data given to ``naga.hash_data`` / ``naga hash`` cannot be hashed: missing, unreadable, or
    not a regular file, directory or symlink."""


class RemoteError(NagaError):
    """``naga push``/``pull``: rclone missing, a remote that cannot be read or written, runs that
    differ between the store and the remote, or snapshot refs git refuses to move."""


class ProfileError(ConfigError):
    """A Slurm profile file that is missing, malformed, or asks for something impossible."""


class CodeNotRestorable(NagaError):
    """A run whose code cannot be restored: no repository, no commit, commit gone."""


class NoSnapshot(NagaError):
    """A stage whose code is not in this repository."""


class MissingExtra(NagaError):
    """An optional dependency is not installed."""


class SlurmError(NagaError):
    """Slurm refused or could not be reached (sbatch error, no Slurm on this machine)."""


class SweepTasksFailed(NagaError):
    """Tasks of the sweep failed (their runs hold the details)."""


class Pruned(NagaError):
    """The search's pruner stopped this trial at ``step``: its values will not beat the other
    trials'. Raised by ``naga.log`` in a trial's run; ``naga.run`` and a sweep's worker end the
    run ``pruned``, a clean ending (exit 0), and the study hears it."""

    exit_code = 0

    def __init__(self, message: str = "pruned by the search", step: int | None = None) -> None:
        super().__init__(message)
        self.step = step


class Interrupted(NagaError):
    """A task was cancelled (its worker is being stopped); it stays free for the next worker."""

    exit_code = 130


class MlflowError(NagaError):
    """MLflow cannot be reached, or refused a call."""
