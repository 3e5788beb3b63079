"""Finding a ``clicfg`` program again in another process, without pickling it.

A worker (a helper process, a Slurm job on another node) needs the very ``main`` the launcher
ran. ``sweep.json`` records where it lives: a module name (the program is a module, or was run
with ``python -m pkg.train``) or a script file (``python train.py``), plus the global name the
decorated main is bound to. The worker imports the module, or loads the script under another
module name so its ``if __name__ == "__main__":`` block does not run; a bare ``main()`` call at
a script's top level does nothing while naga loads it. Nothing executable is ever stored.

The worker knows a program only as a :class:`TaskProgram`: run one task, and say the
command-line arguments that give a task's overrides. What implements it (``clicfg``'s
``ConfiguredMain``) lives on the config side, which depends on this package and never the other
way round: ``sweep.json`` names the function that loads the program (``loader``, a
``module:function`` of naga's own), as submitit's executors share one small interface whatever
runs behind them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import UsageError
from ..notices import Reporter, log_notice

SCRIPT_MODULE = "__naga_program__"
DEFAULT_LOADER = "naga.config.sweeps:load_program"  # sweeps made before loaders were recorded

TaskOverride = tuple[str, Any, bool]  # (dotted key, value, whether the key may be new: +key)


@runtime_checkable
class TaskProgram(Protocol):
    """A program a sweep runs once per task, in the worker's own process, inside the run the
    worker opened for the task."""

    def run_task(
        self,
        argv: Sequence[str],
        overrides: Sequence[TaskOverride],
        *,
        now: float,
        snapshot: Mapping[str, Any] | None = None,
        report: Reporter = log_notice,
    ) -> object:
        """Run once with the sweep's base arguments ``argv`` plus the task's ``overrides``,
        ``${naga.now}`` pinned to ``now``; ``snapshot``: the repositories' states taken once
        at launch, to record instead of taking one per task; ``report`` hears what the
        program's own machinery has to say. Raises what the program raises."""
        ...

    def task_args(self, overrides: Sequence[TaskOverride]) -> list[str]:
        """Command-line arguments that give these overrides (the task run alone)."""
        ...


def describe_program(
    program: object, fn: Callable[..., Any], argv: list[str], *, loader: str = DEFAULT_LOADER
) -> dict[str, Any]:
    """Where ``program`` (bound to a global name of ``fn``'s module) lives, the function that
    loads it again, and the base command line of its tasks."""
    module = sys.modules.get(fn.__module__)
    attr = next((name for name, value in vars(module or {}).items() if value is program), None)
    name: str | None = fn.__module__
    script = None
    if name == "__main__":
        spec = getattr(module, "__spec__", None)
        name = spec.name if spec is not None else None
        script = None if spec is not None else os.path.abspath(getattr(module, "__file__", ""))
    return {
        "attr": attr,
        "module": name,
        "script": script,
        "path": os.path.abspath(sys.path[0] or os.getcwd()),
        "prog": os.path.basename(sys.argv[0]) or fn.__name__,
        "argv": list(argv),
        "launcher": _launcher_prefix(),
        "loader": loader,
    }


def _launcher_prefix() -> list[str]:
    """How this process was started, without the program's own arguments: ``python train.py``
    or ``python -m pkg.train``; a task's recorded command is this plus its arguments."""
    orig = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    n_args = len(sys.argv) - 1
    return orig[: len(orig) - n_args] if 0 < n_args <= len(orig) else orig


def check_loadable(description: dict[str, Any]) -> None:
    """A program other processes cannot find again is refused before anything starts."""
    if description["attr"] is None:
        raise UsageError(
            "tasks in other processes need the clicfg main at the top level of its module"
            " (a global name bound to the decorated function)"
        )
    if description["module"] is None and not os.path.isfile(description["script"] or ""):
        raise UsageError("cannot find the program's script file to run its tasks elsewhere")
    source = description["script"] or _module_file(description["module"])
    if source and _bound_at_import(source, description["attr"]) is False:
        raise UsageError(
            f"tasks in other processes need the clicfg main {description['attr']!r} defined"
            f" at the top level of {os.path.basename(source)}, not under"
            ' `if __name__ == "__main__":` (which other processes do not run)'
        )


def _module_file(name: str | None) -> str | None:
    if not name:
        return None
    module = sys.modules.get(name)
    found = getattr(module, "__file__", None)
    if found is None:
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name == name:
            found = getattr(main, "__file__", None)
    return found if isinstance(found, str) else None


def _bound_at_import(path: str, attr: str) -> bool | None:
    """Whether importing the file binds ``attr`` (a def, class, assignment or import at the
    top level, also inside if/try/with blocks, except ``if __name__ == "__main__":``); None
    when the file cannot be read or parsed (then nothing is refused on a guess)."""
    import ast

    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    return attr in _top_level_names(tree.body)


def _top_level_names(body: list[Any]) -> set[str]:
    import ast

    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.If):
            if not any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test)):
                names |= _top_level_names(node.body) | _top_level_names(node.orelse)
        elif isinstance(node, (ast.Try, ast.With)):
            for part in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, part, []):
                    inner = child.body if isinstance(child, ast.ExceptHandler) else [child]
                    names |= _top_level_names(inner)
    return names


def load_program(description: dict[str, Any]) -> TaskProgram:
    """The program ``description`` names, loaded in this process by its recorded loader."""
    check_loadable(description)
    loader = str(description.get("loader") or DEFAULT_LOADER)
    module_name, _, function = loader.partition(":")
    if not module_name.startswith("naga.") or not function:
        raise UsageError(f"sweep.json names an unknown program loader {loader!r}")
    load = getattr(importlib.import_module(module_name), function)
    program = load(description)
    if not isinstance(program, TaskProgram):
        raise UsageError(f"{loader} did not give a program that runs tasks")
    return program


def import_program(description: dict[str, Any]) -> Any:
    """The global ``description["attr"]`` of the program's module or script, imported here
    (the script under another name: its ``__main__`` block does not run)."""
    if description["path"] not in sys.path:
        sys.path.insert(0, description["path"])
    module = _import(description)
    return getattr(module, description["attr"], None)


def _import(description: dict[str, Any]) -> Any:
    if description["module"] is not None:
        return importlib.import_module(description["module"])
    if SCRIPT_MODULE in sys.modules:  # loaded already by an earlier sweep in this process
        existing = sys.modules[SCRIPT_MODULE]
        if getattr(existing, "__file__", None) == description["script"]:
            return existing
    spec = importlib.util.spec_from_file_location(SCRIPT_MODULE, description["script"])
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load {description['script']} as a Python script")
    module = importlib.util.module_from_spec(spec)
    sys.modules[SCRIPT_MODULE] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module
