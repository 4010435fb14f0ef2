"""FastAPI dependencies: the open store, the publication catalog, settings and API-key scopes.

They are ``async`` so FastAPI calls them on the event loop: a sync dependency costs a thread-pool hop
per request, and none of these blocks (the key check reads the store only on a cache miss, ~0.2 ms).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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


def _require(needed: str) -> Callable[..., Awaitable[str]]:
    async def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> str:
        verifier: KeyVerifier = request.app.state.verifier
        try:
            scope = verifier.verify(credentials.credentials if credentials else None)
        except AuthError as exc:
            raise HTTPException(exc.status, exc.detail, headers={"WWW-Authenticate": "Bearer"}) from None
        if not allows(scope, needed):
            raise HTTPException(
                403, f"this route needs an API key with scope '{needed}'; yours has '{scope}'"
            )
        return scope

    return check


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
    401: {"model": ErrorOut, "description": "missing, invalid or revoked API key"},
    403: {"model": ErrorOut, "description": "the key's scope does not allow this route"},
}
