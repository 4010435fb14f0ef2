"""The civrisk HTTP API: ``create_app(settings)`` builds the FastAPI app over the published scores store.

The service only reads what the weekly job published (publications, scores, alerts, report files) and
computes nothing heavy per request: pages come straight off the store's indexes, publication lookups
from an in-memory catalog that reloads only when the publications table changes. OpenAPI is served at
``/openapi.json`` (docs at ``/docs`` and ``/redoc``, assets served by the app). Every request passes
the guard of serve/http_guard.py (no keys in URLs, bodies bounded before they are read, security
headers); keyed routes check the key before the body is read (serve/deps.py). Run it with ``civrisk
serve``; see docs/API.md.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from civrisk import __version__
from civrisk.settings import Settings, get_settings
from civrisk.weeks import week_label
from publish.store.errors import StoreError
from publish.store.queries import PublicationChecks, ScoreQueries
from publish.store.store import ScoreStore
from serve.auth import KeyVerifier, list_api_keys
from serve.cap_messages import RegionGeometries
from serve.catalog import Catalog
from serve.deps import reject_unknown_query
from serve.docs_ui import add_docs
from serve.http_guard import RequestGuard, body_too_large
from serve.pepper import load_pepper
from serve.redaction import install_access_log_redaction
from serve.response_cache import ResponseCache
from serve.routes import admin, alerts, health, regions, reports, scores, weeks
from serve.routes.reports import ExportCache
from serve.schemas import HealthOut
from serve.tables import create_serve_schema
from serve.webhook_targets import TargetPolicy

log = logging.getLogger(__name__)

PublishArgv = Callable[[str | None], list[str]]
STORE_RETRY_S = 5.0
"""While the store cannot be opened, how often a request tries again (the others get 503 at once)."""


def civrisk_publish_argv(week: str | None) -> list[str]:
    """Return the command ``POST /v1/publish`` runs: ``civrisk publish --week W`` in this interpreter.

    Without a week: the current ISO week (UTC), the week the weekly job publishes.
    """
    if week is None:
        today = datetime.now(UTC).date()
        week = week_label(today - timedelta(days=today.weekday()))
    return [sys.executable, "-m", "cli.main", "publish", "--week", week]


def create_app(
    settings: Settings,
    *,
    publish_argv: PublishArgv = civrisk_publish_argv,
    key_cache_s: float = 5.0,
) -> FastAPI:
    """Return the API app; its lifespan opens the scores store of ``settings`` and creates the API tables.

    ``publish_argv`` maps the requested week to the command ``POST /v1/publish`` starts;
    ``key_cache_s`` is how long a checked API key is trusted before the store is asked again.
    """

    def open_store(app: FastAPI) -> None:
        """Open the store and what hangs on it; on failure remember why (requests get 503 with it)."""
        try:
            store = ScoreStore.from_settings(settings)
        except (StoreError, DBAPIError) as exc:
            app.state.store_error = _store_detail(exc)
            log.error("the scores store cannot be used: %s", app.state.store_error)
            return
        create_serve_schema(store.engine)
        pepper = load_pepper(settings)
        if pepper.created and (n := sum(k.revoked_at is None for k in list_api_keys(store.engine))):
            log.warning(
                "%d API keys were created before the pepper %s existed (under no pepper or another one): "
                "they will be refused; create new ones (civrisk apikey create), or set "
                "CIVRISK_API_KEY_PEPPER to the pepper they were made with",
                n,
                pepper.source,
            )
        app.state.store = store
        app.state.catalog = Catalog(store, PublicationChecks(store.engine))
        app.state.queries = ScoreQueries(store.engine)
        app.state.verifier = KeyVerifier(store.engine, pepper.value, cache_s=key_cache_s)
        app.state.store_error = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.store = None
        app.state.open_store = open_store
        app.state.open_lock = threading.Lock()
        app.state.open_tried = time.monotonic()
        open_store(app)
        app.state.webhook_policy = TargetPolicy.from_settings(settings)
        app.state.geometries = RegionGeometries(settings)
        app.state.exports = ExportCache()
        app.state.page_cache = ResponseCache(settings.api_page_cache_mb * 2**20)
        app.state.publish_argv = publish_argv
        try:
            yield
        finally:
            if app.state.store is not None:
                app.state.catalog.close()
                app.state.store.close()

    install_access_log_redaction()
    app = _GuardedAPI(
        title="civrisk API",
        version=__version__,
        description=(
            "Weekly risk of civilians being killed by organized violence, by region and perpetrator group: "
            "published scores, alerts (JSON and CAP 1.2), reports and exports. Every /v1 route needs an API "
            "key (`Authorization: Bearer crk_...`); admin routes need scope `admin`. See docs/API.md."
        ),
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
        max_body_size=settings.api_max_body_bytes,
        docs_url=None,  # FastAPI's pages load their assets from a CDN; add_docs serves them from here
        redoc_url=None,
    )
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StoreError, _store_unavailable)
    app.add_exception_handler(DBAPIError, _store_unavailable)
    app.add_exception_handler(sqlite3.DatabaseError, _store_unavailable)
    app.middleware("http")(_store_gate)
    for module in (health, weeks, scores, regions, alerts, reports, admin):
        app.include_router(module.router)
    add_docs(app)
    return app


def _store_detail(exc: BaseException) -> str:
    """Return the one-line reason a store error gives a 503 (the store's own message, or what failed)."""
    if isinstance(exc, StoreError):
        return str(exc)
    orig = getattr(exc, "orig", exc)
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"the scores store does not answer or cannot be read ({orig.__class__.__name__}: {first})"


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    """503 with a ``detail`` for a store that is unreachable, damaged or refuses (docs/API.md, Errors)."""
    if isinstance(exc, IntegrityError | ProgrammingError | DataError):
        log.error("store error on %s: %s", request.url.path, exc)  # a bug, not an outage
        return JSONResponse({"detail": "internal error"}, status_code=500)
    detail = _store_detail(exc)
    log.error("scores store unavailable on %s: %s", request.url.path, detail)
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "30"})


