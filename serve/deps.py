"""FastAPI dependencies: the open store, the publication catalog, settings and API-key scopes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from civrisk.settings import Settings
from publish.store import ScoreStore
from serve.auth import AuthError, KeyVerifier, allows
from serve.catalog import Catalog
from serve.schemas import ErrorOut

_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer crk_...`")


def get_store(request: Request) -> ScoreStore:
    """Return the store the app opened at start-up."""
    return request.app.state.store  # type: ignore[no-any-return]


def get_catalog(request: Request) -> Catalog:
    """Return the publication catalog of the app's store."""
    return request.app.state.catalog  # type: ignore[no-any-return]


def get_app_settings(request: Request) -> Settings:
    """Return the settings the app was created with."""
    return request.app.state.settings  # type: ignore[no-any-return]


def _require(needed: str):  # type: ignore[no-untyped-def]
    def check(
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


StoreDep = Annotated[ScoreStore, Depends(get_store)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ReadScope = Depends(_require("read"))
AdminScope = Depends(_require("admin"))

AUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut, "description": "missing, invalid or revoked API key"},
    403: {"model": ErrorOut, "description": "the key's scope does not allow this route"},
}
