"""The ``naga`` command line: a thin layer that parses, calls the library and renders.

``main`` takes fast paths for ``naga run`` and ``naga ls``: their options are parsed here without
importing click, which alone would cost more than the whole wrapper is allowed to add to a run,
and a third of what ``ls`` takes. Every other command (``naga hash`` too: click's start-up is
nothing beside hashing) goes through click, and so does anything unusual on the two fast
paths (``--help``, a bad or malformed option): the click application in ``app`` is the
reference for all, with the help texts and the usage errors.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs start-up time; checkers know this idiom
if TYPE_CHECKING:
    import click


def _ls(params: dict[str, object]) -> int:
    import sqlite3

    from .fast import report, say
    from .listing import list_runs

    try:
        if params.get("sweep"):
            from .sweeplist import with_sweep

            params = with_sweep(params)
        params.pop("sweep", None)
        list_runs(**params)  # type: ignore[arg-type]
    except sqlite3.Error as exc:
        say(f"naga: error: the run index failed ({exc}); `naga reindex` rebuilds it")
        return 1
    except Exception as exc:  # report() re-raises what is not the user's to fix
        return report(exc)
    return 0


RUN_FLAGS = {
    "--require-clean": "require_clean",
    "--no-params": "no_params",
    "--no-scalars": "no_scalars",
}
RUN_OPTIONS = ("--name", "--tag", "--sys-interval", "--scalars", *RUN_FLAGS)


def _fast_run_args(args: list[str]) -> dict[str, object] | None:
    """``run_fast`` keyword arguments for ``naga run`` arguments, or None to let click
    handle them."""
    params: dict[str, object] = {"name": None, "tags": [], "sys_interval": None}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return {**params, "command": args[i + 1 :]} if i + 1 < len(args) else None
        if not arg.startswith("-"):
            return {**params, "command": args[i:]}
        option, eq, value = arg.partition("=")
        if option in RUN_FLAGS:  # a flag: no value
            if eq:
                return None
            params[RUN_FLAGS[option]] = True
            i += 1
            continue
        if option not in RUN_OPTIONS:
            return None
        if not eq:
            if i + 1 >= len(args):
                return None
            i += 1
            value = args[i]
        if option == "--name":
            params["name"] = value
        elif option == "--tag":
            params["tags"].append(value)  # type: ignore[attr-defined]
        elif option == "--scalars":
            params["scalars"] = value
        else:
            try:
                params["sys_interval"] = float(value)
            except ValueError:
                return None  # click says what is wrong
        i += 1
    return None


# naga ls's options: name -> (parameter, kind); kept in step with cli/ls.py by tests/test_docs.py
LS_OPTIONS = {
    "--status": ("statuses", "many"),
    "--name": ("name_glob", "one"),
    "--tag": ("tags", "many"),
    "--since": ("since", "one"),
    "--limit": ("limit", "int"),
    "-n": ("limit", "int"),
    "--all": ("show_all", "flag"),
    "-a": ("show_all", "flag"),
    "--json": ("as_json", "flag"),
    "--where": ("where", "many"),
    "--columns": ("columns", "one"),
    "--sweep": ("sweep", "one"),
    "--archived": ("archived", "flag"),
    "--sort": ("sort", "one"),
    "--remote": ("remote", "one"),
}


def _fast_ls_args(args: list[str]) -> dict[str, object] | None:
    """``naga ls`` arguments as keyword arguments of ``list_runs``, or None for click."""
    params: dict[str, object] = {
        "statuses": (),
        "name_glob": None,
        "tags": (),
        "since": None,
        "limit": None,  # 20, or all of a --sweep's runs
        "show_all": False,
        "as_json": False,
        "where": (),
        "columns": None,
        "sweep": None,
        "archived": False,
        "sort": None,
        "remote": None,
    }
    i = 0
    while i < len(args):
        option, eq, value = args[i].partition("=")
        if option not in LS_OPTIONS:
            return None
        name, kind = LS_OPTIONS[option]
        if kind == "flag":
            if eq:
                return None
            params[name] = True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(args):
                return None
            i += 1
            value = args[i]
        if kind == "int":
            if not (value.isascii() and value.isdigit()) or int(value) < 1:
                return None
            params[name] = int(value)
        elif kind == "many":
            params[name] = (*params[name], value)  # type: ignore[misc]
        else:
            params[name] = value
        i += 1
    return params


HASH_OPTIONS = ("--json", "--no-cache")


def _exit_quietly_on_broken_pipe() -> None:
    # The reader of our output (head, less) went away: exit quietly, as Unix tools do.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)


def _suggestion(message: str, cli: click.Group) -> str:
    """click's "No such option '--lnk'. Did you mean '--link'?" (or "(Did you mean one of:
    ...?)") as one clause: "No such option '--lnk' (did you mean '--link'?)"; and the same
    for a misspelt command, which click suggests nothing for (naga sweeep)."""
    import difflib
    import re

    message = re.sub(r"\.\s+\(?Did you mean (.+?)\?\)?$", r" (did you mean \1?)", message)
    typo = re.fullmatch(r"No such command '(.+)'\.?", message)
    if typo:
        import click

        names = cli.list_commands(click.Context(cli))
        close = difflib.get_close_matches(typo.group(1), names, n=3)
        if close:
            message = f"{message.rstrip('.')} (did you mean {' or '.join(map(repr, close))}?)"
    return message


def _command_path(cli: click.Group, args: list[str]) -> str:
    """``naga rerun`` for ``naga rerun X --set``: click's parser says an option lacks its
    value without the context of the command it belongs to."""
    import click

    words: list[str] = ["naga"]
    command: click.Command = cli
    for arg in args:
        if not isinstance(command, click.Group) or arg.startswith("-"):
            break
        found = command.get_command(click.Context(command), arg)
        if found is None:
            break
        words.append(arg)
        command = found
    return " ".join(words)


def _click_main(cli: click.Group) -> int:
    """Run the click app; a usage error is one line, as every other error is."""
    import click

    try:
        code = cli.main(prog_name="naga", standalone_mode=False)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else _command_path(cli, sys.argv[1:])
        message = _suggestion(" ".join(exc.format_message().split()), cli)
        print(f"naga: error: {message.rstrip('.')}; see `{where} --help`", file=sys.stderr)
        return exc.exit_code
    except click.ClickException as exc:
        print(f"naga: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        return exc.exit_code
    except click.Abort:
        print("Aborted!", file=sys.stderr)  # the user said no: not an error
        return 1
    return code if isinstance(code, int) else 0


def safe_streams() -> None:
    """Text naga prints can hold bytes that were not UTF-8 (an undecodable name or argument of
    a run, kept as surrogates so the record is exact): on a strict UTF-8 terminal printing one
    would be a traceback. Such characters print as "?" instead; raw bytes (``naga logs``) and
    JSON (escaped) are not affected."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "") == "strict":
            reconfigure(errors="replace")


def main() -> None:
    safe_streams()
    args = sys.argv[1:]
    fast_run = _fast_run_args(args[1:]) if args[:1] == ["run"] else None
    fast_ls = _fast_ls_args(args[1:]) if args[:1] == ["ls"] else None
    try:
        if fast_run is not None:
            from .run_fast import run_fast

            sys.exit(run_fast(**fast_run))  # type: ignore[arg-type]
        if fast_ls is not None:
            sys.exit(_ls(fast_ls))
        from .app import cli

        sys.exit(_click_main(cli))
    except BrokenPipeError:
        _exit_quietly_on_broken_pipe()
    except KeyboardInterrupt:
        sys.exit(130)
