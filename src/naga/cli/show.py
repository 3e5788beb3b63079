"""``naga show``: everything recorded about one run."""

from __future__ import annotations

import json
from typing import Any

import click

from ..store import Store, with_elapsed
from ..store.index import public_doc
from ..text import printable
from . import render


def _field(label: str, value: str) -> str:
    return render.style(f"{label:<10}", bold=True) + printable(value)


def _git_lines(git: dict[str, Any] | None, patch: str) -> list[str]:
    if not git:
        return [_field("Git", "-")]
    head = f"{git.get('branch') or '(detached)'}@{(git.get('commit') or '(no commit)')[:12]}"
    lines = [_field("Git", head + (render.style(" dirty", fg="red") if git.get("dirty") else ""))]
    for remote, url in (git.get("remotes") or {}).items():
        lines.append(_field("", f"remote {remote}: {url}"))
    if git.get("untracked_count"):
        shown = ", ".join(git.get("untracked", [])[:5])
        more = git["untracked_count"] - min(5, len(git.get("untracked", [])))
        lines.append(_field("", f"untracked: {shown}" + (f" (+{more} more)" if more else "")))
    if git.get("patch"):
        lines.append(_field("", f"patch: {patch}"))
    return lines


def _resources(res: dict[str, Any]) -> str:
    if not res:
        return "-"
    cpu = f"cpu {res.get('cpu_user_s', 0):.2f}s user + {res.get('cpu_system_s', 0):.2f}s sys"
    rss = f"max rss {render.size(res.get('max_rss_bytes'))}"
    tree = res.get("peak_tree_rss_bytes")
    return f"{cpu}, {rss}" + (f" (process tree {render.size(tree)})" if tree else "")


def render_run(meta: dict[str, Any], store: Store) -> str:
    run_id = meta["id"]
    outcome = f"exit {meta['exit_code']}" if meta.get("exit_code") is not None else ""
    if meta.get("signal"):
        outcome += f", killed by {meta['signal']}"
    lines = [
        _field(
            "Run",
            render.style(run_id, fg="yellow") + (f"  {meta['name']}" if meta.get("name") else ""),
        ),
        _field(
            "Status",
            render.status_label(meta.get("status", "?")) + (f"  ({outcome})" if outcome else ""),
        ),
        _field("Command", meta.get("command", "")),
        _field("Cwd", meta.get("cwd", "")),
        _field("Started", render.local_time(meta.get("started_at"))),
        _field("Finished", render.local_time(meta.get("finished_at"))),
        _field("Duration", render.duration(meta.get("duration_s"))),
        _field("Host", f"{meta.get('host')} (user {meta.get('user')}, pid {meta.get('pid')})"),
        _field("Tags", ", ".join(meta.get("tags") or []) or "-"),
        *_git_lines(meta.get("git"), str(store.layout.patch(run_id))),
    ]
    if meta.get("python"):
        py = meta["python"]
        lines.append(_field("Python", f"{py.get('executable')} ({py.get('version') or '?'})"))
    lines.append(_field("Resources", _resources(meta.get("resources") or {})))
    for gpu in meta.get("gpus") or []:
        lines.append(
            _field(
                "GPU", f"{gpu.get('index')}: {gpu.get('name')} ({gpu.get('memory_total_mib')} MiB)"
            )
        )
    for key, value in (meta.get("env") or {}).items():
        lines.append(_field("Env" if key == next(iter(meta["env"])) else "", f"{key}={value}"))
    output = meta.get("output") or {}
    lines.append(
        _field("Output", f"{render.size(output.get('bytes'))} in {store.layout.output(run_id)}")
    )
    if output.get("error"):
        lines.append(_field("", render.style(output["error"], fg="red")))
    if meta.get("error"):
        lines.append(_field("Error", render.style(meta["error"], fg="red")))
    return "\n".join(lines)


@click.command("show")
@click.argument("run", required=False)
@click.option("--json", "as_json", is_flag=True, help="The run as one JSON object.")
def show(run: str | None, as_json: bool) -> None:
    """Show everything recorded about RUN (an id, id prefix or name; default: the latest)."""
    store = Store.open()
    meta = with_elapsed(store.get(run))
    if as_json:
        text = json.dumps(public_doc(meta), indent=2, ensure_ascii=False)
        if printable(text) != text:  # undecodable bytes in an argument: escape, stay exact
            text = json.dumps(public_doc(meta), indent=2)
        click.echo(text)
    else:
        click.echo(render_run(meta, store))
