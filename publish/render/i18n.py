"""The languages planners read civrisk in: gettext message catalogues (Babel) and locale formats.

Every user-facing text is an English message id marked for extraction (``w._("...")`` in Python,
``_("...")`` in templates, :func:`N_` for labels declared in tables); ``make translations`` extracts them
into ``locale/civrisk.pot``, updates ``locale/<lang>/LC_MESSAGES/civrisk.po`` and compiles the ``.mo`` that
ships in the package (committed, so a plain ``pip install`` needs no build step; a test checks each ``.mo``
matches its ``.po``). :class:`Words` is one language: its translations plus numbers, dates, lists and
country names formatted by Babel for that locale (CLDR data), so "92%" / "92 %" and "27 June 2022" /
"27 juin 2022" come from one place.
"""

from __future__ import annotations

import datetime as dt
import gettext
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd
import pycountry
from babel import Locale
from babel.dates import format_date, format_timedelta
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "civrisk"
SOURCE_LANGUAGE = "en"
"""The language of the message ids: it needs no catalogue."""
LOCALES = {"en": "en_GB", "fr": "fr"}
"""Language -> Babel locale of its number and date formats (British English: "27 June 2022", as OCHA)."""
LANGUAGES = tuple(LOCALES)
"""Languages civrisk can write: the source language and every language with a shipped catalogue."""


class LanguageError(ValueError):
    """A language civrisk has no catalogue for."""


def N_(message: str) -> str:
    """Return ``message`` unchanged: marks a label declared in a table for extraction (translated on use)."""
    return message


def check_languages(languages: Iterable[str]) -> tuple[str, ...]:
    """Return ``languages`` as a tuple, or raise LanguageError naming the unknown ones and the choices."""
    langs = tuple(languages)
    unknown = [lang for lang in langs if lang not in LANGUAGES]
    if unknown:
        raise LanguageError(
            f"no message catalogue for language(s) {unknown}; civrisk writes {list(LANGUAGES)} "
            "(set CIVRISK_LANGUAGES or --lang to those, or add a catalogue: docs/PUBLISHING.md)"
        )
    if not langs:
        raise LanguageError(f"no language given; civrisk writes {list(LANGUAGES)}")
    return langs


