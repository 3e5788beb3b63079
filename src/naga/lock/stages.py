"""Previous pipeline stages: a stage is a directory whose ``run.lock`` says how it was made.

``load_stage_from_path`` is strict: a missing or malformed lock is an error that says what to
do, never an empty stage; ``require_completed`` also refuses a stage that is still running or
failed, so a pipeline never builds on half a result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LockError
from . import lockfile


@dataclass(frozen=True)
class Stage:
    """A previous stage: its directory, and its ``run.lock`` as read."""

    path: Path  # the stage directory (absolute)
    lock_path: Path
    lock: dict[str, Any]

    @property
    def status(self) -> str | None:
        return lockfile.effective_status(self.lock)

    @property
    def run_id(self) -> str | None:
        run_id = self.lock.get("run_id")
        return run_id if isinstance(run_id, str) else None

    @property
    def config(self) -> Any:
        """The stage's resolved config, as an OmegaConf object (``stage.config.model.lr``)."""
        from omegaconf import OmegaConf

        return OmegaConf.create(self.lock.get("config") or {})

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.lock.get("data") or {})

    @property
    def repos(self) -> dict[str, Any]:
        return dict(self.lock.get("repos") or {})

    @property
    def prevs(self) -> dict[str, Any]:
        return dict(self.lock.get("prevs") or {})

    def summary(self) -> dict[str, Any]:
        """What a later stage records about this one in its own lock."""
        return {
            "path": str(self.path),
            "status": self.status,
            "run_id": self.run_id,
            "finished_at": self.lock.get("finished_at"),
            "lock_hash": lock_digest(self.lock_path),
            "repos": {
                name: (r or {}).get("snapshot") or (r or {}).get("commit")
                for name, r in self.repos.items()
            },
            "data": {name: (d or {}).get("hash") for name, d in self.data.items()},
        }


def load_stage_from_path(
    path: str | os.PathLike[str], *, require_completed: bool = False, key: str | None = None
) -> Stage:
    """The stage at ``path`` (a stage directory or its ``run.lock`` file)."""
    target = Path(path).expanduser().absolute()
    lock_path = target if target.is_file() else target / lockfile.LOCK_NAME
    where = f"{key}: " if key else ""
    if not target.exists():
        raise LockError(
            f"{where}previous stage {target} does not exist: run that stage first, or fix the path"
        )
    if not lock_path.exists():
        raise LockError(
            f"{where}previous stage {target} has no run.lock: it has not finished (or was not run"
            " through naga); run that stage first, or fix the path"
        )
    try:
        lock = lockfile.read(lock_path)
    except LockError as exc:
        raise LockError(f"{where}{exc}") from None
    stage = Stage(lock_path.parent, lock_path, lock)
    if require_completed and stage.status != "completed":
        raise LockError(
            f"{where}previous stage {stage.path} is {stage.status or 'of unknown status'}, not"
            " completed: finish (or rerun) that stage before this one"
        )
    return stage


def lock_digest(path: Path) -> str | None:
    """A BLAKE3 digest of a lock's bytes, so a later check sees if the stage was redone."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    import blake3

    return "blake3:" + blake3.blake3(data).hexdigest()[:32]
