"""Small inline SVG line charts for the per-kernel pages: a few KB each, crisp at any zoom, no image files.

Each chart is a string of SVG markup with role="img" and a <title>, ready to be placed in a page as is. A line of
more than MAX_POINTS points is thinned for drawing (its peaks and dips kept); every number is in the layer's
layer.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np


@dataclass(frozen=True)
class Series:
    y: np.ndarray
    x: np.ndarray | None = None  # default: 0, 1, 2, ...
    colour: str = "#1f4e79"
    width: float = 1.5
    dash: str = ""  # an SVG stroke-dasharray, e.g. "4 3"
    label: str = ""


MAX_POINTS = 400  # points of one line at most: a chart is 360 px wide, and a line of 10,000 points would be 100 KB


def thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `limit` of the points (x, y) of a line, for drawing: the first and the last, and in each of
    (limit - 2) // 2 even runs of the points between them the lowest and the highest (so every peak and dip, and the
    extremes, stay where they are)."""
    n = len(y)
    if n <= limit:
        return x, y
    edges = np.linspace(1, n - 1, (limit - 2) // 2 + 1).round().astype(int)
    keep = [0]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi > lo:
            run = y[lo:hi]
            keep += sorted({lo + int(np.argmin(run)), lo + int(np.argmax(run))})
    keep.append(n - 1)
    return x[keep], y[keep]


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = np.ceil(lo / step) * step
    return [float(v) for v in np.arange(first, hi + step * 1e-9, step)]


def _fmt(v: float) -> str:
    return f"{v:.3g}" if v != 0 else "0"


def line_chart(
    series: list[Series],
    title: str,
    xlabel: str = "",
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
    width: int = 360,
    height: int = 190,
) -> str:
    """A line chart of the series, with axes, ticks, labels and a legend (for labelled series)."""
    left, right, top, bottom = 46, 10, 22, 34
    xs = [np.arange(len(s.y)) if s.x is None else np.asarray(s.x, float) for s in series]
    ys = [np.asarray(s.y, float) for s in series]
    x0, x1 = min(float(x.min()) for x in xs), max(float(x.max()) for x in xs)
    if ylim is None:
        y0, y1 = min(float(np.nanmin(y)) for y in ys), max(float(np.nanmax(y)) for y in ys)
        pad = 0.05 * (y1 - y0 or 1.0)
        y0, y1 = y0 - pad, y1 + pad
    else:
        y0, y1 = ylim
    pw, ph = width - left - right, height - top - bottom

    def px(x: np.ndarray | float) -> np.ndarray:
        return left + (np.asarray(x, float) - x0) / ((x1 - x0) or 1.0) * pw

    def py(y: np.ndarray | float) -> np.ndarray:
        return top + (y1 - np.clip(np.asarray(y, float), y0, y1)) / ((y1 - y0) or 1.0) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#bbb"/>',
    ]
    for v in _ticks(y0, y1):
        yy = float(py(v))
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 4}" y="{yy + 3:.1f}" text-anchor="end" font-size="9">{_fmt(v)}</text>')
    for v in _ticks(x0, x1):
        xx = float(px(v))
        parts.append(f'<text x="{xx:.1f}" y="{top + ph + 11}" text-anchor="middle" font-size="9">{_fmt(v)}</text>')
    if y0 < 0 < y1:
        zero = float(py(0))
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#999"/>')
    for s, x, y in zip(series, xs, ys, strict=True):
        ok = np.isfinite(y)
        shown_x, shown_y = thin(x[ok], y[ok])
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px(shown_x), py(shown_y), strict=True))
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        parts.append(f'<polyline fill="none" stroke="{s.colour}" stroke-width="{s.width}"{dash} points="{points}"/>')
    legend = [s for s in series if s.label]
    for i, s in enumerate(legend):
        lx = left + 6 + i * (pw // max(len(legend), 1))
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        parts.append(
            f'<line x1="{lx}" x2="{lx + 14}" y1="{top - 8}" y2="{top - 8}" stroke="{s.colour}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{lx + 18}" y="{top - 5}" font-size="9">{escape(s.label)}</text>')
    parts.append(
        f'<text x="{left + pw / 2:.0f}" y="{height - 4}" text-anchor="middle" font-size="10">{escape(xlabel)}</text>'
    )
    parts.append(
        f'<text x="11" y="{top + ph / 2:.0f}" text-anchor="middle" font-size="10" '
        f'transform="rotate(-90 11 {top + ph / 2:.0f})">{escape(ylabel)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
