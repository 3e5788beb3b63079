"""docs/architecture.md's floors are the code's: every import in src/naga points down.

The imports are read from the source (``scripts/imports.py``, which ``python
scripts/imports.py`` prints), lazy ones inside functions included.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "naga"
DOC = ROOT / "docs" / "architecture.md"
FREE = ("__init__", "__main__")  # the public API and `python -m naga` may import anything


def _imports_module() -> object:
    spec = importlib.util.spec_from_file_location("naga_imports", ROOT / "scripts" / "imports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def floors() -> dict[str, int]:
    table = DOC.read_text().split("<!-- layers -->")[1].strip().splitlines()
    found = {}
    for line in table[2:]:
        if not line.startswith("|"):
            break
        floor, package = (cell.strip().strip("`") for cell in line.strip("|").split("|")[:2])
        found[package] = int(floor)
    return found


def test_every_package_has_a_floor() -> None:
    units = {p.stem if p.is_file() else p.name for p in SRC.iterdir() if not p.name.startswith(".")}
    units = {u for u in units if u != "__pycache__" and u not in FREE}
    assert units == set(floors()), "docs/architecture.md's table lists every package once"


def test_imports_point_down_only() -> None:
    graph = _imports_module().graph(SRC)  # type: ignore[attr-defined]
    floor = floors()
    upward = [
        f"{unit} (floor {floor[unit]}) imports {target} (floor {floor[target]})"
        for unit, targets in graph.items()
        if unit not in FREE
        for target in targets
        if floor[target] <= floor[unit]
    ]
    assert upward == []


def test_no_package_imports_itself_in_a_circle_through_others() -> None:
    graph = _imports_module().graph(SRC)  # type: ignore[attr-defined]
    edges = {u: {t for t in ts if t not in FREE} for u, ts in graph.items() if u not in FREE}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [u for u in edges if reaches(u, u, {u})] == []


def test_the_scanner_sees_lazy_imports_and_skips_main_blocks(tmp_path: Path) -> None:
    pkg = tmp_path / "naga"
    (pkg / "low").mkdir(parents=True)
    (pkg / "high").mkdir()
    (pkg / "low" / "a.py").write_text("def f():\n    from ..high import b\n")
    (pkg / "high" / "b.py").write_text("if __name__ == '__main__':\n    from ..low import a\n")
    (pkg / "high" / "c.py").write_text("import naga.low.a\n")
    graph = _imports_module().graph(pkg)  # type: ignore[attr-defined]
    assert graph["low"] == {"high"}  # a lazy import inside a function counts
    assert graph["high"] == {"low"}  # through c.py's absolute import, not b.py's main block
    (pkg / "high" / "c.py").unlink()
    assert not _imports_module().graph(pkg).get("high")  # type: ignore[attr-defined]


def test_every_error_class_lives_in_errors_py() -> None:
    """errors.py draws the whole hierarchy: no module defines a NagaError subclass of its own."""
    import ast

    import naga.errors as errors

    error_names = {
        name
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.NagaError)
    }
    elsewhere = [
        f"{path.relative_to(SRC)}: {node.name}"
        for path in SRC.rglob("*.py")
        if path.name != "errors.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and any(
            isinstance(b, ast.Name | ast.Attribute) and ast.unparse(b).split(".")[-1] in error_names
            for b in node.bases
        )
    ]
    assert elsewhere == []


def test_no_file_imports_itself_in_a_circle_through_others() -> None:
    """File by file, lazy imports and main blocks included (``if TYPE_CHECKING:`` blocks aside):
    a circle of modules, even inside one package, means none of them can be read, loaded or
    moved alone. The usual cures: the shared piece in a module of its own, or a callable passed
    in instead of an import upward."""
    scanner: Any = _imports_module()
    circle = scanner.file_cycle(scanner.file_graph(SRC))
    assert not circle, "src/naga imports in a circle: " + " -> ".join(circle)


def test_the_file_scanner_sees_lazy_imports_and_skips_type_checking(tmp_path: Path) -> None:
    scanner: Any = _imports_module()
    pkg = tmp_path / "naga"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("NAME = 1\n")
    (pkg / "sub" / "a.py").write_text(
        "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from .b import B\n"
        "def f():\n    from . import b\n    from .. import top\n    from ..sub import NAME\n"
    )
    (pkg / "sub" / "b.py").write_text("import naga.top\n")
    (pkg / "top.py").write_text("if __name__ == '__main__':\n    from naga.sub.a import f\n")
    edges = scanner.file_graph(pkg)
    assert edges["sub/a.py"] == {"sub/b.py", "top.py", "sub/__init__.py"}  # by what each names
    assert edges["sub/b.py"] == {"top.py"}
    assert scanner.file_cycle(edges) == ["sub/a.py", "sub/b.py", "top.py", "sub/a.py"]
    (pkg / "top.py").write_text("")
    assert scanner.file_cycle(scanner.file_graph(pkg)) == []
    type_only = "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from . import a\n"
    (pkg / "sub" / "b.py").write_text(type_only)  # a type checker's import runs nothing
    assert scanner.file_cycle(scanner.file_graph(pkg)) == []
