"""``naga lock verify``: check a run.lock against the repositories, data and stages it names."""

from __future__ import annotations

import click

from .. import jsonsafe
from . import render


@click.group("lock")
def lock() -> None:
    """Work with run.lock files (what a run was made of)."""


@lock.command("verify")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="The checks as a JSON object.")
def verify(target: str, as_json: bool) -> None:
    """Check that TARGET's run.lock still holds: every commit exists, every data hash matches,
    every previous stage is unchanged. TARGET is a stage directory, a run.lock or a run id.
    Exits 1 when anything drifted."""
    from ..lock.verify import locate_lock
    from ..lock.verify import verify as run_checks

    path = locate_lock(target)
    checks = run_checks(path)
    drift = [c for c in checks if not c.ok]
    if as_json:
        doc = {"lock": str(path), "ok": not drift, "checks": [c.as_dict() for c in checks]}
        click.echo(jsonsafe.dumps(doc, indent=2))
    else:
        click.echo(f"{path}")
        for check in checks:
            mark = (
                render.style("ok   ", fg="green") if check.ok else render.style("DRIFT", fg="red")
            )
            click.echo(f"  {mark}  {check.kind:<5}  {check.name}: {check.detail}")
        if not checks:
            click.echo("  (nothing to verify: no repos, data or previous stages recorded)")
        click.echo(f"{len(drift)} problem(s) found" if drift else "everything matches")
    if drift:
        raise click.exceptions.Exit(1)
