"""``naga push`` and ``naga pull``: runs to and from an rclone remote. The workflows are
``naga.share.workflow``'s; these commands parse, call it, and render its plans and results."""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

import click

from ..share import transfer, workflow
from ..share.rclone import Rclone
from ..store import Store
from . import render
from .fast import say
from .selection import filters_given, plural, select_ids, selection_options

LISTED = 20  # runs listed one per line before a transfer (a dry run lists them all)
REMOTE_HELP = "REMOTE is an rclone remote (name:path, see `rclone config`) or a local path."


def share_options(f: Any) -> Any:
    f = click.option(
        "--git-remote",
        metavar="NAME",
        help="Also move the runs' snapshot refs (refs/naga/snapshots/ID) to/from this git remote.",
    )(f)
    f = click.option("--dry-run", is_flag=True, help="Show what would move; move nothing.")(f)
    f = selection_options(f)
    return click.argument("remote")(f)


def _warn_running(left: list[str], verb: str, where: str) -> None:
    if left:
        say(f"naga: warning: not {verb}ing {plural(len(left), 'run')} still running{where}:"
            f" {', '.join(left[:10])}")  # fmt: skip


def _show_plan(plan: transfer.Plan, verb: str, direction: str, dry_run: bool) -> None:
    moving = plan.moving
    if moving:
        head = f"Would {verb}" if dry_run else f"{verb.capitalize()}ing"
        click.echo(f"{head} {plural(len(moving), 'run')} ({render.size(plan.total_bytes)})"
                   f" {direction} {plan.remote}:")  # fmt: skip
        shown = moving if dry_run else moving[:LISTED]  # a dry run lists every run
        for run_id in shown:
            finishing = run_id in plan.resume or run_id in plan.unfinished
            note = "  (completing an earlier copy)" if finishing else ""
            note = "  (edits: name, tags, note)" if run_id in plan.edited else note
            files = plural(plan.files.get(run_id, 0), "file")
            click.echo(f"  {run_id}  {files}  {render.size(plan.sizes.get(run_id, 0))}{note}")
        if len(shown) < len(moving):
            click.echo(f"  ... and {len(moving) - len(shown)} more")
    identical = len(plan.same) - len(plan.same_size)
    if identical:
        click.echo(f"{plural(identical, 'run')} already there, identical: not copied.")
    for run_id, why in sorted(plan.conflicts.items()):
        click.echo(f"  {run_id}  differs: {why}  (left as it is)")
    if plan.same_size:  # no hash in common with the remote: large files compared by size
        click.echo(f"{plural(len(plan.same_size), 'run')} already there with files of the same"
                   f" size (no hash in common with {plan.remote}: files over"
                   f" {render.size(transfer.DOWNLOAD_LIMIT)} compared by size only): not"
                   " copied.")  # fmt: skip


def _progress() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


@click.command("push", epilog=REMOTE_HELP)
@share_options
def push(
    remote: str,
    runs: tuple[str, ...],
    every: bool,
    dry_run: bool,
    git_remote: str | None,
    **filters: Any,
) -> None:
    """Copy finished runs (RUNS: ids, prefixes or names, and/or filters) to REMOTE/runs/ID."""
    store = Store.open()
    rclone = Rclone(remote, progress=_progress())
    todo = workflow.plan_push(
        store,
        rclone,
        _selector(runs, filters, every, "push"),
        git_remote=git_remote,
        cwd=os.getcwd(),
        dry_run=dry_run,
    )
    _warn_running(todo.left_running, "push", "")
    if todo.plan is None:
        click.echo("No runs match; nothing to push.")
        return
    _show_plan(todo.plan, "push", "to", dry_run)
    for root, found in todo.refs.items():
        head = "Would push" if dry_run else "Pushing"
        click.echo(f"{head} {plural(len(found), 'snapshot ref')} from {root} to {git_remote}.")
    if not dry_run:
        workflow.push(todo)
        if git_remote and not todo.refs:
            click.echo("These runs have no snapshot refs to push (refs/naga/snapshots/ID).")
        click.echo(f"Pushed {plural(len(todo.plan.moving), 'run')} to {remote}.")
    there = todo.plan.edited_there
    if there:
        pull = f"naga pull {shlex.quote(remote)} {' '.join(there[:5])}"
        click.echo(f"{plural(len(there), 'run')} edited on {remote} since (renamed, tagged,"
                   f" a note): `{pull}` brings the edits here.")  # fmt: skip
    _fail_on_conflicts(todo.plan, "push")


def _fail_on_conflicts(plan: transfer.Plan, verb: str) -> None:
    """One conflicting run never keeps the others from moving; the command still fails."""
    if plan.conflicts:
        raise transfer.conflict_error(plan.conflicts, plan.remote, verb)


def _selector(
    runs: tuple[str, ...], filters: dict[str, Any], every: bool, verb: str
) -> workflow.Select:
    return lambda store: select_ids(store, runs, filters, every=every, verb=verb)


@click.command("pull", epilog=REMOTE_HELP)
@share_options
def pull(
    remote: str,
    runs: tuple[str, ...],
    every: bool,
    dry_run: bool,
    git_remote: str | None,
    **filters: Any,
) -> None:
    """Copy runs (RUNS: ids, prefixes or names on REMOTE, and/or filters) from REMOTE into
    this store."""
    store = Store.open()
    rclone = Rclone(remote, progress=_progress())
    todo = workflow.plan_pull(
        store,
        rclone,
        _selector(runs, filters, every, "pull"),
        named=runs,
        only_named=not (every or filters_given(filters)),
        git_remote=git_remote,
        cwd=os.getcwd(),
    )
    for name, why in todo.skipped.items():
        say(f"naga: warning: skipped {name} on {remote}: {why}")
    _warn_running(todo.left_running, "pull", f" on {remote}")
    if todo.plan is None:
        click.echo("No runs match; nothing to pull.")
        return
    _show_plan(todo.plan, "pull", "from", dry_run)
    if dry_run:
        if todo.repo is not None:
            found = workflow.remote_refs(todo)
            click.echo(f"Would fetch {plural(len(found), 'snapshot ref')} from {git_remote}.")
        _fail_on_conflicts(todo.plan, "pull")
        return
    done = workflow.pull(todo)
    if todo.repo is not None:
        click.echo(f"Fetched {plural(len(done.refs), 'snapshot ref')} from {git_remote}.")
    for run_id in done.changed:
        say(f"naga: warning: run {run_id} changed on {remote} while it was pulled; pull it again")
    click.echo(f"Pulled {plural(done.count, 'run')} from {remote}.")
    _fail_on_conflicts(todo.plan, "pull")
