"""``civrisk publish``, ``verify`` and ``demo``: thin wiring over publish.publication.week, .verify and .demo.

Heavy imports (pandas, mlflow, xgboost) happen inside the commands so ``civrisk --help`` stays fast.
Exit codes: 0 done; 1 bad input or nothing to do (the message says why); 2 usage errors (typer).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from civrisk.settings import get_settings
from publish.render.i18n import Words, words

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from publish.publication.week import PublishResult

EXIT_FAILED = 1
WEEK_OPT = typer.Option(..., "--week", help="ISO week to publish, e.g. 2020-W23 (or its Monday, 2020-06-01).")
EVENTS_OPT = typer.Option(
    None, "--events", help="An ingested events folder (civrisk ingest); default: the model config's data."
)
LANG_OPT = typer.Option(
    None,
    "--lang",
    help="Language of the printed summary, e.g. fr (default: the first of CIVRISK_LANGUAGES, which also "
    "sets the languages the reports and CAP alerts are written in).",
)


def _language(lang: str | None) -> str:
    """Return the summary's language: ``--lang``, else the first configured one (a bad one: usage error)."""
    from publish.render.i18n import LanguageError, check_languages

    chosen = lang or get_settings().languages[0]
    try:
        return check_languages([chosen.strip().lower()])[0]
    except LanguageError as err:
        raise typer.BadParameter(str(err), param_hint="--lang") from err


