"""Experiment configs: typed, frozen, every default declared once here, loaded from TOML.

A config says which data (an ingested events folder or raw source files), which region unit, which targets
and horizons, which models, how to backtest (test years, refit cadence, data lag), the seed, and the
primary metric that decides whether a newly trained model becomes the champion.

Paths in a config may start with ``{shared_data}`` (the shared real-data folder from civrisk settings) or
``{home}`` (civrisk's working folder); other relative paths are relative to the config file's folder.
Load errors name the file, the key, what was expected and what arrived.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from civrisk.settings import Settings
from forecasting.metrics import greater_is_better
from forecasting.plan import ModelPlan
from forecasting.targets import HEADLINE_TARGET

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
"""Where the shipped configs live; ``civrisk backtest sahel_admin1`` finds ``configs/sahel_admin1.toml``."""

SOURCES = ("ucdp_ged", "ucdp_candidate", "acled")


class ConfigError(ValueError):
    """An experiment config file is missing, unreadable or holds a wrong key or value."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class DataConfig(_Frozen):
    """Which events to read and how to aggregate them into a panel."""

    events: Path | None = None
    """An ingested events folder or parquet file (``civrisk ingest`` output); or use ``raw_files``."""
    raw_files: tuple[Path, ...] = ()
    """Raw UCDP/ACLED files (read as-is) to ingest on the fly when ``events`` is not given."""
    sources: tuple[Literal["ucdp_ged", "ucdp_candidate", "acled"], ...] = ()
    """Keep only events from these sources; empty: all."""
    countries: tuple[str, ...] = ()
    """ISO3 codes to model; empty: every country in the events."""
    unit: Literal["country", "admin1", "grid"] = "admin1"
    """Spatial unit of the panel: country, admin-1 region or 0.5 degree PRIO-GRID cell."""
    boundaries: Path | None = None
    """Admin-1 polygons (GeoJSON) that define the regions when ``unit = "admin1"``."""
    start: date | None = None
    """First panel week (default: the first week the data covers)."""
    end: date | None = None
    """Last panel week (default: the last week the data covers)."""

    @field_validator("countries")
    @classmethod
    def _iso3(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in v if len(c) != 3 or not c.isalpha() or not c.isupper()]
        if bad:
            raise ValueError(f"expected upper-case ISO3 codes such as 'MLI', got {bad}")
        return v

    @model_validator(mode="after")
    def _one_input(self) -> DataConfig:
        if (self.events is None) == (not self.raw_files):
            raise ValueError(
                "expected exactly one of data.events (an ingested events folder) or data.raw_files "
                f"(source files), got events={self.events}, raw_files={list(self.raw_files)}"
            )
        return self


class PrimaryMetric(_Frozen):
    """The one backtest number that decides whether a new model replaces the champion."""

    target: str = HEADLINE_TARGET
    """Target of the deciding score (one of the config's targets)."""
    horizon: int = 4
    """Horizon of the deciding score (one of the config's horizons)."""
    metric: str = "brier_skill_best"
    """Metric of the deciding score (one of backtest.metrics); its direction comes from the registry."""
    subset: Literal["all", "onset"] = "all"
    """Rows it is computed on: every test row, or onset rows (no civilian deaths in the previous 26 weeks)."""

    @property
    def greater_is_better(self) -> bool:
        """Return True when a higher value of the metric is better."""
        return greater_is_better(self.metric)