async def _store_gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """While the store could not be opened, retry now and then and answer 503 to what needs it."""
    state = request.app.state
    path = request.scope["path"]
    needs_store = path.startswith("/v1/") or path == "/healthz"
    if needs_store and getattr(state, "store", True) is None:
        now = time.monotonic()
        if now - state.open_tried >= STORE_RETRY_S and state.open_lock.acquire(blocking=False):
            try:
                state.open_tried = now
                await run_in_threadpool(state.open_store, request.app)
            finally:
                state.open_lock.release()
        if state.store is None:
            detail = state.store_error
            if path == "/healthz":
                out = HealthOut.unavailable(detail)
                return Response(out.model_dump_json(), status_code=503, media_type="application/json")
            return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "30"})
    return await call_next(request)


class _GuardedAPI(FastAPI):
    """FastAPI with :class:`RequestGuard` around its whole stack: even a 500 carries the security headers."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestGuard(super().build_middleware_stack(), self.max_body_size)


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's HTTP error response, except that a 405 lists every method of the path in ``Allow``.

    (Starlette's own 405 names only the methods of the first route that matched the path, and FastAPI
    has one route per method.)
    """
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 413:  # a chunked body that went past the limit while it was read
        limit = request.app.max_body_size
        return JSONResponse({"detail": body_too_large(limit)}, 413, headers={"Connection": "close"})
    if exc.status_code != 405:
        return await http_exception_handler(request, exc)
    path = request.scope["path"]
    # iter_route_contexts sees the routes of included routers too (FastAPI keeps those apart in app.routes)
    methods = sorted(
        {
            m
            for r in iter_route_contexts(request.app.routes)
            if (regex := getattr(r, "path_regex", None)) is not None and regex.match(path)
            for m in (getattr(r, "methods", None) or ())
        }
    )
    return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": ", ".join(methods)})


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 without the ``input`` of body fields (a body may hold a secret or a credential)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {k: v for k, v in e.items() if k != "input"} if tuple(e.get("loc", ()))[:1] == ("body",) else e
        for e in exc.errors()
    ]
    return await request_validation_exception_handler(request, RequestValidationError(errors, body=None))


def app_from_env() -> FastAPI:
    """Return the app for the settings in the environment (uvicorn's ``--factory`` entry point)."""
    return create_app(get_settings())
