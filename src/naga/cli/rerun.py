"""``naga rerun``: run a recorded command again, at its recorded code, as a new run."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .._lean import shell_join
from ..errors import NagaError, UsageError
from ..present.inert import inert
from ..repro import code as repro_code
from ..repro import links as repro_links
from ..repro.rerun import Plan, Setting, plan
from ..store import Store
from .fast import report, say


@click.command("rerun")
@click.argument("run")
@click.option("--here", is_flag=True, help="Run in the current checkout, not at the run's code.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change an argument (--KEY/KEY=) or, for naga.clicfg programs, a config value.",
)
@click.option("--keep", is_flag=True, help="Keep the temporary worktree afterwards.")
@click.option("--name", help="A name for the new run.")
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Run a command recorded by another user or host without asking (read it first).",
)
@click.option("--tag", "tags", multiple=True, help="A tag for the new run (repeatable).")
@click.option(
    "--link",
    "links",
    multiple=True,
    metavar="PATH",
    help="Also link this path of the checkout (git-ignored data) into the worktree (repeatable).",
)
def rerun(
    run: str,
    here: bool,
    settings: tuple[str, ...],
    keep: bool,
    name: str | None,
    tags: tuple[str, ...],
    yes: bool,
    links: tuple[str, ...],
) -> None:
    """Run RUN's command again as a new run: same arguments, environment and config, at the
    code it ran (checked out into a temporary git worktree; your checkout is not touched).

    \b
    naga rerun 3kx9a2bq
    naga rerun 3kx9a2bq --set lr=0.01 --set epochs=3
    naga rerun baseline --here
    naga rerun 3kx9a2bq --link cache/

    What git ignores is not in the worktree: the data and earlier stages the run's run.lock
    tracks are linked there (symlinks, their hashes checked first), --link adds other paths.

    A run recorded by another user or on another host (pulled, a shared store) is shown and
    asked about first (--yes: without asking). Secret values masked in the record
    (--password, --api-key ...) are asked for, or given with --set password=VALUE.
    """
    store = Store.open()
    meta = store.get(run)
    run_dir = store.layout.run_dir(meta["id"])
    has_config = repro_code.recorded_config(run_dir) is not None
    todo = plan(meta, [Setting.parse(s) for s in settings], has_config, os.environ)
    _confirm(todo, yes)
    _fill_masked(todo)
    extra: dict[str, Any] = {
        "rerun_of": meta["id"],
        "rerun": {"here": here, "set": todo.recorded_settings()},
    }
    options = {"name": name, "tags": list(tags), "store_root": store.layout.root}
    for secret in todo.secrets:
        now = "its current value is used" if secret in todo.env else "it is not set now"
        say(f"naga: note: {inert(secret)} was masked in run {meta['id']}: {now}")
    if here:
        if links:
            raise UsageError(
                "--link is for a rerun at the run's code; --here runs in your checkout"
            )
        cwd = _here_cwd(meta)
        say(f"naga: rerun of {meta['id']} in the current checkout ({inert(cwd)})")
        sys.exit(_execute(todo, cwd, extra, options))
    sys.exit(_at_recorded_code(store, meta, todo, extra, options, keep, links))


def _at_recorded_code(
    store: Store,
    meta: dict[str, Any],
    todo: Plan,
    extra: dict[str, Any],
    options: dict[str, Any],
    keep: bool,
    requested: tuple[str, ...] = (),
) -> int:
    """The rerun in a temporary worktree holding the run's code; its exit code."""
    run_dir = store.layout.run_dir(meta["id"])
    code = repro_code.code_of(meta, run_dir)
    extra["rerun"]["code"] = code.as_dict()
    linked = _links(meta, run_dir, code, requested, trusted=todo.origin is None)
    extra["rerun"]["links"] = [link.as_dict() for link in linked]
    if code.untracked:
        shown = inert(", ".join(code.untracked[:5])) + (" ..." if len(code.untracked) > 5 else "")
        say(
            f"naga: warning: run {meta['id']} had {len(code.untracked)} untracked file(s) that"
            f" naga did not keep ({shown}); they are not restored"
        )
    say(f"naga: rerun of {meta['id']} at {inert(code.describe())} in a temporary git worktree")
    if "NAGA_HOME" not in todo.env:
        # The worktree is another repository root: point the command's own naga calls at this
        # store. Plumbing, like NAGA_RUN_ID: not part of the environment the run records.
        from ..capture.environment import selected_env

        extra["env"] = selected_env(dict(todo.env))
        todo.env["NAGA_HOME"] = store.layout.root
    parent = os.path.join(store.layout.root, "worktrees")
    store_rel = repro_links.inside(store.layout.root, code.repo)

    def prepare(path: str) -> list[str]:
        made = repro_links.make(linked, path)
        _say_links(linked)
        lacking = repro_links.lacking(code.repo, path, [store_rel] if store_rel else [])
        if lacking:
            say(
                f"naga: note: the worktree lacks what git ignores in {inert(code.repo)}:"
                f" {inert(repro_links.shown(lacking))}; give the run what it needs with --link PATH"
            )
        return made

    with repro_code.worktree(code, parent, keep=keep, prepare=prepare) as tree:
        status = _execute(todo, tree.cwd, extra, options, pin=code)
    if tree.kept:
        why = "kept (--keep)" if keep else f"kept: the run wrote {_files(tree.written)} there"
        remove = f"git worktree remove --force {tree.path}"
        say(f"naga: worktree {tree.path} {why}; remove it with: {remove}")
    return status


