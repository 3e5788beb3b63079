"""What differs between two runs, section by section.

Each section compares one aspect and is left out when both runs agree on it: ``command`` (the
arguments, and the directory from the repository root), ``params`` (key by key), ``git``
(commits, and the code diff between the two runs' exact code: snapshot, or commit plus
git.patch, compared as trees built in a scratch index), ``packages`` (added, removed, changed
versions; the interpreter), ``lockfiles`` (their hashes), ``env``, ``host`` (name, user, GPU
models) and ``metrics`` (final values, system metrics left out). Key-by-key sections map a key
to ``{"a": ..., "b": ...}``, a side missing where the run has no such key.
"""

from __future__ import annotations

import json
from typing import Any

from ..capture.packages import load_packages
from ..errors import GitError, NagaError
from . import code as repro_code
from . import gitops

SECTIONS = ("command", "params", "git", "packages", "lockfiles", "env", "host", "metrics")
HOST_FIELDS = ("host", "user")


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def keyed(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Keys whose values differ (or that one side lacks), as ``{key: {"a": .., "b": ..}}``."""
    a, b = a or {}, b or {}
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(set(a) | set(b)):
        if key in a and key in b and _same(a[key], b[key]):
            continue
        out[key] = {side: run[key] for side, run in (("a", a), ("b", b)) if key in run}
    return out


def command_section(ma: dict[str, Any], mb: dict[str, Any]) -> dict[str, Any] | None:
    section: dict[str, Any] = {}
    if ma.get("argv") != mb.get("argv"):
        section["argv"] = {"a": ma.get("argv"), "b": mb.get("argv")}
    ca, cb = repro_code.relative_cwd(ma), repro_code.relative_cwd(mb)
    if not ma.get("git") or not mb.get("git"):  # outside a repository: the directory itself
        ca, cb = str(ma.get("cwd")), str(mb.get("cwd"))
    if ca != cb:
        section["cwd"] = {"a": ca, "b": cb}
    return section or None


def _git_state(meta: dict[str, Any], code: repro_code.Code | None) -> dict[str, Any]:
    git = meta.get("git") or {}
    return {
        "commit": git.get("commit"),
        "branch": git.get("branch"),
        "dirty": git.get("dirty"),
        "snapshot": code.commit if code is not None and code.snapshot else None,
    }


def _share_repository(a: repro_code.Code, b: repro_code.Code) -> None:
    """Read both runs' code from one repository when one holds both commits: a rerun's
    worktree, a clone or a moved checkout are other paths to the same history."""
    from ..snapshot import commit_exists

    if a.repo == b.repo:
        return
    for holder, other in ((a, b), (b, a)):
        try:
            if commit_exists(holder.repo, other.commit):
                other.repo = holder.repo
                return
        except NagaError:
            continue


def git_section(
    runs: tuple[tuple[dict[str, Any], str], tuple[dict[str, Any], str]], color: bool = False
) -> dict[str, Any] | None:
    codes: list[repro_code.Code | None] = []
    problems: dict[str, str] = {}
    for side, (meta, run_dir) in zip("ab", runs, strict=True):
        try:
            codes.append(repro_code.code_of(meta, run_dir) if meta.get("git") else None)
        except NagaError as exc:
            codes.append(None)
            problems[side] = str(exc).split("; ")[0]
    states = [_git_state(meta, c) for (meta, _), c in zip(runs, codes, strict=True)]
    section: dict[str, Any] = {"a": states[0], "b": states[1]}
    code_a, code_b = codes
    if code_a is not None and code_b is not None:
        _share_repository(code_a, code_b)
    if code_a is not None and code_b is not None and code_a.repo == code_b.repo:
        try:
            tree_a, tree_b = code_a.tree(), code_b.tree()
        except GitError as exc:
            problems["code"] = str(exc)
        else:
            if tree_a != tree_b:
                section["code_diff"], section["files"] = gitops.diff_trees(
                    code_a.repo, tree_a, tree_b, color=color
                )
    elif code_a is not None and code_b is not None:
        problems["code"] = (
            f"the runs' code lives in two repositories ({code_a.repo}, {code_b.repo})"
        )
    if problems:
        section["problems"] = problems
    # The branch alone does not count: a rerun runs detached, at the same code.
    moved = states[0]["commit"] != states[1]["commit"]
    changed = moved or "code_diff" in section or problems
    return section if changed else None


def packages_section(dir_a: str, dir_b: str) -> dict[str, Any] | None:
    pa, pb = load_packages(dir_a), load_packages(dir_b)
    if pa is None and pb is None:
        return None
    if pa is None or pb is None:
        missing = "a" if pa is None else "b"
        return {"missing": missing}
    a, b = pa["packages"], pb["packages"]
    section: dict[str, Any] = {
        "added": {k: b[k] for k in sorted(set(b) - set(a))},
        "removed": {k: a[k] for k in sorted(set(a) - set(b))},
        "changed": {k: {"a": a[k], "b": b[k]} for k in sorted(set(a) & set(b)) if a[k] != b[k]},
    }
    section = {k: v for k, v in section.items() if v}
    for key in ("python", "version"):
        if pa.get(key) != pb.get(key):
            section[key] = {"a": pa.get(key), "b": pb.get(key)}
    return section or None


def _host(meta: dict[str, Any]) -> dict[str, Any]:
    host = {k: meta.get(k) for k in HOST_FIELDS}
    gpus = [g.get("name") for g in meta.get("gpus") or [] if isinstance(g, dict)]
    if gpus:
        host["gpus"] = gpus
    return host


def _final_metrics(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (meta.get("metrics") or {}).items() if not k.startswith("sys/")}


def diff_runs(
    ma: dict[str, Any], dir_a: str, mb: dict[str, Any], dir_b: str, *, color: bool = False
) -> dict[str, Any]:
    """``{"runs": [...], "identical": bool, "sections": {name: section}}``; a section is left
    out when the runs agree on it."""
    hosts = [_host(m) for m in (ma, mb)]
    sections: dict[str, Any] = {
        "command": command_section(ma, mb),
        "params": keyed(ma.get("params"), mb.get("params")),
        "git": git_section(((ma, dir_a), (mb, dir_b)), color=color),
        "packages": packages_section(dir_a, dir_b),
        "lockfiles": keyed(ma.get("lockfiles"), mb.get("lockfiles")),
        "env": keyed(ma.get("env"), mb.get("env")),
        "host": keyed(hosts[0], hosts[1]),
        "metrics": keyed(_final_metrics(ma), _final_metrics(mb)),
    }
    found = {name: sections[name] for name in SECTIONS if sections[name]}
    runs = [{"id": m["id"], "name": m.get("name")} for m in (ma, mb)]
    return {"runs": runs, "identical": not found, "sections": found}


def describe_side(run: dict[str, Any]) -> str:
    return str(run["id"]) + (f" ({run['name']})" if run.get("name") else "")
