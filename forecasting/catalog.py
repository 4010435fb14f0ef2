"""Model catalog: the names experiment configs use -> model classes with their default settings.

A name stands for one model family; baselines exist for both kinds (binary targets and the count target),
the learned models for one kind (``xgb`` for binary targets, ``xgb_count`` for ``civ_deaths``).
:func:`make_model` builds the instance for one target x horizon, filling in what depends on them (the
persistence window feature) and the experiment seed; :func:`supports` tells a backtest which names apply to
a target. A few aliases (``xgboost``, ``negbin``, ``xgboost_count``) map to the canonical names.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from typing import Any

from civrisk.plugins import PluginError, import_object
from civrisk.settings import DEFAULT_DATA_LAG_WEEKS
from forecasting.base import KINDS, Forecaster, set_nested_params
from forecasting.baselines import RECENT_WEEKS
from forecasting.targets import TARGET_KINDS, TARGET_SPECS


def _lazy(module: str, cls: str) -> Callable[..., Forecaster]:
    """Return a constructor that imports its module on first use (keeps ``import catalog`` light)."""

    def build(**params: Any) -> Forecaster:
        import importlib

        return getattr(importlib.import_module(f"forecasting.{module}"), cls)(**params)

    build.__qualname__ = f"{module}.{cls}"
    return build


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry: per kind, the constructor and its default settings."""

    name: str
    builders: Mapping[str, Callable[..., Forecaster]]
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    derive: Callable[[str, int, int], dict[str, Any]] | None = None
    """(target, horizon, data lag) -> settings that depend on them (persistence's window, say)."""
    doc: str = ""

    @property
    def kinds(self) -> tuple[str, ...]:
        """Return the target kinds this model supports."""
        return tuple(self.builders)


_SPECS = (
    ModelSpec(
        "zero",
        {"binary": _lazy("baselines", "Zero"), "count": _lazy("baselines", "ZeroCount")},
        doc="p = 0 / 0 deaths",
    ),
    ModelSpec(
        "climatology",
        {"binary": _lazy("baselines", "Climatology"), "count": _lazy("baselines", "ClimatologyCount")},
        doc="region base rate over all training labels, smoothed toward the global rate",
    ),
    ModelSpec(
        "persistence",
        {"binary": _lazy("baselines", "Persistence"), "count": _lazy("baselines", "PersistenceCount")},
        derive=lambda target, h, k: _persistence_params(target, h, k),
        doc="the last observed window of the same length (feature <window>_sum_<h>w_lag<k>)",
    ),
    ModelSpec(
        "recent_climatology",
        {
            "binary": _lazy("baselines", "RecentClimatology"),
            "count": _lazy("baselines", "RecentClimatologyCount"),
        },
        derive=lambda target, h, k: _recent_params(target, h, k),
        doc="the region's weekly rate of the event over the last 52 known weeks, 1 - (1 - r)^h",
    ),
    ModelSpec(
        "conflictology",
        {"binary": _lazy("baselines", "Conflictology"), "count": _lazy("baselines", "ConflictologyCount")},
        doc="empirical distribution of the region's labels over the last 52 training weeks (VIEWS)",
    ),
    ModelSpec("glm_logit", {"binary": _lazy("glm", "GLMLogit")}, doc="ridge Binomial GLM (statsmodels)"),
    ModelSpec("glm_negbin", {"count": _lazy("glm", "GLMNegBin")}, doc="ridge negative-binomial GLM"),
    ModelSpec("logistic", {"binary": _lazy("sk_models", "Logistic")}, doc="L2 logistic regression (sklearn)"),
    ModelSpec("hgb", {"binary": _lazy("sk_models", "HGB")}, doc="HistGradientBoostingClassifier"),
    ModelSpec("hgb_count", {"count": _lazy("sk_models", "HGBCount")}, doc="HistGradientBoosting, Poisson"),
    ModelSpec("xgb", {"binary": _lazy("xgb_models", "XGB")}, doc="xgboost, 200 trees of depth 4"),
    ModelSpec("xgb_count", {"count": _lazy("xgb_models", "XGBCount")}, doc="xgboost count:poisson + NB"),
    ModelSpec(
        "calibrated_xgb",
        {"binary": lambda **p: _lazy("calibration", "Calibrated")(base=_lazy("xgb_models", "XGB")(), **p)},
        # sigmoid beat isotonic on Brier for all three targets checked, in 2016 and in 2019 (Sahel admin-1)
        defaults={"binary": {"method": "sigmoid", "calib_fraction": 0.25}},
        doc="xgb recalibrated (Platt) on the latest quarter of training weeks",
    ),
    ModelSpec(
        "ensemble",
        {
            "binary": lambda **p: _lazy("ensemble", "MeanEnsemble")(
                members=[_lazy("sk_models", "Logistic")(), _lazy("xgb_models", "XGB")()], **p
            )
        },
        doc="mean of logistic and xgb probabilities",
    ),
)

ALIASES: Mapping[str, str] = {"xgboost": "xgb", "negbin": "glm_negbin", "xgboost_count": "xgb_count"}

MODEL_CATALOG: Mapping[str, ModelSpec] = {
    **{s.name: s for s in _SPECS},
    **{alias: next(s for s in _SPECS if s.name == name) for alias, name in ALIASES.items()},
}
"""Every model name a config may use (canonical names and aliases) -> its spec."""


