"""The model registry: register forecast bundles in MLflow, move the ``champion`` alias by rule, load them.

One registered model (``settings.registered_model_name``) holds every trained bundle as a version. A version
carries tags with its provenance (config, backtest run, data fingerprint, data end) and its primary backtest
score. The alias ``champion`` (what the publish stage loads) moves to a new version only when that score
beats the current champion's on the same primary metric, or when forced. mlflow is imported inside
functions.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from experiments.tracking import CONFIG_TAG, DATA_TAG, GIT_TAG, KIND_TAG, git_commit, use_tracking
from forecasting.metrics import greater_is_better

if TYPE_CHECKING:
    from experiments.champion import Comparison
    from experiments.config import ExperimentConfig
    from forecasting.bundle import ForecastBundle

CHAMPION = "champion"


class NoChampionError(LookupError):
    """The registered model has no champion version yet: nothing to publish with until one is trained."""


PRIMARY_METRIC_TAG = "civrisk.primary_metric"
PRIMARY_VALUE_TAG = "civrisk.primary_value"
BACKTEST_RUN_TAG = "civrisk.backtest_run_id"
DATA_END_TAG = "civrisk.data_end"
MODELS_TAG = "civrisk.models"
COMPARED_TAG = "civrisk.champion_comparison"
"""JSON of the like-for-like comparison the champion rule made: rows, window and both scores."""


@dataclass(frozen=True)
class Registration:
    """What ``register_bundle`` did: the new version, its score, and whether the champion moved and why."""

    name: str
    version: str
    primary_metric: str
    primary_value: float
    previous_champion: str | None
    previous_value: float | None
    champion_moved: bool
    reason: str


@dataclass(frozen=True)
class LoadedModel:
    """A registered bundle loaded for prediction, with its version and provenance tags."""

    name: str
    version: str
    tags: dict[str, str]
    pyfunc: object

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Return the long forecasts table for the rows of ``features`` (the FEATURES contract)."""
        return self.pyfunc.predict(features)  # type: ignore[attr-defined]

    @property
    def data_end(self) -> pd.Timestamp:
        """Return the last panel week the bundle was trained on."""
        return pd.Timestamp(self.tags[DATA_END_TAG])


def primary_label(config: ExperimentConfig) -> str:
    """Return the text that identifies a primary metric (metric, target, horizon, subset)."""
    p = config.primary
    return f"{p.metric}|{p.target}|h{p.horizon}|{p.subset}"


def champion_decision(
    new_value: float,
    label: str,
    current: tuple[str, float, str] | None,
    force: bool,
    common: Comparison | None = None,
) -> tuple[bool, str]:
    """Return (move the champion?, why) for a new score vs the current champion (version, value, label).

    With ``common`` (both versions scored on the rows their backtests share) the rule compares those two
    numbers, like for like; without it (a champion whose backtest predates kept outcomes) the stored scores.
    """
    metric = label.split("|")[0]
    if force:
        return True, "forced (--force)"
    if current is None:
        return True, "no champion yet"
    version, value, current_label = current
    if current_label != label:
        return False, (
            f"champion v{version} was scored on {current_label!r}, this model on {label!r}; scores on "
            "different primary metrics are not comparable (use --force to replace it anyway)"
        )
    if common is not None:
        if common.n_rows == 0:
            return False, (
                f"this model's backtest and champion v{version}'s share no scored test rows, so they cannot "
                "be compared like for like; the champion stays (backtest both on a common test window, or "
                "use --force)"
            )
        where = f"on the {common.n_rows:,} test rows both backtests scored ({common.window})"
        new_value, value = common.candidate, common.champion
        if math.isnan(new_value):
            return (
                False,
                f"the new model's {metric} is undefined (NaN) {where}; the champion stays v{version}",
            )
        better = new_value > value if greater_is_better(metric) else new_value < value
        verdict = "beats" if better or math.isnan(value) else "does not beat"
        return (
            verdict == "beats",
            f"{metric} {new_value:.4f} {verdict} champion v{version}'s {value:.4f} {where}",
        )
    if math.isnan(new_value):
        return False, f"the new model's {metric} is undefined (NaN); the champion stays v{version}"
    better = new_value > value if greater_is_better(metric) else new_value < value
    if better or math.isnan(value):
        return True, f"{metric} {new_value:.4f} beats champion v{version}'s {value:.4f}"
    return False, f"{metric} {new_value:.4f} does not beat champion v{version}'s {value:.4f}"