class ExperimentConfig(ModelPlan):
    """One experiment: data, then the model plan (targets x horizons, models, protocol, seed, plug-ins),
    then the champion rule."""

    name: str
    """The experiment's name (default: the file's stem); MLflow groups its runs under civrisk-<name>."""
    data: DataConfig
    primary: PrimaryMetric = Field(default_factory=PrimaryMetric)
    source_path: Path | None = Field(None, exclude=True)
    """The TOML file this config came from (not part of the experiment's identity)."""
    path_roots: dict[str, str] = Field(default_factory=dict, exclude=True)
    """Placeholder -> the folder it expanded to when loaded (``{home}``, ``{shared_data}``,
    ``{config_dir}``): the fingerprint writes paths relative to them, so moving the civrisk home, the shared
    data or the checkout does not orphan a trained model."""

    @model_validator(mode="after")
    def _primary_in_scope(self) -> ExperimentConfig:
        p = self.primary
        if p.target not in self.targets or p.horizon not in self.horizons:
            raise ValueError(
                f"primary metric is for target {p.target!r} at horizon {p.horizon}, but the config "
                f"forecasts targets {list(self.targets)} at horizons {list(self.horizons)}"
            )
        if p.metric not in self.backtest.metrics:
            raise ValueError(
                f"primary.metric {p.metric!r} is not among backtest.metrics {list(self.backtest.metrics)}"
            )
        return self

    def flat_params(self) -> dict[str, str]:
        """Return the config as ``{"data.unit": "admin1", ...}`` (MLflow params)."""
        return _flatten(self.model_dump(mode="json"))

    def fingerprint(self) -> str:
        """Return a sha256 of the settings that decide the results (not the name, file or process count);
        paths count relative to the folders they were expanded from (``path_roots``)."""
        body = self.model_dump(mode="json", exclude={"name": True, "backtest": {"n_jobs"}})
        text = json.dumps(body, sort_keys=True)
        for placeholder, folder in sorted(self.path_roots.items(), key=lambda kv: -len(kv[1])):
            text = text.replace(json.dumps(folder)[1:-1], placeholder)
        return hashlib.sha256(text.encode()).hexdigest()


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = "" if value is None else str(value)
    return out


def resolve_config_path(name_or_path: str | Path) -> Path:
    """Return the TOML file for a path, or for a shipped config name such as ``sahel_admin1``."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / f"{path.stem}.toml"
    if path.suffix in ("", ".toml") and path.parent == Path(".") and shipped.is_file():
        return shipped
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
    raise ConfigError(f"config {name_or_path} not found: not a file, nor one of the shipped configs {names}")


def _expand(value: str, base: Path, settings: Settings) -> Path:
    # a relative home (the default ".civrisk") is relative to the working directory, not to the config file
    home = str(settings.home.resolve())
    text = value.replace("{shared_data}", str(settings.shared_data)).replace("{home}", home)
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path)


def _expand_paths(raw: dict[str, Any], base: Path, settings: Settings) -> dict[str, Any]:
    data = raw.get("data")
    if not isinstance(data, dict):
        return raw
    data = dict(data)
    for key in ("events", "boundaries"):
        if isinstance(data.get(key), str):
            data[key] = _expand(data[key], base, settings)
    if isinstance(data.get("raw_files"), list):
        data["raw_files"] = [
            _expand(v, base, settings) if isinstance(v, str) else v for v in data["raw_files"]
        ]
    return {**raw, "data": data}


def load_config(name_or_path: str | Path, settings: Settings) -> ExperimentConfig:
    """Return the experiment config in a TOML file (or a shipped config by name); raise ConfigError.

    ``{shared_data}`` and ``{home}`` in its paths expand to ``settings``' folders."""
    path = resolve_config_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: not valid TOML: {exc}") from exc
    raw.setdefault("name", path.stem)
    try:
        base = path.parent.resolve()
        roots = {"{home}": str(settings.home.resolve()), "{shared_data}": str(settings.shared_data)}
        roots["{config_dir}"] = str(base)
        expanded = _expand_paths(raw, base, settings)
        return ExperimentConfig(**expanded, source_path=path.resolve(), path_roots=roots)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"]) or "(top level)"
            got = "nothing" if err["type"] == "missing" else repr(err.get("input"))
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"key {key}: {msg} (got {got})")
        raise ConfigError(f"config {path}: " + "; ".join(problems)) from exc