ENTRY_POINT_GROUP = "civrisk.models"
"""Installed packages may offer models under this entry-point group: ``name = "package.module:Class"``."""


def resolve_spec(name: str) -> ModelSpec:
    """Return the spec of a catalog name, an installed plug-in name, or a plug-in path ``pkg.mod:Class``.

    A plug-in is a :class:`~forecasting.base.Forecaster` subclass (its ``kind`` says which targets it
    serves) or a :class:`ModelSpec` (several kinds, defaults); docs/BACKTEST.md has a worked example.
    """
    if name in MODEL_CATALOG:
        return MODEL_CATALOG[name]
    path = name if ":" in name else _entry_points().get(name)
    if path is None:
        raise ValueError(
            f"unknown model {name!r}; expected one of {sorted(MODEL_CATALOG)}, a plug-in "
            f"'package.module:Class', or a name installed under the {ENTRY_POINT_GROUP!r} entry points "
            f"({sorted(_entry_points()) or 'none installed'})"
        )
    return _plugin_spec(name, path)


@cache
def _plugin_spec(name: str, path: str) -> ModelSpec:
    obj = import_object(path, "model plug-in")
    if isinstance(obj, ModelSpec):
        return replace(obj, name=name)
    if isinstance(obj, type) and issubclass(obj, Forecaster) and obj.kind in KINDS:
        doc = (obj.__doc__ or "").strip().splitlines()
        return ModelSpec(name, {obj.kind: obj}, doc=doc[0] if doc else path)
    raise PluginError(
        f"model plug-in {path!r} is {obj!r}; expected a Forecaster subclass with kind 'binary' or 'count' "
        "(forecasting.base.BinaryForecaster / CountForecaster) or a forecasting.catalog.ModelSpec"
    )


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _kind(target: str) -> str:
    if target not in TARGET_KINDS:
        raise ValueError(f"unknown target {target!r}; expected one of {list(TARGET_KINDS)}")
    return TARGET_KINDS[target]


def supports(name: str, target: str) -> bool:
    """Return True when model ``name`` can forecast ``target`` (its kind is among the model's kinds)."""
    return _kind(target) in resolve_spec(name).kinds


def model_names(kind: str | None = None) -> list[str]:
    """Return the canonical model names (no aliases), optionally only those supporting ``kind``."""
    return [s.name for s in _SPECS if kind is None or kind in s.kinds]


def persistence_window(target: str, horizon: int, data_lag_weeks: int) -> tuple[str, float]:
    """Return (window feature, threshold) for the persistence baseline of ``target`` at ``horizon``.

    The window is the last ``horizon`` observed weeks (``<measure>_sum_<h>w_lag<k>``). ``civ_mass`` has no
    per-week maximum feature, so its persistence asks for >= 10 civilians killed in the window's sum: exact
    for h = 1, an upper bound on the mass-killing signal for longer windows.
    """
    spec = TARGET_SPECS[target]
    feature = f"{spec.measure}_sum_{int(horizon)}w_lag{int(data_lag_weeks)}"
    return feature, float(spec.threshold)


def _persistence_params(target: str, horizon: int, k: int) -> dict[str, Any]:
    feature, threshold = persistence_window(target, horizon, k)
    return {"window_feature": feature} | ({"threshold": threshold} if _kind(target) == "binary" else {})


def _recent_params(target: str, horizon: int, k: int) -> dict[str, Any]:
    """Return the recent climatology's features for ``target``: its weekly events over the last year."""
    weeks = RECENT_WEEKS
    common = {"covered_feature": f"covered_share_{weeks}w_lag{k}", "window_weeks": weeks, "horizon": horizon}
    if _kind(target) == "binary":
        return common | {"weeks_feature": f"{target}_weeks_{weeks}w_lag{k}"}
    return common | {"sum_feature": f"{TARGET_SPECS[target].measure}_sum_{weeks}w_lag{k}"}


def make_model(
    name: str,
    target: str,
    horizon: int,
    *,
    data_lag_weeks: int | None = None,
    seed: int | None = None,
    **overrides: Any,
) -> Forecaster:
    """Return an unfitted model ``name`` for ``target`` at ``horizon`` (defaults, derived, then overrides).

    Args:
        data_lag_weeks: k of the feature names (``..._lag<k>``); default: DEFAULT_DATA_LAG_WEEKS.
        seed: sets ``random_state`` on the model and on any nested models that take one.
        overrides: settings that replace the defaults (e.g. ``n_estimators=50``; nested models take
            scikit-learn's ``base__n_estimators=50``).
    """
    spec, kind = resolve_spec(name), _kind(target)
    if kind not in spec.kinds:
        raise ValueError(
            f"model {name!r} cannot forecast {target!r} ({kind} target); models for {kind} targets: "
            f"{model_names(kind)}"
        )
    params: dict[str, Any] = dict(spec.defaults.get(kind, {}))
    if spec.derive is not None:
        k = DEFAULT_DATA_LAG_WEEKS if data_lag_weeks is None else data_lag_weeks
        params.update(spec.derive(target, horizon, k))
    model = spec.builders[kind](**params)
    if overrides:  # set_params also reaches nested settings, e.g. base__n_estimators
        model.set_params(**overrides)
    if seed is not None:  # on the model and on nested models (``base``, ``members``)
        set_nested_params(model, random_state=seed)
    return model
