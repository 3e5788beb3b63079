"""``naga show``: everything recorded about one run."""

from __future__ import annotations

from typing import Any

import click

from .. import jsonsafe
from ..sdk.artifacts import list_artifacts
from ..store import Store, with_elapsed
from ..store.index import public_doc
from ..store.sdkstate import MERGED_STREAMS, stream_names
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
    secrets = git.get("snapshot_secrets")
    if isinstance(secrets, list) and secrets:
        lines.append(_field("", "not in the snapshot (secrets): " + ", ".join(map(str, secrets))))
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
    lines += _packages_lines(meta.get("packages"), meta.get("lockfiles") or {})
    lines.append(_field("Resources", _resources(meta.get("resources") or {})))
    for gpu in meta.get("gpus") or []:
        lines.append(
            _field(
                "GPU", f"{gpu.get('index')}: {gpu.get('name')} ({gpu.get('memory_total_mib')} MiB)"
            )
        )
    lines += _slurm_lines(meta.get("slurm"))
    for key, value in (meta.get("env") or {}).items():
        lines.append(_field("Env" if key == next(iter(meta["env"])) else "", f"{key}={value}"))
    output = meta.get("output")
    if output is None:
        lines.append(_field("Output", "not captured (recorded by naga.run(); `naga run` captures)"))
    else:
        where = store.layout.output(run_id)
        lines.append(_field("Output", f"{render.size(output.get('bytes'))} in {where}"))
        if output.get("error"):
            lines.append(_field("", render.style(output["error"], fg="red")))
    if meta.get("parent_id"):
        lines.append(_field("Parent", meta["parent_id"]))
    if meta.get("rerun_of"):
        lines.append(_field("Rerun of", meta["rerun_of"]))
    lines += _children_lines(store.children(run_id))
    lines += _params_lines(meta.get("params") or {})
    lines += _metrics_lines(meta.get("metric_stats") or {}, store, run_id)
    lines += _artifact_lines(list_artifacts(store.layout.run_dir(run_id)))
    if meta.get("error"):
        lines.append(_field("Error", render.style(meta["error"], fg="red")))
    if meta.get("traceback"):
        lines.append(render.style(meta["traceback"].rstrip(), dim=True))
    return "\n".join(lines)


def _slurm_lines(info: dict[str, Any] | None) -> list[str]:
    if not info:
        return []
    from ..capture.slurm import describe

    lines = [_field("Slurm", describe(info))]
    for stream in ("out", "err"):
        if info.get(f"log_{stream}"):
            lines.append(_field("", f"worker std{stream}: {info[f'log_{stream}']}"))
    return lines


def _packages_lines(packages: dict[str, Any] | None, lockfiles: dict[str, str]) -> list[str]:
    lines = []
    if packages:
        text = f"{packages.get('count')} in {packages.get('python')} (packages.json)"
        if packages.get("error"):
            text = f"{packages.get('python') or ''} not listed: {packages['error']}".strip()
        lines.append(_field("Packages", text))
    for i, (name, digest) in enumerate(lockfiles.items()):
        lines.append(_field("Locks" if i == 0 else "", f"{name}  {digest[:19]}..."))
    return lines


def _children_lines(children: list[dict[str, Any]]) -> list[str]:
    return [
        _field(
            "Children" if i == 0 else "",
            f"{c['id']}  {c['name'] or '-'}  {render.status_label(c['status'])}",
        )
        for i, c in enumerate(children)
    ]


def _params_lines(params: dict[str, Any]) -> list[str]:
    return [
        _field("Params" if i == 0 else "", f"{key} = {render.value(value)}")
        for i, (key, value) in enumerate(sorted(params.items()))
    ]


def _metrics_lines(stats: dict[str, Any], store: Store, run_id: str) -> list[str]:
    if not stats:
        return []
    rows: list[list[render.Cell]] = [
        [
            (key, None),
            (render.value(s.get("last")), None),
            (render.value(s.get("min")), None),
            (render.value(s.get("max")), None),
            (render.value(s.get("step")), None),
            (render.value(s.get("count")), None),
        ]
        for key, s in sorted(stats.items())
    ]
    table = render.table(["METRIC", "LAST", "MIN", "MAX", "STEP", "POINTS"], rows, 200)
    streams = [s for s in stream_names(store.layout, run_id) if s not in MERGED_STREAMS]
    more = [_field("", f"other streams: {', '.join(streams)} (naga metrics --stream)")]
    return [_field("Metrics", ""), *("  " + line for line in table.splitlines())] + (
        more if streams else []
    )


def _artifact_lines(found: list[tuple[str, int]]) -> list[str]:
    return [
        _field("Artifacts" if i == 0 else "", f"{name} ({render.size(size)})")
        for i, (name, size) in enumerate(found)
    ]


@click.command("show")
@click.argument("run", required=False)
@click.option("--json", "as_json", is_flag=True, help="The run as one JSON object.")
def show(run: str | None, as_json: bool) -> None:
    """Show everything recorded about RUN (an id, id prefix or name; default: the latest)."""
    store = Store.open()
    meta = with_elapsed(store.get(run))
    if as_json:
        doc = public_doc(meta)
        doc["children"] = [c["id"] for c in store.children(meta["id"])]
        doc["artifacts"] = [
            {"name": n, "bytes": b} for n, b in list_artifacts(store.layout.run_dir(meta["id"]))
        ]
        text = jsonsafe.dumps(doc, indent=2, ensure_ascii=False)
        if printable(text) != text:  # undecodable bytes in an argument: escape, stay exact
            text = jsonsafe.dumps(doc, indent=2)
        click.echo(text)
    else:
        click.echo(render_run(meta, store))