def register_bundle(
    bundle: ForecastBundle,
    config: ExperimentConfig,
    primary_value: float,
    backtest_run_id: str,
    data_fingerprint: str,
    input_example: pd.DataFrame,
    force: bool = False,
    *,
    uri: str,
    name: str,
) -> Registration:
    """Log the bundle as an MLflow pyfunc model in a run, register it, and move ``champion`` by rule."""
    import mlflow
    from mlflow.models import infer_signature

    from experiments.pyfunc_bundle import BundleModel
    from experiments.tracking import ensure_experiment, experiment_name

    resolved = use_tracking(uri)
    client = mlflow.MlflowClient()
    label = primary_label(config)
    current = _champion(client, name)
    example = _example(input_example)
    with warnings.catch_warnings():
        # the output's integer `horizon` triggers a hint about missing integers; outputs are never enforced
        warnings.filterwarnings(
            "ignore", message="Hint: Inferred schema contains integer", category=UserWarning
        )
        signature = infer_signature(example, bundle.predict(example))
    exp_id = ensure_experiment(experiment_name(config.name), resolved)
    tags = {
        KIND_TAG: "train",
        CONFIG_TAG: config.fingerprint(),
        DATA_TAG: data_fingerprint,
        BACKTEST_RUN_TAG: backtest_run_id,
        DATA_END_TAG: str(bundle.data_end.date()),
        PRIMARY_METRIC_TAG: label,
        PRIMARY_VALUE_TAG: repr(float(primary_value)),
        MODELS_TAG: json.dumps({f"{t}|h{h}": m for (t, h), m in sorted(bundle.chosen.items())}),
        "civrisk.config_name": config.name,
    }
    commit = git_commit()
    if commit:
        tags[GIT_TAG] = commit
    with mlflow.start_run(experiment_id=exp_id, run_name=f"train-{config.name}-{bundle.data_end.date()}"):
        mlflow.log_params(config.flat_params())
        mlflow.set_tags(tags)
        if not math.isnan(primary_value):
            mlflow.log_metric("primary", float(primary_value))
        info = mlflow.pyfunc.log_model(
            name="forecast_bundle",
            python_model=BundleModel(bundle),
            signature=signature,
            input_example=example,
            registered_model_name=name,
            pip_requirements=_requirements(),
        )
    version = str(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    common = None
    if not force and current is not None:
        common = _common_rows(bundle, config, backtest_run_id, (name, current[0]), uri)
    if common is not None and current is not None:
        client.set_model_version_tag(name, version, COMPARED_TAG, json.dumps(_compared(current[0], common)))
    moved, reason = champion_decision(float(primary_value), label, current, force, common)
    if moved:
        client.set_registered_model_alias(name, CHAMPION, version)
    return Registration(
        name=name,
        version=version,
        primary_metric=label,
        primary_value=float(primary_value),
        previous_champion=current[0] if current else None,
        previous_value=current[1] if current else None,
        champion_moved=moved,
        reason=reason,
    )


def _common_rows(
    bundle: ForecastBundle,
    config: ExperimentConfig,
    run_id: str,
    champion: tuple[str, str],
    uri: str,
) -> Comparison | None:
    """Return the candidate and the champion (name, version) scored on their backtests' common rows, or
    None when either run lacks its outcomes (logged before they were kept)."""
    import mlflow

    from experiments.champion import compare_on_common_rows, run_evidence

    p = config.primary
    tags = mlflow.MlflowClient().get_model_version(*champion).tags
    champ_model = json.loads(tags.get(MODELS_TAG, "{}")).get(f"{p.target}|h{p.horizon}")
    champ_run = tags.get(BACKTEST_RUN_TAG)
    cand_model = bundle.chosen.get((p.target, p.horizon))
    if not champ_model or not champ_run or cand_model is None:
        return None
    cand = run_evidence(run_id, cand_model, uri)
    champ = run_evidence(champ_run, champ_model, uri)
    if cand is None or champ is None:
        return None
    return compare_on_common_rows(cand, champ, p)


def _compared(version: str, common: Comparison) -> dict[str, object]:
    return {
        "champion_version": version,
        "rows": common.n_rows,
        "window": common.window,
        "candidate": common.candidate,
        "champion": common.champion,
    }


def _example(features: pd.DataFrame) -> pd.DataFrame:
    """Return a few feature rows with float64 features (so float32 inputs pass the signature by upcasting)."""
    from forecasting.base import numeric_feature_columns

    head = features.head(3).reset_index(drop=True)
    numeric = numeric_feature_columns(head)
    return head.astype({c: "float64" for c in numeric}).astype({"region_id": "string", "iso3": "string"})


def _requirements() -> list[str]:
    """Return the bundle's pinned requirements (explicit: MLflow would infer them in a slow subprocess)."""
    from importlib.metadata import version

    pkgs = ("mlflow", "numpy", "pandas", "scikit-learn", "scipy", "statsmodels", "xgboost", "cloudpickle")
    return [f"{p}=={version(p)}" for p in pkgs]


def _champion(client: object, name: str) -> tuple[str, float, str] | None:
    """Return (version, primary value, primary label) of the current champion, or None."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)  # type: ignore[attr-defined]
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower():
            return None
        raise
    return str(mv.version), float(mv.tags.get(PRIMARY_VALUE_TAG, "nan")), mv.tags.get(PRIMARY_METRIC_TAG, "")


def list_versions(uri: str, name: str) -> pd.DataFrame:
    """Return every registered version: version, aliases, created, data end, primary metric and value, run."""
    import mlflow

    use_tracking(uri)
    client = mlflow.MlflowClient()
    columns = [
        "version",
        "aliases",
        "created",
        "config",
        "data_end",
        "primary_metric",
        "primary_value",
        "run_id",
    ]
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        return pd.DataFrame(columns=columns)
    aliases: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in client.search_model_versions(filter_string=f"name = '{name}'"):
        rows.append(
            {
                "version": int(mv.version),
                "aliases": ",".join(sorted(aliases.get(str(mv.version), []))),
                "created": pd.Timestamp(mv.creation_timestamp, unit="ms"),
                "config": mv.tags.get("civrisk.config_name", ""),
                "data_end": mv.tags.get(DATA_END_TAG, ""),
                "primary_metric": mv.tags.get(PRIMARY_METRIC_TAG, ""),
                "primary_value": float(mv.tags.get(PRIMARY_VALUE_TAG, "nan")),
                "run_id": mv.run_id,
            }
        )
    return pd.DataFrame(rows, columns=columns).sort_values("version", ignore_index=True)


def load_model_version(version: int | str, uri: str, name: str) -> LoadedModel:
    """Return registered version ``version`` loaded for prediction."""
    import mlflow

    use_tracking(uri)
    mv = mlflow.MlflowClient().get_model_version(name, str(version))
    return LoadedModel(
        name, str(mv.version), dict(mv.tags), mlflow.pyfunc.load_model(f"models:/{name}/{mv.version}")
    )


def load_champion(uri: str, name: str) -> LoadedModel:
    """Return the ``champion`` version loaded for prediction; raise NoChampionError when there is none."""
    import mlflow

    use_tracking(uri)
    current = _champion(mlflow.MlflowClient(), name)
    if current is None:
        raise NoChampionError(
            f"registered model {name!r} has no {CHAMPION!r} version; train and register one with "
            "civrisk train CONFIG --register"
        )
    return load_model_version(current[0], uri, name)
