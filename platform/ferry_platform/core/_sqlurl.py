"""Connection-URL helpers shared by the stores that talk to PostgreSQL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def with_statement_timeout(url: str, seconds: float) -> str:
    """``url`` with PostgreSQL's ``statement_timeout`` set for every connection made from
    it (through libpq's ``options``), so no statement holds a connection longer than
    ``seconds``; other URLs (SQLite) unchanged, and a URL that sets its own ``options``
    is left as its owner wrote it."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "options" for key, _ in query):
        return url
    query.append(("options", f"-c statement_timeout={int(seconds * 1000)}"))
    return urlunsplit(parts._replace(query=urlencode(query)))
