"""What ``naga rerun`` runs: the recorded command, changed by ``--set``, in the recorded
environment.

``--set key=value`` on the arguments: every ``--key value``, ``--key=value`` and ``key=value``
argument gets the new value (``--key`` takes the next argument as its value). When none is there
and the run took its config from ``naga.clicfg`` (its ``run.lock`` holds a config), ``key=value``
is appended: a clicfg override, the last of which wins. Otherwise it is an error: naga does not
guess where a value goes.

The environment: the variables the run recorded (those that shape ML runs: devices, threads,
virtual environments ...) get their recorded values back, and such variables the run did not
have are unset; the rest of the current environment stays. Secrets were never recorded (masked),
so they keep their current value. naga's own plumbing (``NAGA_HOME``, ``NAGA_RUN_*``) is never
restored. When the command's interpreter was recorded and still exists, its directory goes
first on ``PATH``, so ``python`` is the same interpreter even from a shell without the venv,
but only for a run recorded here, by this user: a record from elsewhere (pulled, a shared store)
is untrusted input and must not choose the binary that runs, so it gets the local ``PATH``.

Trust: a run recorded by another user or on another host (``origin``) is shown and confirmed
before it runs (the front end asks). Argument values masked in the record (``naga.redact``) are
``Plan.masked``: the front end fills them from ``--set`` or asks, never runs ``***``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..capture import environment
from ..errors import UsageError
from ..redact import MASK, MaskedSlot, is_secret_name, mask_argv, masked_slots
from ..store import liveness

# Where the run ran, not what shaped it: never given back, the current values stay. The store
# and the run are the rerun's own; a search trial's $NAGA_TRIAL would report the rerun's values
# into the study as that trial's; a scheduler's job (its id, node, requeue count) is the
# current job's or none (a rerun on a laptop recorded the original's Slurm job as its own).
NOT_RESTORED = ("NAGA_HOME", "NAGA_RUN_ID", "NAGA_RUN_DIR", "NAGA_TRIAL")
NOT_RESTORED_PREFIXES = ("NAGA_SLURM_", "SLURM_", "PBS_", "LSB_", "SGE_")


def _not_restored(name: str) -> bool:
    return name in NOT_RESTORED or name.startswith(NOT_RESTORED_PREFIXES)


@dataclass(frozen=True)
class Setting:
    key: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Setting:
        key, eq, value = text.partition("=")
        key = key.strip()
        if not eq or not key or key.lstrip("-+") != key or " " in key:
            raise UsageError(f"--set takes KEY=VALUE (e.g. --set lr=0.1), not {text!r}")
        return cls(key, value)


def apply_settings(argv: Sequence[str], settings: Sequence[Setting], has_config: bool) -> list[str]:
    """``argv`` with each setting put in place (see the module docstring)."""
    changed = list(argv)
    for setting in settings:
        if not _replace(changed, setting):
            if not has_config:
                raise UsageError(
                    f"--set {setting.key}={setting.value}: the command has no --{setting.key}"
                    f" or {setting.key}= argument to change, and it took no naga.clicfg config"
                    " (`naga show ID` shows its command)"
                )
            changed.append(f"{setting.key}={setting.value}")
    return changed


def _replace(argv: list[str], setting: Setting) -> bool:
    option, found = f"--{setting.key}", False
    i = 1  # argv[0] is the program
    while i < len(argv):
        arg = argv[i]
        if arg == option:
            if i + 1 == len(argv) or _is_option(argv[i + 1]):
                raise UsageError(
                    f"--set {setting.key}={setting.value}: {option} takes no value in the"
                    " recorded command (a flag); a rerun cannot set it"
                )
            argv[i + 1], found = setting.value, True
            i += 1
        elif arg.startswith(option + "="):
            argv[i], found = f"{option}={setting.value}", True
        elif arg.startswith(setting.key + "=") or arg.startswith("+" + setting.key + "="):
            prefix = arg[: arg.index("=")]
            argv[i], found = f"{prefix}={setting.value}", True
        i += 1
    return found


def _is_option(arg: str) -> bool:
    """``--lr`` or ``-v``, not a value such as ``-0.5``."""
    if not arg.startswith("-") or arg == "-":
        return False
    try:
        float(arg)
    except ValueError:
        return True
    return False


def _recorded_name(name: str) -> bool:
    """Whether ``naga run`` records this variable (only such absences mean anything)."""
    return name in environment.ENV_NAMES or name.startswith(environment.ENV_PREFIXES)


def rerun_env(
    recorded: Mapping[str, Any], current: Mapping[str, str], trusted: bool = True
) -> tuple[dict[str, str], list[str]]:
    """(the environment for the rerun, the names of recorded secrets left as they are now).

    ``trusted=False`` (a record from elsewhere): recorded values that name files (``/`` in
    them: ``PYTHONPATH``, ``LD_LIBRARY_PATH``, ``VIRTUAL_ENV`` ...) are not restored either,
    so the record cannot choose code that runs; the current values stay."""
    env = {
        k: v
        for k, v in current.items()
        if k in recorded or not _recorded_name(k) or is_secret_name(k) or _not_restored(k)
    }
    secrets = []
    for name, value in recorded.items():
        if not isinstance(value, str) or not isinstance(name, str) or _not_restored(name):
            continue
        if MASK in value:  # a masked secret, or a URL whose credentials were masked
            secrets.append(name)
            continue
        if not trusted and "/" in value:
            continue  # the current value (kept above), or none
        env[name] = value
    return env, sorted(secrets)


def interpreter_path(
    argv: Sequence[str], python: dict[str, Any] | None, env: dict[str, str]
) -> str | None:
    """PATH with the recorded interpreter's directory first, when ``argv`` would otherwise
    find another one; None when nothing needs to change."""
    recorded = (python or {}).get("executable")
    if not recorded or not os.access(recorded, os.X_OK) or not argv or "/" in argv[0]:
        return None  # (an explicit path runs what it names)
    now = environment.python_executable(list(argv), env.get("PATH"))
    if now is not None and os.path.abspath(now) == os.path.abspath(recorded):
        return None
    directory = os.path.dirname(recorded)
    return os.pathsep.join([directory, *(p for p in env.get("PATH", "").split(os.pathsep) if p)])


def origin(meta: dict[str, Any]) -> str | None:
    """``user@host`` of a run recorded by another user or on another host; None for one
    recorded here by this user. A record that does not say counts as another's."""
    user, host = meta.get("user"), meta.get("host")
    if user == liveness.user_name() and host == liveness.hostname() and user and host:
        return None
    return f"{user if isinstance(user, str) else '?'}@{host if isinstance(host, str) else '?'}"


