"""Response helpers: JSON straight from pydantic's serializer, and the 404 of an unknown publication."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import Response
from pydantic import BaseModel

from publish.store.store import PublicationNotFound


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """Return ``model`` as a JSON response serialised by pydantic-core (FastAPI's own path re-validates)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def not_found(exc: PublicationNotFound | LookupError | str) -> HTTPException:
    """Return a 404 whose ``detail`` names what was not found (the message says where to look)."""
    return HTTPException(404, str(exc).strip("'\""))
