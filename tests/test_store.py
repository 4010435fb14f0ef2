"""The scores store: one-transaction publications, idempotent re-publication, revisions, append-only."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DatabaseError

from civrisk.contracts import SCORES, validate
from publish.store.score_rows import ScoresInputError
from publish.store.store import PublicationNotFound, ScoreStore
from tests.synth_scores import make_scores

AS_OF = datetime(2020, 5, 31, 23, 0, tzinfo=UTC)


@pytest.fixture()
def store(db_url):
    s = ScoreStore(db_url)
    yield s
    s.close()


def _publish(store, week="2020-06-01", seed=0, fingerprint="fp-1", version="1", **kw):
    scores = make_scores(week=week, seed=seed, **kw)
    return store.record_publication(week, scores, "xgb-civ", version, fingerprint, AS_OF), scores


def _count(store, table):
    with store.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_record_then_read_returns_the_same_numbers(store):
    pub, scores = _publish(store)
    assert pub.is_new and pub.revision == 1 and pub.week_label == "2020-W23" and pub.n_scores == len(scores)
    assert pub.as_of == AS_OF and pub.created_at.tzinfo is UTC
    got = store.scores("2020-W23")
    validate(got, SCORES)
    assert store.publication_by_id(got["publication_id"].iloc[0]) == pub  # a numpy int64 id works too
    merged = scores.merge(got, on=["region_id", "horizon", "target"], suffixes=("_in", "_out"))
    assert len(merged) == len(scores) == len(got)
    np.testing.assert_array_equal(merged["p_in"], merged["p_out"])
    np.testing.assert_array_equal(merged["q90_in"].fillna(-1), merged["q90_out"].fillna(-1))
    assert (merged["region_name_in"] == merged["region_name_out"]).all()
    # rank 1 = highest p within each target and horizon
    top = got[got["rank"] == 1].set_index(["target", "horizon"])["p"]
    best = got.groupby(["target", "horizon"])["p"].max()
    assert top.sort_index().equals(best.sort_index())


def test_same_inputs_return_the_existing_publication(store):
    first, scores = _publish(store)
    shuffled = scores.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled["horizon"] = shuffled["horizon"].astype("int32")
    again = store.record_publication("2020-W23", shuffled, "xgb-civ", "1", "fp-1", AS_OF + timedelta(hours=5))
    assert again == first and not again.is_new
    assert _count(store, "publications") == 1 and _count(store, "scores") == len(scores)


@pytest.mark.parametrize(
    "change", ["fingerprint", "version", "scores"], ids=["new data", "new model version", "new scores"]
)
def test_a_change_makes_a_new_revision_and_keeps_the_old(store, change):
    first, scores = _publish(store)
    kw = (
        {"fingerprint": "fp-2"}
        if change == "fingerprint"
        else {"version": "2"}
        if change == "version"
        else {}
    )
    second, _ = _publish(store, seed=1 if change == "scores" else 0, **kw)
    assert second.is_new and second.revision == 2 and second.id != first.id
    assert store.publication("2020-W23") == second
    assert store.publication("2020-W23", revision=1) == first
    assert [p.revision for p in store.publications("2020-W23")] == [1, 2]
    old = store.scores("2020-W23", revision=1)
    assert set(old["publication_id"]) == {first.id}
    np.testing.assert_array_equal(
        old.sort_values(["region_id", "horizon", "target"])["p"],
        scores.sort_values(["region_id", "horizon", "target"])["p"],
    )


def test_republishing_an_older_revision_makes_a_newer_one(store):
    first, _ = _publish(store)
    _publish(store, fingerprint="fp-2")
    third, _ = _publish(store)  # identical to revision 1, but revision 2 is what readers see now
    assert third.is_new and third.revision == 3 and third.scores_digest == first.scores_digest


def test_failure_midway_leaves_the_store_as_it_was(db_url):
    store = ScoreStore(db_url, insert_batch_rows=50)
    _publish(store, week="2020-05-25")
    before = (_count(store, "publications"), _count(store, "scores"))
    batches = []

    def fail_on_third_batch(conn, cursor, statement, params, context, executemany):
        if statement.startswith("INSERT INTO scores"):
            batches.append(len(params))
            if len(batches) == 3:
                raise RuntimeError("disk on fire")

    event.listen(store.engine, "before_cursor_execute", fail_on_third_batch)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _publish(store, n_regions=40)
    event.remove(store.engine, "before_cursor_execute", fail_on_third_batch)
    assert batches == [50, 50, 50]  # two batches of scores had gone in before the failure
    assert (_count(store, "publications"), _count(store, "scores")) == before
    with pytest.raises(PublicationNotFound):
        store.publication("2020-W23")
    assert _publish(store)[0].revision == 1  # and the store still works
    store.close()


def test_a_bad_row_after_many_good_ones_writes_nothing(store):
    scores = make_scores(n_regions=200)
    scores.loc[scores.index[scores["target"] == "civ_any"][-1], "p"] = 1.5
    msg = "scores: 1 binary-target rows have p outside [0, 1]"
    with pytest.raises(ScoresInputError, match=re.escape(msg)):
        store.record_publication("2020-W23", scores, "m", "1", "fp", AS_OF)
    assert _count(store, "publications") == 0 and _count(store, "scores") == 0


OPEN_PUBLICATION = (
    "INSERT INTO publications (week, week_label, revision, model_name, model_version, data_fingerprint, "
    "scores_digest, n_scores, as_of, created_at, status) VALUES ('2020-06-08', '2020-W24', 1, 'm', '1', "
    "'fp', 'd', 1, '2020-06-07 00:00:00', '2020-06-07 00:00:00', 'open')"
)


def test_the_database_itself_rejects_impossible_scores(store):
    _publish(store)
    row = "(:pub, 'X', 'MLI', NULL, 1, 'civ_any', :p, NULL, NULL, NULL, NULL, 1)"
    check = "CHECK constraint failed|violates check constraint"
    with store.engine.begin() as conn, pytest.raises(DatabaseError, match=check):
        conn.execute(text(OPEN_PUBLICATION))  # the scores of an open publication may still be inserted
        pub_id = conn.execute(text("SELECT max(id) FROM publications")).scalar_one()
        conn.execute(text(f"INSERT INTO scores VALUES {row}"), {"pub": pub_id, "p": 1.5})
    with store.engine.begin() as conn, pytest.raises(DatabaseError, match="closed"):
        conn.execute(text(f"INSERT INTO scores VALUES {row}"), {"pub": 999, "p": 0.5})
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE scores SET p = 0.5",
        "DELETE FROM scores",
        "DELETE FROM publications",
        "UPDATE publications SET model_version = 'x'",
        "UPDATE publications SET week_label = '2020-W24'",
    ],
)
def test_history_is_append_only(store, sql):
    _publish(store)
    with store.engine.begin() as conn, pytest.raises(DatabaseError, match="append-only"):
        conn.execute(text(sql))


def test_withdrawn_publication_stays_readable_but_is_not_latest(store):
    first, _ = _publish(store)
    second, _ = _publish(store, fingerprint="fp-2")
    assert store.withdraw_publication(second.id).status == "withdrawn"
    assert store.publication("2020-W23") == first
    assert store.publication("2020-W23", revision=2).status == "withdrawn"
    assert len(store.scores("2020-W23", revision=2)) == second.n_scores
    with store.engine.begin() as conn, pytest.raises(DatabaseError, match="append-only"):
        conn.execute(text("UPDATE publications SET status = 'published' WHERE id = :i"), {"i": second.id})
    third, _ = _publish(store, fingerprint="fp-3")
    assert third.revision == 3  # numbering continues past withdrawn revisions


def test_filters_and_pages(store):
    _publish(store, n_regions=30)
    full = store.scores("2020-W23", target="civ_any", horizon=1)
    assert len(full) == 30 and full["rank"].is_monotonic_increasing
    pages = [
        store.scores("2020-W23", target="civ_any", horizon=1, limit=7, offset=o) for o in range(0, 30, 7)
    ]
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert pd.concat(pages)["region_id"].tolist() == full["region_id"].tolist()
    mli = store.scores("2020-W23", iso3="MLI", target=["civ_any", "civ_mass"], horizon=[1, 4])
    assert set(mli["iso3"]) == {"MLI"} and len(mli) == 10 * 2 * 2
    assert store.count_scores("2020-W23", iso3="MLI", target=["civ_any", "civ_mass"], horizon=[1, 4]) == 40
    one = store.scores("2020-W23", region_id=["MLI-R000", "BFA-R001"], target="civ_deaths")
    assert sorted(set(one["region_id"])) == ["BFA-R001", "MLI-R000"] and one["expected"].notna().all()
    assert len(store.scores("2020-W23", target="civ_any", horizon=np.int64(4), offset=25)) == 5
    assert store.scores("2020-W23", region_id="nowhere").empty
    validate(store.scores("2020-W23", region_id="nowhere"), SCORES)


def test_region_history_reads_each_weeks_latest_revision(store):
    weeks = ["2020-06-01", "2020-06-08", "2020-06-15"]
    for i, w in enumerate(weeks):
        _publish(store, week=w, seed=i)
    revised, revised_scores = _publish(store, week="2020-06-08", seed=9, fingerprint="fp-late")
    hist = store.region_history("MLI-R000", target="civ_any", horizon=1)
    assert hist["week"].dt.strftime("%Y-%m-%d").tolist() == weeks
    assert hist["revision"].tolist() == [1, 2, 1]
    expected = revised_scores.query("region_id == 'MLI-R000' and target == 'civ_any' and horizon == 1")["p"]
    assert hist["p"].iloc[1] == expected.iloc[0]
    assert len(store.region_history("MLI-R000")) == 3 * 2 * 6


def test_weeks_and_previous_publication(store):
    assert store.previous_publication("2020-W23") is None
    a, _ = _publish(store, week="2020-06-01")
    b, _ = _publish(store, week="2020-06-15")  # one week skipped
    b2, _ = _publish(store, week="2020-06-15", fingerprint="fp-2")
    assert store.previous_publication("2020-06-15") == a
    assert store.previous_publication("2020-W26") == b2
    assert store.previous_publication("2020-W23") is None
    assert [p.id for p in store.latest_publications()] == [a.id, b2.id]
    assert [p.id for p in store.publications()] == [a.id, b.id, b2.id]


def test_unknown_week_is_a_clear_lookup_error(store):
    _publish(store)
    with pytest.raises(
        PublicationNotFound, match=re.escape("week 2020-W30 has no published revision in the store")
    ):
        store.scores("2020-W30")
    with pytest.raises(PublicationNotFound, match=re.escape("week 2020-W23 has no revision 7 in the store")):
        store.scores("2020-W23", revision=7)


@pytest.mark.parametrize(
    ("mutate", "msg"),
    [
        (lambda df: df.drop(columns=["iso3"]), "scores lack columns ['iso3']"),
        (lambda df: df.iloc[0:0], "scores are empty; a publication needs at least one score"),
        (lambda df: pd.concat([df, df.iloc[:2]]), "scores: 4 rows share a (region_id, horizon, target)"),
        (lambda df: df.assign(target="civ_anything"), "scores name unknown targets ['civ_anything']"),
        (lambda df: df.assign(horizon=0), "rows have a horizon that is not a whole number of weeks >= 1"),
        (lambda df: df.assign(week=pd.Timestamp("2020-06-08")), "scores hold weeks ['2020-06-08'] besides"),
        (lambda df: df.assign(iso3="Mali"), "rows have an iso3 that is not three capital letters"),
        (
            lambda df: df.assign(q10=np.where(df["target"] == "civ_deaths", 99.0, np.nan)),
            "rows have quantiles that are negative or not ordered q10 <= q50 <= q90",
        ),
        (lambda df: df.assign(p=np.nan), "scores have nulls in required columns {'p': "),
    ],
)
def test_unpublishable_scores_are_refused_with_reasons(store, mutate, msg):
    with pytest.raises(ScoresInputError, match=re.escape(msg)):
        store.record_publication("2020-W23", mutate(make_scores()), "m", "1", "fp", AS_OF)
    assert _count(store, "publications") == 0


def test_verifications_round_trip(store):
    pub, _ = _publish(store)
    store.record_verification(pub.id, "brier", 0.12, 24, target="civ_any", horizon=1)
    store.record_verification(pub.id, "auc", 0.81, 24)
    v = store.verifications(pub.id)
    assert v["metric"].tolist() == ["brier", "auc"] and v["n"].tolist() == [24, 24]
    assert v["created_at"].dt.tz is not None
    with pytest.raises(PublicationNotFound):
        store.record_verification(999, "brier", 0.1, 1)


def test_concurrent_publishers_get_distinct_revisions(db_url):
    url = db_url
    ScoreStore(url).close()
    errors, results = [], []

    def publish(i):
        try:
            with ScoreStore(url) as s:
                results.append(_publish(s, fingerprint=f"fp-{i}", n_regions=40)[0].revision)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == [] and sorted(results) == [1, 2, 3, 4]
