"""``naga branch``: a git branch with the code of a run and of every stage upstream of it."""

from __future__ import annotations

import click

from .. import jsonsafe


@click.command("branch")
@click.argument("target")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The branch and its stages as JSON.")
def branch(target: str, name: str, as_json: bool) -> None:
    """Create git branch NAME holding the code of TARGET (a run id, a stage directory or a
    run.lock) and of every stage upstream of it, one commit per stage in lineage order; the
    tip is TARGET's exact code. Your checkout, index and HEAD are not touched.

    \b
    naga branch 3kx9a2bq repro/baseline
    naga branch outputs/train repro/train-pipeline
    """
    from ..repro.branch import make_branch

    made = make_branch(target, name)
    if as_json:
        click.echo(jsonsafe.dumps(made, indent=2))
        return
    for stage in made["stages"]:
        run = f"  run {stage['run_id']}" if stage["run_id"] else ""
        click.echo(f"{stage['commit'][:12]}  {stage['stage']}{run}")
    click.echo(f"branch {made['branch']} -> {made['tip'][:12]} ({len(made['stages'])} stage(s))")
