"""The weekly publication: outputs, idempotence, revisions, crash safety, cut-off, freshness, lookahead."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

import publish.publication.week as publication
from civrisk.settings import Settings, get_settings
from publish.publication.asof import (
    clip_to_cutoff,
    data_cutoff,
    data_fingerprint,
    freshness,
    latest_publishable_week,
    stale_countries,
)
from publish.publication.headline import rules_for, top_regions
from publish.publication.week import (
    LookaheadError,
    NothingToPublish,
    PublishOptions,
    PublishResult,
    publish_model_week,
)
from publish.store.store import ScoreStore, StoreError
from tests.publish_fixtures import (
    LATEST,
    WEEK,
    World,
    assert_caps_valid,
    world_events,
)

FILES = ("report.html", "scores.csv", "scores.geojson", "scores.json", "alerts.json", "manifest.json")
OPTIONS = PublishOptions(cap_status="Test")


@pytest.fixture()
def home(tmp_path: Path, world: World, db_url: str) -> Settings:
    return Settings(home=tmp_path / "home", db_url=db_url)


def publish(world: World, settings: Settings, week=LATEST, events=None, model=None, **kw) -> PublishResult:
    with ScoreStore.from_settings(settings) as store:
        return publish_model_week(
            week,
            model or world.model,
            world.events if events is None else events,
            world.coverage,
            None,
            store,
            settings,
            options=OPTIONS,
            **kw,
        )


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Return relative path -> (size, mtime_ns) of every file under ``folder``."""
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def store_state(settings: Settings) -> tuple[int, int, int]:
    with ScoreStore(settings.resolved_db_url()) as store:
        pubs = store.publications()
        n_scores = sum(p.n_scores for p in pubs)
        return len(pubs), n_scores, len(store.alerts())


def test_publish_writes_every_output_and_withholds_stale_countries(world: World, home: Settings) -> None:
    result = publish(world, home)
    pub = result.publication
    assert (pub.week_label, pub.revision, result.created, result.rebuilt) == ("2020-W53", 1, True, False)
    assert result.folder == home.home / "publications" / "2020-W53" / "r1"
    for name in FILES:
        assert (result.folder / name).is_file(), name
    assert result.withheld == ("BFA",)  # Burkina Faso's data end 2020-06-30
    with ScoreStore(home.resolved_db_url()) as store:
        scores = store.scores("2020-W53")
    assert set(scores["iso3"]) == {"MLI"} and scores["region_id"].nunique() == 6
    assert len(scores) == 6 * 6 * 2 == pub.n_scores  # regions x targets x horizons
    assert pd.Timestamp(pub.as_of).date() == LATEST.date() and result.cutoff.last_week == LATEST - WEEK
    # outputs agree with the store
    doc = json.loads((result.folder / "scores.json").read_text())
    assert doc["publication"]["revision"] == 1 and len(doc["scores"]) == len(scores)
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert set(manifest["files"]) >= {"report.html", "scores.csv"} and manifest["publication"]["id"] == pub.id
    html = (result.folder / "report.html").read_text()
    assert "2020-W53" in html and "Burkina Faso" in html and "withheld" in html
    # machine outputs list every region, the withheld ones with their reason (not silently absent)
    regions = json.loads((result.folder / "regions.json").read_text())
    assert regions["counts"] == {"scored": 6, "withheld": 4, "no_score": 0}
    bfa = [r for r in regions["regions"] if r["iso3"] == "BFA"]
    assert len(bfa) == 4 and {r["status"] for r in bfa} == {"withheld"}
    assert bfa[0]["reason"].startswith("stale data: the country's data end on 2020-06-")
    csv_rows = pd.read_csv(result.folder / "scores.csv", skiprows=[1])
    assert len(csv_rows) == 10 and set(csv_rows.loc[csv_rows["iso3"] == "BFA", "status"]) == {"withheld"}
    assert csv_rows.loc[csv_rows["iso3"] == "BFA", "p_civ_any_h1"].isna().all()
    geo = json.loads((result.folder / "scores.geojson").read_text())
    assert sorted(f["properties"]["status"] for f in geo["features"]).count("withheld") == 4
    top = result.top.iloc[0]
    assert (
        top["region"] in html
        and top["p"] == scores.loc[(scores["target"] == "civ_any") & (scores["horizon"] == 4), "p"].max()
    )
    # alerts: one CAP file per stored message, valid CAP 1.2
    alerts = json.loads((result.folder / "alerts.json").read_text())["alerts"]
    assert len(alerts) == len(result.alerts) and len(result.alerts) > 0
    assert assert_caps_valid(result.folder) == len(result.alerts)