def publish_command(
    week: str = WEEK_OPT,
    as_of: str | None = typer.Option(
        None, "--as-of", help="Data cut-off date (default: the week's Monday); data after it are ignored."
    ),
    model_version: str | None = typer.Option(
        None, "--model-version", help="Registered model version to publish with (default: the champion)."
    ),
    events: Path | None = EVENTS_OPT,
    exercise: bool = typer.Option(
        False, "--exercise", help="Mark the CAP alerts as an exercise (status Exercise), not actual alerts."
    ),
    lang: str | None = LANG_OPT,
) -> None:
    """Publish one week: scores of the champion model, alerts (CAP 1.2), HXL/GeoJSON/JSON exports, reports
    (HTML and PDF, one per language of CIVRISK_LANGUAGES)."""
    from rich.console import Console

    from publish.publication.week import LookaheadError, NothingToPublish, PublishOptions, publish_week
    from publish.store.errors import StoreError
    from publish.store.score_rows import ScoresInputError

    console = Console()
    language = _language(lang)
    options = PublishOptions(cap_status="Exercise" if exercise else "Actual")
    try:
        cut = date.fromisoformat(as_of) if as_of is not None else None
        with console.status(f"publishing {week}"):
            result = publish_week(week, cut, model_version, events, settings=get_settings(), options=options)
    except (
        LookupError,
        NothingToPublish,
        LookaheadError,
        ScoresInputError,
        ValueError,
        OSError,
        StoreError,
    ) as err:
        typer.echo(f"civrisk publish: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from err
    print_publication(result, console, language)


def verify_command(
    week: str = WEEK_OPT,
    revision: int | None = typer.Option(None, "--revision", min=1, help="Revision (default: the latest)."),
    events: Path | None = EVENTS_OPT,
) -> None:
    """Score a past publication against what happened once the data cover its forecast windows."""
    import pandas as pd

    from publish.publication.verify import verify_week
    from publish.store.errors import StoreError

    try:
        result = verify_week(week, revision, events, settings=get_settings())
    except (LookupError, ValueError, FileNotFoundError, StoreError) as err:
        typer.echo(f"civrisk verify: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from err
    pub = result.publication
    wide = result.table.pivot_table(index=["target", "horizon"], columns="metric", values="value")
    wide["n"] = result.table.groupby(["target", "horizon"])["n"].max()
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        typer.echo(wide.to_string())
    state = "recorded" if result.recorded else "already recorded (same values)"
    typer.echo(f"verification of {pub.week_label} revision {pub.revision}: {state}")


def demo_command(
    quick: bool = typer.Option(False, "--quick", help="One real model and one test year (about a minute)."),
    lang: str | None = LANG_OPT,
) -> None:
    """The main job on real data: ingest, backtest, register the champion, publish, verify, report."""
    import time

    from rich.console import Console

    from forecasting.targets import HEADLINE_TARGET
    from operations.demo import run_demo

    console = Console()
    language = _language(lang)
    w = words(language)
    t0 = time.perf_counter()
    result = run_demo(get_settings(), quick=quick, console=console)
    if result.earlier is not None:
        console.print(w._("earlier week: {folder}").format(folder=result.earlier.folder), highlight=False)
    if result.verification is not None:
        v = result.verification.table
        row = v[(v["target"] == HEADLINE_TARGET) & (v["metric"] == "brier")]
        text = ", ".join(f"h{h} {w.decimal(x, 3)}" for h, x in zip(row["horizon"], row["value"], strict=True))
        console.print(
            w._("verified {week}: Brier score of civ_any {scores}").format(
                week=result.verification.publication.week_label, scores=text
            ),
            highlight=False,
        )
    print_publication(result.latest, console, language)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    took = time.perf_counter() - t0
    console.print(w._("demo finished in {n} s").format(n=round(took)), highlight=False)


def print_publication(result: PublishResult, console: Console, lang: str = "en") -> None:
    """Print, in ``lang``, what was published, the top-risk regions and where the files are."""
    from publish.render.report_header import REPLAY_AFTER

    w = words(lang)
    pub = result.publication
    what = w._("published") if result.created else w._("already published (same model and data)")
    if result.rebuilt:
        what += w._("; its files were missing and were written again")
    console.print(
        w._(
            "{week} revision {revision}: {what}; model {model} v{version}, {n} scores, data through {day}"
        ).format(
            week=pub.week_label,
            revision=pub.revision,
            what=what,
            model=pub.model_name,
            version=pub.model_version,
            n=w.integer(pub.n_scores),
            day=w.date(result.cutoff.last_day),
        ),
        highlight=False,
    )
    made = pd_timestamp(pub.created_at)
    if made - pd_timestamp(result.cutoff.last_day) > REPLAY_AFTER:
        console.print(
            w._("replay: the data end on {end}, {gap} before this publication was made").format(
                end=w.date(result.cutoff.last_day),
                gap=w.duration(made - pd_timestamp(result.cutoff.last_day)),
            ),
            highlight=False,
        )
    for iso3 in result.withheld:
        end = result.data_ends.get(iso3)
        if iso3 in result.thin:
            recent, usual = result.thin[iso3]
            why = w._(
                "only {n} events in the last 4 data weeks against a usual {usual} (a thin file?)"
            ).format(n=w.integer(recent), usual=w.integer(round(usual)))
        elif end is not None:
            why = w._("its data end on {end}, {gap} before this week's data cut-off").format(
                end=w.date(end), gap=w.duration(pd_timestamp(result.cutoff.last_day) - end)
            )
        else:
            why = w._("no data cover it")
        console.print(
            w._("scores withheld for {country}: {why}").format(country=w.country(iso3), why=why),
            highlight=False,
        )
    console.print(w._("alerts: {alerts}").format(alerts=_alerts_words(result, w)), highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(top_table(result.top, result.horizon, result.previous_week, lang))
    console.print(w._("files: {folder}").format(folder=result.folder), highlight=False)
    report = _report_in(result, lang)
    if report is not None:
        console.print(w._("report: {path}").format(path=report.resolve()), highlight=False)


def _alerts_words(result: PublishResult, w: Words) -> str:
    """Return this publication's alert messages counted by kind, or why there are none."""
    why = result.alert_scope.why_none(w)
    if why is not None:
        return w._("none ({why})").format(why=why)
    if not len(result.alerts):
        return w._("none (no region reached an alert rule)")
    kinds = result.alerts["msg_type"].value_counts()
    n_new, n_update, n_cancel = (int(kinds.get(k, 0)) for k in ("Alert", "Update", "Cancel"))
    parts = [
        w.ngettext("{n} new alert", "{n} new alerts", n_new).format(n=n_new) if n_new else "",
        w.ngettext("{n} update", "{n} updates", n_update).format(n=n_update) if n_update else "",
        w.ngettext("{n} cancellation", "{n} cancellations", n_cancel).format(n=n_cancel) if n_cancel else "",
    ]
    return w.join([p for p in parts if p])


def _report_in(result: PublishResult, lang: str) -> Path | None:
    """Return the publication's report in ``lang`` if it was written, else its primary report."""
    from publish.publication.outputs import REPORT, report_name

    for name in (report_name(lang, False), REPORT):
        if (result.folder / name).is_file():
            return result.folder / name
    return None


def pd_timestamp(value: object) -> pd.Timestamp:
    """Return ``value`` as a timezone-naive UTC timestamp."""
    import pandas as pd

    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def top_table(top: pd.DataFrame, horizon: int, previous_week: str | None = None, lang: str = "en") -> object:
    """Return a rich Table of the top-risk regions, in ``lang``."""
    import math

    from rich.table import Table

    from publish.render.labels import GROUPS

    w = words(lang)
    table = Table(
        title=w._("Highest risk: chance civilians are killed within {wk}").format(wk=w.weeks(horizon))
    )
    change = w._("Change since {week}").format(week=previous_week) if previous_week else w._("Change")
    for col, justify in (
        ("#", "right"),
        (w._("Region"), "left"),
        (w._("Country"), "left"),
        (w._("Chance ({wk})").format(wk=w.weeks(horizon)), "right"),
        (change, "right"),
        (w._("Most likely perpetrator"), "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in top.itertuples(index=False):
        points = None if math.isnan(r.change) else r.change
        group = getattr(r, "group", "")
        who = f"{w._(GROUPS[group].short)} {w.pct(r.p_group)}" if group in GROUPS else "–"
        country = w.country(str(r.iso3)) if hasattr(r, "iso3") else str(r.country)
        table.add_row(str(r.rank), str(r.region), country, w.pct(r.p), w.points(points), who)
    return table
