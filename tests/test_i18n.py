"""French and English: the catalogue is complete and current, both languages render, no English leaks
into the French report, CAP texts and command-line summary, and numbers and dates follow the locale."""

from __future__ import annotations

import io
import re
import string
from datetime import date, timedelta
from pathlib import Path

import lxml.html
import pandas as pd
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from rich.console import Console

from civrisk.settings import PROJECT_ROOT, Settings
from cli.publish import top_table
from publish.publication.headline import top_regions
from publish.render.cap import CapArea, CapConfig, build_cap
from publish.render.i18n import LOCALE_DIR, LanguageError, words
from publish.render.report import build_report_context, render_report
from tests.report_synth import backtest_metrics, synthetic_inputs
from tests.test_cap import _message

PO = LOCALE_DIR / "fr" / "LC_MESSAGES" / "civrisk.po"
MO = PO.with_suffix(".mo")
ENGLISH = {
    "the", "and", "of", "to", "is", "are", "within", "week", "weeks", "chance", "risk", "killed",
    "civilians", "civilian", "region", "regions", "alert", "alerts", "since", "none", "change", "rank",
    "data", "model", "forecast", "forecasts", "published", "which", "not", "no", "with", "from", "by",
    "country", "militias", "groups", "state", "allies", "last", "before", "up", "down", "wk",
}  # fmt: skip
"""Words a French reader must never meet in the French report (region names come from the data)."""


def _ids(catalog) -> set[object]:
    return {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id}


def _fields(text: str) -> set[str]:
    braces = {f for _, f, _, _ in string.Formatter().parse(text) if f}
    return braces | set(re.findall(r"%\((\w+)\)s", text))


