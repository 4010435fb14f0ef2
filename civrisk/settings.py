"""Runtime settings, declared once. Every default lives here; environment variables override them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

PUBLICATIONS_DIRNAME = "publications"
"""Folder under the home that holds every published week's revision folders (``<week>/r<revision>``)."""

DEFAULT_DATA_LAG_WEEKS = 1
"""k: weeks between an event and its availability in the data (ACLED publishes weekly; one week is the
shortest honest lag). Experiment configs and the publication settings default to it."""


class Settings(BaseSettings):
    """civrisk settings; each can be set as an environment variable ``CIVRISK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CIVRISK_", frozen=True)

    home: Path = Path(".civrisk")
    """Working directory for ingested events, panels, the scores store and the local MLflow store."""

    shared_data: Path = PROJECT_ROOT.parent / "shared" / "data"
    """The shared real-data folder (read-only); used by the demo, tests and benchmarks when present."""

    db_url: str | None = None
    """SQLAlchemy URL of the scores store; default: SQLite (WAL) under ``home``."""

    mlflow_tracking_uri: str | None = None
    """MLflow tracking URI; default: SQLite under ``home``. ``MLFLOW_TRACKING_URI`` also works."""

    registered_model_name: str = "civrisk"
    """MLflow registered model of the trained forecast bundles; alias ``champion`` is the one published."""

    publication_lag_weeks: int = DEFAULT_DATA_LAG_WEEKS
    """Weeks between an event and its availability in the data (ACLED publishes weekly)."""

    ucdp_base_url: str = "https://ucdp.uu.se/downloads"
    """Folder UCDP publishes its downloads in (``civrisk fetch``); point it at a mirror or a test server."""

    demo_ged_version: str = "25.1"
    """UCDP GED yearly release ``civrisk demo`` downloads when the shared ACLED file is absent."""

    downloads_dir: Path | None = None
    """Cache of downloaded releases (``civrisk fetch``); default: ``home / "downloads"``."""

    actor_rules: Path | None = None
    """User TOML of actor rules tried before the packaged ``ingest/actor_rules.toml`` (docs/ACTORS.md)."""

    ucdp_actor_list: Path | None = None
    """UCDP actor list (``ucdp-actor-<version>.csv``) for the Org fallback of actor classes; default: the
    shared copy (``shared_data/ucdp/ucdp-actor-221.csv.gz``) when present, else no fallback."""

    public_base_url: str | None = None
    """Public web address of this civrisk service (e.g. ``https://risk.example.org``); CAP alerts link to
    ``<public_base_url>/alerts/<alert_id>``. Unset: alerts carry no web link."""

    cap_sender: str = "civrisk"
    """CAP ``sender`` of published alerts; set it to an address or domain you control."""

    boundaries: Path | None = None
    """Admin-1 polygons (GeoJSON) for region assignment; default: the shared Sahel admin-1 file if present."""

    boundary_id_property: str = "adm1_pcode"
    """GeoJSON feature property holding the admin-1 region id (e.g. an OCHA p-code)."""

    boundary_name_property: str = "adm1_name"
    """GeoJSON feature property holding the admin-1 region name."""

    boundary_iso3_property: str = "iso3"
    """GeoJSON feature property holding the region's country (ISO3, or a name that maps to one)."""

    country_boundaries: Path | None = None
    """Natural Earth admin-0 TopoJSON (world-atlas countries-50m.json); default: the shared copy."""

    drop_dir: Path | None = None
    """Folder ``civrisk weekly`` picks new event files up from (docs/OPERATIONS.md); default: home / drop."""

    weekly_fetch: Literal["ucdp-candidate"] | None = None
    """Download source ``civrisk weekly`` also checks each cycle: ``ucdp-candidate`` (the newest monthly UCDP
    Candidate release, via ``ingest.fetch``); unset: only the drop folder."""

    weekly_run_at: str = "Mon 06:00"
    """When ``civrisk weekly --loop`` runs a cycle (UTC, weekday and HH:MM); ``--every`` steps from it."""

    api_key_pepper: str | None = None
    """Secret key of the HMAC-SHA256 that API keys are stored under (serve/auth.py); keep it outside the
    database (environment, secrets manager). Changing it invalidates every API key."""

    serve_host: str = "127.0.0.1"
    """Address ``civrisk serve`` listens on (loopback by default; put a TLS proxy in front to expose it)."""

    serve_port: int = 8000
    """Port ``civrisk serve`` listens on."""

    api_page_cache_mb: int = 64
    """Memory per API worker for finished responses of score pages (a publication never changes, so a
    page is served from memory after its first request); 0 turns the cache off."""

    def resolved_db_url(self) -> str:
        """Return the scores-store URL, defaulting to SQLite under ``home``."""
        return self.db_url or f"sqlite:///{(self.home / 'scores.db').resolve()}"

    def resolved_publications_dir(self) -> Path:
        """Return the folder of published revisions, ``home / "publications"``."""
        return self.home / PUBLICATIONS_DIRNAME

    def resolved_drop_dir(self) -> Path:
        """Return the weekly drop folder, defaulting to ``home / "drop"``."""
        return self.drop_dir or self.home / "drop"

    def resolved_downloads_dir(self) -> Path:
        """Return the download cache folder, defaulting to ``home / "downloads"``."""
        return self.downloads_dir or self.home / "downloads"

    def resolved_ucdp_actor_list(self) -> Path | None:
        """Return the UCDP actor list: the setting, else the shared copy when it exists, else None."""
        if self.ucdp_actor_list is not None:
            return self.ucdp_actor_list
        shared = self.shared_data / "ucdp" / "ucdp-actor-221.csv.gz"
        return shared if shared.is_file() else None

    def resolved_tracking_uri(self) -> str:
        """Return the MLflow tracking URI: explicit setting, then MLFLOW_TRACKING_URI, then SQLite."""
        import os

        return (
            self.mlflow_tracking_uri
            or os.environ.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (read once from the environment)."""
    return Settings()
