"""FastAPI dependencies: the open store, the publication catalog, settings and API-key scopes.

They are ``async`` so FastAPI calls them on the event loop: a sync dependency costs a thread-pool hop
per request, and none of these blocks (the key check reads the store only on a cache miss, ~0.2 ms).

FastAPI reads and parses a request's JSON body *before* it solves dependencies, so a key checked only
by a dependency would let an unauthenticated client have its body read and parsed first. The routers
therefore use :class:`KeyFirstRoute`, which checks the key and its scope before FastAPI touches the
body or the parameters; the scope dependency then reuses that result (and documents the bearer scheme
in OpenAPI).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.responses import Response

from civrisk.settings import Settings
from publish.store.store import ScoreStore
from serve.auth import AuthError, KeyVerifier, allows
from serve.catalog import Catalog
from serve.schemas import ErrorOut

_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer crk_...`")


async def get_store(request: Request) -> ScoreStore:
    """Return the store the app opened at start-up."""
    return request.app.state.store


async def get_catalog(request: Request) -> Catalog:
    """Return the publication catalog of the app's store."""
    return request.app.state.catalog


async def get_app_settings(request: Request) -> Settings:
    """Return the settings the app was created with."""
    return request.app.state.settings


_CHECKED_SCOPE = "civrisk.api_key_scope"  # request.scope key: the scope KeyFirstRoute found


def authorize(request: Request, needed: str) -> str:
    """Return the scope of the request's bearer key if it allows ``needed``; HTTPException 401/403 otherwise.

    A refused request that carries a body is answered with ``Connection: close``: its body is never
    read, and the server need not go on receiving it.
    """
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    verifier: KeyVerifier = request.app.state.verifier
    try:
        scope = verifier.verify(token if scheme.lower() == "bearer" else None)
    except AuthError as exc:
        raise HTTPException(exc.status, exc.detail, headers=_refusal_headers(request, bearer=True)) from None
    if not allows(scope, needed):
        raise HTTPException(
            403,
            f"this route needs an API key with scope '{needed}'; yours has '{scope}'",
            headers=_refusal_headers(request, bearer=False),
        )
    return scope


def _refusal_headers(request: Request, bearer: bool) -> dict[str, str]:
    headers = {"WWW-Authenticate": "Bearer"} if bearer else {}
    if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
        headers["Connection"] = "close"
    return headers


def _require(needed: str) -> Callable[..., Awaitable[str]]:
    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> str:
        checked = request.scope.get(_CHECKED_SCOPE)
        return checked if checked is not None else authorize(request, needed)

    check.needed_scope = needed  # type: ignore[attr-defined]  # read by KeyFirstRoute
    return check


class KeyFirstRoute(APIRoute):
    """A route that checks the API key and its scope before FastAPI reads the body or parses parameters."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Return FastAPI's handler, preceded by the key check when the route needs a scope."""
        handler = super().get_route_handler()
        needed = _needed_scope(self.dependant)
        if needed is None:
            return handler

        async def key_first(request: Request) -> Response:
            request.scope[_CHECKED_SCOPE] = authorize(request, needed)
            return await handler(request)

        return key_first


def _needed_scope(dependant: Dependant) -> str | None:
    """Return the strongest scope a route's dependencies require (admin over read), or None."""
    found = {getattr(d.call, "needed_scope", None) for d in _walk(dependant)} - {None}
    return "admin" if "admin" in found else next(iter(found), None)


def _walk(dependant: Dependant) -> list[Dependant]:
    out = []
    for sub in dependant.dependencies:
        out += [sub, *_walk(sub)]
    return out


_KNOWN_QUERY: dict[int, frozenset[str]] = {}


async def reject_unknown_query(request: Request) -> None:
    """Refuse query parameters a route does not take (422): a mistyped filter must not pass silently.

    Without this, ``/v1/scores?contry=MLI`` would answer every country's scores as if filtered.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _KNOWN_QUERY.get(id(route))
    if known is None:
        known = frozenset(_query_names(route.dependant))
        _KNOWN_QUERY[id(route)] = known
    unknown = [k for k in request.query_params if k not in known]
    if unknown:
        takes = f"it takes {sorted(known)}" if known else "it takes none"
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"unknown query parameter {name!r} for {route.path}; {takes}",
                    "input": request.query_params[name],
                }
                for name in dict.fromkeys(unknown)
            ]
        )


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


StoreDep = Annotated[ScoreStore, Depends(get_store)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ReadScope = Depends(_require("read"))
AdminScope = Depends(_require("admin"))

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "an API key was sent in the URL (keys go in the header only)"},
    401: {"model": ErrorOut, "description": "missing, invalid or revoked API key"},
    403: {"model": ErrorOut, "description": "the key's scope does not allow this route"},
}