def _links(
    meta: dict[str, Any],
    run_dir: str,
    code: repro_code.Code,
    requested: tuple[str, ...],
    trusted: bool,
) -> list[repro_links.Link]:
    """The run.lock's data and stages inside the repository, then ``--link`` paths, each
    checked against the lock before anything runs."""
    roots = [r for r in ((meta.get("git") or {}).get("root"), code.repo) if isinstance(r, str)]
    lock = repro_code.run_lock(run_dir)
    found = repro_links.tracked(lock, roots, code.repo, code.commit, trusted)
    found += repro_links.requested(requested, code.repo, os.getcwd())
    repro_links.verify(found, slow=_say_checking)
    return repro_links.merged(found)


def _say_checking(link: repro_links.Link) -> None:
    say(
        f"naga: checking {inert(link.rel)} against the hash its run.lock recorded (read once;"
        " the hash cache makes the next check quick) ..."
    )


def _say_links(linked: list[repro_links.Link]) -> None:
    """One line: what was linked, and whether its hash was checked."""
    if not linked:
        return
    parts = [f"{inert(link.rel)} ({link.checked})" for link in linked]
    say(
        "naga: linked into the worktree (symlinks to the originals, not copies):"
        f" {', '.join(parts)}"
    )


def _files(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _here_cwd(meta: dict[str, Any]) -> str:
    """The run's directory in the current checkout (or as recorded, outside a repository)."""
    from .. import git

    root = git.toplevel(os.getcwd())
    if root is not None and meta.get("git"):
        return os.path.join(root, repro_code.relative_cwd(meta))
    if os.path.isdir(meta.get("cwd") or ""):
        return str(meta["cwd"])
    raise UsageError(
        f"run {meta['id']} ran in {meta.get('cwd')}, which is gone; cd into the project and"
        " run the command yourself with naga run"
    )


def _pin(code: repro_code.Code, run_id: str) -> None:
    """Keep the commit the rerun ran alive under its own ``refs/naga/snapshots/<id>``: the
    original run's ref may be collected (``naga gc``) while the rerun stays. A ref the rerun's
    own capture writes (a dirty worktree) wins; this one is made only when none exists."""
    from .. import git

    ref = f"{git.SNAPSHOT_REFS}{run_id}"
    git.update_ref(code.repo, ref, code.commit, "naga rerun", create_only=True)


def _execute(
    todo: Plan,
    cwd: str,
    extra: dict[str, Any],
    options: dict[str, Any],
    pin: repro_code.Code | None = None,
) -> int:
    """The rerun as a naga run in ``cwd`` with the plan's environment, given to the command
    (this process keeps its own directory and environment); its exit code."""
    from ..launch import RunRequest, run_command
    from .run_fast import end_line, start_line

    def on_start(meta: dict[str, Any]) -> None:
        if pin is not None:
            _pin(pin, meta["id"])
        start_line(meta)

    ended: list[dict[str, Any]] = []
    try:
        os.makedirs(cwd, exist_ok=True)
        request = RunRequest(todo.argv, cwd=cwd, env=todo.env, extra=extra, **options)
        code = run_command(request, on_start=on_start, on_end=ended.append)
    except (NagaError, OSError) as exc:
        code = report(exc)
    for meta in ended:
        end_line(meta)
    return code


def _on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def _confirm(todo: Plan, yes: bool) -> None:
    """A command recorded by someone else runs only when the user has seen it and said so."""
    if todo.origin is None or yes:
        return
    who = inert(todo.origin)
    if not _on_terminal():
        raise UsageError(
            f"run {todo.run_id} was recorded by {who}, not by you here: read its command"
            f" (naga show {todo.run_id}) and rerun with --yes to run it"
        )
    say(f"naga: run {todo.run_id} was recorded by {who}, not by you here. Its command:")
    say(f"  {inert(shell_join(todo.argv))}")
    if not click.confirm("Run it?", default=False, err=True):
        raise UsageError(f"not rerunning {todo.run_id}: you said no")


def _fill_masked(todo: Plan) -> None:
    """Values naga masked in the record: typed on a terminal (not echoed), else an error
    saying how to give them with --set. A rerun never runs ``***``."""
    for slot in list(todo.masked or []):
        if not _on_terminal():
            break
        label = f"--{slot.key}" if slot.key else f"argument {slot.index} ({inert(slot.shown)})"
        todo.fill(
            slot,
            click.prompt(
                f"naga: {label} was masked in the record; value", hide_input=True, err=True
            ),
        )
    if todo.masked:
        keyed = [f"--set {inert(s.key)}=VALUE" for s in todo.masked if s.key]
        bare = [s for s in todo.masked if not s.key]
        how = f"give {' '.join(keyed)}" if keyed else ""
        if bare:
            how += (" and " if how else "") + (
                f"type argument {bare[0].index} ({inert(bare[0].shown)}) on a terminal"
            )
        raise UsageError(f"run {todo.run_id} was recorded with secret values masked (***); {how}")
