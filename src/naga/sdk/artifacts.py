"""Files a run keeps: copies, text, figures, and paths to write into, all under ``artifacts/``.

A name is a relative path inside the run's ``artifacts/`` directory (``plots/loss.png``). A
name that is absolute, climbs with ``..``, or resolves outside through a symlink is refused, so
no artifact can land outside its run, whatever a config or a user passes as a name.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

from ..errors import BadArtifactName, NagaError
from ..store.files import write_atomic

ARTIFACTS_DIR = "artifacts"


def artifacts_root(run_dir: str) -> str:
    return os.path.join(run_dir, ARTIFACTS_DIR)


def safe_path(run_dir: str, name: object) -> str:
    """Where artifact ``name`` lives; BadArtifactName when it would leave the artifacts dir."""
    if not isinstance(name, str) or not name.strip() or "\0" in name:
        raise BadArtifactName(f"artifact name {name!r} must be a non-empty relative path")
    if os.path.isabs(name) or name.startswith("~"):
        raise BadArtifactName(f"artifact name {name!r} must be relative to the run, not absolute")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise BadArtifactName(f"artifact name {name!r} must not contain '..'")
    root = os.path.realpath(artifacts_root(run_dir))
    target = os.path.realpath(os.path.join(root, name))
    if target == root or os.path.commonpath([root, target]) != root:
        raise BadArtifactName(f"artifact name {name!r} points outside the run's artifacts")
    return target


def copy_in(run_dir: str, source: str | os.PathLike[str], name: str | None) -> Path:
    src = os.fspath(source)
    if not os.path.exists(src):
        raise NagaError(f"cannot log artifact {src}: no such file or directory")
    target = safe_path(run_dir, name or os.path.basename(os.path.normpath(src)))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        if os.path.isdir(src):
            shutil.copytree(src, target, dirs_exist_ok=True, ignore=_outside_the_run(run_dir))
        else:
            shutil.copy2(src, target)
    except OSError as exc:
        raise NagaError(f"cannot copy artifact {src} into the run: {exc.strerror or exc}") from exc
    return Path(target)


def _outside_the_run(run_dir: str) -> Any:
    """copytree's ignore: leave out whatever holds the run itself (``log_artifact(".")`` with
    the store inside the project would otherwise copy the run into itself, forever)."""
    run_real = os.path.realpath(run_dir)

    def ignore(directory: str, names: list[str]) -> list[str]:
        skipped = []
        for name in names:
            full = os.path.realpath(os.path.join(directory, name))
            if full == run_real or run_real.startswith(full + os.sep):
                skipped.append(name)
        return skipped

    return ignore


def write_text(run_dir: str, text: str, name: str) -> Path:
    if not isinstance(text, str):
        raise TypeError(f"log_text takes a str, not {type(text).__name__}")
    target = safe_path(run_dir, name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    write_atomic(target, text.encode("utf-8", "surrogateescape"))
    return Path(target)


def save_figure(run_dir: str, figure: Any, name: str, **savefig: Any) -> Path:
    if not callable(getattr(figure, "savefig", None)):
        raise TypeError(f"log_figure takes a matplotlib Figure, not {type(figure).__name__}")
    suffix = os.path.splitext(name)[1]
    if not suffix:
        name += ".png"
    target = safe_path(run_dir, name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    savefig.setdefault("format", suffix[1:].lower() or "png")  # plots/loss.pdf is a PDF
    figure.savefig(target, **savefig)
    return Path(target)


def writable_path(run_dir: str, name: str) -> Path:
    target = safe_path(run_dir, name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    return Path(target)


def list_artifacts(run_dir: str) -> list[tuple[str, int]]:
    """(name, size in bytes) of every regular file under the run's artifacts, sorted by name.

    A pulled run is untrusted: symbolic links (an ``artifacts`` link to ``/``, a file linking to
    ``~/.ssh``) are never followed, so nothing outside the run directory is listed."""
    root = artifacts_root(run_dir)
    if os.path.islink(root) or os.path.islink(run_dir):
        return []
    found = []
    for directory, _, files in os.walk(root):
        for file in files:
            path = os.path.join(directory, file)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found.append((os.path.relpath(path, root), info.st_size))
    return sorted(found)
