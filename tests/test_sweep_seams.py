"""The seams between sweeps and the programs they run: ``naga.parallel`` knows a program only as
a ``TaskProgram``, never imports the config side, names every sweep file in one place, decides a
task's ending in one function and reports through a reporter instead of printing.

The worker test runs real tasks as real naga runs in this process, with a program that is not
``clicfg``'s, which is the point of the seam (issue 18's optimizer will be another).
"""

from __future__ import annotations

import ast
import json
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naga
from naga.notices import Notice, format_notice, log_notice
from naga.parallel.endings import is_terminal, task_ending
from naga.parallel.program import TaskProgram
from naga.parallel.sweepdir import SweepLayout, create_sweep
from naga.sdk.termination import Terminated

SRC = Path(naga.__file__).parent


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, relative imports made absolute."""
    package = "naga." + ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            found.append(f"{base}.{node.module}" if node.level else str(node.module))
    return found


def test_parallel_never_imports_the_config_side() -> None:
    """The import circle clicfg -> parallel -> clicfg is gone: config depends on parallel."""
    offenders = {
        f"{path.name}: {name}"
        for path in (SRC / "parallel").glob("*.py")
        for name in _imports(path)
        if name.startswith("naga.config")
    }
    assert offenders == set()


def _writes_to_terminal(path: Path) -> list[str]:
    """Calls that write to the terminal or exit, outside an ``if __name__ == "__main__":``
    block (a module run as a command hands over to its front end there)."""
    tree = ast.parse(path.read_text())
    tree.body = [node for node in tree.body if "__main__" not in ast.unparse(node)[:40]]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in ("print", "print_exception", "print_exc", "exit"):
                found.append(f"{path.name}:{node.lineno} {name}()")
        elif isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(raised, ast.Name) and raised.id == "SystemExit":
                found.append(f"{path.name}:{node.lineno} raise SystemExit")
    return found


def test_the_sweep_and_config_library_never_prints_or_exits() -> None:
    """Only the front ends write to the terminal (config/frontend.py, naga.cli); the sweep
    report's renderer is the presentation layer's."""
    front_ends = {"frontend.py", "report.py"}
    paths = [
        *(SRC / "parallel").glob("*.py"),
        *(SRC / "config").glob("*.py"),
        SRC / "debug.py",
        SRC / "capture" / "environment.py",
    ]
    found = [
        hit for path in paths if path.name not in front_ends for hit in _writes_to_terminal(path)
    ]
    assert found == []


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (None, "completed", 0),
        (SystemExit(0), "completed", 0),
        (SystemExit(), "completed", 0),
        (SystemExit(3), "failed", 3),
        (SystemExit("bad"), "failed", 1),
        (ValueError("diverged"), "failed", 1),
        (Terminated(signal.SIGTERM), "cancelled", 128 + signal.SIGTERM),
        (Terminated(signal.SIGHUP), "cancelled", 128 + signal.SIGHUP),
        (KeyboardInterrupt(), "cancelled", 130),
        # Lightning's SIGTERMException: a SystemExit without a code, never a success
        (type("SIGTERMException", (SystemExit,), {})(), "cancelled", 128 + signal.SIGTERM),
    ],
)
def test_a_task_ending_is_decided_by_one_table(
    exc: BaseException | None, status: str, code: int
) -> None:
    ending = task_ending(exc)
    assert (ending.status, ending.exit_code) == (status, code)
    assert is_terminal(ending.status) == (status != "cancelled")


def test_every_sweep_file_is_named_by_the_layout(tmp_path: Path) -> None:
    sweep, reopened = create_sweep(
        "command", [{"index": 0, "params": {}, "argv": ["true"]}], key="k1", program={}
    )
    layout = SweepLayout()
    files = layout.sweep(sweep.id)
    assert not reopened and sweep.dir == files.dir == os.path.join(layout.root, sweep.id)
    assert json.loads(Path(files.definition).read_text())["id"] == sweep.id
    assert Path(files.pool).is_dir() and sweep.pool.dir == files.pool
    assert json.loads(Path(layout.key("k1")).read_text()) == {"id": sweep.id}
    assert sweep.snapshot() is None
    sweep.write_snapshot({"main": {"commit": "abc"}})
    assert sweep.snapshot() == {"main": {"commit": "abc"}}
    assert Path(files.snapshot).is_file()


class Squares:
    """A program that is not clicfg's: a task's ``x`` is squared, ``x=3`` fails."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[Any], float, Any]] = []

    def run_task(
        self,
        argv: Sequence[str],
        overrides: Sequence[tuple[str, Any, bool]],
        *,
        now: float,
        snapshot: Mapping[str, Any] | None = None,
        report: Any = log_notice,
    ) -> object:
        self.calls.append((list(argv), [list(o) for o in overrides], now, snapshot))
        x = dict((key, value) for key, value, _ in overrides)["x"]
        if x == 3:
            raise ValueError(f"no square of {x}")
        naga.log({"square": x * x})
        return x * x

    def task_args(self, overrides: Sequence[tuple[str, Any, bool]]) -> list[str]:
        return [f"--{key}={value}" for key, value, _ in overrides]


