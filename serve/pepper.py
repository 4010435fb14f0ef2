"""The pepper API keys are hashed under: ``CIVRISK_API_KEY_PEPPER``, else a random one kept under the home.

A pepper is a secret key kept outside the database, so a copy of the database alone cannot even test a
candidate key (serve/auth.py). There is no default: when the setting is unset, the first command that
needs the pepper (``civrisk serve``, ``civrisk apikey create``) draws 256 random bits into
``<home>/api_key_pepper`` (mode 0600, created atomically so two workers starting at once keep one) and
logs that it did. The file is refused when other users can read it. Losing or changing the pepper
invalidates every API key: back the file up apart from the database.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from civrisk.settings import Settings

log = logging.getLogger(__name__)

PEPPER_FILE = "api_key_pepper"


class PepperError(ValueError):
    """The pepper file cannot be used (open to others, empty, unreadable); the message says how to fix it."""


@dataclass(frozen=True)
class Pepper:
    """The pepper, where it came from, and whether this call generated it."""

    value: str
    source: str
    created: bool = False


def pepper_path(settings: Settings) -> Path:
    """Return the file a generated pepper is kept in: ``<home>/api_key_pepper``."""
    return settings.home / PEPPER_FILE


def load_pepper(settings: Settings) -> Pepper:
    """Return the configured pepper, else the home's pepper file, generated (and logged) on first use."""
    if settings.api_key_pepper:
        return Pepper(settings.api_key_pepper, "CIVRISK_API_KEY_PEPPER")
    path = pepper_path(settings)
    created = False
    if not path.exists():
        created = _generate(path)
        if created:
            log.warning(
                "CIVRISK_API_KEY_PEPPER is not set: generated a random API-key pepper into %s (mode 0600). "
                "Back it up apart from the database: losing or changing it invalidates every API key.",
                path,
            )
    return Pepper(_read(path), str(path), created)


def api_key_pepper(settings: Settings) -> str:
    """Return the pepper API keys are hashed under (see :func:`load_pepper`)."""
    return load_pepper(settings).value


def _generate(path: Path) -> bool:
    """Write a random pepper to ``path`` unless one appeared meanwhile; return whether this call wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # a hard link never replaces an existing file: of two processes starting at once, one wins
            # and the other reads the winner's complete file
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def _read(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise PepperError(
            f"cannot read the API-key pepper file {path} ({exc.__class__.__name__}: {exc}); make it readable "
            "by this user only, or set CIVRISK_API_KEY_PEPPER"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PepperError(
            f"the API-key pepper file {path} is open to other users (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )
    if not text:
        raise PepperError(
            f"the API-key pepper file {path} is empty; restore it from a backup, or delete it to generate a "
            "new one (every API key must then be created again)"
        )
    return text
