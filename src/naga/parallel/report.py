"""What a sweep shows its user: the tasks a dry run would run, and the summary table at the end
(each task's values, status, chosen metrics, duration and run id), read from the pool's outcomes
and the runs' own records."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import Any

from ..present import fmt
from ..present.inert import inert
from ..present.terminal import Cell, status_cell, table
from .sweepdir import Sweep


def task_values(sweep: Sweep, task: dict[str, Any]) -> dict[str, Any]:
    """What distinguishes a task: a command's point, or a clicfg task's injected keys."""
    if sweep.doc["kind"] == "command":
        return dict(task["params"])
    return {key: value for key, value, _ in task["overrides"] if key != "save_dir"}


def _label(values: dict[str, Any]) -> str:
    return " ".join(f"{key}={fmt.value(value)}" for key, value in values.items())


def task_label(sweep: Sweep, task: dict[str, Any]) -> str:
    return _label(task_values(sweep, task))


def describe_tasks(sweep: Sweep) -> str:
    """The dry run's text: every task, its state, and what it would run."""
    search = sweep.doc.get("search")
    if search:  # its points are chosen as it runs: what it searches is all there is to say
        space = " ".join(inert(text) for text in search["space"])
        prune = f", pruned by {search['pruner']}" if search.get("pruner") else ""
        return (
            f"sweep {sweep.id}: {search['sampler']} search, {len(sweep.tasks)} trials,"
            f" {search['direction']} {inert(search['objective'])}{prune}: {space}"
            " (dry run: nothing is run or submitted)"
        )
    states = sweep.pool.state()
    todo = sum(state != "completed" for state in states.values())
    lines = [
        f"sweep {sweep.id}: {len(sweep.tasks)} tasks, {todo} to run"
        " (dry run: nothing is run or submitted)"
    ]
    for task in sweep.tasks:
        state = states[task["index"]]
        what = (
            inert(" ".join(task["argv"]))
            if sweep.doc["kind"] == "command"
            else f"save_dir={inert(task.get('save_dir', '-'))}"
        )
        mark = "done" if state == "completed" else "run "
        lines.append(f"  [{task['index']}] {mark} {_label(task_values(sweep, task))}  {what}")
    return "\n".join(lines)


def _record(sweep: Sweep, run_id: str | None) -> dict[str, Any]:
    if not run_id:
        return {}
    from ..store.files import load_meta
    from ..store.layout import StoreLayout
    from ..store.sdkstate import merge_sdk_state

    layout = StoreLayout(sweep.doc["store"])
    try:
        meta = load_meta(layout, run_id)
        merge_sdk_state(layout, meta)
    except Exception:  # a run removed or damaged since: the table still shows the rest
        return {}
    return meta


def summary_rows(sweep: Sweep, metrics: Sequence[str]) -> tuple[list[str], list[list[Any]]]:
    """The summary as headers and rows of plain values (``--json``-able)."""
    outcomes = sweep.pool.outcomes()
    states = sweep.pool.state()
    keys: list[str] = []
    for task in sweep.tasks:
        values = outcomes.get(task["index"], {}).get("params") or task_values(sweep, task)
        keys += [k for k in values if k not in keys]
    headers = ["TASK", *keys, "STATUS", *metrics, "DURATION", "RUN"]
    rows = []
    for task in sweep.tasks:
        outcome = outcomes.get(task["index"], {})
        record = _record(sweep, outcome.get("run_id"))
        values = outcome.get("params") or task_values(sweep, task)  # a search: its trial's
        found = record.get("metrics") or {}
        rows.append(
            [
                task["index"],
                *[values.get(k) for k in keys],
                outcome.get("status") or states[task["index"]],
                *[found.get(m) for m in metrics],
                outcome.get("duration_s"),
                outcome.get("run_id"),
            ]
        )
    return headers, rows


def summary_table(sweep: Sweep, metrics: Sequence[str] = ()) -> str:
    headers, rows = summary_rows(sweep, metrics)
    status_at = headers.index("STATUS")
    cells = []
    for row in rows:
        line: list[Cell] = []
        for i, value in enumerate(row):
            if i == status_at:
                pending = value == "pending"
                line.append(("○ pending", None) if pending else status_cell(str(value)))
            elif headers[i] == "DURATION":
                line.append((fmt.duration(value), None))
            else:
                line.append((fmt.value(value), None))
        cells.append(line)
    width = shutil.get_terminal_size((120, 24)).columns
    return table(headers, cells, width)


def counts(sweep: Sweep) -> dict[str, int]:
    found: dict[str, int] = {}
    for state in sweep.pool.state().values():
        found[state] = found.get(state, 0) + 1
    return found


def outcome_report(sweep: Sweep, metrics: Sequence[str] = ()) -> tuple[str, list[str], int]:
    """What a sweep that ran shows, for a front end to print: the summary table (stdout), the
    lines for stderr (the counts, each failed task), and the exit code (0 when all completed)."""
    found = counts(sweep)
    text = ", ".join(f"{n} {state}" for state, n in sorted(found.items()))
    lines = [f"naga: sweep {sweep.id}: {text}; naga ls --sweep {sweep.id}"]
    for index, outcome in sorted(sweep.pool.outcomes().items()):
        if outcome.get("status") == "failed" and outcome.get("error"):
            run = f" (run {outcome['run_id']})" if outcome.get("run_id") else ""
            lines.append(f"naga: task {index} failed{run}: {inert(outcome['error'])}")
    code = 0 if found.get("completed", 0) + found.get("pruned", 0) == len(sweep.tasks) else 1
    if sweep.doc.get("search"):
        from .search import best_lines

        lines += best_lines(sweep)
    return summary_table(sweep, metrics), lines, code
