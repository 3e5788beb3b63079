"""``@unsafe_debug``: a real interpreter, a real pdb session driven through stdin."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from naga.debug import unsafe_debug

SCRIPT = """
import sys
from naga.debug import unsafe_debug

@unsafe_debug{parens}
def train(lr):
    scaled = lr * 1000
    raise ValueError(f"diverged at {{scaled}}")

@unsafe_debug
def main():
    what = sys.argv[1]
    if what == "exit":
        sys.exit(3)
    if what == "interrupt":
        raise KeyboardInterrupt
    if what == "ok":
        return print("fine")
    train(0.25)

main()
"""


def run_script(
    tmp_path: Path, what: str, stdin: str = "", debug: str | None = "1", parens: str = ""
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train script.py"
    script.write_text(textwrap.dedent(SCRIPT.format(parens=parens)))
    env = {k: v for k, v in os.environ.items() if k != "NAGA_DEBUG"}
    if debug is not None:
        env["NAGA_DEBUG"] = debug
    return subprocess.run(
        [sys.executable, str(script), what],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("parens", ["", "()"])
def test_post_mortem_shows_the_frame_and_its_locals(tmp_path: Path, parens: str) -> None:
    done = run_script(tmp_path, "raise", stdin="p lr, scaled\nq\n", parens=parens)
    assert done.stdout.count("(Pdb)") == 2, done.stdout  # once per command: one session only
    assert "-> raise ValueError" in done.stdout
    assert "(0.25, 250.0)" in done.stdout
    assert "post-mortem debugger on ValueError: diverged at 250.0" in done.stderr
    # The exception goes on afterwards: the usual traceback and exit code.
    assert done.stderr.rstrip().endswith("ValueError: diverged at 250.0")
    assert done.returncode == 1


def test_continue_also_lets_the_exception_go_on(tmp_path: Path) -> None:
    done = run_script(tmp_path, "raise", stdin="c\n")
    assert done.stdout.count("(Pdb)") == 1
    assert done.returncode == 1 and "ValueError: diverged" in done.stderr


def test_end_of_input_does_not_hang(tmp_path: Path) -> None:
    done = run_script(tmp_path, "raise", stdin="")  # as in a batch job: stdin at its end
    assert "(Pdb)" in done.stdout and done.returncode == 1


@pytest.mark.parametrize("debug", [None, "", "0", "false", "off"])
def test_without_naga_debug_nothing_changes(tmp_path: Path, debug: str | None) -> None:
    done = run_script(tmp_path, "raise", stdin="p lr\n", debug=debug)
    assert "(Pdb)" not in done.stdout and "post-mortem" not in done.stderr
    assert done.stderr.rstrip().endswith("ValueError: diverged at 250.0")
    assert done.returncode == 1


def test_exit_interrupt_and_success_pass_through(tmp_path: Path) -> None:
    done = run_script(tmp_path, "exit", stdin="p 1\n")
    assert (done.returncode, done.stdout, done.stderr) == (3, "", "")
    done = run_script(tmp_path, "interrupt", stdin="p 1\n")
    assert "(Pdb)" not in done.stdout and "KeyboardInterrupt" in done.stderr
    assert done.returncode == -signal.SIGINT  # as Python ends on an uncaught Ctrl-C
    done = run_script(tmp_path, "ok", stdin="p 1\n")
    assert (done.returncode, done.stdout) == (0, "fine\n")


def scale(x: float, *, factor: int = 2) -> float:
    """Doubles by default."""
    return x * factor


def test_wraps_keeps_name_docs_signature_and_results() -> None:
    for wrapped in (unsafe_debug(scale), unsafe_debug()(scale)):
        assert wrapped.__name__ == "scale" and wrapped.__doc__ == "Doubles by default."
        assert inspect.signature(wrapped) == inspect.signature(scale)
        assert wrapped(1.5, factor=3) == 4.5


async def fetch(n: int) -> int:
    await asyncio.sleep(0)
    if n < 0:
        raise ValueError("negative")
    return n + 1


def test_coroutines_stay_coroutines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAGA_DEBUG", raising=False)
    wrapped = unsafe_debug(fetch)
    assert inspect.iscoroutinefunction(wrapped)
    assert asyncio.run(wrapped(1)) == 2
    with pytest.raises(ValueError, match="negative"):
        asyncio.run(wrapped(-1))


def test_a_clicfg_program_debugs_without_a_decorator(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import naga

            @naga.clicfg({"lr": 0.25, "save_dir": None}, lock=False)
            def main(cfg):
                scaled = cfg.lr * 1000
                raise ValueError(f"diverged at {scaled}")

            main()
            """
        )
    )
    env = {**os.environ, "NAGA_DEBUG": "1"}
    done = subprocess.run(
        [sys.executable, str(script), "lr=0.5"],
        input="p scaled\nq\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.stdout.count("(Pdb)") == 2, done.stdout
    assert "500.0" in done.stdout
    assert done.stderr.rstrip().endswith("ValueError: diverged at 500.0")
    env.pop("NAGA_DEBUG")
    plain = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
    )
    assert "(Pdb)" not in plain.stdout and plain.returncode == 1
