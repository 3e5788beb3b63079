"""Masking secrets before anything is written to a run: environment values and URL credentials."""

from __future__ import annotations

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
