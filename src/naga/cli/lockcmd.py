"""``naga lock verify``: check a run.lock against the repositories, data and stages it names."""

from __future__ import annotations

from typing import Any

import click

from .. import jsonsafe
from . import render


@click.group("lock")
def lock() -> None:
    """Work with run.lock files (what a run was made of)."""


@lock.command("verify")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="The checks as a JSON object.")
@click.option("--shallow", is_flag=True, help="Only TARGET's own lock, not the stages upstream.")
def verify(target: str, as_json: bool, shallow: bool) -> None:
    """Check that TARGET's run.lock still holds: every commit exists, every data hash matches,
    every previous stage is unchanged, and so for every stage upstream of it (--shallow: this
    stage only). TARGET is a stage directory, a run.lock or a run id. Exits 1 when anything
    drifted."""
    from ..lock.verify import locate_lock, verify_lineage
    from ..lock.verify import verify as run_checks

    path = locate_lock(target)
    stages = [(path, run_checks(path))] if shallow else verify_lineage(path)
    drift = [c for _, checks in stages for c in checks if not c.ok]
    if as_json:
        doc = {
            "lock": str(path),
            "ok": not drift,
            "checks": [c.as_dict() for c in stages[0][1]],
            "stages": [
                {
                    "lock": str(lock),
                    "ok": all(c.ok for c in checks),
                    "checks": [c.as_dict() for c in checks],
                }
                for lock, checks in stages
            ],
        }
        click.echo(jsonsafe.dumps(doc, indent=2))
    else:
        for index, (lock, checks) in enumerate(stages):
            click.echo(f"{lock}" + ("  (upstream)" if index else ""))
            _print_checks(checks)
        click.echo(f"{len(drift)} problem(s) found" if drift else "everything matches")
    if drift:
        raise click.exceptions.Exit(1)


def _print_checks(checks: list[Any]) -> None:
    for check in checks:
        mark = render.style("ok   ", fg="green") if check.ok else render.style("DRIFT", fg="red")
        click.echo(f"  {mark}  {check.kind:<5}  {check.name}: {check.detail}")
    if not checks:
        click.echo("  (nothing to verify: no repos, data or previous stages recorded)")
