"""Verification of past publications: outcomes from the panel, scores, the store, and the not-yet error."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from civrisk.settings import Settings
from forecasting.alert_levels import AlertLevels, HorizonLevels, LevelRule
from publish.alerting.rules import AlertRules
from publish.publication.verify import NotYetVerifiable, score_outcomes, verify_publication
from publish.publication.week import PublishOptions, publish_model_week
from publish.store.store import ScoreStore
from tests.publish_fixtures import LATEST, WEEK, config, fit_model, world_events, write_events_dir

WEEK40 = pd.Timestamp("2020-09-28")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Return (settings, config, events, coverage) with 2020-W40 and 2020-W53 published."""
    from ingest.events_folder import read_events_dir

    folder = write_events_dir(world_events(), tmp_path_factory.mktemp("events"))
    cfg = config(folder)
    events, coverage = read_events_dir(folder)
    tmp = tmp_path_factory.mktemp("verify")
    settings = Settings(home=tmp / "home", db_url=f"sqlite:///{tmp / 'scores.db'}")
    with ScoreStore(settings.resolved_db_url()) as store:
        for week in (WEEK40, LATEST):
            model = fit_model(cfg, week - WEEK, week.strftime("%Y%m%d"))
            options = PublishOptions(cap_status="Test")
            publish_model_week(week, model, events, coverage, None, store, settings, options=options)
    return settings, cfg, events, coverage


def test_a_past_week_is_scored_against_what_happened(published: tuple) -> None:
    settings, cfg, events, coverage = published
    with ScoreStore(settings.resolved_db_url()) as store:
        pub = store.publication("2020-W40")
        result = verify_publication(store, pub, cfg, events, coverage, None)
        stored = store.verifications(pub.id)
        scores = store.scores("2020-W40", target="civ_any", horizon=1)
    assert result.recorded and len(stored) == len(result.table)
    table = result.table.set_index(["target", "horizon", "metric"])["value"]
    # the outcome counted straight from the events: civilians killed in the region in week W40
    in_week = events[(events["date_start"] >= WEEK40) & (events["date_start"] < WEEK40 + WEEK)]
    killed = in_week.groupby(in_week["admin1_id"].astype(str))["deaths_civilians"].sum()
    y = np.array([float(killed.get(r, 0) >= 1) for r in scores["region_id"]])
    p = scores["p"].to_numpy()
    assert table[("civ_any", 1, "brier")] == pytest.approx(np.mean((p - y) ** 2))
    alert = p >= AlertRules().alert_level(1)  # the default levels: this test model carries none
    assert table[("civ_any", 1, "hits")] == np.sum(alert & (y == 1))
    assert table[("civ_any", 1, "misses")] == np.sum(~alert & (y == 1))
    assert table[("civ_any", 1, "false_alarms")] == np.sum(alert & (y == 0))
    n = result.table.loc[(result.table["target"] == "civ_any") & (result.table["horizon"] == 1), "n"]
    assert set(n) == {6}  # the six Mali regions published (Burkina Faso was withheld)
    assert {"mae", "coverage80"} <= set(result.table.loc[result.table["target"] == "civ_deaths", "metric"])


def test_verifying_again_on_the_same_data_records_nothing(published: tuple) -> None:
    settings, cfg, events, coverage = published
    with ScoreStore(settings.resolved_db_url()) as store:
        pub = store.publication("2020-W40")
        verify_publication(store, pub, cfg, events, coverage, None)
        before = len(store.verifications())
        again = verify_publication(store, pub, cfg, events, coverage, None)
        assert not again.recorded and len(store.verifications()) == before


def test_windows_the_data_do_not_cover_yet_are_named(published: tuple) -> None:
    settings, cfg, events, coverage = published
    msg = (
        "week 2020-W53 (revision 1) cannot be verified yet: its forecast windows run 2020-W53..2021-W03 and "
        "the data do not cover MLI: 2020-W53..2021-W03 (data until 2020-12-31). Verify it once the data "
        "cover those weeks"
    )
    with ScoreStore(settings.resolved_db_url()) as store:
        pub = store.publication("2020-W53")
        with pytest.raises(NotYetVerifiable, match=re.escape(msg)):
            verify_publication(store, pub, cfg, events, coverage, None)
        assert store.verifications(pub.id).empty


def test_the_report_of_a_later_week_shows_verified_weeks(published: tuple, tmp_path: Path) -> None:
    settings, cfg, events, coverage = published
    with ScoreStore(settings.resolved_db_url()) as store:
        verify_publication(store, store.publication("2020-W40"), cfg, events, coverage, None)
    from publish.publication.report_inputs import verification_rows

    with ScoreStore(settings.resolved_db_url()) as store:
        rows = verification_rows(store, before=LATEST)
    assert set(rows["week_label"]) == {"2020-W40"} and "brier" in set(rows["metric"])


def test_score_outcomes_counts_hits_misses_and_false_alarms() -> None:
    scored = pd.DataFrame(
        {
            "target": ["civ_any"] * 4 + ["civ_mass"] * 2,
            "horizon": [1] * 6,
            "p": [0.9, 0.6, 0.2, 0.1, 0.3, 0.2],
            "y": [1.0, 0.0, 1.0, np.nan, 1.0, 0.0],
            "expected": np.nan,
            "q10": np.nan,
            "q90": np.nan,
        }
    )
    rules = AlertRules(
        levels=AlertLevels((HorizonLevels(1, LevelRule(0.5, 0.4)),)), mass=LevelRule(0.25, 0.15)
    )
    t = score_outcomes(scored, rules).set_index(["target", "metric"])
    assert t.loc[("civ_any", "hits"), "value"] == 1 and t.loc[("civ_any", "misses"), "value"] == 1
    assert t.loc[("civ_any", "false_alarms"), "value"] == 1
    assert t.loc[("civ_any", "brier"), "n"] == 3  # the NaN outcome is not scored
    assert t.loc[("civ_any", "brier"), "value"] == pytest.approx((0.01 + 0.36 + 0.64) / 3)
    # civ_mass alerts at the mass rule's level (0.25): p 0.3 with a mass killing is a hit
    assert t.loc[("civ_mass", "hits"), "value"] == 1
    assert t.loc[("civ_mass", "correct_negatives"), "value"] == 1
