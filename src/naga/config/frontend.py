"""The terminal side of a ``clicfg`` program: the only code under ``config/`` and
``parallel/`` that prints or exits, and the ``@clicfg`` decorator that gives each
``ConfiguredMain`` this command line (``clicfg.py`` never imports this module, which launches
``--tasks`` through ``sweeps.py``, which loads ``ConfiguredMain`` programs in workers).

A decorated ``main()`` called bare is the front end of the user's program: it reads the
program's command line, prints ``--help`` or ``--print-config``, launches ``--tasks``, and on a
bad flag or config prints ``<prog>: error: ...`` and exits with the error's code (2 for a config
error), as a command-line tool does. Everything it calls (``ConfiguredMain``,
:mod:`naga.config.sweeps`, ``naga.parallel``) raises ``NagaError`` and reports through a
:class:`naga.notices.Reporter`; this module passes :func:`stderr_reporter`, which writes what
the user has always seen on stderr, and renders what a sweep returns.

``naga sweep`` (a front end in ``naga.cli``) uses the same renderers, so a sweep looks the same
whichever way it was launched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigError, NagaError
from ..notices import Notice, format_notice
from .clicfg import AUTO, ConfiguredMain

if TYPE_CHECKING:
    from ..parallel.dispatch import Dispatched
    from ..parallel.sweepdir import Sweep

R = TypeVar("R")


def clicfg(
    defaults: Any = None,
    *,
    require_save_dir: bool = False,
    repos: Mapping[str, str | os.PathLike[str]] | str | None = AUTO,
    lock: bool = True,
    logging: bool = True,
    hash_in_background: bool = True,
    run: bool | str = False,
) -> Callable[[Callable[[Any], R]], ConfiguredMain[R]]:
    """Decorate ``def main(cfg)`` so that it takes its config from the command line or from
    keyword arguments, merged over ``defaults`` (a dataclass, dict, YAML file or hydra-zen
    config).

    ``require_save_dir`` refuses a config without ``save_dir``. ``repos`` names the git
    repositories recorded in ``run.lock`` (by default the one holding the working directory,
    if any). ``lock=False`` writes no ``run.lock``; ``logging=False`` leaves logging alone;
    ``hash_in_background=False`` hashes ``${naga.track:...}`` data before ``main`` starts.
    ``run=True`` (or a run name, which may name config values: ``run="train-${model.name}"``)
    records each call as a naga run, once its config is valid,
    unless a run is already active (``naga run``, ``naga.run()``), which is then used.
    """

    def decorate(fn: Callable[[Any], R]) -> ConfiguredMain[R]:
        return ConfiguredMain(
            fn,
            defaults,
            command_line=run_command_line,
            require_save_dir=require_save_dir,
            repos=repos,
            lock=lock,
            logging=logging,
            hash_in_background=hash_in_background,
            run=run,
        )

    return decorate


def stderr_reporter(notice: Notice) -> None:
    """A notice as its one line on stderr; the user's own exception as Python shows it."""
    if notice.exc is not None:
        import traceback

        traceback.print_exception(notice.exc)
    else:
        print(format_notice(notice), file=sys.stderr, flush=True)


def show_dispatched(sweep: Sweep, dispatched: Dispatched, metrics: Sequence[str] = ()) -> int:
    """What a launched sweep shows (a dry run's text, or the summary of the tasks that ran
    here); returns the exit code."""
    if dispatched.text is not None:
        print(dispatched.text)
    if dispatched.ran_here:
        from ..parallel.report import outcome_report

        table, lines, code = outcome_report(sweep, metrics)
        print(table)
        for line in lines:
            print(line, file=sys.stderr)
        return code
    return dispatched.exit_code


def show_search(selector: str, *, as_json: bool = False) -> int:
    """``naga sweep show ID``: the sweep's table, then its study's result (``--json``: the
    result as one object); returns 0."""
    from ..parallel.report import summary_table
    from ..parallel.search import best_lines, search_spec, summary
    from ..parallel.sweepdir import resolve_sweep

    sweep = resolve_sweep(selector)
    if search_spec(sweep) is None:
        raise NagaError(f"sweep {sweep.id} is not a search; naga ls --sweep {sweep.id} lists it")
    if as_json:
        import json

        print(json.dumps(summary(sweep), indent=1, default=str))
        return 0
    print(summary_table(sweep))
    for line in best_lines(sweep):
        print(line)
    return 0


def run_command_line(main: ConfiguredMain[R], argv: Sequence[str]) -> R | None:
    """Run ``main`` as its command line asks; a bad flag or config exits with its code."""
    prog = os.path.basename(sys.argv[0]) or main.fn.__name__
    try:
        invocation = main.parse(argv)
        if invocation.help:
            print(main.help_text(prog))
            raise SystemExit(0)
        if invocation.print_config:
            from omegaconf import OmegaConf

            cfg, _ = main.resolve_invocation(invocation, validate=False)
            print(OmegaConf.to_yaml(cfg), end="")
            raise SystemExit(0)
        if invocation.parallel is not None:  # --tasks: one run per task (naga.parallel)
            raise SystemExit(_launch_tasks(main, invocation, prog))
        session = main.prepare(invocation, report=stderr_reporter)
    except NagaError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(ConfigError.exit_code) from None
    try:
        return session.execute(main.fn)
    except NagaError as exc:  # naga's own problem (or main's misuse of naga): one line
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None


def _launch_tasks(main: ConfiguredMain[Any], invocation: Any, prog: str) -> int:
    """``--tasks``: run (or submit, or print) the tasks; returns the exit code."""
    from .sweeps import launch_tasks

    try:
        sweep, dispatched = launch_tasks(main, invocation, report=stderr_reporter)
        return show_dispatched(sweep, dispatched)
    except NagaError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; launch it again to run the tasks not done", file=sys.stderr)
        return 130