def test_a_worker_runs_any_task_program_and_reports_instead_of_printing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from naga.parallel.dispatch import dispatch

    program = Squares()
    assert isinstance(program, TaskProgram)
    tasks = [{"index": i, "item": x, "overrides": [("x", x, False)]} for i, x in enumerate([2, 3])]
    description = {"argv": ["--base"], "launcher": ["python", "squares.py"], "attr": None}
    sweep, _ = create_sweep("clicfg", tasks, key="squares", program=description, now=1000.0)
    sweep.write_snapshot({"main": {"commit": "abc"}})
    heard: list[Notice] = []

    dispatched = dispatch(
        sweep, reopened=False, n_jobs=1, slurm=None, program=program, report=heard.append
    )

    assert dispatched.ran_here and dispatched.text is None
    assert capfd.readouterr() == ("", "")  # nothing written to the terminal
    assert [c[:3] for c in program.calls] == [
        (["--base"], [["x", 2, False]], 1000.0),
        (["--base"], [["x", 3, False]], 1000.0),
    ]
    assert all(call[3] == {"main": {"commit": "abc"}} for call in program.calls)
    outcomes = sweep.pool.outcomes()
    assert [outcomes[i]["status"] for i in (0, 1)] == ["completed", "failed"]
    assert outcomes[1]["error"] == "ValueError: no square of 3"
    kinds = [(n.kind, type(n.exc).__name__ if n.exc else None) for n in heard]
    assert kinds == [("info", None), ("start", None), ("start", None), ("error", "ValueError")]
    assert format_notice(heard[1]).startswith(f"naga ▶ {sweep.id}:0 (1/2) x=2 · run ")

    # without a reporter of its own, the caller hears through the naga logger
    caplog.set_level(logging.INFO, logger="naga")
    again = dispatch(sweep, reopened=True, n_jobs=1, slurm=None, program=program)
    assert again.ran_here and capfd.readouterr() == ("", "")
    assert any("no square of 3" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


def test_a_clicfg_main_is_a_task_program() -> None:
    @naga.clicfg({"x": 1, "flag": False, "name": "a"})
    def main(cfg: Any) -> Any:
        return cfg.x

    assert isinstance(main, TaskProgram)
    assert main.run_task([], [("x", 5, False)], now=0.0) == 5
    assert main.resolve(["x=2"], now=0.0) == {"x": 2, "flag": False, "name": "a"}
    assert main.recorded_repos() is not None


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1), inner, max_size=2)
    ),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(value=_values)
def test_a_task_s_arguments_give_back_its_very_values(value: Any) -> None:
    """The command line a task records (``naga rerun`` runs it) sets what the task set, for
    any value a tasks file can hold."""

    @naga.clicfg({"v": None})
    def main(cfg: Any) -> None:
        return None

    args = main.task_args([("v", value, False)])
    assert [o.value for o in main.parse(args).overrides] == [value]


def _description(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    script = tmp_path / "prog.py"
    script.write_text(
        "import naga\n\n@naga.clicfg({'x': 1})\ndef main(cfg):\n    return cfg.x * 10\n\nmain()\n"
    )
    return {"attr": "main", "module": None, "script": str(script), "path": str(tmp_path), **extra}


def test_a_sweep_made_before_loaders_were_recorded_loads_its_clicfg_main(tmp_path: Path) -> None:
    """``sweep.json`` without ``loader`` (an older naga's) still finds the program; the bare
    ``main()`` at the script's top level does nothing while it loads."""
    from naga.parallel.program import load_program

    program = load_program(_description(tmp_path))
    assert isinstance(program, TaskProgram)
    assert program.run_task([], [("x", 4, False)], now=0.0) == 40


@pytest.mark.parametrize("loader", ["os:system", "naga.errors", "subprocess:run"])
def test_a_loader_outside_naga_is_refused(tmp_path: Path, loader: str) -> None:
    """A sweep directory can come from elsewhere (a shared store): its ``loader`` names only
    naga's own functions."""
    from naga.errors import UsageError
    from naga.parallel.program import load_program

    with pytest.raises(UsageError, match="unknown program loader"):
        load_program(_description(tmp_path, loader=loader))
