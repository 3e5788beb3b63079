"""Params read from a wrapped command's own arguments: ``naga run python train.py --lr 0.1``
records ``lr = 0.1`` with no code change.

Which arguments are the program's:

- ``python [OPTIONS] SCRIPT ARGS`` and ``python -m MODULE ARGS``: ARGS (``python -c CODE ARGS``
  too). ``pypy`` likewise. Interpreter options before the script (``-u``, ``-X dev``, ``-W
  ignore``) are the interpreter's, not the program's.
- Shells: ``bash SCRIPT ARGS`` gives ARGS; ``bash -c '...'`` gives none (a script in a string).
- Launchers (``uv run``, ``poetry run``, ``pipenv run``, ``pdm run``, ``hatch run``, ``conda
  run``, ``pixi run``, ``torchrun``, ``accelerate launch``, ``deepspeed``, ``srun``, ``env``,
  ``nohup``, ``time``, ``nice``, ``stdbuf``): their own options are skipped up to the first
  ``python`` or ``*.py`` word, which is read as above; with neither, none (a launcher's options
  cannot be told from the program's).
- Any other command (``./train.sh``, a compiled binary, ``make``): every argument after it.

How arguments become params (``naga run python train.py --lr 0.1 --epochs=3 batch=32 --amp``):

- ``--key=value`` and ``--key value``: ``key`` (dashes inside a key become ``_``, as argparse
  names them: ``--batch-size`` is ``batch_size``); a single dash too (``-lr 0.1``, ``-n 4``).
- ``--flag`` followed by another option or by nothing: ``flag = true``.
- ``key=value`` (Hydra's ``model.lr=0.1``, ``+key=value``, ``++key=value``; ``make LR=0.1``).
- Anything else (positional words, ``--`` and all after it, a second value of ``--gpus 0 1``)
  is not a param. A key given twice keeps its last value, as argparse does.
- Values are typed: ``true``/``false`` (any case) are booleans, then integers (no leading zero
  but ``0`` itself, within 64 bits), then finite floats (``0.1``, ``1e-3``); anything else is
  the string as given.

Secrets: the arguments are read after ``redact.mask_argv`` masked them, and the params pass
``redact.mask_values``: ``--api-key X`` is recorded as ``api_key = "***"``, never X.
"""

from __future__ import annotations

import os

from ..redact import mask_argv, mask_values

TYPE_CHECKING = False  # typing itself costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from typing import Any

MAX_KEY = 100
MAX_PARAMS = 500
_PYTHON_VALUE_OPTIONS = frozenset({"-X", "-W", "-Q"})  # interpreter options that take a value
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh"})
_LAUNCHERS = {  # command -> its subcommand that runs another command ("" : none)
    "uv": "run",
    "poetry": "run",
    "pipenv": "run",
    "pdm": "run",
    "hatch": "run",
    "conda": "run",
    "mamba": "run",
    "micromamba": "run",
    "pixi": "run",
    "accelerate": "launch",
    "torchrun": "",
    "deepspeed": "",
    "srun": "",
    "env": "",
    "nohup": "",
    "time": "",
    "nice": "",
    "stdbuf": "",
}
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
INT64 = 2**63


def _is_python(word: str) -> bool:
    name = os.path.basename(word)
    for prefix in ("python", "pypy"):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            return all(c.isdigit() or c == "." for c in rest)
    return False


def program_args(argv: list[str]) -> list[str]:
    """The arguments of ``argv`` that belong to the program itself (see the module's rules)."""
    if not argv:
        return []
    head = os.path.basename(argv[0])
    if _is_python(argv[0]):
        return _after_python(argv[1:])
    if head in _SHELLS:
        return _after_shell(argv[1:])
    if head in _LAUNCHERS:
        rest = argv[1:]
        sub = _LAUNCHERS[head]
        if sub and rest[:1] == [sub]:
            rest = rest[1:]
        elif sub:
            return []  # `uv pip install ...`: no program of the user's
        return _after_launcher(rest)
    return argv[1:]


def _after_python(args: list[str]) -> list[str]:
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-m", "-c"):
            return args[i + 2 :]
        if arg.startswith("-m") or arg.startswith("-c"):  # -mmodule
            return args[i + 1 :]
        if arg == "-" or not arg.startswith("-"):
            return args[i + 1 :]
        if arg == "--":
            return args[i + 2 :]
        i += 2 if arg in _PYTHON_VALUE_OPTIONS else 1
    return []


def _after_shell(args: list[str]) -> list[str]:
    for i, arg in enumerate(args):
        if arg == "-c" or (arg.startswith("-") and "c" in arg[1:] and not arg.startswith("--")):
            return []
        if not arg.startswith("-") or arg == "-":
            return args[i + 1 :]
    return []


def _after_launcher(args: list[str]) -> list[str]:
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            continue
        if _is_python(arg):
            return _after_python(args[i + 1 :])
        if arg.endswith(".py") and "=" not in arg:
            return args[i + 1 :]
    return []


def _key(name: str) -> str | None:
    """The param key for an option or override name, or None when it names no param."""
    key = name.replace("-", "_") if not name.startswith("-") else ""
    if not key or len(key) > MAX_KEY or not (key[0].isalpha() or key[0] == "_"):
        return None
    if not all(c in _KEY_CHARS for c in key) or key.endswith(".") or ".." in key:
        return None
    return key


def _option(arg: str) -> str | None:
    """``lr`` for ``--lr``/``-lr``; None for a value (``-0.5``, ``-``, ``x``)."""
    if not arg.startswith("-") or arg == "--":
        return None
    name = arg[2:] if arg.startswith("--") else arg[1:]
    return name if name[:1].isalpha() else None


def typed(value: str) -> bool | int | float | str:
    """``"0.1"`` -> 0.1, ``"3"`` -> 3, ``"true"`` -> True; anything else stays a string."""
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    digits = value[1:] if value[:1] in "+-" else value
    if digits.isascii() and digits.isdigit():
        if len(digits) > 1 and digits[0] == "0":
            return value  # 007: an id or a code, not a number
        number = int(value)
        return number if -INT64 <= number < INT64 else value
    if not value.isascii() or not any(c.isdigit() for c in value) or "_" in value:
        return value
    try:
        found = float(value)
    except ValueError:
        return value
    return found if found - found == 0 else value  # no NaN or infinity


def parse_params(args: list[str]) -> dict[str, Any]:
    """Params from a program's arguments (see the module docstring for the rules)."""
    found: dict[str, Any] = {}
    i = 0
    while i < len(args) and len(found) < MAX_PARAMS:
        arg = args[i]
        i += 1
        if arg == "--":
            break
        option = _option(arg)
        if option is not None:
            name, eq, value = option.partition("=")
            key = _key(name)
            if key is None:
                continue
            if eq:
                found[key] = typed(value)
            elif i < len(args) and _option(args[i]) is None and args[i] != "--":
                found[key] = typed(args[i])
                i += 1
            else:
                found[key] = True
        elif "=" in arg:
            name, _, value = arg.partition("=")
            if name.startswith("~"):
                continue  # Hydra's deletion of a key: no value
            key = _key(name.lstrip("+"))
            if key is not None:
                found[key] = typed(value)
    return found


def argv_params(argv: list[str]) -> dict[str, Any]:
    """The params ``naga run`` records for ``argv``: the program's arguments parsed, with
    every secret masked (``--api-key X`` is ``api_key = "***"``)."""
    masked = mask_argv(list(argv))
    params = parse_params(program_args(masked))
    result: dict[str, Any] = mask_values(params)
    return result