def test_rerun_with_the_same_inputs_changes_nothing(world: World, home: Settings) -> None:
    first = publish(world, home)
    before = tree(home.home)
    again = publish(world, home)
    assert not again.created and not again.rebuilt
    assert again.publication.id == first.publication.id
    assert again.publication.scores_digest == first.publication.scores_digest
    assert tree(home.home) == before  # no file written, none added
    assert store_state(home) == (1, first.publication.n_scores, len(first.alerts))


def test_new_data_give_a_new_revision_and_the_old_one_stays(world: World, home: Settings) -> None:
    first = publish(world, home)
    r1_files = tree(first.folder)
    late = world.events[world.events["iso3"] == "MLI"].tail(1).copy()
    late["event_id"] = "synthetic:late-report"
    late["date_start"] = late["date_end"] = pd.Timestamp("2020-12-23")  # inside the last data week
    late["deaths_civilians"] = late["deaths_best"] = 40
    newer = pd.concat([world.events, late], ignore_index=True)
    second = publish(world, home, events=newer)
    assert second.created and second.publication.revision == 2
    assert second.publication.data_fingerprint != first.publication.data_fingerprint
    assert second.folder.name == "r2" and tree(first.folder) == r1_files
    with ScoreStore(home.resolved_db_url()) as store:
        assert store.publication("2020-W53").revision == 2
        old = store.scores("2020-W53", revision=1)
    assert old["p"].tolist() == json_scores(first.folder)


def json_scores(folder: Path) -> list[float]:
    rows = json.loads((folder / "scores.json").read_text())["scores"]
    return [r["p"] for r in rows]


def test_events_after_the_cutoff_do_not_change_the_publication(world: World, home: Settings) -> None:
    first = publish(world, home)
    future = world.events[world.events["iso3"] == "MLI"].tail(1).copy()
    future["event_id"] = "synthetic:future"
    future["date_start"] = future["date_end"] = pd.Timestamp("2020-12-29")  # the publication week itself
    again = publish(world, home, events=pd.concat([world.events, future], ignore_index=True))
    assert not again.created and again.publication.id == first.publication.id


@pytest.mark.parametrize("step", ["alerts", "files", "after_rename"])
def test_a_crash_midway_leaves_the_store_and_the_folders_as_they_were(
    world: World, home: Settings, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    publish(world, home, week=LATEST - WEEK, model=world.early_model)  # the store holds alerts already
    before_store, before_files = store_state(home), tree(home.home)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"simulated crash in {step}")

    if step == "alerts":
        monkeypatch.setattr(publication, "evaluate_alerts", boom)
    elif step == "files":
        real = publication.write_publication_files

        def half_written(folder: Path, files: object) -> None:
            (folder / "report.html").write_text("partial")
            real(folder, files)
            boom()

        monkeypatch.setattr(publication, "write_publication_files", half_written)
    else:
        real_promote = publication.promote

        def promote_then_fail(staging: Path, final: Path) -> Path:
            real_promote(staging, final)
            boom()
            return final

        monkeypatch.setattr(publication, "promote", promote_then_fail)
    with pytest.raises(RuntimeError, match=re.escape(f"simulated crash in {step}")):
        publish(world, home)
    assert store_state(home) == before_store
    after = tree(home.home)
    orphaned = {p for p in after if "/.orphaned/" in p}
    # no r1 of 2020-W53, no staging folder; a folder already renamed into place is kept aside, never deleted
    assert {p: v for p, v in after.items() if p not in orphaned} == before_files
    assert bool(orphaned) == (step == "after_rename")
    if orphaned:
        assert any(p.startswith("publications/2020-W53/.orphaned/r1-") for p in orphaned)
    monkeypatch.undo()
    done = publish(world, home)  # and the week publishes cleanly afterwards
    assert done.created and done.publication.revision == 1 and (done.folder / "report.html").is_file()


def test_a_folder_claiming_an_unrecorded_revision_is_kept_aside(world: World, home: Settings) -> None:
    stray = home.home / "publications" / "2020-W53" / "r1"
    stray.mkdir(parents=True)
    (stray / "report.html").write_text("left by a publisher killed before its commit")
    (stray.parent / ".staging-r1-dead").mkdir()
    result = publish(world, home)
    assert result.created and result.folder == stray
    assert "left by a publisher" not in (stray / "report.html").read_text()
    assert sorted(p.name for p in stray.parent.iterdir()) == [".orphaned", "r1"]
    (kept,) = (stray.parent / ".orphaned").iterdir()
    assert kept.name.startswith("r1-") and (kept / "report.html").read_text().startswith("left by")
    assert any(f"was kept aside at {kept}" in note for note in result.notes)


