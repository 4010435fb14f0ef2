"""The model a publication uses: a registered forecast bundle with the experiment config it was trained with.

:func:`load_publish_model` loads the ``champion`` (or a given version) from the MLflow registry and recovers
its :class:`~experiments.config.ExperimentConfig` (unit, boundaries, data lag, sources, countries): the
config file logged with the version's backtest run, else the shipped config of the same name. Either is
accepted only if its fingerprint equals the ``civrisk.config_fingerprint`` tag the version was registered
with, so a publication never runs a model under settings it was not trained with.

:meth:`PublishModel.from_bundle` wraps an in-memory :class:`~forecasting.bundle.ForecastBundle` the same way
(tests and benchmarks), so the publication code does not care where the model came from.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from forecasting.recalibration import RecalSpec

if TYPE_CHECKING:
    from civrisk.settings import Settings
    from experiments.config import ExperimentConfig
    from experiments.registry import LoadedModel
    from features.build import FeatureSpec
    from forecasting.alert_levels import AlertLevels
    from forecasting.bundle import ForecastBundle


class ModelConfigError(LookupError):
    """The experiment config of a registered model cannot be recovered (or no longer matches it)."""


@dataclass(frozen=True)
class PublishModel:
    """A fitted forecast bundle, where it is registered, and the experiment config it was trained with."""

    name: str
    version: str
    config: ExperimentConfig
    predict: Callable[[pd.DataFrame], pd.DataFrame]
    data_end: pd.Timestamp
    """Last panel week the bundle was trained on."""
    chosen: Mapping[tuple[str, int], str]
    """(target, horizon) -> the catalog model published for it."""
    bundle: ForecastBundle | None = None
    backtest_run_id: str | None = None
    tracking_uri: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def feature_spec(self) -> FeatureSpec:
        """Return the features the model was trained on: its bundle's spec, else its config's."""
        return self.bundle.feature_spec if self.bundle is not None else self.config.feature_spec()

    @property
    def alert_levels(self) -> AlertLevels:
        """Return the alert levels chosen on the model's backtest, or the documented defaults."""
        from forecasting.alert_levels import DEFAULT_LEVELS

        chosen = getattr(self.bundle, "alert_levels", None)  # bundles pickled before levels existed lack it
        return chosen if chosen is not None else DEFAULT_LEVELS

    @property
    def recalibration(self) -> RecalSpec:
        """Return how the publication recalibrates this model (its bundle's spec; none without a bundle)."""
        return self.bundle.recalibration if self.bundle is not None else RecalSpec(method="none")

    @property
    def data_lag_weeks(self) -> int:
        """Return k, the data lag the model's features were built with."""
        return int(self.config.backtest.data_lag_weeks)

    @classmethod
    def from_bundle(
        cls,
        bundle: ForecastBundle,
        config: ExperimentConfig,
        name: str = "civrisk",
        version: str = "local",
        backtest_run_id: str | None = None,
        tracking_uri: str | None = None,
    ) -> PublishModel:
        """Return an in-memory bundle as a publishable model (no registry involved)."""
        _check_lag(bundle, config, f"{name} v{version}")
        return cls(
            name=name,
            version=version,
            config=config,
            predict=bundle.predict,
            data_end=pd.Timestamp(bundle.data_end),
            chosen=dict(bundle.chosen),
            bundle=bundle,
            backtest_run_id=backtest_run_id,
            tracking_uri=tracking_uri,
        )


def load_publish_model(
    model_version: str | None, settings: Settings, name: str | None = None
) -> PublishModel:
    """Return the registered ``champion`` (or ``model_version``) of model ``name`` (default: the settings'
    registered model) with its experiment config."""
    from experiments.registry import BACKTEST_RUN_TAG, load_champion

    uri = settings.resolved_tracking_uri()
    name = name or settings.registered_model_name
    if model_version is None:
        loaded = load_champion(uri=uri, name=name)
    else:
        loaded = _load_version(model_version, uri, name)
    run_id = loaded.tags.get(BACKTEST_RUN_TAG) or None
    config = model_config(loaded, settings)
    bundle = _bundle(loaded)
    if bundle is not None:
        _check_lag(bundle, config, f"{name} v{loaded.version}")
    return PublishModel(
        name=loaded.name,
        version=loaded.version,
        config=config,
        predict=loaded.predict,
        data_end=loaded.data_end,
        chosen=_chosen(loaded, bundle),
        bundle=bundle,
        backtest_run_id=run_id,
        tracking_uri=uri,
        tags=dict(loaded.tags),
    )


