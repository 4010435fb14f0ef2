"""CAP 1.2 alerts: every generated message validates against the OASIS schema; mapping, references, areas."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest
from lxml import etree
from shapely.geometry import MultiPolygon, Point, Polygon, shape

from civrisk.settings import Settings, get_settings
from forecasting.alert_levels import AlertLevels, HorizonLevels, LevelRule
from publish.alerting.rules import AlertRules, evaluate_alerts
from publish.render.cap import (
    CAP_NS,
    CapArea,
    CapConfig,
    CapMessage,
    build_cap,
    cap_area,
    cap_polygons,
    certainty,
    expires,
    severity,
    urgency,
    write_cap,
)
from publish.store.store import ScoreStore
from tests.synth_scores import make_scores

XSD = get_settings().shared_data.parent / "schemas" / "CAP-v1.2.xsd"
NS = {"cap": CAP_NS}
SENT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
CONFIG = CapConfig(sender="civrisk.example.org", status="Test")


@pytest.fixture(scope="module")
def cap_schema() -> etree.XMLSchema:
    if not XSD.is_file():
        pytest.skip(f"CAP schema {XSD} is absent (it sits in ../shared/schemas in CI)")
    return etree.XMLSchema(etree.parse(str(XSD)))


def assert_valid(schema: etree.XMLSchema, xml: bytes) -> etree._Element:
    doc = etree.fromstring(xml)
    assert schema.validate(doc), str(schema.error_log)
    return doc


def text(doc: etree._Element, path: str) -> str | None:
    el = doc.find(path, NS)
    return None if el is None else el.text


@pytest.fixture(scope="module")
def stored_alerts(tmp_path_factory):
    """Three weeks of publications and alert messages recorded in a store (Alert, Update and Cancel rows)."""
    path = tmp_path_factory.mktemp("cap") / "s.db"
    level = LevelRule(0.5, 0.4, 1, (0.75,))  # one-week minimum: three weeks see Alerts, Updates and Cancels
    levels = AlertLevels((HorizonLevels(1, level), HorizonLevels(4, level)))
    rules = AlertRules(levels=levels, escalation=False, mass=LevelRule(0.3, 0.2, 1), horizons=(1, 4))
    rows = []
    with ScoreStore(f"sqlite:///{path}") as store:
        previous = None
        for i, week in enumerate(["2020-06-01", "2020-06-08", "2020-06-15"]):
            scores = make_scores(n_regions=20, week=week, seed=10 + i)
            pub = store.record_publication(week, scores, "xgb-civ", "7", f"fp{i}", datetime(2020, 5, 31))
            current = store.scores(week)
            msgs = evaluate_alerts(current, previous, store.open_alerts(), rules)
            rows.extend(store.record_alerts(pub.id, msgs).to_dict("records"))
            previous = current
    return rows


def polygon_pairs(polygon: str) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in pair.split(",")) for pair in polygon.split(" ")]


def test_every_stored_message_is_valid_cap(stored_alerts, cap_schema):
    kinds = {r["msg_type"] for r in stored_alerts}
    assert kinds == {"Alert", "Update", "Cancel"}
    box = Polygon([(-4, 14), (-3, 14), (-3, 15), (-4, 15)])
    for row in stored_alerts:
        msg = CapMessage.from_row(row)
        area = cap_area(row["region_name"], row["iso3"], box, {"pcode": row["region_id"]})
        doc = assert_valid(cap_schema, build_cap(msg, area, CONFIG))
        assert text(doc, "cap:identifier") == row["message_id"]
        assert text(doc, "cap:msgType") == row["msg_type"] and text(doc, "cap:status") == "Test"
        assert text(doc, "cap:incidents") == row["alert_id"]
        assert SENT_RE.match(text(doc, "cap:sent")) and text(doc, "cap:sent").endswith("+00:00")
        assert text(doc, "cap:info/cap:category") == "Security"
        assert text(doc, "cap:info/cap:event") == "Risk of civilian harm from organized violence"
        params = {
            p.find("cap:valueName", NS).text: p.find("cap:value", NS).text
            for p in doc.findall("cap:info/cap:parameter", NS)
        }
        assert params["horizonWeeks"] == str(row["horizon"]) and params["modelVersion"] == "7"
        assert params["target"] == row["target"] and params["week"].startswith("2020-W")
        if row["msg_type"] == "Alert":
            assert doc.find("cap:references", NS) is None
        else:
            sender, ident, sent = text(doc, "cap:references").split(",")
            assert sender == CONFIG.sender and ident == row["references_message_id"]
            assert sent == row["references_sent"].isoformat(timespec="seconds")
        assert doc.find("cap:info/cap:web", NS) is None  # no public_base_url configured


def test_references_point_at_the_previous_message_in_the_thread(stored_alerts):
    by_id = {r["message_id"]: r for r in stored_alerts}
    for row in stored_alerts:
        if row["msg_type"] != "Alert":
            prev = by_id[row["references_message_id"]]
            assert prev["alert_id"] == row["alert_id"] and prev["seq"] == row["seq"] - 1


def _message(**kw) -> CapMessage:
    base = dict(
        identifier="civrisk-ML05-threshold-civ_any-h1-2020-W23.1",
        alert_id="civrisk-ML05-threshold-civ_any-h1-2020-W23",
        sent=datetime(2020, 6, 1, 6, 30, 15, 987654, tzinfo=UTC),
        msg_type="Alert",
        rule="threshold",
        region_id="ML05",
        iso3="MLI",
        region_name="Mopti",
        target="civ_any",
        horizon=1,
        week=date(2020, 6, 1),
        first_week=date(2020, 6, 1),
        p=0.83,
        p_prev=0.41,
        level=0.5,
        reason="p 0.83 reached the alert level 0.50",
        drivers=(("jihadist_rebel", 0.7), ("militia", 0.2)),
        model_name="xgb-civ",
        model_version="7",
    )
    return CapMessage(**{**base, **kw})


def test_message_content_and_mapping(cap_schema):
    config = CapConfig(sender="civrisk.example.org", web_base_url="https://risk.example.org/")
    area = cap_area("Mopti", "MLI", geocodes={"ISO3166-2": "ML-5"})
    doc = assert_valid(cap_schema, build_cap(_message(), area, config))
    assert text(doc, "cap:sent") == "2020-06-01T06:30:15+00:00"  # no microseconds
    assert text(doc, "cap:status") == "Actual" and doc.find("cap:note", NS) is None
    info = "cap:info/cap:"
    assert [text(doc, info + k) for k in ("urgency", "severity", "certainty")] == [
        "Immediate",
        "Severe",
        "Likely",
    ]
    assert text(doc, info + "onset") == "2020-06-01T00:00:00+00:00"
    assert text(doc, info + "expires") == "2020-06-08T00:00:00+00:00"
    assert (
        text(doc, info + "web")
        == "https://risk.example.org/alerts/civrisk-ML05-threshold-civ_any-h1-2020-W23"
    )
    assert text(doc, info + "area/cap:areaDesc") == "Mopti, Mali"
    assert text(doc, info + "area/cap:geocode/cap:valueName") == "ISO3166-2"
    assert text(doc, info + "area/cap:geocode/cap:value") == "ML-5"
    desc = text(doc, info + "description")
    assert "83% probability" in desc and "Mopti, Mali" in desc
    assert "jihadist and rebel groups (70%) and militias (20%)" in desc
    assert "The previous published forecast for the same horizon was 41%." in desc
    assert "Alert raised because the chance, 83%, reached the alert level of 50%." in desc
    assert text(doc, info + "headline") == "Mopti, Mali: 83% risk of civilians killed (next week)"
    mass = assert_valid(cap_schema, build_cap(_message(target="civ_mass", horizon=4, p=0.55), area, config))
    assert [text(mass, info + k) for k in ("urgency", "severity", "certainty")] == [
        "Expected",
        "Extreme",
        "Likely",
    ]
    assert "10 or more civilians killed" in text(mass, info + "description")


@pytest.mark.parametrize(
    ("horizon", "expected"),
    [(1, "Immediate"), (2, "Expected"), (4, "Expected"), (8, "Future"), (12, "Future")],
)
def test_urgency_by_horizon(horizon, expected):
    assert urgency(horizon) == expected


@pytest.mark.parametrize(
    ("p", "cert", "sev_any", "sev_mass"),
    [
        (0.9, "Likely", "Severe", "Extreme"),
        (0.51, "Likely", "Severe", "Extreme"),
        (0.5, "Possible", "Severe", "Extreme"),
        (0.2, "Possible", "Moderate", "Severe"),
        (0.03, "Unlikely", "Moderate", "Severe"),
        (None, "Unknown", "Unknown", "Unknown"),
    ],
)
def test_certainty_and_severity_by_probability(p, cert, sev_any, sev_mass):
    assert certainty(p) == cert
    assert severity("civ_any", p) == sev_any and severity("civ_mass", p) == sev_mass


def test_update_without_reference_is_refused():
    msg = "CAP Update civrisk-ML05-threshold-civ_any-h1-2020-W23.1 must reference the message it follows"
    with pytest.raises(ValueError, match=re.escape(msg)):
        build_cap(_message(msg_type="Update"), CapArea("Mopti, Mali"), CONFIG)


def test_cancel_without_score_is_valid(cap_schema):
    ref = (("civrisk-x.1", datetime(2020, 6, 1, 6, tzinfo=UTC)),)
    doc = assert_valid(
        cap_schema,
        build_cap(_message(msg_type="Cancel", p=None, p_prev=None, references=ref), CapArea("Mali"), CONFIG),
    )
    assert text(doc, "cap:references") == "civrisk.example.org,civrisk-x.1,2020-06-01T06:00:00+00:00"
    assert (
        text(doc, "cap:info/cap:certainty") == "Unknown" and text(doc, "cap:info/cap:responseType") == "None"
    )
    assert "Test message from civrisk" in text(doc, "cap:note")


def test_config_is_checked_and_read_from_settings():
    with pytest.raises(
        ValueError, match=re.escape("CAP status must be Actual, Exercise, System, Test or Draft")
    ):
        CapConfig(sender="x", status="Demo")
    with pytest.raises(ValueError, match=re.escape("CAP sender 'civ risk' must be non-empty without spaces")):
        CapConfig(sender="civ risk")
    config = CapConfig.from_settings(
        settings=Settings(cap_sender="alerts@example.org", public_base_url="https://r.org")
    )
    assert config == CapConfig(
        sender="alerts@example.org", status="Actual", web_base_url="https://r.org", languages=("en", "fr")
    )
    with pytest.raises(ValueError, match=re.escape("no message catalogue for language(s) ['de']")):
        CapConfig(sender="x", languages=("en", "de"))


def test_polygon_format_is_lat_lon_closed_and_bounded():
    wiggly = Point(-3.5, 14.5).buffer(1.0, quad_segs=200)  # 801 points, lon -4.5..-2.5, lat 13.5..15.5
    (poly,) = cap_polygons(wiggly, max_points=40)
    pairs = polygon_pairs(poly)
    assert 4 <= len(pairs) <= 40 and pairs[0] == pairs[-1]
    lats, lons = zip(*pairs, strict=True)
    assert min(lats) >= 13.49 and max(lats) <= 15.51 and min(lons) >= -4.51 and max(lons) <= -2.49
    ring = [(-4.0, 14.0), (-3.0, 14.0), (-3.0, 15.0), (-4.0, 15.0)]  # GeoJSON order (lon, lat), open ring
    (square,) = cap_polygons(ring)
    pairs = polygon_pairs(square)
    assert pairs[0] == pairs[-1] and len(pairs) == 5
    assert set(pairs) == {(14.0, -4.0), (14.0, -3.0), (15.0, -3.0), (15.0, -4.0)}  # "lat,lon"
    assert re.fullmatch(r"(-?\d+\.\d{4},-?\d+\.\d{4} ){4}-?\d+\.\d{4},-?\d+\.\d{4}", square)


def test_polygon_parts_and_holes():
    squares = [Polygon([(x, 0), (x + 0.5, 0), (x + 0.5, 0.5), (x, 0.5)]) for x in range(3)]
    assert len(cap_polygons(MultiPolygon(squares))) == 3
    many = MultiPolygon([Polygon([(x, 0), (x + 0.5, 0), (x + 0.5, 0.5), (x, 0.5)]) for x in range(12)])
    (hull,) = cap_polygons(many)
    lons = [lon for _, lon in polygon_pairs(hull)]
    assert min(lons) == 0 and max(lons) == 11.5  # the hull covers every part
    holed = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], holes=[[(1, 1), (2, 1), (2, 2), (1, 2)]])
    assert len(polygon_pairs(cap_polygons(holed)[0])) == 5
    (tiny,) = cap_polygons(Point(1.00001, 2.00001).buffer(1e-6))  # smaller than the 4-decimal grid
    cell = Polygon([(lon, lat) for lat, lon in polygon_pairs(tiny)])
    assert len(polygon_pairs(tiny)) == 5 and cell.is_valid and cell.contains(Point(1.00001, 2.00001))
    with pytest.raises(
        ValueError, match=re.escape("cap_polygons: expected a Polygon or MultiPolygon; got a Point")
    ):
        cap_polygons(Point(1, 1))


@pytest.mark.shared_data
def test_real_admin1_boundaries_make_valid_bounded_polygons(shared_data, cap_schema, tmp_path):
    features = json.loads((shared_data / "boundaries" / "sahel_adm1_mli_bfa_ner.geojson").read_text())[
        "features"
    ]
    for f in features:
        geom = shape(f["geometry"])
        props = f["properties"]
        area = cap_area(props["adm1_name"], props["iso3"], geom, {"pcode": props["adm1_pcode"]})
        assert area.polygons and all(len(polygon_pairs(p)) <= 100 for p in area.polygons)
        for poly in area.polygons:
            pairs = polygon_pairs(poly)
            assert pairs[0] == pairs[-1]
            rebuilt = Polygon([(lon, lat) for lat, lon in pairs])
            assert rebuilt.is_valid and rebuilt.intersection(geom).area > 0.8 * rebuilt.area
        xml = build_cap(_message(region_name=props["adm1_name"], iso3=props["iso3"]), area, CONFIG)
        assert_valid(cap_schema, xml)
    path = write_cap(xml, tmp_path / "alerts" / "last.xml")
    assert path.read_bytes() == xml and [p.name for p in path.parent.iterdir()] == ["last.xml"]


def test_one_info_block_per_language_validates(stored_alerts, cap_schema):
    config = CapConfig(sender="civrisk.example.org", status="Test", languages=("en", "fr"))
    box = Polygon([(-4, 14), (-3, 14), (-3, 15), (-4, 15)])
    for row in stored_alerts[:12]:
        area = cap_area(row["region_name"], "NER", box, {"pcode": row["region_id"]}, languages=("en", "fr"))
        doc = assert_valid(cap_schema, build_cap(CapMessage.from_row(row), area, config))
        infos = doc.findall("cap:info", NS)
        assert [i.find("cap:language", NS).text for i in infos] == ["en", "fr"]
        en, fr = infos
        assert en.find("cap:event", NS).text == "Risk of civilian harm from organized violence"
        assert fr.find("cap:event", NS).text == "Risque d’atteintes aux civils liées à la violence organisée"
        for tag in ("urgency", "severity", "certainty", "onset", "expires"):
            assert en.find(f"cap:{tag}", NS).text == fr.find(f"cap:{tag}", NS).text
        assert fr.find("cap:area/cap:areaDesc", NS).text.endswith(", Niger")
        assert "probabilité" in fr.find("cap:description", NS).text
        assert " the " not in fr.find("cap:description", NS).text


def test_french_texts_name_the_groups_as_ocha_does(cap_schema):
    config = CapConfig(sender="civrisk.example.org", languages=("fr",))
    msg = _message(drivers=(("state_allied", 0.78), ("jihadist_rebel", 0.6)), previous_week=date(2020, 3, 2))
    doc = assert_valid(cap_schema, build_cap(msg, cap_area("Mopti", "MLI", languages=("fr",)), config))
    desc = text(doc, "cap:info/cap:description")
    assert "forces étatiques et alliées (78\u00a0%) et groupes djihadistes et rebelles (60\u00a0%)" in desc
    assert (
        "La prévision publiée pour 2020-W10 (13 semaines plus tôt), même horizon, était de 41\u00a0%." in desc
    )
    assert text(doc, "cap:info/cap:headline").startswith("Mopti, Mali\u00a0: risque de 83\u00a0%")
    group = assert_valid(
        cap_schema, build_cap(_message(target="civ_any_militia"), CapArea("Mopti, Mali"), config)
    )
    assert "que des civils soient tués par des milices" in text(group, "cap:info/cap:description")


def test_the_change_names_the_week_it_compares_with():
    config = CapConfig(sender="civrisk.example.org")
    last = build_cap(_message(previous_week=date(2020, 5, 25)), CapArea("Mopti, Mali"), config)
    assert "Last week's forecast (2020-W22) for the same horizon was 41%." in last.decode()
    earlier = build_cap(_message(previous_week=date(2020, 3, 2)), CapArea("Mopti, Mali"), config).decode()
    assert "The forecast published for 2020-W10 (13 weeks earlier), same horizon, was 41%." in earlier
    assert "Last week" not in earlier


def test_a_replayed_alert_is_not_expired_when_sent(cap_schema):
    config = CapConfig(sender="civrisk.example.org", status="Exercise")
    live = _message(as_of=date(2020, 6, 1))
    assert expires(live) == datetime(2020, 6, 8, tzinfo=UTC)  # sent on the Monday: the window's end
    replay = _message(sent=datetime(2026, 12, 4, 13, 0, 5, tzinfo=UTC), as_of=date(2020, 6, 1), horizon=4)
    assert expires(replay) == datetime(2027, 1, 1, 13, 0, 5, tzinfo=UTC)  # 4 weeks after sending
    doc = assert_valid(cap_schema, build_cap(replay, CapArea("Mopti, Mali"), config))
    sent = datetime.fromisoformat(text(doc, "cap:sent"))
    assert datetime.fromisoformat(text(doc, "cap:info/cap:expires")) > sent
    assert "Replay: these forecasts rest on data up to 1 June 2020 and were sent on 4 December 2026." in text(
        doc, "cap:info/cap:description"
    )


@pytest.mark.parametrize(
    ("kw", "english", "french"),
    [
        (
            dict(
                rule="escalation",
                level=0.35,
                reason="p 0.40 is 0.25 above the region's recent rate 0.15 (alert at +0.20)",
                p=0.40,
            ),
            "Alert raised because the chance, 40%, is 25 percentage points above this region's rate over the "
            "last year (15%).",
            "dépasse de 25 points de pourcentage le taux de cette région sur la dernière année (15",
        ),
        (
            dict(msg_type="Update", level=0.65, reason="p 0.70 moved the alert up to the level 0.65", p=0.70),
            "The alert opened in 2020-W23 moves up to the level of 65%: the chance is now 70%.",
            "passe au niveau supérieur de 65",
        ),
        (
            dict(
                msg_type="Update", level=0.4, reason="p 0.52 moved the alert down to the level 0.40", p=0.52
            ),
            "The alert opened in 2020-W23 moves down to the level of 40%: the chance is now 52%.",
            "redescend au niveau de 40",
        ),
        (
            dict(
                msg_type="Cancel",
                rule="escalation",
                level=0.35,
                p=0.22,
                reason="p 0.22 is +0.07 from the region's recent rate 0.15, under the +0.15 the alert "
                "holds at, after 4 weeks",
            ),
            "The alert opened in 2020-W23 is cancelled: the chance, 22%, is no longer well above this "
            "region's rate over the last year (15%).",
            "n’est plus nettement supérieure au taux de cette région",
        ),
    ],
)
def test_cap_texts_say_why_in_each_language(kw, english, french):
    """Escalation alerts name the region's own rate; Updates say the alert moved a level, up or down."""
    from publish.render.cap_text import description
    from publish.render.i18n import words

    m = _message(**kw)
    assert english in description(m, "Mopti", words("en"))
    assert french in description(m, "Mopti", words("fr"))
