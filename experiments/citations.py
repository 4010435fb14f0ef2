"""The data citations RESULTS.md ends with: UCDP (and each shared GED file's version article), ACLED, maps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from experiments.results_tables import BacktestRecord

UCDP_CITATION = (
    "Sundberg, R. & Melander, E. (2013) Introducing the UCDP Georeferenced Event Dataset. *Journal of "
    "Peace Research* 50(4): 523-532. Licence CC BY 4.0."
)
UCDP_VERSIONS = {
    "ged_explorer": "GED 24.1: Davies, S., Engström, G., Pettersson, T. & Öberg, M. (2024) Organized "
    "violence 1989-2023, and the prevalence of organized crime groups. *Journal of Peace Research* 61(4).",
    "ged201": "GED 20.1: Pettersson, T. & Öberg, M. (2020) Organized violence, 1989-2019. *Journal of Peace "
    "Research* 57(4).",
    "ged231": "GED 23.1: Davies, S., Pettersson, T. & Öberg, M. (2023) Organized violence 1989-2022, and the "
    "return of conflict between states. *Journal of Peace Research* 60(4).",
}
"""The version article of each shared UCDP file, keyed by the start of the file name."""
ACLED_CITATION = (
    "Raleigh, C., Linke, A., Hegre, H. & Karlsen, J. (2010) Introducing ACLED: An Armed Conflict Location "
    "and Event Dataset. *Journal of Peace Research* 47(5): 651-660. ACLED data are used under ACLED's terms "
    "of use (non-commercial, with attribution); no ACLED rows are reproduced here, only scores."
)


def citations(records: Sequence[BacktestRecord]) -> str:
    """Return the Data and citations section for the sources and files the backtests used."""
    sources = {s for r in records for s in r.config.data.sources}
    lines = ["## Data and citations\n"]
    if {"ucdp_ged", "ucdp_candidate"} & sources:
        lines.append(f"- UCDP: {UCDP_CITATION}")
        files = {f for r in records for f in r.input_files}
        for key, text in UCDP_VERSIONS.items():
            if any(f.startswith(key) for f in files):
                lines.append(f"  - {text}")
    if "acled" in sources:
        lines.append(f"- ACLED: {ACLED_CITATION}")
    if any(r.config.data.boundaries is not None for r in records):
        lines.append(
            "- Admin-1 polygons: Burkina Faso from geoBoundaries (Runfola, D. et al. (2020) geoBoundaries: A "
            "global database of political administrative boundaries. *PLoS ONE* 15(4): e0231866; CC BY 4.0), "
            "Mali and Niger from the OCHA Common Operational Datasets (COD-AB)."
        )
    if any(r.config.data.unit == "grid" for r in records):
        lines.append(
            "- PRIO-GRID: Tollefsen, A. F., Strand, H. & Buhaug, H. (2012) PRIO-GRID: A unified spatial data "
            "structure. *Journal of Peace Research* 49(2): 363-374; cells kept within Natural Earth country "
            "outlines (public domain)."
        )
    return "\n".join(lines) + "\n"
