"""UCDP event files in their published layouts -> staged canonical events (see ingest.quarantine).

Layouts (ingest.layouts): the official GED CSV (49 columns, or 48 without ``geom_wkt``), the web-explorer
export (``best_est/high_est/low_est``, ``MM/DD/YYYY hh:mm:ss`` dates, no ``gwnoa/gwnob``), the HDX copy
(float ids such as ``15960.0``, extra ``start_year, end_year, iso3``, maybe an HXL row), Candidate releases
(same header as GED; placeholder actors such as ``XXX140`` and ``code_status`` flags are kept as published)
and the reduced 7-column Candidate file (country-level only: no coordinates, admin units or sides).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ingest.layouts import LAYOUTS, Layout, is_candidate_name
from ingest.quarantine import RAW_PREFIX, native_id, parse_codes, parse_counts, parse_dates
from ingest.readers import RawTable

VIOLENCE_CODES = {1: "state_based", 2: "non_state", 3: "one_sided"}

_ID_COLUMNS = ("side_a_dset_id", "side_b_dset_id")


def refine_ucdp_layout(layout: Layout, raw: RawTable) -> Layout:
    """Return the Candidate layout for a GED-header file that is a Candidate release, else ``layout``.

    Candidate and final GED files share a header. A file is a Candidate release when its name says so
    (``GEDEvent_v23_0_10``, ``..._v26_01_26_06``, "candidate"), when ``code_status`` holds anything but
    "Clear" (final GED is all "Clear"), or when ids hold UCDP's placeholders (``XXX140``).
    """
    if layout.name != "ucdp_ged":
        return layout
    if is_candidate_name(raw.path):
        return LAYOUTS["ucdp_candidate"]
    frame = raw.frame
    if "code_status" in frame.columns:
        statuses = {str(v).strip() for v in frame["code_status"].dropna().unique()}
        if statuses - {"Clear"}:
            return LAYOUTS["ucdp_candidate"]
    for col in _ID_COLUMNS:
        if col in frame.columns and bool(frame[col].str.startswith("XXX").fillna(False).any()):
            return LAYOUTS["ucdp_candidate"]
    return layout


def stage_ucdp(raw: RawTable, layout: Layout, version: str) -> pd.DataFrame:
    """Return the staged canonical events of a UCDP file (values unparsed where they do not parse)."""
    f = raw.frame
    if layout.name == "ucdp_candidate_reduced":
        return _stage_reduced(raw, layout, version)
    suffix = "_est" if layout.name == "ucdp_explorer" else ""
    vt_raw = f["type_of_violence"]
    violence = parse_codes(vt_raw).map(VIOLENCE_CODES).astype("string")
    one_sided = (violence == "one_sided").fillna(False).to_numpy()
    best_raw = f["best" + suffix]
    best = parse_counts(best_raw)
    civ_raw = f["deaths_civilians"]
    # UCDP: every death in one-sided violence is a civilian victim (deaths_unknown included); in
    # state-based and non-state events only ``deaths_civilians`` are.
    civ = parse_counts(civ_raw).mask(one_sided, best)
    side_a = f["side_a"].astype("string")
    staged = _base(raw, layout, version, native_id(f["id"]))
    staged = staged.assign(
        date_start=parse_dates(f["date_start"], layout.date_formats),
        date_end=parse_dates(f["date_end"], layout.date_formats),
        date_precision=parse_codes(f["date_prec"]),
        country=f["country"].astype("string").str.strip(),
        admin1=f["adm_1"].astype("string"),
        admin2=f["adm_2"].astype("string"),
        latitude=parse_counts(f["latitude"]),
        longitude=parse_counts(f["longitude"]),
        geo_precision=parse_codes(f["where_prec"]),
        violence_type=violence,
        side_a=side_a,
        side_b=f["side_b"].astype("string"),
        perpetrator=side_a.where(one_sided),
        deaths_best=best,
        deaths_low=parse_counts(f["low" + suffix]),
        deaths_high=parse_counts(f["high" + suffix]),
        deaths_civilians=civ,
        gw_code=parse_codes(f["country_id"]) if "country_id" in f.columns else _na_int(f.index),
        inter_a=pd.NA,
        inter_b=pd.NA,
        iso3_published=_iso3_column(f),
        **_raws(
            date_start=f["date_start"],
            date_end=f["date_end"],
            deaths_best=best_raw,
            deaths_low=f["low" + suffix],
            deaths_high=f["high" + suffix],
            deaths_civilians=civ_raw.mask(one_sided, best_raw),
            latitude=f["latitude"],
            longitude=f["longitude"],
            violence_type=vt_raw,
            geo_precision=f["where_prec"],
            date_precision=f["date_prec"],
        ),
    )
    return staged


def _stage_reduced(raw: RawTable, layout: Layout, version: str) -> pd.DataFrame:
    """Stage the reduced 7-column Candidate file: country and date only, low = high = best.

    Its only actor information is ``conflict_name``; for one-sided violence that is "<perpetrator> -
    Civilians", so the perpetrator is known. For the other types sides are left <NA> (conflict names
    such as "Mali: Government" or "A - B - C" do not name the sides reliably) and civilian deaths are
    unknown, recorded as 0 (documented in docs/EVENTS.md).
    """
    f = raw.frame
    vt_raw = f["type_of_violence"]
    violence = parse_codes(vt_raw).map(VIOLENCE_CODES).astype("string")
    one_sided = (violence == "one_sided").fillna(False).to_numpy()
    best = parse_counts(f["best"])
    name = f["conflict_name"].astype("string").str.strip()
    perpetrator = name.str.replace(r"\s+-\s+Civilians$", "", regex=True).where(one_sided)
    no_text = pd.Series(pd.NA, index=f.index, dtype="string")
    date = parse_dates(f["date"], layout.date_formats)
    staged = _base(raw, layout, version, native_id(f["id"]))
    return staged.assign(
        date_start=date,
        date_end=date,
        date_precision=_na_int(f.index),
        country=f["country"].astype("string").str.strip(),
        admin1=no_text,
        admin2=no_text,
        latitude=float("nan"),
        longitude=float("nan"),
        geo_precision=_na_int(f.index),
        violence_type=violence,
        side_a=perpetrator,
        side_b=pd.Series("Civilians", index=f.index, dtype="string").where(one_sided),
        perpetrator=perpetrator,
        deaths_best=best,
        deaths_low=best,
        deaths_high=best,
        deaths_civilians=best.where(one_sided, 0.0),
        gw_code=_na_int(f.index),
        inter_a=pd.NA,
        inter_b=pd.NA,
        iso3_published=no_text,
        **_raws(
            date_start=f["date"],
            date_end=f["date"],
            deaths_best=f["best"],
            deaths_low=f["best"],
            deaths_high=f["best"],
            deaths_civilians=f["best"].where(one_sided, "0"),
            violence_type=vt_raw,
            latitude=no_text,
            longitude=no_text,
            geo_precision=no_text,
        ),
    )


def _base(raw: RawTable, layout: Layout, version: str, ids: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": (layout.source + ":" + ids).astype("string"),
            "source": pd.Series(layout.source, index=ids.index, dtype="string"),
            "source_version": pd.Series(version, index=ids.index, dtype="string"),
            "source_file": pd.Series(raw.path.name, index=ids.index, dtype="string"),
            "source_row": raw.source_row,
        },
        index=ids.index,
    )


def _raws(**columns: pd.Series) -> dict[str, pd.Series]:
    return {RAW_PREFIX + name: col.astype("string") for name, col in columns.items()}


def _na_int(index: pd.Index) -> pd.Series:
    return pd.Series(np.full(len(index), pd.NA), index=index, dtype="Int64")


def _iso3_column(f: pd.DataFrame) -> pd.Series:
    """Return the HDX copy's ``iso3`` where it holds a three-letter code, else <NA>."""
    if "iso3" not in f.columns:
        return pd.Series(pd.NA, index=f.index, dtype="string")
    code = f["iso3"].astype("string").str.strip().str.upper()
    return code.where(code.str.fullmatch(r"[A-Z]{3}").fillna(False))
