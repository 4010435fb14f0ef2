"""Experiment configs: the shipped ones load; errors name the file, the key, expected and got."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from civrisk.settings import Settings, get_settings
from experiments.config import CONFIG_DIR, ConfigError, load_config
from forecasting.plan import BASELINES


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(name, get_settings())
    assert cfg.name == name
    assert cfg.models[: len(BASELINES)] == BASELINES
    assert cfg.primary.target in cfg.targets and cfg.primary.horizon in cfg.horizons
    files = [cfg.data.events] if cfg.data.events is not None else list(cfg.data.raw_files)
    assert all(p is not None and p.is_absolute() for p in files)
    settings = get_settings()
    assert str(files[0]).startswith((str(settings.shared_data), str(settings.home.resolve())))


def test_sahel_config_is_the_issue_experiment() -> None:
    cfg = load_config("sahel_admin1", get_settings())
    assert cfg.data.countries == ("MLI", "BFA", "NER") and cfg.data.unit == "admin1"
    assert cfg.horizons == (1, 4, 12) and cfg.backtest.test_years == (2017, 2020)
    assert cfg.backtest.retrain_every == 13
    assert (
        str(cfg.backtest.test_start.date()) == "2017-01-01"
        and str(cfg.backtest.test_end.date()) == "2020-12-31"
    )
    params = cfg.flat_params()
    assert params["data.countries"] == "MLI,BFA,NER" and params["backtest.retrain_every"] == "13"
    assert "source_path" not in params


def _write(tmp_path: Path, body: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "exp.toml"
    path.write_text(body, encoding="utf-8")
    return path


BASE = """
name = "t"
targets = ["civ_any"]
horizons = [4]
models = ["xgboost"]
[data]
events = "events"
"""


def test_relative_paths_and_aliases(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, BASE), get_settings())
    assert cfg.data.events == tmp_path.resolve() / "events"
    assert cfg.models == (*BASELINES, "xgb")  # alias -> catalog name, baselines first
    assert cfg.backtest.data_lag_weeks == get_settings().publication_lag_weeks
    other = load_config(_write(tmp_path, BASE.replace('"t"', '"other"')), get_settings())
    assert cfg.fingerprint() == other.fingerprint()
    # where the units ran is not part of the experiment: a Dask run reuses the local run's models
    engine = cfg.backtest.model_copy(update={"executor": "dask", "cluster_address": "tcp://h:8786"})
    assert cfg.model_copy(update={"backtest": engine}).fingerprint() == cfg.fingerprint()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            BASE + "[backtest]\nretrain_every = 0\n",
            "key backtest.retrain_every: Input should be greater than or equal to 1 (got 0)",
        ),
        (BASE.replace('["civ_any"]', '["civ_anything"]'), "key targets: expected some of"),
        (BASE.replace('["xgboost"]', '["xgboots"]'), "key models: unknown model 'xgboots'; expected one of"),
        (BASE + "[data2]\nx = 1\n", "key data2: Extra inputs are not permitted (got {'x': 1})"),
        (BASE.replace('events = "events"', 'unit = "admin1"'), "expected exactly one of data.events"),
        (BASE + "[primary]\nhorizon = 12\n", "primary metric is for target 'civ_any' at horizon 12"),
        (BASE.replace("horizons = [4]", "horizons = [4, 4]"), "key horizons: expected distinct horizons"),
    ],
)
def test_errors_name_file_key_expected_and_got(tmp_path: Path, edit: str, message: str) -> None:
    path = _write(tmp_path, edit)
    with pytest.raises(ConfigError, match=re.escape(f"config {path}: ")) as err:
        load_config(path, get_settings())
    assert message in str(err.value)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("config nope.toml not found: not a file, nor one of")):
        load_config("nope.toml", get_settings())
    path = _write(tmp_path, "name = [")
    with pytest.raises(ConfigError, match=re.escape(f"config {path}: not valid TOML")):
        load_config(path, get_settings())


def test_cli_config_errors_are_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    path = _write(tmp_path, BASE.replace("horizons = [4]", "horizons = [2, 60]"))
    result = CliRunner().invoke(app, ["backtest", str(path), "--no-track"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"civrisk backtest: config {path}: key horizons:")


def test_fingerprint_survives_moving_the_home_and_the_data(tmp_path: Path) -> None:
    """Paths count relative to {home}, {shared_data} and the config's folder: a moved deployment keeps
    recognising the models it trained (their config fingerprints still match)."""
    text = BASE.replace(
        'events = "events"', 'events = "{home}/events"\nboundaries = "{shared_data}/b.geojson"'
    )
    a = load_config(_write(tmp_path / "a", text), Settings(home=tmp_path / "h1", shared_data=tmp_path / "d1"))
    b = load_config(_write(tmp_path / "b", text), Settings(home=tmp_path / "h2", shared_data=tmp_path / "d2"))
    assert a.data.events != b.data.events and a.fingerprint() == b.fingerprint()
    c = load_config(
        _write(tmp_path / "c", text.replace("{home}/events", "{home}/other")), Settings(home=tmp_path)
    )
    assert c.fingerprint() != a.fingerprint()


def test_data_fingerprint_covers_the_code_and_its_rule_files(tmp_path: Path, monkeypatch) -> None:
    from experiments import tracking

    data = tmp_path / "events.csv"
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    before = tracking.data_fingerprint([data])
    assert before == tracking.data_fingerprint([data])
    monkeypatch.setattr(tracking, "code_fingerprint", lambda: "another code version")
    assert tracking.data_fingerprint([data]) != before


def test_the_config_reference_is_generated_from_the_models() -> None:
    """docs/CONFIG.md lists every key with its type, default and meaning; regenerate it on a model change."""
    from experiments.config_reference import OUT, render

    assert OUT.read_text(encoding="utf-8") == render(), "run: python -m experiments.config_reference"
    keys = ("`horizons`", "`data.unit`", "`backtest.test_window`", "`primary.metric`", "`feature_plugins`")
    for key in keys:
        assert key in render()
