"""The real ``rclone`` binary, driven as a subprocess: listing, checking and copying run trees.

Every call is one rclone process over all the runs concerned (filters name the runs), never a
process per run, so a push of a thousand runs costs a handful of processes. rclone's own exit
codes tell a missing directory (3: an empty remote) from a remote that cannot be reached; any
failure becomes one ``RemoteError`` line taken from rclone's own message.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ..errors import RemoteError

# rclone's exit code for "directory not found": nothing was ever pushed there.
DIR_NOT_FOUND = 3
# Never copied: space held back by a live run, half-written files of an atomic replace.
# (write_atomic's temporary names: .<name>.<pid>.<8 hex>.tmp; an artifact ending in .tmp goes.)
EXCLUDED = ("- /*/.reserve", r"- .{{.+\.\d+\.[0-9a-f]{8}}}.tmp")
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
IDS_PER_RULE = 2000  # run ids in one filter rule (a line of rclone's under its 64 KB limit)
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?:[A-Z]+\s*: )?")
_FS_FAILURE = re.compile(r'^Failed to create file system for ".*?": ')
_CHECK_LINE = re.compile(r"^([=+*!-]) (.+)$")
# What rclone check logs when the two sides share no hash type (WebDAV, most FTP): it then
# compares sizes only.
_NO_COMMON_HASH = b"No common hash found"
# ... and when some file had no hash on one side (an S3 object uploaded in parts by another
# tool): rclone then counts it as matching on its size.
_HASH_MISSING = b"hashes could not be checked"


def runs_path(remote: str) -> str:
    """``REMOTE/runs``: runs sit on the remote as they do in a store, so a remote that is a
    local or mounted path is itself a store (``NAGA_HOME=that/path naga ls``)."""
    return remote + ("runs" if remote.endswith((":", "/")) else "/runs")


def sub_path(remote: str, name: str) -> str:
    return remote + (name if remote.endswith((":", "/")) else "/" + name)


def check_remote_spec(remote: str) -> str:
    if not remote or not remote.strip() or "\n" in remote or remote.startswith("-"):
        raise RemoteError(
            f"{remote!r} is not a remote: give an rclone remote (name:path) or a local path"
        )
    return remote


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the listed directory: <run id>/meta.json
    size: int


def _message(stderr: bytes) -> str:
    """rclone's most telling line, without its timestamp: the failure, else the last error."""
    lines = [
        _LOG_PREFIX.sub("", line).strip()
        for line in stderr.decode("utf-8", "replace").splitlines()
        if line.strip() and "NOTICE" not in line
    ]
    failed = [ln for ln in lines if ln.startswith("Failed to")]
    return (failed or lines or ["no message"])[-1]


