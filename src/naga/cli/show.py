"""``naga show``: everything recorded about one run."""

from __future__ import annotations

from typing import Any

import click

from .. import jsonsafe
from ..present.inert import inert_json
from ..present.record import lines, run_record
from ..present.terminal import styled
from ..sdk.artifacts import list_artifacts
from ..store import Store, with_elapsed
from ..store.index import public_doc
from ..text import printable


def render_run(meta: dict[str, Any], store: Store) -> str:
    """The run's record as ``naga.present.record`` lays it out (the dashboard draws the same),
    styled for a terminal."""
    sections = run_record(meta, store.layout, store.children(meta["id"]))
    return "\n".join(
        "".join(styled(text, look) if look else text for text, look in line).rstrip()
        for line in lines(sections)
    )


@click.command("show")
@click.argument("run", required=False)
@click.option("--json", "as_json", is_flag=True, help="The run as one JSON object.")
def show(run: str | None, as_json: bool) -> None:
    """Show everything recorded about RUN (an id, id prefix or name; default: the latest)."""
    store = Store.open()
    meta = with_elapsed(store.get(run, newest=True))
    if as_json:
        doc = public_doc(meta)
        doc["children"] = [c["id"] for c in store.children(meta["id"])]
        doc["artifacts"] = [
            {"name": n, "bytes": b} for n, b in list_artifacts(store.layout.run_dir(meta["id"]))
        ]
        text = jsonsafe.dumps(doc, indent=2, ensure_ascii=False)
        if printable(text) != text:  # undecodable bytes in an argument: escape, stay exact
            text = jsonsafe.dumps(doc, indent=2)
        click.echo(inert_json(text))  # the same document, nothing a terminal acts on
    else:
        click.echo(render_run(meta, store))
