"""The control plane's redactor: credentials out of every message it emits.

``ferry_contract.redact`` recognises credentials by their form (URL userinfo, ``password=``
pairs); this adds the actual secret values the platform was configured with (the database
passwords in ``FERRY_DATABASE_URL`` / ``FERRY_MLFLOW_TRACKING_URI``, the Redis password in
``FERRY_FEATURE_REDIS``, the cloud keys in the environment), so a secret that appears
bare — in a driver's message, a traceback — is caught as well.

One process-wide instance, :data:`REDACTOR`, like the logging configuration it feeds: every
error surface (API error bodies, job errors and log lines, audit details, the control
plane's log) calls it, and the composition root teaches it the secrets of the settings it
builds the platform from. Secrets shorter than :data:`MIN_SECRET` characters are only
removed by form (replacing every ``ab`` in every message would garble them and protect
nothing).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from ferry_contract import redact, redact_value

MIN_SECRET = 4
SECRET_ENVIRONMENT = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD",
                      "REDIS_PASSWORD", "REDISCLI_AUTH")
"""Environment variables whose values are secrets wherever they appear."""

_URL_PASSWORD = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://(?P<userinfo>[^/\s'\"<>]*)@")
_PAIR = re.compile(r"\b(?:password|passwd|pwd|secret|token|auth|sslpassword)\s*=\s*['\"]?"
                   r"(?P<value>[^\s,;&'\"]+)", re.IGNORECASE)


def secrets_in(text: str) -> set[str]:
    """The secret values a connection string or URI carries (raw and percent-decoded)."""
    found: set[str] = set()
    for match in _URL_PASSWORD.finditer(text or ""):
        userinfo = match.group("userinfo")
        _user, sep, password = userinfo.partition(":")
        if sep:  # a bare userinfo is a user name here (postgresql://postgres@host)
            found.add(password)
    for match in _PAIR.finditer(text or ""):
        found.add(match.group("value"))
    return {v for raw in found for v in (raw, unquote(raw)) if len(v) >= MIN_SECRET}


class Redactor:
    """Removes credentials from text: known secret values, then every recognisable form."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def learn(self, values: Iterable[str]) -> None:
        """Remember the secrets inside ``values`` (connection strings, URIs or bare
        secrets from the environment)."""
        new: set[str] = set()
        for value in values:
            if not value:
                continue
            new |= secrets_in(value)
        with self._lock:
            self._secrets = tuple(sorted(set(self._secrets) | new, key=len, reverse=True))

    def learn_environment(self) -> None:
        self.learn_secret(*(os.environ.get(name, "") for name in SECRET_ENVIRONMENT))

    def learn_secret(self, *secrets: str) -> None:
        """Remember bare secret values (not connection strings)."""
        with self._lock:
            self._secrets = tuple(sorted(
                set(self._secrets) | {s for s in secrets if len(s) >= MIN_SECRET},
                key=len, reverse=True))

    def __call__(self, text: str) -> str:
        return redact(text, self._secrets)

    def value(self, obj: Any) -> Any:
        """Every string inside ``obj`` (dict, list, tuple, str) redacted."""
        return redact_value(obj, self._secrets)


REDACTOR = Redactor()
"""The process's redactor (see the module's docstring)."""
