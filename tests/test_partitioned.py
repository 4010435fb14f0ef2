"""Out-of-core grid: features built country by country equal the whole-grid build; sampling is corrected."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.panel import build_panel, country_regions
from features.partitioned import GridDataset, build_grid_dataset, open_dataset
from forecasting.grid_sampling import (
    SamplingDesign,
    corrected,
    features_of,
    label_columns,
    label_name,
    scan_rows,
    scan_sample,
)
from forecasting.plan import ModelPlan
from forecasting.targets import build_targets
from ingest.coverage import compute_coverage
from ingest.regions import neighbours
from tests.grid_fixtures import make_cells, make_grid_events

SPEC = ModelPlan(targets=("civ_any",), horizons=(4,)).feature_spec()
START, END = pd.Timestamp("2014-01-06"), pd.Timestamp("2019-12-30")


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[GridDataset, pd.DataFrame, pd.DataFrame]:
    cells = make_cells()
    events = make_grid_events(cells)
    coverage = compute_coverage(events)
    root = tmp_path_factory.mktemp("grid")
    build_grid_dataset(
        events, coverage, cells, root, spec=SPEC, data_lag_weeks=1, start=START, end=END,
        extra=label_columns(["civ_any"], [4]),
    )  # fmt: skip
    return open_dataset(root), events, cells


def _whole(events: pd.DataFrame, cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the panel and features of the whole grid at once (what build_model_inputs does)."""
    coverage = compute_coverage(events)
    panel = build_panel(events, cells, coverage, "grid", START, END)
    country = build_panel(events, country_regions(cells), coverage, "country", START, END)
    return panel, build_features(panel, neighbours(cells, None, "grid"), 1, country_panel=country, spec=SPEC)


def test_partitioned_features_equal_the_whole_grid_build(grid) -> None:
    dataset, events, cells = grid
    panel, whole = _whole(events, cells)
    parts = pd.concat(
        [pd.read_parquet(dataset.path("features", p)) for p in dataset.partitions], ignore_index=True
    )
    assert dataset.partitions == ["AAA", "BBB", "CCC"]
    assert [s["halo_cells"] for s in dataset.stats] == [10, 20, 10]  # a column of 10 cells per border
    labels = parts[[label_name("civ_any", 4)]]
    parts = parts.drop(columns=labels.columns)
    key = ["region_id", "week"]
    whole = whole.sort_values(key, ignore_index=True)
    parts = parts.sort_values(key, ignore_index=True).astype({"region_id": "string", "iso3": "string"})
    pd.testing.assert_frame_equal(parts, whole.astype({"region_id": "string", "iso3": "string"}))
    # border cells have neighbours across the partition line: the nb_ family saw the halo
    assert parts["nb_events_sum_12w_lag1"].gt(0).any()
    # labels stored beside the features are build_targets' labels
    y = build_targets(panel, [4], ["civ_any"], origins=pd.DatetimeIndex(whole["week"].unique()))
    y = y.assign(region_id=y["region_id"].astype(str)).set_index(key)["y"]
    got = pd.Series(labels.iloc[:, 0].to_numpy(), index=pd.MultiIndex.from_frame(
        pd.concat([pd.read_parquet(dataset.path("features", p), columns=key) for p in dataset.partitions])
        .astype({"region_id": str})
    ))  # fmt: skip
    np.testing.assert_array_equal(got.reindex(y.index).to_numpy(), y.to_numpy().astype(np.float32))


def test_large_countries_cut_into_bands_give_the_same_features(grid, tmp_path: Path) -> None:
    _, events, cells = grid
    dataset = build_grid_dataset(
        events, compute_coverage(events), cells, tmp_path, spec=SPEC, data_lag_weeks=1, start=START,
        end=END, max_cells=15,
    )  # fmt: skip
    assert dataset.partitions == [f"{c}-{b}" for c in ("AAA", "BBB", "CCC") for b in range(3)]
    assert max(s["cells"] for s in dataset.stats) == 15
    parts = pd.concat([pd.read_parquet(dataset.path("features", p)) for p in dataset.partitions])
    key = ["region_id", "week"]
    whole = _whole(events, cells)[1].sort_values(key, ignore_index=True)
    parts = parts.sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(parts, whole, check_dtype=False)


def test_an_island_partition_has_the_same_columns(tmp_path: Path) -> None:
    """A country of one cell without neighbours still gets nb_ features (0: an empty sum), so every
    partition has one schema and DuckDB reads them together."""
    cells = make_cells(rows=3, cols_per_country=2)
    island = cells.iloc[[0]].assign(region_id=pd.array(["1"], dtype="string"), iso3="DDD", lat=-89.75)
    cells = pd.concat([cells, island], ignore_index=True)
    events = make_grid_events(cells, n_events=300)
    dataset = build_grid_dataset(
        events, compute_coverage(events), cells, tmp_path, spec=SPEC, data_lag_weeks=1, start=START, end=END
    )
    columns = {p: list(pd.read_parquet(dataset.path("features", p)).columns) for p in dataset.partitions}
    assert "DDD" in columns and len({tuple(c) for c in columns.values()}) == 1
    ddd = pd.read_parquet(dataset.path("features", "DDD"))
    assert (ddd["nb_events_sum_12w_lag1"].fillna(0) == 0).all()


def test_a_missing_manifest_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path} holds no finished grid dataset")):
        open_dataset(tmp_path)


