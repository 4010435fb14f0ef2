"""Small inline-SVG charts for the planner report: region trends and the reliability diagram.

Pure functions of plain data, returning ``<svg>`` strings; texts from data are escaped. Trend charts share
one fixed 0–100% scale for the published chance so that they compare at a glance; the alert level is drawn
on each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from publish.render.i18n import Words
from publish.render.report_map import risk_colour
from publish.render.report_regions import Trend

SERIES_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
"""Okabe–Ito colours: distinguishable with the common colour-vision deficiencies."""
SERIES_DASHES = ("", "6 3", "2 2", "8 3 2 3", "4 4", "1 3")


@dataclass(frozen=True)
class ReliabilityCurve:
    """Observed frequency against mean forecast per probability bin, for one horizon."""

    horizon: int
    p_mean: tuple[float, ...]
    y_mean: tuple[float, ...]
    n: tuple[int, ...]


def trend_svg(trend: Trend, threshold: float | None = None, width: int = 320, height: int = 84) -> str:
    """Return a region's last weeks: bars of civilians killed per week (own scale, tallest bar labelled),
    dots of the chance published each week (0–100%, joined between consecutive weeks), the alert level
    dashed, and weeks without data hatched; the last dot (this week) coloured as on the map."""
    left, right, top, bottom = 4, 30, 6, 14
    n = len(trend.weeks)
    inner_w, inner_h = width - left - right, height - top - bottom
    step = inner_w / max(n, 1)

    def x(i: int) -> float:
        return round(left + step * (i + 0.5), 1)

    def y(v: float) -> float:
        return round(top + inner_h * (1 - min(max(v, 0.0), 1.0)), 1)

    out = [
        f'<svg class="trend" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(trend.summary)}" '
        'font-family="sans-serif" font-size="9">',
        f"<title>{escape(trend.summary)}</title>",
        f'<rect x="{left}" y="{top}" width="{inner_w}" height="{inner_h}" fill="#f6f6f6"/>',
    ]
    for i, k in enumerate(trend.killed):
        if k is None:
            out.append(
                f'<rect x="{round(left + step * i, 1)}" y="{top}" width="{round(step, 1)}" '
                f'height="{inner_h}" fill="#e4e4e4"/>'
            )
    peak = max((k for k in trend.killed if k is not None), default=0.0)
    if peak > 0:
        for i, k in enumerate(trend.killed):
            if k:
                bar_h = round(inner_h * 0.9 * k / peak, 1)
                out.append(
                    f'<rect x="{round(left + step * (i + 0.15), 1)}" y="{round(top + inner_h - bar_h, 1)}" '
                    f'width="{round(step * 0.7, 1)}" height="{bar_h}" fill="#9e9ac8"/>'
                )
        out.append(
            f'<text x="{width - right + 3}" y="{round(top + inner_h * 0.1 + 3, 1)}" fill="#54278f">'
            f"{int(round(peak))}</text>"
        )
    if threshold is not None:
        ty = y(threshold)
        out.append(
            f'<line x1="{left}" x2="{left + inner_w}" y1="{ty}" y2="{ty}" stroke="#888" '
            'stroke-width="0.8" stroke-dasharray="3 2"/>'
        )
    pts = [(i, p) for i, p in enumerate(trend.published) if p is not None]
    for (i, p), (j, q) in zip(pts, pts[1:], strict=False):
        if j == i + 1:
            out.append(
                f'<line x1="{x(i)}" y1="{y(p)}" x2="{x(j)}" y2="{y(q)}" stroke="#7f2704" stroke-width="1.4"/>'
            )
    for k, (i, p) in enumerate(pts):
        last = k == len(pts) - 1 and i == n - 1
        fill = risk_colour(p) if last else "#7f2704"
        out.append(
            f'<circle cx="{x(i)}" cy="{y(p)}" r="{3.2 if last else 2.4}" fill="{fill}" stroke="#7f2704"/>'
        )
    out.append(
        f'<text x="{left}" y="{height - 3}" fill="#555">{escape(trend.weeks[0] if n else "")}</text>'
        f'<text x="{left + inner_w}" y="{height - 3}" fill="#555" text-anchor="end">'
        f"{escape(trend.weeks[-1] if n else '')}</text>"
    )
    out.append("</svg>")
    return "".join(out)


def reliability_svg(curves: Sequence[ReliabilityCurve], w: Words, size: int = 300) -> str:
    """Return a reliability diagram: one line per horizon, dots sized by forecasts per bin, diagonal ideal."""
    left, bottom, top, right = 44, 40, 12, 12
    side = h = size - left - right
    height = top + h + bottom

    def px(v: float) -> float:
        return round(left + side * v, 1)

    def py(v: float) -> float:
        return round(top + h * (1 - v), 1)

    label = w._(
        "Reliability diagram: observed share of weeks with civilians killed against forecast probability"
    )
    x_label, y_label, ideal = w._("forecast probability"), w._("observed share"), w._("perfectly reliable")
    total_h = height + 18 * (len(curves) + 1)
    out = [
        f'<svg id="reliability" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {total_h}" '
        f'width="{size}" height="{total_h}" role="img" aria-label="{escape(label)}" '
        'font-family="sans-serif" font-size="10">',
        f"<title>{escape(label)}</title>",
        f'<rect x="{left}" y="{top}" width="{side}" height="{h}" fill="#fafafa" stroke="#bbb"/>',
    ]
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<line x1="{px(t)}" x2="{px(t)}" y1="{top}" y2="{top + h}" stroke="#e3e3e3"/>'
            f'<line x1="{left}" x2="{left + side}" y1="{py(t)}" y2="{py(t)}" stroke="#e3e3e3"/>'
            f'<text x="{px(t)}" y="{top + h + 13}" text-anchor="middle">{w.pct(t)}</text>'
            f'<text x="{left - 4}" y="{py(t) + 3}" text-anchor="end">{w.pct(t)}</text>'
        )
    out.append(
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="#777" stroke-dasharray="4 3"/>'
        f'<text x="{left + side / 2}" y="{top + h + 28}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="12" y="{top + h / 2}" text-anchor="middle" transform="rotate(-90 12 {top + h / 2})">'
        f"{escape(y_label)}</text>"
    )
    n_max = max((max(c.n) for c in curves if c.n), default=1)
    for k, c in enumerate(curves):
        colour, dash = SERIES_COLOURS[k % len(SERIES_COLOURS)], SERIES_DASHES[k % len(SERIES_DASHES)]
        pts = [(px(p), py(yv)) for p, yv in zip(c.p_mean, c.y_mean, strict=True)]
        if pts:
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            path = " ".join(f"{a},{b}" for a, b in pts)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.6"{dash_attr}/>'
            )
        for (a, b), p, yv, n in zip(pts, c.p_mean, c.y_mean, c.n, strict=True):
            r = round(2 + 5 * (n / n_max) ** 0.5, 1)
            tip = w._("{h}-week horizon: forecast {p}, observed {y} ({n} forecasts)").format(
                h=c.horizon, p=w.pct(p), y=w.pct(yv), n=w.integer(n)
            )
            out.append(
                f'<circle cx="{a}" cy="{b}" r="{r}" fill="{colour}" fill-opacity="0.75" stroke="#fff">'
                f"<title>{escape(tip)}</title></circle>"
            )
        ly = height + 18 * k + 4
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{left}" x2="{left + 26}" y1="{ly}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{dash_attr}/>'
            f'<text x="{left + 32}" y="{ly + 3.5}">'
            + escape(w._("{h}-week horizon ({n} forecasts)").format(h=c.horizon, n=w.integer(sum(c.n))))
            + "</text>"
        )
    ly = height + 18 * len(curves) + 4
    out.append(
        f'<line x1="{left}" x2="{left + 26}" y1="{ly}" y2="{ly}" stroke="#777" stroke-dasharray="4 3"/>'
        f'<text x="{left + 32}" y="{ly + 3.5}">{escape(ideal)}</text>'
    )
    out.append("</svg>")
    return "".join(out)
