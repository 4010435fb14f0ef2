"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), their assets served by the app: no CDN, they work offline.

FastAPI's default pages load Swagger UI and ReDoc from a CDN and are blank without internet. The assets
come from the ``fastapi-offline`` package (MIT; it ships ``swagger-ui-bundle.js``, ``swagger-ui.css``,
``redoc.standalone.js`` and a favicon, refreshed with each release) and are mounted at
:data:`ASSETS_PATH`; the pages are FastAPI's own HTML pointed at them, the way FastAPI documents
self-hosting ("Custom Docs UI Static Assets"). Each page carries a Content-Security-Policy that lets it
load only from this origin: Swagger UI's one inline start-up script is allowed by its SHA-256 hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
"""Folder of the Swagger UI and ReDoc files (from the fastapi-offline package)."""

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_LOCKED = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
REDOC_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    f"font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; {_LOCKED}"
)
"""ReDoc: its bundle from this origin; it injects styles and runs its search in a blob: worker."""


def swagger_csp(html: str) -> str:
    """Return a Swagger UI page's CSP: scripts from this origin and its inline start-up script (by hash)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode("ascii") + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; {_LOCKED}"
    )


def add_docs(app: FastAPI) -> None:
    """Serve the API docs pages at ``/docs`` and ``/redoc`` with assets from :data:`ASSETS_DIR`.

    Create the app with ``docs_url=None, redoc_url=None`` (FastAPI's defaults load from a CDN).
    """
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            # no validator badge: it would fetch validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )
        html = bytes(page.body).decode("utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": swagger_csp(html)})

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
        return HTMLResponse(bytes(page.body), headers={"Content-Security-Policy": REDOC_CSP})