@dataclass
class Plan:
    """The rerun of one run: what to run, with which environment, and what was changed."""

    run_id: str
    argv: list[str]
    env: dict[str, str]
    secrets: list[str]
    settings: list[Setting]
    origin: str | None = None  # ``user@host`` when recorded elsewhere: confirm before running
    masked: list[MaskedSlot] | None = None  # values the record masked, still to be given

    def fill(self, slot: MaskedSlot, value: str) -> None:
        """Put a masked value back (typed by the user) into the command to run."""
        self.argv[slot.index] = slot.filled(value)
        self.masked = [s for s in self.masked or [] if s is not slot]

    def recorded_settings(self) -> list[str]:
        """The ``--set`` values as the new run may record them: secrets masked."""
        return mask_argv(["", *(f"{s.key}={s.value}" for s in self.settings)])[1:]


def plan(
    meta: dict[str, Any],
    settings: Sequence[Setting],
    has_config: bool,
    current: Mapping[str, str],
) -> Plan:
    """The rerun of ``meta`` from an environment ``current`` (the front end's own)."""
    argv = meta.get("argv")
    if meta.get("parent_id"):
        raise UsageError(
            f"run {meta['id']} is a child run (naga.run() inside run {meta['parent_id']}), not"
            f" a command of its own; rerun its parent: naga rerun {meta['parent_id']}"
        )
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise UsageError(f"run {meta['id']} recorded no command to run again")
    recorded_env = meta.get("env") if isinstance(meta.get("env"), dict) else {}
    elsewhere = origin(meta)
    env, secrets = rerun_env(recorded_env or {}, current, trusted=elsewhere is None)
    if elsewhere is None:  # a record from elsewhere never picks the interpreter
        path = interpreter_path(argv, meta.get("python"), env)
        if path is not None:
            env["PATH"] = path
    changed = apply_settings(argv, settings, has_config)
    todo = Plan(meta["id"], changed, env, secrets, list(settings), elsewhere)
    todo.masked = masked_slots(changed)
    return todo