def test_missing_files_of_a_recorded_publication_are_written_again(world: World, home: Settings) -> None:
    import shutil

    first = publish(world, home)
    shutil.rmtree(first.folder)
    again = publish(world, home)
    assert not again.created and again.rebuilt and again.publication.id == first.publication.id
    for name in FILES:
        assert (again.folder / name).is_file()
    assert store_state(home)[0] == 1


def test_a_week_without_fresh_data_is_refused(world: World, home: Settings) -> None:
    msg = (
        "no country has data covering 2021-W04 (the last data week of 2021-W05 with a 1-week lag, as of "
        "2021-02-01): data run BFA until 2020-06-29, MLI until 2020-12-31. The latest week these data "
        "support is 2020-W53"
    )
    with pytest.raises(NothingToPublish, match=re.escape(msg)):
        publish(world, home, week="2021-W05")
    assert not (home.home / "publications").exists()


def test_a_week_resting_on_a_thin_file_is_held(world: World, home: Settings) -> None:
    """One stray row must not pass for a week of data (issue 8): Mali's last 4 data weeks thinned to one
    event against its usual volume hold the publication, and nothing is written or sent."""
    start = pd.to_datetime(world.events["date_start"])
    last_weeks = (start >= LATEST - 5 * WEEK) & (world.events["iso3"] == "MLI")
    keep = ~last_weeks | (last_weeks & (last_weeks.cumsum() == 1))
    usual = int(
        ((start >= LATEST - 57 * WEEK) & (start < LATEST - 5 * WEEK) & (world.events["iso3"] == "MLI")).sum()
    )
    assert usual / 13 >= home.thin_data_min_volume  # the check applies to a country this busy
    with pytest.raises(
        NothingToPublish, match=re.escape("held: the data of 2020-W52 and the 3 weeks before are too thin")
    ):
        publish(world, home, events=world.events[keep].reset_index(drop=True))
    assert not (home.home / "publications").exists()
    published = publish(world, home)  # the full data publish as usual
    assert published.thin == {} and published.withheld == ("BFA",)


def test_a_model_trained_past_the_cutoff_is_refused(world: World, home: Settings) -> None:
    msg = (
        "model civrisk-test v2 was trained on data through the week of 2020-12-21, but week 2020-W40 may "
        "only use data through 2020-09-21 (13 covered weeks lie in between, from 2020-09-28)"
    )
    with pytest.raises(LookaheadError, match=re.escape(msg)):
        publish(world, home, week="2020-W40")


def test_an_earlier_as_of_moves_the_data_cutoff_back() -> None:
    cut = data_cutoff(LATEST, pd.Timestamp("2020-12-16").date(), 1)  # a Wednesday, two weeks before
    assert cut.last_week == pd.Timestamp("2020-12-07") and cut.last_day == pd.Timestamp("2020-12-13")
    later = data_cutoff(LATEST, pd.Timestamp("2021-03-01").date(), 1)
    assert later.last_week == LATEST - WEEK  # a later as-of never reads past t - k


def test_clip_freshness_and_latest_week() -> None:
    events = world_events()
    from ingest.coverage import compute_coverage

    coverage = compute_coverage(events)
    assert latest_publishable_week(coverage, ["MLI", "BFA"], 1) == LATEST
    assert latest_publishable_week(coverage, ["BFA"], 2) == pd.Timestamp("2020-06-22") + 2 * WEEK
    cut = data_cutoff(pd.Timestamp("2020-07-06"), None, 1)
    ev, cov = clip_to_cutoff(events, coverage, cut)
    assert ev["date_start"].max() < pd.Timestamp("2020-07-06")
    assert (cov["last_date"] <= pd.Timestamp("2020-07-05")).all()
    fresh = freshness(cov, ["MLI", "BFA", "NER"], cut)
    assert stale_countries(fresh) == {"BFA", "NER"}  # BFA ends Mon 2020-06-29, inside its last week
    assert fresh.loc[fresh["iso3"] == "NER", "source"].tolist() == ["none"]


def test_the_data_fingerprint_ignores_row_order_and_provenance() -> None:
    events = world_events()
    from ingest.coverage import compute_coverage

    coverage = compute_coverage(events)
    base = data_fingerprint(events, coverage)
    shuffled = events.sample(frac=1.0, random_state=1).assign(source_file="elsewhere.csv")
    assert data_fingerprint(shuffled, coverage) == base
    changed = events.copy()
    changed.loc[0, "deaths_civilians"] += 1
    assert data_fingerprint(changed, coverage) != base


