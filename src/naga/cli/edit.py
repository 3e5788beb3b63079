"""``naga tag``, ``naga untag``, ``naga rename`` and ``naga note``: edits to a run, finished or
still running. The edits are ``naga.store.edit``'s (a log beside the record, never a rewrite of
it); these commands parse, call it, and say what changed."""

from __future__ import annotations

import click

from ..errors import UsageError
from ..present.inert import inert
from ..store import Store, editlog
from ..store import edit as store_edit
from ..store.files import load_meta


def _run_id(store: Store, run: str) -> str:
    return store.resolve(run)


@click.command("tag")
@click.argument("run")
@click.argument("tags", nargs=-1, required=True)
def tag(run: str, tags: tuple[str, ...]) -> None:
    """Add TAGS to RUN (an id, id prefix or name), finished or still running.

    \b
    naga tag 3f2a keep baseline
    """
    store = Store.open()
    run_id = _run_id(store, run)
    clean = [editlog.check_tag(t) for t in tags]  # every tag checked before any is added
    added = [t for t in dict.fromkeys(clean) if store_edit.add_tag(store.layout, run_id, t)]
    _say_tags(store, run_id, "tagged" if added else "unchanged")


@click.command("untag")
@click.argument("run")
@click.argument("tags", nargs=-1, required=True)
def untag(run: str, tags: tuple[str, ...]) -> None:
    """Remove TAGS from RUN (an id, id prefix or name)."""
    store = Store.open()
    run_id = _run_id(store, run)
    has = load_meta(store.layout, run_id)["tags"]
    for name in dict.fromkeys(tags):  # every tag checked before any is removed
        if name not in has:
            shown = ", ".join(has) or "none"
            raise UsageError(f"run {run_id} has no tag {name!r} (its tags: {shown})")
    for name in dict.fromkeys(tags):
        store_edit.remove_tag(store.layout, run_id, name)
    _say_tags(store, run_id, "untagged")


def _say_tags(store: Store, run_id: str, what: str) -> None:
    tags = load_meta(store.layout, run_id)["tags"]
    click.echo(f"Run {run_id} {what}; its tags: {inert(', '.join(tags) or 'none')}")


@click.command("rename")
@click.argument("run")
@click.argument("name")
def rename(run: str, name: str) -> None:
    """Give RUN (an id, id prefix or name) a new NAME ("" removes the name).

    \b
    naga rename 3f2a baseline-v2
    """
    from ..store.names import name_taken

    store = Store.open()
    run_id = _run_id(store, run)
    clean = editlog.check_name(name)
    had = load_meta(store.layout, run_id).get("name")
    taken = name_taken(store.layout.root, clean) if clean != had else None
    store_edit.rename(store.layout, run_id, name)
    shown = f"named {inert(clean)}" if clean else "no longer named"
    click.echo(f"Run {run_id} {shown}.")
    if taken:  # as naga run --name says: selecting by the name now picks the newest
        click.echo(f"naga: warning: {taken}", err=True)


@click.command("note")
@click.argument("run")
@click.argument("text", nargs=-1)
@click.option("--clear", is_flag=True, help="Remove the note.")
def note(run: str, text: tuple[str, ...], clear: bool) -> None:
    """Set RUN's note to TEXT (shown by `naga show` and the dashboard, searched by
    `naga ls --where note~WORD` and the dashboard's filter). Without TEXT: print the note.

    \b
    naga note 3f2a "diverged after the lr drop at step 4000"
    """
    store = Store.open()
    run_id = _run_id(store, run)
    if clear or text:
        if clear and text:
            raise UsageError("give a TEXT or --clear, not both")
        if text and not "".join(text).strip():  # an unset "$VAR" must not wipe the note
            raise UsageError(f"the note is empty; `naga note {run} --clear` removes the note")
        store_edit.set_note(store.layout, run_id, " ".join(text))
        click.echo(f"Run {run_id}: note {'set' if text else 'removed'}.")
        return
    found = load_meta(store.layout, run_id).get("note")
    if found:
        click.echo(inert(found, multiline=True))
