"""Small inline-SVG charts for the planner report: risk history sparklines and the reliability diagram.

Pure functions of plain data, returning ``<svg>`` strings; texts from data are escaped. Sparklines share one
fixed 0–100% scale so that small multiples compare at a glance; the alert threshold is drawn on each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from publish.render.report_map import risk_colour
from publish.render.report_text import fmt_pct

SERIES_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
"""Okabe–Ito colours: distinguishable with the common colour-vision deficiencies."""
SERIES_DASHES = ("", "6 3", "2 2", "8 3 2 3", "4 4", "1 3")


@dataclass(frozen=True)
class Sparkline:
    """A region's published probability by week (oldest first)."""

    region_id: str
    name: str
    country: str
    weeks: tuple[str, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class ReliabilityCurve:
    """Observed frequency against mean forecast per probability bin, for one horizon."""

    horizon: int
    p_mean: tuple[float, ...]
    y_mean: tuple[float, ...]
    n: tuple[int, ...]


def sparkline_svg(line: Sparkline, threshold: float | None = None, width: int = 200, height: int = 46) -> str:
    """Return a sparkline of ``line`` on a 0–100% scale with the threshold dashed and the last week marked."""
    pad_l, pad_r, pad_y = 2, 6, 4
    n = len(line.values)
    inner_w, inner_h = width - pad_l - pad_r, height - 2 * pad_y

    def x(i: int) -> float:
        return round(pad_l + (inner_w * i / (n - 1) if n > 1 else inner_w), 1)

    def y(v: float) -> float:
        return round(pad_y + inner_h * (1 - min(max(v, 0.0), 1.0)), 1)

    if n:
        lo, hi = min(line.values), max(line.values)
        summary = (
            f"{line.name} ({line.country}): {n} weeks from {line.weeks[0]} to {line.weeks[-1]}; "
            f"{fmt_pct(line.values[0])} then, {fmt_pct(line.values[-1])} now; "
            f"range {fmt_pct(lo)}–{fmt_pct(hi)}"
        )
    else:
        summary = f"{line.name} ({line.country}): no published history yet"
    out = [
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(summary)}">',
        f"<title>{escape(summary)}</title>",
        f'<rect x="{pad_l}" y="{pad_y}" width="{inner_w}" height="{inner_h}" fill="#f6f6f6"/>',
    ]
    if threshold is not None:
        ty = y(threshold)
        out.append(
            f'<line x1="{pad_l}" x2="{pad_l + inner_w}" y1="{ty}" y2="{ty}" stroke="#888" '
            'stroke-width="0.8" stroke-dasharray="3 2"/>'
        )
    if n:
        pts = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(line.values))
        base = y(0.0)
        out.append(f'<polygon points="{x(0)},{base} {pts} {x(n - 1)},{base}" fill="#fdd0a2" opacity="0.6"/>')
        out.append(f'<polyline points="{pts}" fill="none" stroke="#7f2704" stroke-width="1.4"/>')
        last = line.values[-1]
        out.append(
            f'<circle cx="{x(n - 1)}" cy="{y(last)}" r="3" fill="{risk_colour(last)}" stroke="#7f2704"/>'
        )
    out.append("</svg>")
    return "".join(out)


def reliability_svg(curves: Sequence[ReliabilityCurve], size: int = 300) -> str:
    """Return a reliability diagram: one line per horizon, dots sized by forecasts per bin, diagonal ideal."""
    left, bottom, top, right = 44, 40, 12, 12
    w = h = size - left - right
    height = top + h + bottom

    def px(v: float) -> float:
        return round(left + w * v, 1)

    def py(v: float) -> float:
        return round(top + h * (1 - v), 1)

    label = "Reliability diagram: observed share of weeks with civilians killed against forecast probability"
    total_h = height + 18 * (len(curves) + 1)
    out = [
        f'<svg id="reliability" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {total_h}" '
        f'width="{size}" height="{total_h}" role="img" aria-label="{label}" '
        'font-family="sans-serif" font-size="10">',
        f"<title>{label}</title>",
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fafafa" stroke="#bbb"/>',
    ]
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<line x1="{px(t)}" x2="{px(t)}" y1="{top}" y2="{top + h}" stroke="#e3e3e3"/>'
            f'<line x1="{left}" x2="{left + w}" y1="{py(t)}" y2="{py(t)}" stroke="#e3e3e3"/>'
            f'<text x="{px(t)}" y="{top + h + 13}" text-anchor="middle">{fmt_pct(t)}</text>'
            f'<text x="{left - 4}" y="{py(t) + 3}" text-anchor="end">{fmt_pct(t)}</text>'
        )
    out.append(
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="#777" stroke-dasharray="4 3"/>'
        f'<text x="{left + w / 2}" y="{top + h + 28}" text-anchor="middle">forecast probability</text>'
        f'<text x="12" y="{top + h / 2}" text-anchor="middle" transform="rotate(-90 12 {top + h / 2})">'
        "observed share</text>"
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
            tip = f"{c.horizon}-week horizon: forecast {fmt_pct(p)}, observed {fmt_pct(yv)} ({n:,} forecasts)"
            out.append(
                f'<circle cx="{a}" cy="{b}" r="{r}" fill="{colour}" fill-opacity="0.75" stroke="#fff">'
                f"<title>{escape(tip)}</title></circle>"
            )
        ly = height + 18 * k + 4
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{left}" x2="{left + 26}" y1="{ly}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{dash_attr}/>'
            f'<text x="{left + 32}" y="{ly + 3.5}">{c.horizon}-week horizon ({sum(c.n):,} forecasts)</text>'
        )
    ly = height + 18 * len(curves) + 4
    out.append(
        f'<line x1="{left}" x2="{left + 26}" y1="{ly}" y2="{ly}" stroke="#777" stroke-dasharray="4 3"/>'
        f'<text x="{left + 32}" y="{ly + 3.5}">perfectly reliable</text>'
    )
    out.append("</svg>")
    return "".join(out)