class Rclone:
    """rclone calls for one remote, with progress on a terminal when ``progress`` is set."""

    def __init__(self, remote: str, *, progress: bool = False) -> None:
        self.remote = check_remote_spec(remote)
        self.progress = progress

    def _run(
        self, args: Sequence[str], *, show_progress: bool = False, ok: Iterable[int] = (0,)
    ) -> subprocess.CompletedProcess[bytes]:
        command = ["rclone", *args]
        if show_progress and self.progress:
            command.append("--progress")  # rclone draws it on stdout, our terminal
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=None if show_progress and self.progress else subprocess.PIPE,
                stderr=subprocess.PIPE,
                check=False,
            )
        except FileNotFoundError:
            raise RemoteError(
                "rclone is not installed (not found on PATH); install it: apt-get install rclone"
            ) from None
        if done.returncode not in ok:
            raise RemoteError(self._failure(args[0], _message(done.stderr)))
        return done

    def _failure(self, command: str, message: str) -> str:
        reason = _FS_FAILURE.sub("", message)
        if "didn't find section in config file" in reason:
            name = self.remote.partition(":")[0]
            return (
                f"no rclone remote named {name!r}: set it up with `rclone config`"
                " (`rclone listremotes` lists them), or give a local path"
            )
        if reason != message:
            return f"cannot reach {self.remote}: {reason}"
        return f"rclone {command} on {self.remote} failed: {reason}"

    def list_dirs(self, path: str) -> list[str] | None:
        """The directory names under ``path``; None when ``path`` does not exist."""
        done = self._run(["lsf", "--dirs-only", path], ok=(0, DIR_NOT_FOUND))
        if done.returncode == DIR_NOT_FOUND:
            return None
        return [line.rstrip("/") for line in done.stdout.decode("utf-8", "replace").splitlines()]

    def list_files(self, path: str, rules: Sequence[str]) -> list[FileEntry]:
        import json

        with _rules_file(rules) as filters:
            args = ["lsjson", "-R", "--files-only", "--filter-from", filters, path]
            done = self._run(args, ok=(0, DIR_NOT_FOUND))
        if done.returncode == DIR_NOT_FOUND:
            return []
        return [FileEntry(e["Path"], int(e["Size"])) for e in json.loads(done.stdout or b"[]")]

    def copy(
        self,
        source: str,
        dest: str,
        rules: Sequence[str],
        *,
        quiet: bool = False,
        replace: bool = False,
    ) -> None:
        """Copy what ``rules`` select, never replacing a file already at ``dest`` unless
        ``replace`` (with rclone's progress on a terminal unless ``quiet``: bookkeeping files
        are not worth a bar)."""
        with _rules_file(rules) as filters:
            keep = [] if replace else ["--ignore-existing"]
            args = ["copy", *keep, "--filter-from", filters, source, dest]
            self._run(args, show_progress=not quiet)

    def check(
        self,
        source: str,
        dest: str,
        rules: Sequence[str],
        *,
        download: bool = False,
        max_size: int | None = None,
    ) -> Checked:
        """(mark, path) for every file ``rules`` select: ``=`` same, ``+`` only in ``source``,
        ``-`` only in ``dest``, ``*`` different, ``!`` unreadable. Files are compared by size
        and by a hash both sides support (local: any; SFTP: md5sum; S3: its ETag), or with
        ``download`` byte for byte (only files up to ``max_size`` bytes, when given).
        ``Checked.hashed`` says whether the hash comparison happened: without a common hash,
        rclone compares sizes alone."""
        with _rules_file(rules) as filters, tempfile.TemporaryDirectory() as scratch:
            report = os.path.join(scratch, "combined")
            args = ["check", "--filter-from", filters, "--combined", report, source, dest]
            how = ["--download"] if download else []
            if max_size is not None:
                how += ["--max-size", f"{max_size}B"]
            done = self._run([*args, *how], ok=(0, 1))
            try:
                with open(report, encoding="utf-8", errors="replace") as lines:
                    marks = [m.groups() for m in map(_CHECK_LINE.match, lines) if m]
            except FileNotFoundError:
                marks = []
        if done.returncode == 1 and all(mark == "=" for mark, _ in marks):
            raise RemoteError(self._failure("check", _message(done.stderr)))
        unhashed = _NO_COMMON_HASH in done.stderr or _HASH_MISSING in done.stderr
        hashed = download or not unhashed
        return Checked([(mark, path.rstrip("\n")) for mark, path in marks], hashed)

    def stat(self, path: str) -> bool | None:
        """True for a directory at ``path``, False for a file, None when nothing is there."""
        import json

        done = self._run(["lsjson", "--stat", path], ok=(0, DIR_NOT_FOUND))
        if done.returncode == DIR_NOT_FOUND:
            return None
        return bool(json.loads(done.stdout or b"{}").get("IsDir", True))

    def mkdir(self, path: str) -> None:
        self._run(["mkdir", "--retries", "1", path])


@dataclass(frozen=True)
class Checked:
    marks: list[tuple[str, str]]
    hashed: bool  # contents compared (hash or download), not only sizes


@contextlib.contextmanager
def _rules_file(rules: Sequence[str]) -> Iterator[str]:
    """A temporary ``--filter-from`` file holding ``rules``."""
    fd, path = tempfile.mkstemp(prefix="naga-rclone-", suffix=".rules")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(rule + "\n" for rule in rules))
        yield path
    finally:
        os.unlink(path)


def run_rules(run_ids: Iterable[str], *, files: str = "**", last: Sequence[str] = ()) -> list[str]:
    """Filter rules selecting ``files`` of each run in ``run_ids`` (relative to ``runs/``),
    leaving out ``last`` (paths within a run), the excluded files and everything else.

    Runs are named in brace alternations of up to ``IDS_PER_RULE`` ids (``+ /{a,b,c}/**``):
    rclone tries every rule on every directory, so a rule per run would make a push of many
    runs quadratic (3,000 runs: 3.3 s against 0.4 s), and a rule line must stay under 64 KB.
    """
    skip = [f"- /*/{name}" for name in last]
    ids = list(run_ids)
    odd = [r for r in ids if not RUN_ID.fullmatch(r)]
    if odd:  # not naga's: a name that could read as a pattern is never put in one
        raise RemoteError(f"run id {odd[0]!r} cannot be moved: not letters, digits, . _ -")
    chunks = [ids[i : i + IDS_PER_RULE] for i in range(0, len(ids), IDS_PER_RULE)]
    return [*EXCLUDED, *skip, *(f"+ /{{{','.join(c)}}}/{files}" for c in chunks), "- **"]
