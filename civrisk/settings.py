"""Runtime settings, declared once. Every default lives here; environment variables override them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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

    thin_data_share: float = 0.10
    """A country whose events in the last 4 data weeks fall below this share of its usual 4-week volume
    (the mean over the 52 weeks before) is withheld as thin, not published: one stray row must not pass for
    a week of data. Chosen on ACLED Sahel 2012-2018, where the lowest share with a usual volume of at least
    ``thin_data_min_volume`` was 0.16 (Mali, 2013); on 2019-2022 the lowest was 0.45."""

    thin_data_min_volume: int = 20
    """The check applies only where a country usually has at least this many events in 4 weeks (quiet
    countries swing to zero honestly)."""

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

    max_deaths_per_event: int = 100_000
    """Ceiling on any death count of one event (best, low, high, civilians); rows above it are quarantined
    (``deaths_above_ceiling``). The largest single events in the shared files hold 25,000 (ACLED) and 8,901
    (UCDP); raise it only for a source that records larger ones."""

    admin1_aliases: Path | None = None
    """User CSV of admin-1 renames (iso3, alias, name[, note]) used before the packaged
    ``ingest/admin1_aliases.csv`` (docs/REGIONS.md)."""

    boundaries: Path | None = None
    """Admin-1 polygons (GeoJSON) for region assignment; default: the shared Sahel admin-1 file if present."""

    boundary_id_property: str = "adm1_pcode"
    """GeoJSON feature property holding the admin-1 region id (e.g. an OCHA p-code)."""

    boundary_name_property: str = "adm1_name"
    """GeoJSON feature property holding the admin-1 region name."""

    boundary_iso3_property: str = "iso3"
    """GeoJSON feature property holding the region's country (ISO3, or a name that maps to one)."""

    boundary_code_properties: tuple[str, ...] = ("shapeISO", "ADM1_PCODE")
    """Feature properties holding a region's standard code, first found wins: ISO 3166-2 (geoBoundaries
    ``shapeISO``), then the OCHA P-code (COD-AB ``ADM1_PCODE``); looked up in the feature's properties,
    then in its ``source_attributes``. Machine outputs publish it as the region's code (HXL ``#adm1+code``)
    beside the region id."""

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
    database (environment, secrets manager). Unset: a random one is generated on first use into
    ``home / "api_key_pepper"`` (mode 0600) and read from there. Changing it invalidates every API key."""

    api_max_body_bytes: int = 65_536
    """Largest request body the API accepts, in bytes: a larger one is answered 413 before it is read (the
    API's bodies are small JSON documents: a webhook subscription, a publish request)."""

    webhook_allow_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    """Webhook targets allowed although they are not public addresses: comma-separated host names, IP
    addresses or networks (``127.0.0.1,10.20.0.0/16,hooks.internal``). Unset: webhooks go only to http(s)
    hosts that resolve to public addresses (never loopback, private, link-local or cloud metadata)."""

    webhook_max_subscriptions: int = 50
    """Active webhook subscriptions allowed at once; ``POST /v1/webhooks`` answers 409 beyond it."""

    serve_host: str = "127.0.0.1"
    """Address ``civrisk serve`` listens on (loopback by default; put a TLS proxy in front to expose it)."""

    serve_port: int = 8000
    """Port ``civrisk serve`` listens on."""

    languages: Annotated[tuple[str, ...], NoDecode] = ("en", "fr")
    """Languages a publication writes, first = primary (``CIVRISK_LANGUAGES="en,fr"``): ``report.html`` and
    ``report.pdf`` in the first, ``report.<lang>.html``/``.pdf`` in each other; every CAP alert carries one
    ``<info>`` block per language in this order. Each needs a message catalogue (docs/PUBLISHING.md)."""

    report_pdf: bool = True
    """Write a PDF of each report beside its HTML (WeasyPrint); ``CIVRISK_REPORT_PDF=0`` skips it."""

    drift_weeks: int = 13
    """Verified weeks the drift watch sums per country (a quarter) to judge published calibration."""

    drift_z: float = 3.0
    """Calibration-in-the-large |z| (variance inflated by h for overlapping windows) from which a country's
    published forecasts count as drifting, together with ``drift_bias``."""

    drift_bias: float = 0.05
    """Mean forecast minus observed rate (absolute) from which a country counts as drifting, with
    ``drift_z``: the issue-10 goal keeps each quarter's mean forecast within 0.05 of what happened."""

    retrain_every_weeks: int = 13
    """The weekly cycle retrains the champion's config when its data end is this many weeks old (0: never
    by age; docs/OPERATIONS.md "Retraining")."""

    retrain_on_drift: bool = True
    """The weekly cycle also retrains when the drift watch flags a country."""

    api_page_cache_mb: int = 64
    """Memory per API worker for finished responses of score pages (a publication never changes, so a
    page is served from memory after its first request); 0 turns the cache off."""

    @field_validator("languages", mode="before")
    @classmethod
    def _split_languages(cls, value: object) -> object:
        """Accept "en,fr" (the environment's form) as well as a sequence; refuse an empty list."""
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, list | tuple):
            codes = tuple(str(x).strip().lower() for x in items if str(x).strip())
            if not codes:
                raise ValueError("languages is empty; list at least one, e.g. CIVRISK_LANGUAGES=en,fr")
            if len(set(codes)) != len(codes):
                raise ValueError(f"languages repeat a language: {list(codes)}; list each once")
            return codes
        return value

    @field_validator("webhook_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        # the environment gives one comma-separated string; code may pass a list or tuple
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

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
