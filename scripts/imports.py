#!/usr/bin/env python3
"""Which package of naga imports which: the import graph, one line per package.

    python scripts/imports.py [SRC_DIR]      # default: src/naga of this checkout

A package is a directory under src/naga (cli, tui, store, ...); a top-level module is its own
name (launch, ending, errors, ...). Imports inside functions count too: a lazy import is still
a dependency. tests/test_architecture.py holds these edges to the rules of docs/architecture.md.
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
    of its own: ``python -m naga.parallel.worker`` hands over to the command line)."""
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


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent / "src" / "naga")
    for unit, targets in sorted(graph(root).items()):
        print(f"{unit:<14} -> {', '.join(sorted(targets)) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
