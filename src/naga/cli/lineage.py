"""``naga lineage``: the stages a result was built from, as a tree."""

from __future__ import annotations

import click

from .. import jsonsafe


@click.command("lineage")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="The DAG as nested JSON.")
def lineage(target: str, as_json: bool) -> None:
    """Print the DAG of stages behind TARGET (a stage directory, a run.lock or a run id): each
    stage is followed by the stages it consumed."""
    from ..lock.lineage import lineage as walk
    from ..lock.lineage import render
    from ..lock.verify import locate_lock

    root = walk(locate_lock(target))
    if root.problem:  # the stage asked about cannot be read: an error, not a tree
        from ..errors import LockError

        raise LockError(root.problem)
    if as_json:
        click.echo(jsonsafe.dumps(root.as_dict(), indent=2))
    else:
        click.echo(render(root))
