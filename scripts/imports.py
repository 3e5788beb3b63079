#!/usr/bin/env python3
"""Which package of naga imports which: the import graph, one line per package.

    python scripts/imports.py [SRC_DIR]      # default: src/naga of this checkout

A package is a directory under src/naga (cli, tui, store, ...); a top-level module is its own
name (launch, ending, errors, ...). Imports inside functions count too: a lazy import is still
a dependency. tests/test_architecture.py holds these edges to the rules of docs/architecture.md.

``file_graph`` is the same graph one file at a time (``store/core.py`` -> ``store/index.py``),
for the test that no file reaches itself through others: a circle of files is a knot even
inside one package. There an ``if TYPE_CHECKING:`` block does not count (type checkers read
it, Python never runs it), but ``if __name__ == "__main__":`` blocks do (they run).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path


def unit_of(path: Path, root: Path) -> str:
    """The package (or top-level module) a source file belongs to."""
    return path.relative_to(root).with_suffix("").parts[0]


def imported_units(path: Path, root: Path) -> set[str]:
    """The naga units a file imports, resolved from relative and absolute imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(root).parent.parts
    found: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = [*base, *(node.module.split(".") if node.module else [])]
                names = (
                    [[*module, alias.name] for alias in node.names] if not node.module else [module]
                )
            elif node.module and node.module.split(".")[0] == "naga":
                names = [node.module.split(".")[1:]]
            else:
                continue
            for name in names:
                if name:
                    found.add(_unit(name, root))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "naga" and len(parts) > 1:
                    found.add(_unit(parts[1:], root))
    return found


def _walk(tree: ast.Module) -> list[ast.AST]:
    """Every node but those of the module's ``if __name__ == "__main__":`` blocks (a front end
    of its own: ``python -m naga.parallel.worker`` reports to the terminal there)."""
    main_blocks = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
    ]
    skipped = {id(n) for block in main_blocks for n in ast.walk(block)}
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def _unit(name: list[str], root: Path) -> str:
    """The unit of a dotted name below naga (its first part)."""
    return name[0]


def graph(root: Path) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        unit = unit_of(path, root)
        edges[unit] |= {u for u in imported_units(path, root) if u != unit}
    return dict(edges)


def file_graph(root: Path) -> dict[str, set[str]]:
    """Which files of naga each file imports, as paths relative to ``root`` (``store/core.py``);
    ``from .pkg import name`` points at ``pkg/name.py`` when that is a module, else at the
    package's ``__init__.py``. A file importing itself (a main block naming its own module)
    is left out."""
    edges: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        here = path.relative_to(root).as_posix()
        edges[here] = {f for f in _imported_files(path, root) if f != here}
    return edges


def _imported_files(path: Path, root: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(root).parent.parts
    found: set[str] = set()
    for node in _run_nodes(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                module = [*package[: len(package) - node.level + 1]]
                module += node.module.split(".") if node.module else []
            elif node.module and node.module.split(".")[0] == "naga":
                module = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                target = _module_file([*module, alias.name], root) or _module_file(module, root)
                if target:
                    found.add(target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                target = _module_file(parts[1:], root) if parts[0] == "naga" else None
                if target:
                    found.add(target)
    return found


def _run_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node but those of ``if TYPE_CHECKING:`` blocks (their ``else:`` runs, and counts)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def _module_file(parts: list[str], root: Path) -> str | None:
    """``root``-relative path of the module ``parts`` names (``[]`` is the package itself)."""
    base = root.joinpath(*parts)
    for candidate in (base.with_name(base.name + ".py") if parts else None, base / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate.relative_to(root).as_posix()
    return None


def file_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One circle of files (``[a, b, a]``: a imports b, b imports a), or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done, no circle through it
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return []


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent / "src" / "naga")
    for unit, targets in sorted(graph(root).items()):
        print(f"{unit:<14} -> {', '.join(sorted(targets)) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