def test_alert_rules_follow_what_the_model_forecasts() -> None:
    assert rules_for(["civ_any"], [12]) is None
    rules = rules_for(["civ_any", "civ_deaths"], [1, 12])
    assert rules is not None and rules.horizons == (1,) and rules.mass is None and rules.level
    assert rules.alert_level(1) == 0.65  # the documented default level at h = 1
    assert rules_for(["civ_deaths"], [1, 4]) is None


def test_top_regions_ranks_and_compares() -> None:
    cur = pd.DataFrame(
        {
            "region_id": ["A", "A", "B", "B", "A"],
            "iso3": ["MLI"] * 5,
            "region_name": ["Alpha", "Alpha", "Beta", "Beta", "Alpha"],
            "horizon": [4, 4, 4, 4, 1],
            "target": ["civ_any", "civ_any_militia", "civ_any", "civ_any_jihadist_rebel", "civ_any"],
            "p": [0.3, 0.2, 0.6, 0.5, 0.9],
        }
    )
    prev = cur.assign(p=[0.1, 0.1, 0.6, 0.1, 0.1]).iloc[[0]]
    top = top_regions(cur, prev, 4)
    assert top["region"].tolist() == ["Beta", "Alpha"] and top["country"].tolist() == ["Mali", "Mali"]
    assert top["change"].isna().tolist() == [True, False] and top["change"].iloc[1] == pytest.approx(0.2)
    assert top["main_group"].tolist() == ["jihadist and rebel groups", "militias"]


def test_store_transaction_commits_all_or_nothing(db_url: str) -> None:
    from tests.synth_scores import make_scores

    with ScoreStore(db_url) as store:
        scores = make_scores()
        week = pd.Timestamp(scores["week"].iloc[0]).date()
        with pytest.raises(RuntimeError, match="after the insert"), store.transaction():
            store.record_publication(week, scores, "m", "1", "fp", week)
            assert len(store.publications()) == 1  # reads inside see the uncommitted row
            raise RuntimeError("after the insert")
        assert store.publications() == []
        with store.transaction():
            nested = pytest.raises(StoreError, match=re.escape("transactions do not nest"))
            with nested, store.transaction():
                pass
            store.record_publication(week, scores, "m", "1", "fp", week)
        assert len(store.publications()) == 1


def test_the_config_of_a_registered_model_must_match_its_fingerprint() -> None:
    from experiments.config import load_config
    from experiments.registry import LoadedModel
    from experiments.tracking import CONFIG_TAG
    from publish.publication.model_source import ModelConfigError, model_config

    quick = load_config("quick", get_settings())
    tags = {CONFIG_TAG: quick.fingerprint(), "civrisk.config_name": "quick"}
    assert model_config(LoadedModel("civrisk", "3", tags, None), get_settings()) == quick
    stale = LoadedModel("civrisk", "4", {**tags, CONFIG_TAG: "0" * 64}, None)
    tried = f"shipped config 'quick' (fingerprint {quick.fingerprint()[:12]})"
    msg = (
        "cannot recover the experiment config of model civrisk v4: it was trained with config fingerprint "
        f"000000000000, and none of these match: [{tried!r}]"
    )
    with pytest.raises(ModelConfigError, match=re.escape(msg)):
        model_config(stale, get_settings())


@pytest.mark.slow  # a fresh MLflow store (its schema takes seconds to create once per session)
def test_cli_says_why_it_cannot_publish_or_verify(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from civrisk.settings import get_settings
    from cli.main import app
    from tests.mlflow_store import fresh_store

    monkeypatch.setenv("CIVRISK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CIVRISK_MLFLOW_TRACKING_URI", fresh_store(tmp_path_factory, "cli"))
    monkeypatch.delenv("CIVRISK_DB_URL", raising=False)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        got = runner.invoke(app, ["publish", "--week", "2020-W53"])
        assert got.exit_code == 1
        assert "civrisk publish: registered model 'civrisk' has no 'champion' version" in got.output
        got = runner.invoke(app, ["verify", "--week", "2020-W53"])
        assert got.exit_code == 1
        assert "civrisk verify: week 2020-W53 has no published revision in the store" in got.output
        got = runner.invoke(app, ["publish", "--week", "2020-06-03"])
        assert got.exit_code == 1 and "is a Wednesday, not a Monday" in got.output
    finally:
        get_settings.cache_clear()
