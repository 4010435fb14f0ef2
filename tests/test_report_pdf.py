"""The printed report: WeasyPrint lays the HTML out on A4; pypdfium2 reads the pages back as text and images.

Page 1 holds the header, the summary and the map with the ranked regions' names printed on it; page 2
starts the full ranking; no section heading ends a page.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from publish.render.report import build_report_context, render_report
from publish.render.report_map import RISK_COLOURS
from publish.render.report_pdf import ExternalResourceError, pdf_bytes, write_pdf
from tests.report_synth import synthetic_inputs

pypdfium2 = pytest.importorskip("pypdfium2")
pytestmark = pytest.mark.slow

HEADINGS = {
    "en": (
        "Summary",
        "Regions ranked by risk",
        "The top regions: what changed and why",
        "How reliable is this?",
    ),
    "fr": ("Résumé", "Régions classées par niveau de risque", "Quelle est la fiabilité de ces prévisions"),
}
MAP_TITLE = {
    "en": "Map: chance civilians are killed within 4 weeks",
    "fr": "Carte : probabilité que des civils soient tués d’ici 4 semaines",
}


def _pages(path: Path, out: Path) -> tuple[list[str], list[np.ndarray]]:
    """Return each page's text and the first two pages' images (saved as PNG beside the PDF, to look at)."""
    pdf = pypdfium2.PdfDocument(str(path))
    texts, images = [], []
    for i in range(len(pdf)):
        page = pdf[i]
        texts.append(page.get_textpage().get_text_range().replace("\r", "").replace("\u00a0", " "))
        if i < 2:  # the map and the ranking
            image = page.render(scale=1.0).to_pil()
            image.save(out / f"{path.stem}-p{i + 1}.png")
            images.append(np.asarray(image.convert("RGB")))
    return texts, images


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_pdf_pages_hold_the_map_first_and_the_ranking_second(lang, tmp_path):
    ctx = build_report_context(**synthetic_inputs(n_regions=20, seed=4), lang=lang)  # type: ignore[arg-type]
    path = write_pdf(render_report(ctx), tmp_path / f"report.{lang}.pdf")
    assert path.read_bytes()[:5] == b"%PDF-"
    texts, images = _pages(path, tmp_path)
    assert 4 <= len(texts) <= 12
    first, second = texts[0], texts[1]
    assert MAP_TITLE[lang] in first and HEADINGS[lang][0] in first
    named = [lab.text for lab in ctx.map.labels if lab.kind == "name"]
    assert len(named) >= 15 and all(name in first for name in named)  # printed on the map, no hovering
    assert second.lstrip().startswith(HEADINGS[lang][1])
    assert all(r.name in second for r in ctx.ranking)  # the whole ranking, not collapsed
    for text in texts:  # no orphaned heading: a section title is never a page's last line
        last = [line for line in text.splitlines() if line.strip() and not re.fullmatch(r".*\d+ / \d+", line)]
        assert last and last[-1].strip() not in HEADINGS[lang], last[-1]
    # the map is drawn in its colours on page 1 (A4 portrait at 72 dpi: 595 x 842)
    assert images[0].shape[0] == 842 and abs(images[0].shape[1] - 595) <= 1
    pixels = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in RISK_COLOURS}
    flat = images[0].reshape(-1, 3)
    seen = {tuple(p) for p in np.unique(flat[::7], axis=0)}
    assert len(pixels & seen) >= 3


def test_a_pdf_loads_nothing_from_outside():
    html = '<html><body><img src="https://example.org/x.png"><p>x</p></body></html>'
    with pytest.raises(ExternalResourceError, match=re.escape("the report must be self-contained")):
        pdf_bytes(html)
