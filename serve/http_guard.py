"""The API's outermost layer: keys in URLs and oversized bodies refused unread; security headers everywhere.

:class:`RequestGuard` wraps the whole app (error responses included) and, per HTTP request:

1. refuses a request whose query string carries a credential (``?api_key=...``, anything shaped like a
   key) or whose path holds something shaped like a key with **400**, echoing neither the value nor the
   URL: keys go in the ``Authorization`` header only;
2. refuses a request whose ``Content-Length`` exceeds the body limit with **413** before anything reads
   the body (FastAPI's ``max_body_size`` then counts the bytes of a chunked body as they are read); both
   refusals close the connection, so the server does not go on receiving the body;
3. adds to every response the headers of :data:`SECURITY_HEADERS`, a ``Content-Security-Policy``
   (:data:`API_CSP` unless the route set one fit for its content, like the report's :data:`REPORT_CSP`)
   and ``Cache-Control: no-store`` on ``/v1`` and ``/healthz`` answers (keyed, and always current).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve.redaction import CREDENTIAL_PARAMS, looks_like_api_key, query_credentials

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
"""Headers every response carries."""

_LOCKED = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
API_CSP = f"default-src 'none'; {_LOCKED}"
"""JSON, CAP XML, CSV, GeoJSON and errors: nothing in them may load, run or be framed."""
REPORT_CSP = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; {_LOCKED}"
"""The planner report is self-contained: inline CSS and SVG, no scripts, nothing fetched."""

NO_STORE_PREFIXES = ("/v1/", "/healthz")
"""Paths whose answers must not be kept by browsers or proxies (keyed data; current health)."""

_DEFAULTS = [
    (k.lower().encode(), v.encode())
    for k, v in {**SECURITY_HEADERS, "Content-Security-Policy": API_CSP}.items()
]
_NO_STORE = (b"cache-control", b"no-store")


class RequestGuard:
    """ASGI middleware: see the module docstring; ``max_body_bytes`` is the body limit (None: none)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int | None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = scope["path"].startswith(NO_STORE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # a header the route set (e.g. the report's own CSP) is kept; the others are added
                raw = list(message.get("headers", ()))
                present = {name.lower() for name, _ in raw}
                extra = [
                    (k, v) for k, v in (*_DEFAULTS, *([_NO_STORE] if no_store else [])) if k not in present
                ]
                message["headers"] = raw + extra
            await send(message)

        names = query_credentials(scope.get("query_string", b""))
        if names or looks_like_api_key(scope["path"]):
            await _refuse(send_with_headers, 400, _credential_detail(names))
            return
        announced = _content_length(scope)
        if self.max_body_bytes is not None and announced is not None and announced > self.max_body_bytes:
            await _refuse(send_with_headers, 413, body_too_large(self.max_body_bytes, announced))
            return
        await self.app(scope, receive, send_with_headers)


def body_too_large(limit: int, announced: int | None = None) -> str:
    """Return the ``detail`` of a 413: how large the body was (when announced) and the limit."""
    size = f"{announced} bytes announced" if announced is not None else f"more than {limit} bytes sent"
    return (
        f"request body too large: {size}, at most {limit} accepted (CIVRISK_API_MAX_BODY_BYTES); "
        "the API's bodies are small JSON documents"
    )


def _credential_detail(names: list[str]) -> str:
    shown = [n for n in names if n.lower() in CREDENTIAL_PARAMS]
    if shown:
        what = f"query parameter {shown[0]!r}"
    else:
        what = "a query parameter that holds an API key" if names else "a URL path that holds an API key"
    return (
        f"API keys are accepted only in the header 'Authorization: Bearer <key>', never in the URL (URLs "
        f"are written to access logs and browser history); refused: {what}. If a real key was sent, "
        "revoke it (civrisk apikey revoke <key id>) and create a new one."
    )


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the body (if any) is not read: do not keep receiving it
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":  # ASGI servers give header names in lower case
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed Content-Length before the app sees it
    return None
