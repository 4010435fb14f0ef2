"""The civrisk HTTP API: ``create_app(settings)`` builds the FastAPI app over the published scores store.

The service only reads what the weekly job published (publications, scores, alerts, report files) and
computes nothing heavy per request: pages come straight off the store's indexes, publication lookups
from an in-memory catalog that reloads only when the publications table changes. OpenAPI is served at
``/openapi.json`` (docs at ``/docs``). Run it with ``civrisk serve``; see docs/API.md.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from civrisk import __version__
from civrisk.settings import Settings, get_settings
from civrisk.weeks import week_label
from publish.store.queries import ScoreQueries
from publish.store.store import ScoreStore
from serve.auth import KeyVerifier
from serve.cap_messages import RegionGeometries
from serve.catalog import Catalog
from serve.deps import reject_unknown_query
from serve.response_cache import ResponseCache
from serve.routes import admin, alerts, health, regions, reports, scores, weeks
from serve.routes.reports import ExportCache
from serve.tables import create_serve_schema

PublishArgv = Callable[[str | None], list[str]]


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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = ScoreStore(settings.resolved_db_url())
        create_serve_schema(store.engine)
        app.state.settings = settings
        app.state.store = store
        app.state.catalog = Catalog(store)
        app.state.queries = ScoreQueries(store.engine)
        app.state.verifier = KeyVerifier(store.engine, settings.api_key_pepper, cache_s=key_cache_s)
        app.state.geometries = RegionGeometries(settings)
        app.state.exports = ExportCache()
        app.state.page_cache = ResponseCache(settings.api_page_cache_mb * 2**20)
        app.state.publish_argv = publish_argv
        try:
            yield
        finally:
            app.state.catalog.close()
            store.close()

    app = FastAPI(
        title="civrisk API",
        version=__version__,
        description=(
            "Weekly risk of civilians being killed by organized violence, by region and perpetrator group: "
            "published scores, alerts (JSON and CAP 1.2), reports and exports. Every /v1 route needs an API "
            "key (`Authorization: Bearer crk_...`); admin routes need scope `admin`. See docs/API.md."
        ),
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for module in (health, weeks, scores, regions, alerts, reports, admin):
        app.include_router(module.router)
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's HTTP error response, except that a 405 lists every method of the path in ``Allow``.

    (Starlette's own 405 names only the methods of the first route that matched the path, and FastAPI
    has one route per method.)
    """
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code != 405:
        return await http_exception_handler(request, exc)
    path = request.scope["path"]
    methods = sorted(
        {
            m
            for r in request.app.routes
            if isinstance(r, APIRoute) and r.path_regex.match(path)
            for m in (r.methods or ())
        }
    )
    return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": ", ".join(methods)})


def app_from_env() -> FastAPI:
    """Return the app for the settings in the environment (uvicorn's ``--factory`` entry point)."""
    return create_app(get_settings())
