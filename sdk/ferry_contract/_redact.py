"""Credentials out of text: what every Ferry error, log line and audit record goes through.

:func:`redact` removes what looks like a credential by its form: the password (or the
whole userinfo) of a URL of any scheme (``postgresql://user:secret@host``,
``redis://:secret@host``, ``https://token@host``), ``password=...`` / ``passwd=`` / ``pwd=``
/ ``secret=`` / ``token=`` pairs in connection strings (libpq's ``key=value`` form, query
strings, Feast's ``host:port,password=...`` Redis form). The control plane adds the actual
secret values its settings hold (see ``ferry_platform.core.Redactor``), so a secret that
shows up in no recognisable form is caught too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

# scheme://[user[:password]]@host — the userinfo ends at the last '@' before the host part
# (a password may hold '@' when it was not escaped: take everything up to the last '@'
# before the next '/', whitespace or quote).
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/\s'\"<>@]*(?:@[^/\s'\"<>@]*)*)@"
)
_KEYS = (r"password|passwd|pwd|secret|token|access_key|secret_key|auth|"
         r"aws_secret_access_key|sslpassword")
# key=value (libpq, query strings, Feast's Redis form) and 'key': 'value' (a dict's repr, JSON)
_KEY_VALUE = re.compile(
    rf"(?P<key>\b(?:{_KEYS})\s*=\s*)(?P<quote>['\"]?)(?P<value>[^\s,;&'\"}})]+)"
    rf"|(?P<qkey>['\"](?:{_KEYS})['\"]\s*:\s*)(?P<qquote>['\"])(?P<qvalue>[^'\"]*)",
    re.IGNORECASE,
)


def _key_value(match: re.Match[str]) -> str:
    if match.group("key") is not None:
        return f"{match.group('key')}{match.group('quote')}{MASK}"
    return f"{match.group('qkey')}{match.group('qquote')}{MASK}"


def _userinfo(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    user, sep, _password = userinfo.partition(":")
    if sep:  # user:password -> user:***
        return f"{match.group('scheme')}{user}:{MASK}@"
    # a bare userinfo is a token more often than a user name (https://<token>@host)
    return f"{match.group('scheme')}{MASK}@"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials replaced by ``***``: ``secrets`` (exact values, longest
    first) and every credential recognisable by its form."""
    if not text:
        return text
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(_userinfo, text)
    return _KEY_VALUE.sub(_key_value, text)


def redact_value(value: Any, secrets: Iterable[str] = ()) -> Any:
    """:func:`redact` applied to every string inside ``value`` (dicts, lists, tuples)."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact_value(k, secrets): redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v, secrets) for v in value)
    return value


def credentials_in(uri: str) -> bool:
    """Whether ``uri`` carries credentials (a userinfo, or a password/token pair)."""
    return redact(uri) != uri
