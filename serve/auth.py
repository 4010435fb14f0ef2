"""API keys: bearer tokens with a scope (``read`` or ``admin``), stored as hashes, checked in constant time.

A key reads ``crk_<key_id>_<secret>``: ``key_id`` is 12 hex characters that name the key (listings,
revocation), ``secret`` is 32 random bytes (``secrets.token_urlsafe``, 256 bits). The store keeps
``key_id``, the scope and ``HMAC-SHA256(pepper, secret)`` only; the key itself is printed once by
``civrisk apikey create`` and never stored, returned or logged.

Why a fast keyed hash and not scrypt/bcrypt: slow password hashes protect *guessable* secrets. A 256-bit
random secret cannot be guessed however fast the hash is (2^255 tries on average), and a slow hash would
cost tens of milliseconds of CPU on every request. The pepper (``CIVRISK_API_KEY_PEPPER``, else a random
one generated into a 0600 file under the home: serve/pepper.py; never a constant) is kept outside the
database, so a stolen database alone does not even let one check a candidate key. Changing the pepper
invalidates every key.

Verification looks the row up by ``key_id`` and compares hashes with :func:`hmac.compare_digest`; an
unknown ``key_id`` is compared against a dummy hash so the time taken does not tell whether it exists.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from civrisk.weeks import utc_now
from serve import tables as st

KEY_PREFIX = "crk"
_KEY_RE = re.compile(r"^crk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_DUMMY_HASH = "0" * 64


class AuthError(Exception):
    """A request's credentials were refused; ``status`` is 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class ApiKey:
    """A stored key without its secret."""

    key_id: str
    scope: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


def hash_secret(secret: str, pepper: str) -> str:
    """Return the hex HMAC-SHA256 of a key's secret part under ``pepper`` (what the store keeps)."""
    if not pepper:
        raise ValueError("an API-key pepper is required (serve.pepper.api_key_pepper(settings) gives it)")
    return hmac.new(pepper.encode("utf-8"), secret.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_key(token: str) -> tuple[str, str] | None:
    """Return ``(key_id, secret)`` of a well-formed key, else None."""
    m = _KEY_RE.match(token)
    return (m.group(1), m.group(2)) if m else None


def create_api_key(engine: Engine, scope: str, name: str | None = None, *, pepper: str) -> str:
    """Store a new key's hash with ``scope`` and return the key (the only time it exists in clear)."""
    if scope not in st.SCOPES:
        raise ValueError(f"API key scope must be one of {list(st.SCOPES)}; got {scope!r}")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with st.writing(engine) as conn:
        conn.execute(
            st.api_keys.insert().values(
                key_id=key_id,
                key_hash=hash_secret(secret, pepper),
                scope=scope,
                name=name,
                created_at=utc_now(),
            )
        )
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def revoke_api_key(engine: Engine, key_id: str) -> ApiKey:
    """Mark key ``key_id`` revoked (kept for the record) and return it; LookupError if unknown."""
    with st.writing(engine) as conn:
        row = conn.execute(select(st.api_keys).where(st.api_keys.c.key_id == key_id)).one_or_none()
        if row is None:
            raise LookupError(f"no API key with id {key_id!r}; `civrisk apikey list` shows the ids")
        if row.revoked_at is None:
            conn.execute(
                st.api_keys.update().where(st.api_keys.c.key_id == key_id).values(revoked_at=utc_now())
            )
        row = conn.execute(select(st.api_keys).where(st.api_keys.c.key_id == key_id)).one()
    return _api_key(row)


def list_api_keys(engine: Engine) -> list[ApiKey]:
    """Return every stored key (without secrets), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(st.api_keys).order_by(st.api_keys.c.id)).all()
    return [_api_key(r) for r in rows]


def _api_key(row: object) -> ApiKey:
    m = row._mapping  # type: ignore[attr-defined]
    return ApiKey(m["key_id"], m["scope"], m["name"], m["created_at"], m["revoked_at"])


class KeyVerifier:
    """Check bearer tokens against the stored hashes; rows are cached for ``cache_s`` seconds.

    The cache spares a database round trip per request; a revoked key stops working within
    ``cache_s`` seconds (0 disables the cache).
    """

    def __init__(self, engine: Engine, pepper: str, cache_s: float = 5.0) -> None:
        if not pepper:
            raise ValueError("an API-key pepper is required (serve.pepper.api_key_pepper(settings) gives it)")
        self.engine = engine
        self.pepper = pepper
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, str | None, str | None]] = {}
        self._lock = threading.Lock()

    def verify(self, token: str | None) -> str:
        """Return the scope of a valid, unrevoked key; raise AuthError(401) otherwise."""
        if not token:
            raise AuthError(401, "missing API key: send the header 'Authorization: Bearer <key>'")
        parsed = parse_key(token)
        key_id, secret = parsed if parsed else ("", "")
        stored_hash, scope = self._lookup(key_id) if parsed else (None, None)
        # compare even when the key is malformed or unknown, so timing says nothing about which it was
        ok = hmac.compare_digest(hash_secret(secret, self.pepper), stored_hash or _DUMMY_HASH)
        if not (ok and parsed and stored_hash and scope):
            raise AuthError(401, "invalid or revoked API key (keys look like 'crk_<12 hex>_<43 characters>')")
        return scope

    def _lookup(self, key_id: str) -> tuple[str | None, str | None]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key_id)
        if hit is not None and now - hit[0] < self.cache_s:
            return hit[1], hit[2]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(st.api_keys.c.key_hash, st.api_keys.c.scope, st.api_keys.c.revoked_at).where(
                    st.api_keys.c.key_id == key_id
                )
            ).one_or_none()
        value = (None, None) if row is None or row.revoked_at is not None else (row.key_hash, row.scope)
        with self._lock:
            if len(self._cache) > 10_000:  # unknown ids are cached too; keep a flood from growing it
                self._cache.clear()
            self._cache[key_id] = (now, *value)
        return value


def allows(scope: str, needed: str) -> bool:
    """Return whether a key of ``scope`` may call a route that needs ``needed`` (admin implies read)."""
    return scope == needed or scope == "admin"
