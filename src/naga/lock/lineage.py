"""The DAG of pipeline stages: each stage's ``run.lock`` names the stages it consumed.

``lineage(lock)`` walks ``prevs`` from one stage back to the stages with none; a stage consumed
twice (a diamond) is expanded once and referred to after that, a cycle is cut and said so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LockError
from . import lockfile


@dataclass
class Node:
    path: str
    name: str | None = None  # the key it was consumed under
    lock: dict[str, Any] | None = None
    problem: str | None = None
    repeated: bool = False  # already shown above
    inputs: list[Node] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        lock = self.lock or {}
        return {
            "path": self.path,
            "name": self.name,
            "status": lockfile.effective_status(lock) if lock else None,
            "run_id": lock.get("run_id"),
            "finished_at": lock.get("finished_at"),
            "data": {k: (v or {}).get("hash") for k, v in (lock.get("data") or {}).items()},
            "problem": self.problem,
            "repeated": self.repeated,
            "inputs": [child.as_dict() for child in self.inputs],
        }


def lineage(lock_path: Path) -> Node:
    return _walk(lock_path.parent, None, set(), ())


def _walk(stage: Path, name: str | None, seen: set[str], stack: tuple[str, ...]) -> Node:
    key = str(stage.absolute())
    node = Node(key, name)
    if key in stack:
        node.problem = "cycle: this stage consumes itself"
        return node
    if key in seen:
        node.repeated = True
        return node
    seen.add(key)
    try:
        node.lock = lockfile.read(stage / lockfile.LOCK_NAME)
    except LockError as exc:
        node.problem = str(exc)
        return node
    for prev_name, prev in (node.lock.get("prevs") or {}).items():
        path = prev.get("path") if isinstance(prev, dict) else None
        if path:
            node.inputs.append(_walk(Path(path), prev_name, seen, (*stack, key)))
    return node


def render(root: Node) -> str:
    lines = [_label(root)]
    _render_inputs(root, "", lines)
    return "\n".join(lines)


def _render_inputs(node: Node, prefix: str, lines: list[str]) -> None:
    for i, child in enumerate(node.inputs):
        last = i == len(node.inputs) - 1
        lines.append(f"{prefix}{'└── ' if last else '├── '}{_label(child)}")
        _render_inputs(child, prefix + ("    " if last else "│   "), lines)


def _label(node: Node) -> str:
    parts = [node.path]
    if node.name and os.path.abspath(node.name) != node.path:  # a config key, not the path again
        parts.append(f"[{node.name}]")
    if node.problem:
        return "  ".join([*parts, f"!! {node.problem}"])
    if node.repeated:
        return "  ".join([*parts, "(shown above)"])
    lock = node.lock or {}
    parts.append(str(lockfile.effective_status(lock) or "?"))
    if lock.get("finished_at"):
        parts.append(str(lock["finished_at"])[:19].replace("T", " "))
    if lock.get("run_id"):
        parts.append(f"run {lock['run_id']}")
    data = lock.get("data") or {}
    if data:
        parts.append(f"data: {', '.join(sorted(data))}")
    return "  ".join(parts)
