"""``naga push`` and ``naga pull``: runs to and from an rclone remote (the work is in
``naga.share``)."""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from typing import Any

import click

from ..errors import GitError, RemoteError, RunIsRunning, RunNotFound
from ..share import gitrefs, transfer
from ..share.rclone import Rclone, runs_path
from ..store import Store
from ..store.archive import archive_root
from . import render
from .fast import say
from .selection import filters_given, plural, select_ids, selection_options, statuses_of

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


def _drop_running(running: list[str], named: list[str], verb: str, where: str) -> None:
    """A run named on the command line that is still running is an error; one a filter chose
    is left out, with a warning."""
    if not running:
        return
    explicit = [r for r in running if r in named]
    if explicit:
        raise RunIsRunning(
            f"run(s) {', '.join(explicit)} still running{where}; {verb} them once they end"
        )
    say(f"naga: warning: not {verb}ing {plural(len(running), 'run')} still running{where}:"
        f" {', '.join(running[:10])}")  # fmt: skip


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
            files = plural(plan.files.get(run_id, 0), "file")
            click.echo(f"  {run_id}  {files}  {render.size(plan.sizes.get(run_id, 0))}{note}")
        if len(shown) < len(moving):
            click.echo(f"  ... and {len(moving) - len(shown)} more")
    identical = len(plan.same) - len(plan.same_size)
    if identical:
        click.echo(f"{plural(identical, 'run')} already there, identical: not copied.")
    if plan.same_size:  # no hash in common with the remote: large files compared by size
        click.echo(f"{plural(len(plan.same_size), 'run')} already there with files of the same"
                   f" size (no hash in common with {plan.remote}: files over"
                   f" {render.size(transfer.DOWNLOAD_LIMIT)} compared by size only): not"
                   " copied.")  # fmt: skip


def _on_remote(message: str, remote: str) -> str:
    """A "no run matches" message about the remote's runs, saying how to list those."""
    found, _, hint = message.partition("; ")
    if hint.startswith("did you mean"):
        return f"{found} on {remote}; {hint}"
    local = ":" not in remote.split("/", 1)[0]  # rclone: NAME:path is a remote, else a path
    quoted = shlex.quote(remote if local else runs_path(remote))
    how = f"NAGA_HOME={quoted} naga ls" if local else f"rclone lsd {quoted}"
    return f"{found} on {remote}; `{how}` lists the runs there"


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
    if not store.exists():
        raise RemoteError("there are no runs to push yet; record one with `naga run`")
    named, ids = select_ids(store, runs, filters, every=every, verb="push")
    statuses = statuses_of(store, ids)
    running = [r for r in ids if statuses.get(r) == "running"]
    _drop_running(running, named, "push", "")
    ids = [r for r in ids if r not in running]
    if not ids:
        click.echo("No runs match; nothing to push.")
        return
    plan = transfer.plan_push(rclone, store.layout, ids)
    refs = {}
    if git_remote:
        refs = gitrefs.refs_by_repo({r: store.layout.run_dir(r) for r in ids}, os.getcwd())
    if not dry_run:
        transfer.prepare(rclone, plan)  # the remote can be written: only then "Pushing"
    _show_plan(plan, "push", "to", dry_run)
    for root, found in refs.items():
        head = "Would push" if dry_run else "Pushing"
        click.echo(f"{head} {plural(len(found), 'snapshot ref')} from {root} to {git_remote}.")
    if dry_run:
        return
    for root, found in refs.items():
        gitrefs.push_refs(root, str(git_remote), found)
    transfer.push(rclone, store.layout, plan)
    if git_remote and not refs:
        click.echo("These runs have no snapshot refs to push (refs/naga/snapshots/ID).")
    click.echo(f"Pushed {plural(len(plan.moving), 'run')} to {remote}.")


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
    repo = None
    if git_remote:
        repo = gitrefs.repo_root(os.getcwd())
        if repo is None:
            raise GitError("--git-remote fetches snapshot refs into a git repository: run naga"
                           " pull inside one")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="naga-pull-") as scratch:
        exact = None if every or filters_given(filters) else runs  # ids alone: only theirs
        records = transfer.fetch_records(rclone, scratch, exact)
        for name, why in records.skipped.items():
            say(f"naga: warning: skipped {name} on {remote}: {why}")
        unfinished = [r for r in runs if r in records.unfinished]
        if unfinished:
            raise RemoteError(f"run(s) {', '.join(unfinished)} on {remote} have no meta.json"
                              " yet: a push still under way or cut short")  # fmt: skip
        remote_store = Store(scratch)
        try:
            named, ids = select_ids(remote_store, runs, filters, every=every, verb="pull")
        except RunNotFound as missing:  # the names were the remote's, so is the listing
            raise RunNotFound(_on_remote(str(missing), remote)) from None
        finally:
            remote_store.close()
    running = [r for r in ids if r in records.running]
    _drop_running(running, named, "pull", f" on {remote}")
    ids = [r for r in ids if r not in running]
    if not ids:
        click.echo("No runs match; nothing to pull.")
        return
    local = transfer.local_run_dirs(store.layout, os.path.join(archive_root(store.layout), "runs"))
    plan = transfer.plan_pull(rclone, local, ids)
    _show_plan(plan, "pull", "from", dry_run)
    if dry_run:
        if repo is not None:
            found = gitrefs.remote_snapshot_ids(repo, str(git_remote)) & set(ids)
            click.echo(f"Would fetch {plural(len(found), 'snapshot ref')} from {git_remote}.")
        return
    store.layout.ensure()  # only now: a dry run, like every reading command, creates no store
    if repo is not None:
        fetched = gitrefs.fetch_refs(repo, str(git_remote), ids)
        click.echo(f"Fetched {plural(len(fetched), 'snapshot ref')} from {git_remote}.")
    left_out = transfer.pull(rclone, store.layout, plan, local)
    for run_id in left_out:
        say(f"naga: warning: run {run_id} changed on {remote} while it was pulled; pull it again")
    click.echo(f"Pulled {plural(len(plan.moving) - len(left_out), 'run')} from {remote}.")
