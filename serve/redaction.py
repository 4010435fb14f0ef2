"""Secrets kept out of URLs, logs and error texts: API keys, passwords in URLs, ``secret=...`` values.

API keys travel only in the ``Authorization`` header. A key put in a URL (``?api_key=crk_...``) is refused
(serve/http_guard.py) and, since the server's access log writes each request line before anyone looks at
it, :class:`AccessLogRedaction` also rewrites the request line uvicorn logs (``uvicorn.access``) with
such values replaced by ``[REDACTED]``. :func:`redact_text` cleans free text (a failed job's output).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

REDACTED = "[REDACTED]"

CREDENTIAL_PARAMS = frozenset(
    {
        "access_token",
        "api-key",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "bearer",
        "key",
        "password",
        "pepper",
        "secret",
        "token",
    }
)
"""Query parameter names taken to carry a credential (compared lower-case); no route takes any of them."""

_API_KEY = re.compile(r"crk_([0-9a-fA-F]{12})_[A-Za-z0-9_\-]+")
_MAYBE_CREDENTIAL = re.compile(
    "crk_|(?:^|&)(?:" + "|".join(re.escape(n) for n in sorted(CREDENTIAL_PARAMS)) + ")(?:=|&|$)", re.I
)
"""A quick look at a raw query string: no match and no percent-encoding means no credential in it."""
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]*):[^\s/@]*@")
_NAMED_SECRET = re.compile(
    r"(?i)\b(?P<name>password|passwd|secret|pepper|token|api[_-]?key)(?P<sep>\s*[=:]\s*)(?P<value>[^\s,;&]+)"
)


def looks_like_api_key(text: str) -> bool:
    """Return whether ``text`` contains something shaped like a civrisk API key (``crk_<id>_<secret>``)."""
    return _API_KEY.search(text) is not None


def query_credentials(query_string: bytes | str) -> list[str]:
    """Return the (decoded) names of the query parameters that carry a credential, in order.

    A parameter carries one when its name is in :data:`CREDENTIAL_PARAMS` or its name or value looks like
    an API key (the key pattern is searched after percent-decoding, so ``crk%5F...`` is caught too).
    """
    qs = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    if "%" not in qs and not _MAYBE_CREDENTIAL.search(qs):  # the common case, decided without decoding
        return []
    found = []
    for pair in qs.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        name, value = unquote_plus(raw_name), unquote_plus(raw_value)
        if name.lower() in CREDENTIAL_PARAMS or looks_like_api_key(name) or looks_like_api_key(value):
            found.append(name)
    return found


def redact_query(query: str) -> str:
    """Return ``query`` with the value (or name, when it is the key) of each credential parameter redacted."""
    out = []
    for pair in query.split("&"):
        raw_name, eq, raw_value = pair.partition("=")
        name, value = unquote_plus(raw_name), unquote_plus(raw_value)
        if looks_like_api_key(name):
            out.append(REDACTED)
        elif name.lower() in CREDENTIAL_PARAMS or looks_like_api_key(value):
            out.append(f"{raw_name}={REDACTED}")
        else:
            out.append(f"{raw_name}{eq}{raw_value}")
    return "&".join(out)


def redact_target(target: str) -> str:
    """Return a request target (path and query) with API keys and credential parameters redacted."""
    path, sep, query = target.partition("?")
    path = _API_KEY.sub(rf"crk_\1_{REDACTED}", path)
    if looks_like_api_key(unquote_plus(path)):  # a percent-encoded key in the path
        path = REDACTED
    return f"{path}{sep}{redact_query(query)}" if sep else path


def redact_text(text: str) -> str:
    """Return ``text`` with API keys, passwords in URLs and ``secret=value``-style values redacted."""
    text = _API_KEY.sub(rf"crk_\1_{REDACTED}", text)
    text = _URL_PASSWORD.sub(rf"\g<head>:{REDACTED}@", text)
    return _NAMED_SECRET.sub(rf"\g<name>\g<sep>{REDACTED}", text)


def redact_userinfo(url: str) -> str:
    """Return ``url`` with any ``user:password@`` replaced by ``[REDACTED]@`` (URLs stored earlier)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{REDACTED}@{host}", parts.path, parts.query, parts.fragment))


class AccessLogRedaction(logging.Filter):
    """Rewrite the request target of uvicorn's access-log records with credentials redacted.

    uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with args (client, method, target, version, status) on
    the ``uvicorn.access`` logger; the filter replaces the target in ``args`` and lets the record through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


def install_access_log_redaction(logger_name: str = "uvicorn.access") -> None:
    """Add :class:`AccessLogRedaction` to the access logger once (whatever way uvicorn was started)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, AccessLogRedaction) for f in logger.filters):
        logger.addFilter(AccessLogRedaction())
