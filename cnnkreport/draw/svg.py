"""Small inline SVG line charts for the per-kernel pages: a few KB each, crisp at any zoom, no image files.

Each chart is a string of SVG markup with role="img" and its title as aria-label (the figure's caption says the
rest), ready to be placed in a page as is. A line of more than MAX_POINTS points is thinned for drawing (its peaks
and dips kept); every number is in the layer's layer.json.
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


FONT = 10  # px: the smallest text of a chart (tick values, legend), shown at its natural size
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


@dataclass(frozen=True)
class _Plot:
    """Where a chart's plot area sits (pixels: left and top edges, width and height) and the data ranges it shows."""

    left: int
    top: int
    pw: int
    ph: int
    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, x: np.ndarray | float) -> np.ndarray:
        return self.left + (np.asarray(x, float) - self.x0) / ((self.x1 - self.x0) or 1.0) * self.pw

    def py(self, y: np.ndarray | float) -> np.ndarray:
        return (
            self.top
            + (self.y1 - np.clip(np.asarray(y, float), self.y0, self.y1)) / ((self.y1 - self.y0) or 1.0) * self.ph
        )


def _y_range(ys: list[np.ndarray], ylim: tuple[float, float] | None) -> tuple[float, float]:
    """`ylim`, or the range of the finite values with 5% to spare at each end."""
    if ylim is not None:
        return ylim
    y0, y1 = min(float(np.nanmin(y)) for y in ys), max(float(np.nanmax(y)) for y in ys)
    pad = 0.05 * (y1 - y0 or 1.0)
    return y0 - pad, y1 + pad


def _axes(p: _Plot) -> list[str]:
    """The plot area's frame, horizontal grid lines (one path) with their values, the x tick values, and the zero
    line. Texts that share an anchor share a group: a chart's boilerplate is written once."""
    ys = [(float(p.py(v)), v) for v in _ticks(p.y0, p.y1)]
    grid = "".join(f"M{p.left} {yy:.1f}h{p.pw}" for yy, _ in ys)
    y_values = "".join(f'<text x="{p.left - 4}" y="{yy + 3:.1f}">{_fmt(v)}</text>' for yy, v in ys)
    x_values = "".join(
        f'<text x="{float(p.px(v)):.1f}" y="{p.top + p.ph + 12}">{_fmt(v)}</text>' for v in _ticks(p.x0, p.x1)
    )
    parts = [
        f'<rect x="{p.left}" y="{p.top}" width="{p.pw}" height="{p.ph}" fill="#fff" stroke="#bbb"/>',
        f'<path fill="none" stroke="#eee" d="{grid}"/>' if grid else "",
        f'<g text-anchor="end">{y_values}</g><g text-anchor="middle">{x_values}</g>',
    ]
    if p.y0 < 0 < p.y1:
        parts.append(f'<path fill="none" stroke="#999" d="M{p.left} {float(p.py(0)):.1f}h{p.pw}"/>')
    return parts


def _dash(s: Series) -> str:
    return f' stroke-dasharray="{s.dash}"' if s.dash else ""


STEPS = 2  # a chart's lines are drawn to 1/STEPS of a pixel: integer steps in a path scaled by 1/STEPS


def path_data(px: np.ndarray, py: np.ndarray) -> str:
    """SVG path data through the points (px, py) in units of 1/STEPS pixel (the path is drawn scaled by
    1/STEPS): an absolute move to the first point, then each step relative to the one before, as integers (about a
    third of the bytes of a polyline's absolute pairs of decimals: lines are most of a chart's bytes), without the
    points in the middle of a straight run. The steps are between rounded positions, so rounding never
    accumulates."""
    q = np.round(np.column_stack([px, py]) * STEPS).astype(np.int64)
    if len(q) > 2:  # drop the points in the middle of a straight run (a flat line is two points): same drawing
        d = np.diff(q, axis=0)
        straight = (d[:-1, 0] * d[1:, 1] == d[:-1, 1] * d[1:, 0]) & ((d[:-1] * d[1:]).sum(axis=1) >= 0)
        q = q[np.concatenate([[True], ~straight, [True]])]
    out = [f"M{q[0, 0]} {q[0, 1]}"]
    steps = np.diff(q, axis=0).ravel().tolist()
    if steps:
        out.append("l" + "".join(f"{v}" if k == 0 or v < 0 else f" {v}" for k, v in enumerate(steps)))
    return "".join(out)