@dataclass(frozen=True)
class Words:
    """One language: translated messages and locale-formatted numbers, dates, lists and country names."""

    lang: str
    translations: gettext.NullTranslations

    @property
    def locale(self) -> str:
        """Return the Babel locale the numbers and dates are formatted in."""
        return LOCALES[self.lang]

    def _(self, message: str) -> str:
        """Return ``message`` translated."""
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Return the singular or plural form for ``n``, translated (French counts 0 and 1 as singular)."""
        return self.translations.ngettext(singular, plural, n)

    # -- numbers ---------------------------------------------------------------------------------

    def pct(self, p: float | None) -> str:
        """Return a probability as a whole percentage ("23%", "23 %"; "<1%" and ">99%" at the ends)."""
        if p is None or (isinstance(p, float) and math.isnan(p)):
            return "–"
        if p < 0.005:
            return "<" + self._percent(0.01) if p > 0 else self._percent(0.0)
        if p > 0.995:
            return ">" + self._percent(0.99) if p < 1 else self._percent(1.0)
        return self._percent(p)

    def _percent(self, p: float) -> str:
        return format_percent(round(p, 2), locale=self.locale)

    def points(self, delta: float | None) -> str:
        """Return a change of probability in percentage points with an arrow ("▲ +12 pts", "▼ −3 pts")."""
        if delta is None or math.isnan(delta):
            return self._("new")
        pts = round(delta * 100)
        if pts == 0:
            return "● " + self.ngettext("{n} pt", "{n} pts", 0).format(n=0)
        text = self.ngettext("{n} pt", "{n} pts", abs(pts)).format(n=abs(pts))
        return f"▲ +{text}" if pts > 0 else f"▼ −{text}"

    def count(self, x: float | None) -> str:
        """Return an expected count: one decimal below 10, whole numbers with thousands separators above."""
        if x is None or math.isnan(x):
            return "–"
        return format_decimal(x, "#,##0.0" if x < 10 else "#,##0", locale=self.locale)

    def integer(self, n: float) -> str:
        """Return a whole number with the locale's thousands separator ("1,234", "1 234")."""
        return format_decimal(round(n), "#,##0", locale=self.locale)

    def decimal(self, x: float, digits: int = 2) -> str:
        """Return ``x`` with ``digits`` decimals in the locale's notation ("0.13", "0,13")."""
        return format_decimal(x, "0." + "0" * digits if digits else "0", locale=self.locale)

    def signed(self, x: float, digits: int = 2) -> str:
        """Return a signed number ("+0.42", "−0,05")."""
        text = self.decimal(abs(x), digits)
        return f"+{text}" if x >= 0 else f"−{text}"

    def skill(self, x: float) -> str:
        """Return a relative skill as a signed whole percentage ("+6%", "−12 %")."""
        text = format_percent(round(abs(x), 2), locale=self.locale)
        return f"+{text}" if x >= 0 else f"−{text}"

    # -- time ------------------------------------------------------------------------------------

    def date(self, day: dt.date | pd.Timestamp) -> str:
        """Return a date in full ("27 June 2022", "27 juin 2022")."""
        return format_date(pd.Timestamp(day).date(), "long", locale=self.locale)

    def day(self, day: dt.date | pd.Timestamp) -> str:
        """Return a date with its weekday, short ("Mon 27 Jun 2022", "lun. 27 juin 2022")."""
        return format_date(pd.Timestamp(day).date(), "EEE d MMM y", locale=self.locale)

    def weeks(self, n: int) -> str:
        """Return a number of weeks in words ("1 week", "4 weeks")."""
        return self.ngettext("{n} week", "{n} weeks", n).format(n=n)

    def duration(self, span: dt.timedelta) -> str:
        """Return a duration rounded down to its largest unit ("6 years" for 6.9, "5 months", "3 weeks"):
        a replay's age is never overstated."""
        days = span.days
        units: tuple[tuple[Literal["year", "month", "week", "day"], int], ...] = (
            ("year", 365),
            ("month", 30),
            ("week", 7),
            ("day", 1),
        )
        for unit, size in units:
            if days >= size:
                return format_timedelta(
                    dt.timedelta(days=days // size * size), granularity=unit, threshold=1, locale=self.locale
                )
        return format_timedelta(span, locale=self.locale)

    # -- words -----------------------------------------------------------------------------------

    def join(self, items: Sequence[str]) -> str:
        """Return "a", "a and b", "a, b and c" in this language."""
        return format_list(list(items), locale=self.locale) if items else ""

    def country(self, iso3: str) -> str:
        """Return the country's short name in this language (the code itself if unknown)."""
        return _country_name(iso3, self.lang)


@cache
def words(lang: str = SOURCE_LANGUAGE) -> Words:
    """Return the :class:`Words` of ``lang``; raise LanguageError for a language without a catalogue."""
    check_languages([lang])
    if lang == SOURCE_LANGUAGE:
        return Words(lang, gettext.NullTranslations())
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not path.is_file():
        raise LanguageError(
            f"the {lang} message catalogue {path} is missing; reinstall civrisk or run `make translations`"
        )
    with path.open("rb") as fh:
        return Words(lang, gettext.GNUTranslations(fh))


@lru_cache(maxsize=512)
def _country_name(iso3: str, lang: str) -> str:
    if lang == SOURCE_LANGUAGE:
        from ingest.countries import iso3_name

        name = iso3_name(pd.Series([iso3], dtype="string")).iloc[0]
        if pd.notna(name):
            return str(name)
    country = pycountry.countries.get(alpha_3=iso3)
    if country is None:
        return iso3
    local = Locale.parse(LOCALES[lang]).territories.get(country.alpha_2)
    return str(local or getattr(country, "common_name", None) or country.name)