def test_a_failed_build_leaves_no_version_behind(tmp_path: Path) -> None:
    cells = make_cells(rows=3, cols_per_country=2)
    events = make_grid_events(cells, n_events=200)

    def broken(panel: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("labels failed")

    with pytest.raises(RuntimeError, match="labels failed"):
        build_grid_dataset(
            events, compute_coverage(events), cells, tmp_path, spec=SPEC, data_lag_weeks=1, extra=broken
        )
    assert list(tmp_path.iterdir()) == []


def test_sampling_keeps_every_positive_and_the_stated_share_of_quiet_negatives(grid) -> None:
    dataset = grid[0]
    everything = scan_sample(dataset, SamplingDesign("civ_any", 4, quiet_rate=1.0))
    design = SamplingDesign("civ_any", 4, quiet_rate=0.2, seed=1)
    sample = scan_sample(dataset, design)
    quiet = (everything["events_sum_52w_lag1"] == 0) & (everything["nb_events_sum_12w_lag1"] == 0)
    assert (sample["y"] > 0).sum() == (everything["y"] > 0).sum()
    n_quiet_neg = int((quiet & (everything["y"] == 0)).sum())
    kept = int(((sample["sample_offset"] < 0) & (sample["y"] == 0)).sum())
    # binomial: within 4 standard deviations of 20%
    assert abs(kept - 0.2 * n_quiet_neg) < 4 * np.sqrt(n_quiet_neg * 0.2 * 0.8)
    assert np.allclose(sample.loc[sample["sample_offset"] < 0, "sample_offset"], np.log(0.2))
    # the same seed keeps the same rows
    pd.testing.assert_frame_equal(scan_sample(dataset, design), sample)


@pytest.mark.slow
def test_corrected_probabilities_match_an_unsampled_fit(grid) -> None:
    """Prior correction: a fit on every positive and 10% of the quiet negatives, corrected, gives the
    probabilities of the fit on all rows.

    Both fits are (near-)maximum-likelihood logistic regressions (alpha 1e-3), the premise of the
    correction. Tolerance: keeping r = 10% of the N0 quiet negatives adds a standard error of about
    sqrt((1 - r) / (r * N0)) to the quiet stratum's log-odds (0.09 here); a probability moves by p(1 - p)
    times a log-odds error, so three such errors averaged over the rows bound the mean difference (0.003;
    measured 0.0007). The uncorrected fit is off by log(1 / r) = 2.3 in log-odds on quiet rows, and by
    more than 5 bounds on average (measured 0.016): the check is not vacuous.
    """
    from forecasting.catalog import make_model

    dataset, r = grid[0], 0.1
    full = scan_sample(dataset, SamplingDesign("civ_any", 4, quiet_rate=1.0))
    sample = scan_sample(dataset, SamplingDesign("civ_any", 4, quiet_rate=r, seed=3))
    rows = scan_rows(dataset, SamplingDesign("civ_any", 4, quiet_rate=r), sorted(full["week"].unique()))
    assert len(rows) == len(full) and len(sample) < 0.8 * len(full)
    quiet = rows["sample_offset"].to_numpy() < 0
    assert np.allclose(rows.loc[quiet, "sample_offset"], np.log(r)) and quiet.mean() > 0.2

    def fit(frame: pd.DataFrame) -> object:
        model = make_model("logistic", "civ_any", 4, data_lag_weeks=1, seed=0, alpha=1e-3, max_iter=2000)
        return model.fit(features_of(frame), frame["y"])

    p_full = fit(full).predict_proba(features_of(rows))
    p_raw = fit(sample).predict_proba(features_of(rows))
    p_corr = corrected(p_raw, rows["sample_offset"].to_numpy())
    n0 = int((quiet & (rows["y"] == 0).to_numpy()).sum())
    bound = 3 * np.sqrt((1 - r) / (r * n0)) * float(np.mean(p_full * (1 - p_full)))
    assert np.mean(np.abs(p_corr - p_full)) < bound
    assert np.mean(np.abs(p_raw - p_full)) > 5 * bound
    # calibration in the large, overall and on the quiet rows: within 3 standard errors of the rate
    y = rows["y"].gt(0).to_numpy()
    for part in (slice(None), quiet):
        rate = y[part].mean()
        assert abs(p_corr[part].mean() - rate) < 3 * rate / np.sqrt(y[part].sum())


def test_grid_backtest_scores_the_corrected_model_against_climatology(grid) -> None:
    from forecasting.grid_backtest import grid_backtest

    design = SamplingDesign("civ_any", 4, quiet_rate=0.2, seed=2)
    result = grid_backtest(grid[0], design, "logistic", "2019-01-01", "2019-12-31", retrain_every=26)
    overall = result.metrics[result.metrics["subset"] == "all"].set_index(["model", "metric"])["value"]
    assert overall[("climatology", "brier_skill_climatology")] == pytest.approx(0.0)
    assert overall[("logistic", "brier_skill_climatology")] > 0  # persistent hot cells are predictable
    assert list(result.folds["cutoff"].dt.year) == [2018, 2019]
    assert 0 < result.sample_rows < result.population_rows
    # every test row scored, climatology is the population rate before each cutoff
    assert result.folds["population_rate"].between(0.01, 0.2).all()
    with pytest.raises(
        ValueError, match=re.escape("no origins between 2030-01-01 and 2030-12-31; the weeks")
    ):
        grid_backtest(grid[0], design, "logistic", "2030-01-01", "2030-12-31")
