"""Sweeps of any command (``naga sweep``): points from the grammar, each a ``naga run``.

The sweep is defined by its working directory, command template, parameter texts, ``--random``
count and ``--seed``; the same definition launched again reopens the same sweep (resume),
including the points a random search drew the first time.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from typing import Any

from ..notices import Notice, Reporter, log_notice
from .grammar import check_command, fill_command, parse_params, points, typed
from .search import SearchSpec, prepare_search, slots
from .sweepdir import Sweep, create_sweep, find_by_key, sweep_key


def prepare_command_sweep(
    specs: Sequence[str],
    command: Sequence[str],
    *,
    n_random: int | None = None,
    seed: int | None = None,
    new: bool = False,
    backend: dict[str, Any] | None = None,
    search: SearchSpec | None = None,
    report: Reporter = log_notice,
) -> tuple[Sweep, bool]:
    """The sweep of ``command`` over ``specs``: reopened when launched before, else new.
    ``search``: an adaptive search (``--search``), whose points Optuna chooses as it goes."""
    params = parse_params(specs)
    check_command(command, params)
    if search is not None:
        return prepare_search(
            search,
            {"kind": "command", "cwd": os.getcwd(), "command": list(command)},
            program={"command": list(command), "params": list(specs)},
            tasks=slots(search.trials, "command"),
            backend=backend,
            new=new,
            report=report,
        )
    definition = {
        "kind": "command",
        "cwd": os.getcwd(),
        "command": list(command),
        "params": list(specs),
        "random": n_random,
        "seed": seed,
    }
    key = sweep_key(definition)
    if not new:
        found = find_by_key(key)
        if found is not None:  # dispatch() reopens its failed tasks (unless a dry run)
            return found, True
    drawn_seed = seed if seed is not None else secrets.randbits(32)
    chosen = points(params, n_random, drawn_seed)
    if n_random is not None and len(chosen) < n_random:
        report(
            Notice(
                "note",
                f"--random {n_random}, but the grid has only {len(chosen)} distinct points:"
                " running each once",
            )
        )
    tasks = [
        {
            "index": index,
            "params": {name: typed(text) for name, text in point.items()},
            "argv": fill_command(command, point),
        }
        for index, point in enumerate(chosen)
    ]
    program = {"command": list(command), "params": list(specs)}
    extra = {"random": n_random, "seed": drawn_seed}
    return create_sweep(
        "command", tasks, key=key, program=program, backend=backend, extra=extra, new=True
    )
