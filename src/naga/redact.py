"""Masking secrets before anything is written to a run: one policy for everything recorded.

- Environment variables whose name looks secret (``*KEY*``, ``*TOKEN*``, ...) lose their value.
- Credentials in URLs (``https://user:pw@host``) lose their password (an https user alone too:
  it is often a token), wherever a URL appears: environment values, git remotes, argv, run.lock.
- Command-line arguments: the value after a secret-looking flag (``--password X``,
  ``--api-key=X``, ``--token X``, ``--*-key X``) and ``key=value`` overrides under such a key
  (``db.password=X``) become ``***``. Flags name their secrets less loosely than environment
  variables do (``--max-tokens`` and ``--monkey`` are no secrets), so they match on whole words.

What was masked is gone: ``naga rerun`` finds the ``***`` again (``masked_slots``) and asks
for the value rather than running with it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs naga run start-up time; checkers know this idiom
if TYPE_CHECKING:
    from typing import Any

MASK = "***"
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE")
_URL_PATTERN = r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+"


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def strip_url_credentials(url: str) -> str:
    """Drop the user:password part of a URL (a bare https user is often a token, so it goes too)."""
    if "@" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit  # only when there may be credentials

    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user, has_password, _ = userinfo.partition(":")
    if has_password:
        userinfo = f"{user}:{MASK}"
    elif parts.scheme in ("http", "https"):
        userinfo = MASK
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def redact_text(text: str) -> str:
    if "://" not in text:
        return text
    import re  # only for values that hold a URL

    return re.sub(_URL_PATTERN, lambda m: strip_url_credentials(m.group(0)), text)


def mask_env(env: dict[str, str]) -> dict[str, str]:
    return {k: MASK if is_secret_name(k) else redact_text(v) for k, v in env.items()}


# Whole words (of a flag or key split at - _ .) that name a secret; ``key`` only as the last word.
_ARG_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "token",
        "apikey",
        "accesskey",
        "secretkey",
        "privatekey",
        "credential",
        "credentials",
        "cookie",
        "auth",
    }
)
# A last word that makes the value something else: a file, a variable's name, a size ...
_ARG_NOT_SECRET = frozenset(
    {"file", "path", "dir", "env", "var", "name", "id", "len", "length", "size", "count"}
    | {"limit", "type", "mode", "url", "uri", "host", "port", "method", "format"}
)


def is_secret_arg_name(name: str) -> bool:
    """Whether the flag or key ``name`` (without dashes) names a secret value."""
    words = name.lower().replace("-", "_").replace(".", "_").split("_")
    words = [w for w in words if w]
    if not words or words[-1] in _ARG_NOT_SECRET:
        return False
    return words[-1] == "key" or any(w in _ARG_SECRET_WORDS for w in words)


def _flag_name(arg: str) -> str | None:
    """``password`` for ``--password`` or ``-password``; None for ``-p``, values, ``-0.5``."""
    name = arg.lstrip("-")
    if arg == name or len(name) < 2 or not name[0].isalpha():
        return None
    return name


def _key_name(arg: str) -> str | None:
    """``db.password`` for a ``db.password=...`` override (``+key=`` / ``~key=`` too)."""
    key = arg.partition("=")[0].lstrip("+~")
    if not key or not key[0].isalpha() or not all(c.isalnum() or c in "_.-" for c in key):
        return None
    return key


def _secret_prefix(arg: str) -> str | None:
    """``--api-key=`` or ``db.password=`` when ``arg`` carries a secret after it, else None."""
    if "=" not in arg:
        return None
    head = arg.partition("=")[0]
    name = _flag_name(head) if head.startswith("-") else _key_name(arg)
    return head + "=" if name is not None and is_secret_arg_name(name) else None


def _takes_secret(arg: str, following: str) -> bool:
    """``--password`` followed by its value (not by another option)."""
    if not arg.startswith("-") or "=" in arg or following.startswith("-"):
        return False
    name = _flag_name(arg)
    return name is not None and is_secret_arg_name(name)


def mask_argv(argv: list[str]) -> list[str]:
    """``argv`` as it may be recorded: secret values and URL credentials masked (see above).
    The same list back when nothing is masked (the ``naga run`` path pays a scan only)."""
    masked: list[str] | None = None
    for i in range(1, len(argv)):
        arg = argv[i]
        prefix = _secret_prefix(arg)
        if prefix is not None:
            new = prefix + MASK
        elif i > 1 and _takes_secret(argv[i - 1], arg):
            new = MASK
        else:
            new = redact_text(arg)
        if new != arg:
            masked = masked if masked is not None else list(argv)
            masked[i] = new
    return argv if masked is None else masked


class MaskedSlot:
    """One masked value in a recorded argv: where it is, and how a value is put back."""

    def __init__(self, index: int, key: str | None, prefix: str, shown: str) -> None:
        self.index = index
        self.key = key  # what ``--set KEY=VALUE`` names it by; None for a bare URL argument
        self.prefix = prefix  # ``--api-key=`` / ``db.password=`` / "" (the value is the argument)
        self.shown = shown  # the argument as recorded

    def filled(self, value: str) -> str:
        return self.prefix + value


def masked_slots(argv: list[str]) -> list[MaskedSlot]:
    """Where ``mask_argv`` left ``***`` in ``argv``: the values a rerun must be given."""
    slots = []
    for i in range(1, len(argv)):
        arg = argv[i]
        if MASK not in arg:
            continue
        prefix = _secret_prefix(arg)
        before = argv[i - 1] if i > 1 else ""
        flag = _flag_name(before) if before.startswith("-") and "=" not in before else None
        if prefix is not None and arg == prefix + MASK:
            slots.append(MaskedSlot(i, prefix[:-1].lstrip("-+~"), prefix, arg))
        elif arg == MASK and flag is not None and is_secret_arg_name(flag):
            slots.append(MaskedSlot(i, flag, "", arg))
        elif ":" + MASK + "@" in arg or "//" + MASK + "@" in arg:  # a URL's credentials
            head, eq, _ = arg.partition("=")
            if eq and "://" not in head:
                name = _flag_name(head) if head.startswith("-") else _key_name(arg)
                slots.append(MaskedSlot(i, name, head + "=", arg))
            elif "=" not in arg and flag is not None:
                slots.append(MaskedSlot(i, flag, "", arg))
            else:
                slots.append(MaskedSlot(i, None, "", arg))
    return slots


def mask_values(value: Any) -> Any:
    """A config or params as recorded: the value under a secret-looking key (``password``,
    ``api_key``, ``db.token``, ``*_key``: ``is_secret_arg_name``) is ``***``, and URL
    credentials anywhere are masked. The program itself keeps the real values; only records
    (params, meta.json, the index, run.lock, MLflow) get these."""
    if isinstance(value, dict):
        return {k: MASK if is_secret_value(k, v) else mask_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_values(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def is_secret_value(key: object, value: object) -> bool:
    if not isinstance(key, str) or not is_secret_arg_name(key):
        return False
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != ""