def model_config(loaded: LoadedModel, settings: Settings) -> ExperimentConfig:
    """Return the experiment config a registered version was trained with; raise ModelConfigError."""
    from experiments.config import ConfigError, load_config, resolve_config_path
    from experiments.registry import BACKTEST_RUN_TAG
    from experiments.tracking import CONFIG_TAG

    want = loaded.tags.get(CONFIG_TAG)
    if not want:
        raise ModelConfigError(
            f"model {loaded.name} v{loaded.version} has no {CONFIG_TAG} tag; register it with "
            "civrisk train CONFIG --register"
        )
    tried: list[str] = []
    run_id = loaded.tags.get(BACKTEST_RUN_TAG)
    with tempfile.TemporaryDirectory(prefix="civrisk-config-") as tmp:
        candidates: list[tuple[str, Path]] = []
        uri = settings.resolved_tracking_uri()
        logged = _logged_config(run_id, uri, Path(tmp)) if run_id else None
        if logged is not None:
            candidates.append((f"config.toml of backtest run {run_id}", logged))
        config_name = loaded.tags.get("civrisk.config_name")
        if config_name:
            try:
                candidates.append((f"shipped config {config_name!r}", resolve_config_path(config_name)))
            except ConfigError:
                tried.append(f"shipped config {config_name!r} (not found)")
        for label, path in candidates:
            try:
                config = load_config(path, settings)
            except ConfigError as exc:
                tried.append(f"{label} (unreadable: {exc})")
                continue
            got = config.fingerprint()
            if got == want:
                return config
            tried.append(f"{label} (fingerprint {got[:12]})")
    raise ModelConfigError(
        f"cannot recover the experiment config of model {loaded.name} v{loaded.version}: it was trained "
        f"with config fingerprint {want[:12]}, and none of these match: {tried or ['no candidates']}. The "
        "config (or a path or setting it expands, such as CIVRISK_HOME) changed since training; retrain and "
        "register the model with the current config (civrisk train CONFIG --register)"
    )


def _load_version(version: str, uri: str, name: str) -> LoadedModel:
    from mlflow.exceptions import MlflowException

    from experiments.registry import load_model_version

    try:
        return load_model_version(version, uri=uri, name=name)
    except MlflowException as exc:
        raise LookupError(
            f"registered model {name!r} has no version {version!r} ({exc.message}); list them with "
            "civrisk models"
        ) from exc


def _logged_config(run_id: str, uri: str, dest: Path) -> Path | None:
    """Return the run's ``config.toml`` artifact downloaded into ``dest``, or None if it has none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from experiments.tracking import use_tracking

    use_tracking(uri)
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}
    if "config.toml" not in names:
        return None
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="config.toml", dst_path=str(dest)
        )
    except MlflowException:
        return None
    return Path(local)


def _bundle(loaded: LoadedModel) -> ForecastBundle | None:
    """Return the ForecastBundle inside a loaded pyfunc model, or None for another kind of model."""
    from forecasting.bundle import ForecastBundle

    unwrap = getattr(loaded.pyfunc, "unwrap_python_model", None)
    inner = unwrap() if unwrap is not None else None
    bundle = getattr(inner, "bundle", None)
    return bundle if isinstance(bundle, ForecastBundle) else None


def _chosen(loaded: LoadedModel, bundle: ForecastBundle | None) -> dict[tuple[str, int], str]:
    from experiments.registry import MODELS_TAG

    if bundle is not None:
        return dict(bundle.chosen)
    raw = json.loads(loaded.tags.get(MODELS_TAG, "{}"))
    out = {}
    for key, model in raw.items():
        target, h = key.split("|h")
        out[(target, int(h))] = str(model)
    return out


def _check_lag(bundle: ForecastBundle, config: ExperimentConfig, what: str) -> None:
    if int(bundle.data_lag_weeks) != int(config.backtest.data_lag_weeks):
        raise ModelConfigError(
            f"model {what} was fitted with data lag {bundle.data_lag_weeks} week(s) but its config says "
            f"{config.backtest.data_lag_weeks}; retrain it with the config"
        )


def backtest_forecasts(model: PublishModel, target: str) -> pd.DataFrame:
    """Return the model's backtest run's forecasts of ``target`` (region_id as str; ``p_raw`` is the raw
    probability before recalibration, ``p`` where the run predates recalibration); empty without a run."""
    if model.backtest_run_id is None or model.tracking_uri is None:
        return pd.DataFrame(
            {
                "region_id": pd.Series(dtype=str),
                "week": pd.Series(dtype="datetime64[ns]"),
                "horizon": pd.Series(dtype="int64"),
                **{c: pd.Series(dtype=str) for c in ("target", "model")},
                **{c: pd.Series(dtype="float64") for c in ("p", "p_raw")},
            }
        )
    fc = _run_forecasts(model.tracking_uri, model.backtest_run_id)
    fc = fc[fc["target"] == target]
    return fc.assign(p_raw=fc["p_raw"] if "p_raw" in fc.columns else fc["p"])


@lru_cache(maxsize=4)
def _run_forecasts(uri: str, run_id: str) -> pd.DataFrame:
    """Return a backtest run's forecasts artifact (read once per process: a run never changes)."""
    import mlflow
    import pyarrow.parquet as pq

    from experiments.tracking import use_tracking

    use_tracking(uri)
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="forecasts.parquet")
    wanted = ["region_id", "week", "horizon", "target", "model", "p", "p_raw"]
    present = [c for c in wanted if c in pq.read_schema(path).names]
    fc = pd.read_parquet(path, columns=present)
    return fc.assign(
        region_id=fc["region_id"].astype(str),
        target=fc["target"].astype(str),
        week=pd.to_datetime(fc["week"]),
    )
