"""``naga diff``: what differs between two runs, grouped by what it is about."""

from __future__ import annotations

from typing import Any

import click

from .. import jsonsafe
from .._lean import shell_join
from ..present.fmt import value as shown_value
from ..present.inert import inert
from ..repro.diff import describe_side, diff_runs
from ..store import Store
from . import render

TITLES = {
    "command": "Command",
    "params": "Params",
    "git": "Code (git)",
    "packages": "Packages",
    "lockfiles": "Lock files",
    "env": "Environment",
    "host": "Host",
    "metrics": "Final metrics",
}


def _shown(found: dict[str, Any], side: str) -> str:
    if side not in found:
        return render.style("(absent)", dim=True)
    value = found[side]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return inert(shell_join(value))
    return shown_value(value)


def _keyed_lines(section: dict[str, dict[str, Any]]) -> list[str]:
    width = min(max((len(k) for k in section), default=0), 40)
    return [
        f"  {inert(key):<{width}}  {_old(_shown(found, 'a'))} -> {_new(_shown(found, 'b'))}"
        for key, found in section.items()
    ]


def _old(text: str) -> str:
    return render.style(text, fg="red")


def _new(text: str) -> str:
    return render.style(text, fg="green")


def _command_lines(section: dict[str, Any]) -> list[str]:
    lines = []
    if "argv" in section:
        lines += [f"  a: {_old(_shown(section['argv'], 'a'))}"]
        lines += [f"  b: {_new(_shown(section['argv'], 'b'))}"]
    if "cwd" in section:
        lines += _keyed_lines({"directory": section["cwd"]})
    return lines


def _commit(state: dict[str, Any]) -> str:
    text = inert(state.get("commit") or "(no commit)")[:12]
    if state.get("branch"):
        text += f" on {inert(state['branch'])}"
    if state.get("snapshot") and state["snapshot"] != state.get("commit"):
        text += f", snapshot {inert(state['snapshot'])[:12]}"
    elif state.get("dirty"):
        text += ", dirty (+ git.patch)"
    return text


def _git_lines(section: dict[str, Any], full: bool) -> list[str]:
    lines = [f"  a: {_old(_commit(section['a']))}", f"  b: {_new(_commit(section['b']))}"]
    for where, problem in (section.get("problems") or {}).items():
        lines.append(f"  {render.style('!', fg='yellow')} {inert(where)}: {inert(problem)}")
    if "code_diff" in section:
        files = section["files"]
        shown = ", ".join(inert(f) for f in files[:10])
        lines.append(f"  code differs in {len(files)} file(s): {shown}")
        if full:
            lines += ["", *_code_lines(section["code_diff"])]
    elif not section.get("problems"):
        lines.append("  same code")
    return lines


def _package_lines(section: dict[str, Any]) -> list[str]:
    if "missing" in section:
        return [f"  run {section['missing']} has no package listing"]
    lines = [f"  + {inert(n)} {_new(inert(v))}" for n, v in section.get("added", {}).items()]
    lines += [f"  - {inert(n)} {_old(inert(v))}" for n, v in section.get("removed", {}).items()]
    lines += [
        f"  ~ {inert(name)} {_old(inert(v['a']))} -> {_new(inert(v['b']))}"
        for name, v in section.get("changed", {}).items()
    ]
    for key in ("python", "version"):
        if key in section:
            lines += _keyed_lines({key: section[key]})
    return lines


def _code_lines(diff: str) -> list[str]:
    """git's diff of the two snapshots, coloured here rather than by git: the code is a
    record's content, shown inert, and only naga's own styles reach the terminal."""
    return [_diff_line(inert(line.expandtabs())) for line in diff.rstrip("\n").split("\n")]


def _diff_line(line: str) -> str:
    if line.startswith(("+++", "---", "diff ", "index ")):
        return render.style(line, bold=True)
    if line.startswith("+"):
        return _new(line)
    if line.startswith("-"):
        return _old(line)
    return render.style(line, fg="cyan") if line.startswith("@@") else line


def render_diff(doc: dict[str, Any], full: bool = True) -> str:
    a, b = (inert(describe_side(r)) for r in doc["runs"])
    head = f"a: {_old(a)}   b: {_new(b)}"
    if doc["identical"]:
        return head + (
            "\nno differences: same command, params, code, packages, lock files,"
            " environment, host and final metrics"
        )
    lines = [head]
    for name, section in doc["sections"].items():
        lines += ["", render.style(TITLES[name], bold=True)]
        if name == "command":
            lines += _command_lines(section)
        elif name == "git":
            lines += _git_lines(section, full)
        elif name == "packages":
            lines += _package_lines(section)
        else:
            lines += _keyed_lines(section)
    return "\n".join(lines)


@click.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--json", "as_json", is_flag=True, help="The differences as one JSON object.")
@click.option("--stat", is_flag=True, help="Name the files whose code differs, without the diff.")
def diff(run_a: str, run_b: str, as_json: bool, stat: bool) -> None:
    """What differs between runs RUN_A and RUN_B: command, params, code (git), installed
    packages, lock files, environment, host and final metrics.

    \b
    naga diff 3kx9a2bq 7hd2kq0p
    naga diff baseline tuned --json
    """
    store = Store.open()
    ma, mb = store.get(run_a, newest=True), store.get(run_b, newest=True)
    doc = diff_runs(ma, store.layout.run_dir(ma["id"]), mb, store.layout.run_dir(mb["id"]))
    if as_json:
        click.echo(jsonsafe.dumps(doc, indent=2))
    else:
        click.echo(render_diff(doc, full=not stat))