def test_the_catalogue_is_current_complete_and_compiled():
    with open(PROJECT_ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = {
        msg if isinstance(msg, str) else tuple(msg)
        for _, _, msg, _, _ in extract_from_dir(str(PROJECT_ROOT), method_map, options_map)
    }
    pot = _read(read_po, LOCALE_DIR / "civrisk.pot")
    assert found == _ids(pot), "messages changed: run `make translations` and translate the new ones"
    po = _read(read_po, PO)
    assert _ids(po) == found
    assert po.plural_forms == "nplurals=2; plural=(n > 1);"  # French: 0 and 1 are singular
    for m in po:
        if not m.id:
            continue
        assert "fuzzy" not in m.flags, m.id
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strs = [m.string] if isinstance(m.string, str) else list(m.string)
        assert all(strs), f"untranslated: {m.id!r}"
        for s in strs:  # every placeholder kept (a singular form may drop {n} in French: 0 and 1)
            assert _fields(s) <= _fields(ids[-1]) and _fields(ids[0]) - {"n", "num"} <= _fields(s), m.id
    assert _strings(_read(read_mo, MO)) == _strings(po), "the .mo differs from the .po: run make translations"


def _read(reader, path: Path):
    with open(path, "rb") as fh:
        return reader(fh)


def _strings(catalog) -> dict[object, object]:
    def key(x: object) -> object:
        return x if isinstance(x, str) else tuple(x)  # type: ignore[arg-type]

    return {key(m.id): key(m.string) for m in catalog if m.id}


def _report(lang: str) -> tuple[object, str]:
    kwargs = synthetic_inputs()
    ids = kwargs["regions"]["region_id"].tolist()
    alerts = pd.DataFrame(
        {
            "region_id": ids[:3],
            "rule": ["threshold", "mass", "rise"],
            "horizon": [4, 4, 1],
            "msg_type": ["Update", "Alert", "Cancel"],
        }
    )
    verification = pd.DataFrame(
        {
            "week": pd.to_datetime(["2020-04-27"] * 3),
            "metric": ["brier", "hits", "misses"],
            "value": [0.1, 3, 1],
        }
    )
    reliability = pd.DataFrame(
        {"horizon": [4, 4], "p_mean": [0.1, 0.6], "y_mean": [0.12, 0.5], "n": [90, 10]}
    )
    ctx = build_report_context(
        **kwargs,  # type: ignore[arg-type]
        lang=lang,
        alerts=alerts,
        backtest_metrics=backtest_metrics(),
        verification=verification,
        reliability=reliability,
    )
    return ctx, render_report(ctx)


def _visible_words(html: str) -> list[str]:
    """Return the words a reader sees, outside the citations and code (fingerprints, model names)."""
    doc = lxml.html.fromstring(html)
    for el in doc.xpath('//section[@id="citations"] | //code | //style | //title'):
        el.getparent().remove(el)
    text = " ".join(doc.itertext())
    text = re.sub(r"Région \d+", " ", text)  # synthetic region names
    return re.findall(r"[A-Za-zÀ-ÿ’']+", text)


def test_both_languages_render_and_no_english_leaks_into_the_french_report():
    en_ctx, en = _report("en")
    fr_ctx, fr = _report("fr")
    assert '<html lang="en">' in en and '<html lang="fr">' in fr
    for phrase in (
        "Risque que des civils soient tués dans des violences organisées",
        "Régions classées par niveau de risque",
        "Les régions les plus exposées",
        "Forces étatiques et alliées",
        "Groupes djihadistes et rebelles",
        "Milices",
        "civils tués par les forces étatiques et alliées au cours des 4 dernières semaines",
        "depuis la semaine dernière (2020-W22)",
        "Mises en garde",
        "lun. 1 juin 2020",
    ):
        assert phrase in fr, phrase
    leaks = sorted({w for w in _visible_words(fr) if w.lower() in ENGLISH})
    assert leaks == [], f"English in the French report: {leaks}"
    assert {w for w in _visible_words(en) if w.lower() in ENGLISH} >= {"the", "chance"}  # the check can fail
    # the same numbers in both, formatted per locale
    assert en_ctx.ranking[0].region_id == fr_ctx.ranking[0].region_id
    assert words("en").pct(en_ctx.ranking[0].p) in en and words("fr").pct(fr_ctx.ranking[0].p) in fr


def test_no_message_is_missing_from_the_french_catalogue():
    """Every text looked up while writing a French report, CAP alert and summary has a translation."""
    fr = words("fr")
    missing: list[str] = []

    class Recorder:  # gettext's fallback: called only for messages the catalogue lacks
        def gettext(self, message: str) -> str:
            missing.append(message)
            return message

        def ngettext(self, singular: str, plural: str, n: int) -> str:
            missing.append(singular)
            return singular if n == 1 else plural

    fr.translations.add_fallback(Recorder())  # type: ignore[arg-type]
    try:
        _report("fr")
        config = CapConfig(sender="civrisk.example.org", status="Test", languages=("fr",))
        ref = (("x.1", _message().sent),)
        for msg in (
            _message(),
            _message(rule="rise", level=0.61),
            _message(msg_type="Update", reason="p 0.83 still at or above 0.40", references=ref),
            _message(msg_type="Cancel", reason="p 0.2 fell below 0.40", p=0.2, references=ref),
            _message(msg_type="Cancel", p=None, references=ref, horizon=4),
            _message(target="civ_mass", previous_week=date(2020, 3, 2), as_of=date(2020, 6, 1)),
            _message(sent=_message().sent + timedelta(days=900), as_of=date(2020, 6, 1)),
        ):
            build_cap(msg, CapArea("Mopti, Mali"), config)
        top = top_regions(synthetic_inputs()["scores"], None, 4, lang="fr")
        Console(file=io.StringIO(), width=140).print(top_table(top, 4, "2020-W10", "fr"))
    finally:
        fr.translations._fallback = None  # type: ignore[attr-defined]
    assert missing == []


def test_numbers_dates_and_countries_follow_the_locale():
    en, fr = words("en"), words("fr")
    assert (en.pct(0.923), fr.pct(0.923)) == ("92%", "92\u00a0%")
    assert (en.pct(0.001), fr.pct(0.999)) == ("<1%", ">99\u00a0%")
    assert (en.count(1234.4), fr.count(1234.4), fr.count(4.85)) == ("1,234", "1\u202f234", "4,8")
    assert (en.date(date(2022, 6, 27)), fr.date(date(2022, 6, 27))) == ("27 June 2022", "27 juin 2022")
    assert (en.points(0.12), fr.points(-0.01), fr.points(None)) == ("▲ +12 pts", "▼ −1 pt", "nouveau")
    assert (fr.weeks(1), fr.weeks(4), fr.join(["a", "b", "c"])) == ("1 semaine", "4 semaines", "a, b et c")
    assert (en.country("DZA"), fr.country("DZA"), fr.country("CIV")) == (
        "Algeria",
        "Algérie",
        "Côte d’Ivoire",
    )
    assert fr.duration(timedelta(days=2379)) == "6 ans"  # 6.5 years: never rounded up


def test_unknown_languages_are_refused_in_one_line():
    msg = "no message catalogue for language(s) ['de']; civrisk writes ['en', 'fr']"
    with pytest.raises(LanguageError, match=re.escape(msg)):
        words("de")
    assert Settings(languages="fr, EN").languages == ("fr", "en")
    with pytest.raises(ValueError, match=re.escape("languages repeat a language: ['en', 'en']")):
        Settings(languages="en,en")


def test_cli_summary_in_french(tmp_path: Path):
    from typer.testing import CliRunner

    from cli.main import app

    done = CliRunner().invoke(app, ["publish", "--week", "2020-W23", "--lang", "de"])
    assert done.exit_code == 2 and "no message catalogue for language(s) ['de']" in done.output
    top = top_regions(synthetic_inputs()["scores"], None, 4, lang="fr")
    out = io.StringIO()
    Console(file=out, width=160).print(top_table(top, 4, "2020-W10", "fr"))
    text = out.getvalue()
    assert "Risque le plus élevé : probabilité que des civils soient tués d’ici 4 semaines" in text.replace(
        "\u00a0", " "
    )
    assert "Évolution depuis 2020-W10" in text and "Auteur le plus probable" in text and "Pays" in text
    assert "Highest" not in text and "Country" not in text
