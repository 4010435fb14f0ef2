"""The planner report as a PDF: the same HTML, laid out by WeasyPrint with the template's print styles
(A4; the map on page 1, the full ranking from page 2, the top regions from page 3; headings kept with
what follows them).

WeasyPrint lays out HTML and CSS itself (pango for text), so printing needs no browser; it is imported
only when a PDF is written. The report is self-contained, so the fetcher refuses every URL: a PDF never
loads anything from outside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from civrisk.atomic import write_atomic


class ExternalResourceError(ValueError):
    """The report asked for a resource outside itself (it must be self-contained)."""


def _refusing_fetcher() -> Any:
    """Return a WeasyPrint URL fetcher that stops the rendering at the first URL it is asked for."""
    from weasyprint.urls import URLFetcher

    class Refuse(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ExternalResourceError(f"the report must be self-contained, but it refers to {url[:80]!r}")

    return Refuse(fail_on_errors=True)


def pdf_bytes(html: str) -> bytes:
    """Return ``html`` printed to PDF (A4, by the template's print styles); raise ExternalResourceError
    if it refers to anything outside itself."""
    import weasyprint
    from weasyprint.urls import FatalURLFetchingError

    try:
        document = weasyprint.HTML(string=html, url_fetcher=_refusing_fetcher(), media_type="print").render()
    except FatalURLFetchingError as err:
        if isinstance(err.__cause__, ExternalResourceError):
            raise err.__cause__ from None
        raise
    return bytes(document.write_pdf())


def write_pdf(html: str, path: str | Path) -> Path:
    """Print ``html`` to a PDF at ``path`` atomically; return ``path``."""
    data = pdf_bytes(html)
    return write_atomic(path, lambda p: p.write_bytes(data))