def _scaled(value: str) -> str:
    """A stroke length (a width or a dash pattern) in path units."""
    return " ".join(f"{float(v) * STEPS:g}" for v in value.split())


def _lines(p: _Plot, series: list[Series], xs: list[np.ndarray], ys: list[np.ndarray]) -> list[str]:
    """A line (an SVG path) per series through its finite points, thinned to at most MAX_POINTS, in one group
    scaled by 1/STEPS."""
    parts = []
    for s, x, y in zip(series, xs, ys, strict=True):
        ok = np.isfinite(y)
        shown_x, shown_y = thin(x[ok], y[ok])
        d = path_data(p.px(shown_x), p.py(shown_y)) if len(shown_x) else ""
        dash = f' stroke-dasharray="{_scaled(s.dash)}"' if s.dash else ""
        parts.append(f'<path stroke="{s.colour}" stroke-width="{_scaled(str(s.width))}"{dash} d="{d}"/>')
    return [f'<g transform="scale({1 / STEPS:g})" fill="none">', *parts, "</g>"]


def _legend(p: _Plot, series: list[Series]) -> list[str]:
    """A sample line and the label of each labelled series, side by side above the plot area."""
    legend = [s for s in series if s.label]
    parts = []
    for i, s in enumerate(legend):
        lx = p.left + 6 + i * (p.pw // max(len(legend), 1))
        y = p.top - 8
        parts.append(
            f'<line x1="{lx}" x2="{lx + 14}" y1="{y}" y2="{y}" stroke="{s.colour}" stroke-width="2"{_dash(s)}/>'
        )
        parts.append(f'<text x="{lx + 18}" y="{p.top - 5}">{escape(s.label)}</text>')
    return parts


def _labels(p: _Plot, xlabel: str, ylabel: str, height: int) -> list[str]:
    """The x label centred below the plot area, the y label turned up along its left."""
    mid = f"{p.top + p.ph / 2:.0f}"
    return [
        f'<text x="{p.left + p.pw / 2:.0f}" y="{height - 4}" text-anchor="middle">{escape(xlabel)}</text>',
        f'<text x="11" y="{mid}" text-anchor="middle" transform="rotate(-90 11 {mid})">{escape(ylabel)}</text>',
    ]


MARGINS = (52, 10, 22, 34)  # left, right, top, bottom: room for the tick values, labels and legend


def plot_box(width: int = 360, height: int = 190) -> tuple[float, float, float, float]:
    """Where a line_chart of that size puts its plot area: (left, right, top, bottom) as fractions of the chart's
    width and height, from its top left (for a marker drawn over the chart)."""
    left, right, top, bottom = MARGINS
    return left / width, 1 - right / width, top / height, 1 - bottom / height


def x_range(series: list[Series]) -> tuple[float, float]:
    """The x range a line_chart of `series` spans."""
    xs = [np.arange(len(s.y)) if s.x is None else np.asarray(s.x, float) for s in series]
    return min(float(x.min()) for x in xs), max(float(x.max()) for x in xs)


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
    left, right, top, bottom = MARGINS
    xs = [np.arange(len(s.y)) if s.x is None else np.asarray(s.x, float) for s in series]
    ys = [np.asarray(s.y, float) for s in series]
    x0, x1 = x_range(series)
    y0, y1 = _y_range(ys, ylim)
    p = _Plot(left, top, width - left - right, height - top - bottom, x0, x1, y0, y1)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-size="{FONT}" role="img" aria-label="{escape(title)}">'
    )
    body = _axes(p) + _lines(p, series, xs, ys) + _legend(p, series) + _labels(p, xlabel, ylabel, height)
    return head + "".join(body) + "</svg>"
