"""Figures of what the kernels do (see filters.py for the numbers): one function per figure, returning the Figure.

Write them with `figures.save` at figures.PANEL_DPI, the dpi their text (at least FONT, 9 pt: 10 px) and widths (at
most figures.PANEL_MAX_WIDTH, shown at their natural size) are chosen for. Small multiples throughout, capped so that
a figure stays readable; a capped figure says so in its title.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..analysis.filters import (
    channel_views_1d,
    describe_1d,
    frequency_response_1d,
    frequency_response_2d,
    reference_responses_1d,
    respond_1d,
)
from .canvas import Canvas
from .figures import PANEL_DPI, PANEL_FONT, PANEL_MAX_WIDTH
from .filterbank import ACCENT, DB_RANGE, INK, FreqAxis
from .filterbank import filterbank_figure as filterbank_figure  # the filterbank view, drawn there

MAX_PANELS = 16  # kernels per small-multiples figure (frequency responses, feature-map columns)
MAX_TILES = 64  # tiles per input-space figure
INPUT_SPACE_WIDTH = 512 / PANEL_DPI  # inches an input-space figure is at least: the index shows it at natural size
REF = "#888888"  # reference curves and inputs
FONT = PANEL_FONT  # the smallest text of these figures: 10 px at PANEL_DPI
TITLE = PANEL_FONT + 1  # a figure's suptitle
TICK = 0.05  # inches: the length of a tick drawn on a Canvas panel (frequency responses)
TICK_LABEL = 0.08  # inches: from a Canvas panel's edge to its tick labels
LOG_POINTS = 512  # frequencies a response is drawn at on a log frequency axis (log-spaced)


def _stack(kernels: np.ndarray, ndim: int) -> np.ndarray:
    """Kernels as (N, ...) with `ndim` kernel dimensions; a single kernel becomes N = 1."""
    a = np.asarray(kernels, dtype=np.float64)
    if a.ndim == ndim:
        a = a[None]
    if a.ndim != ndim + 1:
        raise ValueError(f"expected ({'N, ' if ndim else ''}{ndim}-D kernels), got shape {a.shape}")
    return a


def _capped(n: int, cap: int, what: str) -> tuple[int, str]:
    """How many of n to show, and a title suffix that says when some are left out."""
    return (n, "") if n <= cap else (cap, f" (first {cap} of {n} {what})")


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def _frequency_panel(
    c: Canvas,
    box: tuple[float, float, float, float],
    span: tuple[float, float],
    yticks: list[float],
    fmt: str,
    axis: FreqAxis,
) -> Any:
    """Frame a panel of the frequency axis (0 to 0.5 cycles/sample, or as `axis` says) against the values `span` in
    `box` (x0, y0, width, height, inches), grid and label its y ticks; returns the mapping from (frequency, value)
    to inches."""
    x0, y0, w, h = box
    lo, hi = span
    c.frame(x0, y0, w, h)
    for f in axis.grid():
        x = x0 + float(axis.fraction(f)) * w
        c.grid_line([(x, y0), (x, y0 + h)])
    for v in yticks:
        y = y0 + (v - lo) / (hi - lo) * h
        c.grid_line([(x0, y), (x0 + w, y)])
        c.tick([(x0 - TICK, y), (x0, y)])
        c.text(x0 - TICK_LABEL, y, fmt.format(v).replace("-", "\u2212"), ha="right", va="center", fontsize=FONT)
    return lambda f, v: (x0 + axis.fraction(f) * w, y0 + (np.asarray(v) - lo) / (hi - lo) * h)


def _phase_range(phase: np.ndarray) -> tuple[tuple[float, float], list[float]]:
    """The span a phase panel shows (in units of pi: at least -1 to 1, whole units beyond, a margin) and its ticks
    (whole units, about three)."""
    lo, hi = np.nanmin(phase, initial=0.0), np.nanmax(phase, initial=0.0)
    lo, hi = min(-1.0, math.floor(lo)) - 0.2, max(1.0, math.ceil(hi)) + 0.2
    step = max(1, math.ceil((hi - lo) / 3))
    return (lo, hi), [float(v) for v in range(math.ceil(lo / step) * step, math.floor(hi) + 1, step)]


@dataclass(frozen=True)
class ResponseInches:
    """The lengths of frequency_response_1d_figure's layout, in inches: the figure, its margins, and the cells of
    its grid (a cell a kernel: its title, its magnitude panel, and its phase panel below that)."""

    column: float = 2.5  # the width of a column of cells
    min_width: float = 3.6  # the least width of the figure: as wide as its title
    legend_inline: float = 5.0  # a figure at least this wide has its legend's entries side by side, else one a row
    row: float = 2.9  # the height of a row of cells
    frame: float = 0.5  # the figure's height beyond its rows' (and its legend's rows')
    legend_row: float = 0.22  # a row of the legend, below the title (with fewer than four columns)
    left: float = 0.3  # the left margin: the rows' labels (gain, phase)
    right: float = 0.1  # the right margin
    top: float = 0.45  # the top margin: the title (with four columns the legend too, on its line); legend rows add
    bottom: float = 0.45  # the bottom margin: the lowest row's frequency labels
    gutter: float = 0.45  # left of the panels in a cell: their y tick labels
    head: float = 0.28  # above the panels in a cell: the kernel's title
    gap: float = 0.12  # between the magnitude panel and the phase panel below it
    below: float = 0.12  # below the phase panel (a panel with none below it labels its frequencies there, where the
    # next row is empty)
    head_drop: float = 0.05  # the kernel's title: its top, below the top of its cell
    row_label: float = 0.05  # the rows' labels, from the figure's left edge
    axis_label: float = 0.26  # the frequency axis' label, below the lowest phase panel of a column
    legend_drop: float = 0.35  # the legend's top below the figure's top, where its entries have rows of their own
    title_drop: float = 0.06  # the title's top below the figure's top


RESPONSE = ResponseInches()
CYCLES = FreqAxis()  # frequencies in cycles per sample, 0 to 0.5, linear: without a sample rate
REF_STYLES = {"1st difference": (0, (4, 2)), "2nd difference": (0, (1, 1.5))}  # dashes of the reference responses


@dataclass(frozen=True)
class ResponseGrid:
    """Where frequency_response_1d_figure draws n kernels: a figure of `width` x `height` inches, `rows` x `cols`
    cells of cell_w x cell_h below its top margin `top`, in each a panel pw wide, mh tall (magnitude) above one ph
    tall (phase); the legend's entries `legend_cols` to a row."""

    n: int
    rows: int
    cols: int
    width: float
    height: float
    legend_cols: int
    top: float
    cell_w: float
    cell_h: float
    pw: float
    mh: float
    ph: float
    axis: FreqAxis = CYCLES  # where the panels put each frequency

    @staticmethod
    def of(n: int, s: ResponseInches = RESPONSE, axis: FreqAxis = CYCLES) -> ResponseGrid:
        rows, cols = _grid(n, 4)
        width = max(s.column * cols, s.min_width)
        legend_cols = 3 if width >= s.legend_inline else 1  # the legend's three entries: on the title's line for
        legend_rows = 0 if cols >= 4 else 3 // legend_cols  # four columns, else in rows of their own below it
        height = s.row * rows + s.frame + s.legend_row * legend_rows
        top = s.top + s.legend_row * legend_rows
        cell_w, cell_h = (width - s.left - s.right) / cols, (height - top - s.bottom) / rows
        mh = (cell_h - s.head - s.gap - s.below) * 2 / 3  # the panels' height: two thirds magnitude, a third phase
        return ResponseGrid(
            n, rows, cols, width, height, legend_cols, top, cell_w, cell_h, cell_w - s.gutter, mh, mh / 2, axis
        )

    def cell(self, i: int, s: ResponseInches = RESPONSE) -> tuple[float, float, float, float]:
        """Kernel i's (x0, y_top, ym, yp): its panels' left edge, its cell's top, and the lower edges of its
        magnitude and phase panels."""
        r_, c_ = divmod(i, self.cols)
        x0, y_top = s.left + c_ * self.cell_w + s.gutter, self.height - self.top - r_ * self.cell_h
        ym = y_top - s.head - self.mh
        return x0, y_top, ym, ym - s.gap - self.ph


def frequency_response_1d_figure(
    kernels: np.ndarray,
    labels: list[str] | None = None,
    sample_rate: float | None = None,
    peaks: np.ndarray | None = None,
) -> Figure:
    """Magnitude (dB, each kernel normalised to its own peak, over the 1st/2nd-difference references dashed grey)
    and phase (below, where the magnitude is within 60 dB of the peak) of 1-D kernels (N, k), a panel pair each,
    drawn on a Canvas (one axes for all the panels). With `sample_rate`, in Hz, on a log axis where the peaks (the
    layer's `peaks`, cycles/sample; by default those of `kernels`) span more than a decade (FreqAxis)."""
    w = _stack(kernels, 1)
    n, note = _capped(len(w), MAX_PANELS, "kernels")
    labels = labels if labels is not None else [f"kernel {i}" for i in range(len(w))]
    axis = CYCLES
    if sample_rate is not None:
        axis = FreqAxis.of([describe_1d(k).peak_frequency for k in w] if peaks is None else peaks, sample_rate)
    g = ResponseGrid.of(n, axis=axis)
    c = Canvas(g.width, g.height)
    refs = reference_responses_1d(freq=axis.frequencies(LOG_POINTS))
    handles: list[Any] = []
    for i in range(n):
        lines = _response_pair(c, g, i, w[i], labels[i], refs)
        handles = handles or lines  # the first kernel's lines
    fig = c.figure()
    where: dict[str, Any] = (
        {"loc": "upper right"}
        if g.cols >= 4
        else {"loc": "upper left", "bbox_to_anchor": (0.0, 1 - RESPONSE.legend_drop / g.height)}
    )
    fig.legend(handles, [*refs, "kernel / its peak"], ncol=g.legend_cols, fontsize=FONT, frameon=False, **where)
    title = "Frequency response as the layer applies it" + note
    fig.suptitle(title, x=0.01, y=1 - RESPONSE.title_drop / g.height, ha="left", va="top", fontsize=TITLE)
    return fig


def _response_pair(
    c: Canvas, g: ResponseGrid, i: int, kernel: np.ndarray, label: str, refs: dict[str, np.ndarray]
) -> list[Any]:
    """Kernel i's cell: its title, its magnitude panel over the references, its phase panel below; the rows' labels
    left of the first column, the frequency axis below a column's lowest panel. Returns the magnitude panel's lines
    (the references', then the kernel's: the legend's handles)."""
    x0, y_top, ym, yp = g.cell(i)
    r = frequency_response_1d(kernel, freq=g.axis.frequencies(LOG_POINTS))
    peak = float(r.magnitude.max())
    rel = r.magnitude / peak if peak > 0 else r.magnitude
    title = f"{label}  (peak gain {peak:.3g})"
    c.text(x0 + g.pw / 2, y_top - RESPONSE.head_drop, title, ha="center", va="top", fontsize=FONT)
    lines = _magnitude_panel(c, (x0, ym, g.pw, g.mh), r.freq, rel, refs, g.axis)
    _phase_panel(c, (x0, yp, g.pw, g.ph), r.freq, np.where(rel > 1e-3, r.phase / np.pi, np.nan), g.axis)
    if i % g.cols == 0:  # the first column: its rows labelled
        x = RESPONSE.row_label
        c.text(x, ym + g.mh / 2, "gain (dB re peak)", rotation=90, ha="left", va="center", fontsize=FONT)
        c.text(x, yp + g.ph / 2, "phase (\u03c0 rad)", rotation=90, ha="left", va="center", fontsize=FONT)
    if i + g.cols >= g.n:  # the lowest panel of its column: the frequency axis labelled
        _frequency_axis(c, x0, yp, g.pw, g.axis)
    return lines


def _magnitude_panel(
    c: Canvas,
    box: tuple[float, float, float, float],
    freq: np.ndarray,
    rel: np.ndarray,
    refs: dict[str, np.ndarray],
    axis: FreqAxis,
) -> list[Any]:
    """A kernel's gain re its peak (`rel`, on `freq`) in dB, over the references' (grey, dashed), in `box` (x0, y0,
    width, height, inches); returns the lines, the references' first."""
    mag = _frequency_panel(c, box, (-DB_RANGE, 3.0), [0.0, -10.0, -20.0, -30.0, -40.0], "{:.0f}", axis)
    lines = [
        c.ax.plot(*mag(freq, 20 * np.log10(np.maximum(m, 1e-6))), color=REF, lw=0.8, ls=REF_STYLES[name])[0]
        for name, m in refs.items()
    ]
    lines.append(c.ax.plot(*mag(freq, 20 * np.log10(np.maximum(rel, 1e-6))), color=INK, lw=1.5)[0])
    for line in lines:
        c.clip(line, *box)
    return lines


def _phase_panel(
    c: Canvas, box: tuple[float, float, float, float], freq: np.ndarray, phase: np.ndarray, axis: FreqAxis
) -> None:
    """A kernel's phase (in units of pi, NaN where not drawn), on `freq`, in `box` (x0, y0, width, height, inches)."""
    span, yticks = _phase_range(phase)
    ph_map = _frequency_panel(c, box, span, yticks, "{:g}", axis)
    c.clip(c.ax.plot(*ph_map(freq, phase), color=ACCENT, lw=1.2)[0], *box)


def _frequency_axis(c: Canvas, x0: float, y0: float, w: float, axis: FreqAxis) -> None:
    """The frequency axis labelled below a panel (x0, y0, w inches): ticks at 0, 0.25 and 0.5 cycles/sample (or as
    `axis` says: the powers of ten of a log one), and its name."""
    for f, label in axis.ticks(w):
        x = x0 + float(axis.fraction(f)) * w
        c.tick([(x, y0), (x, y0 - TICK)])
        c.text(x, y0 - TICK_LABEL, label, ha="center", va="top", fontsize=FONT)
    c.text(x0 + w / 2, y0 - RESPONSE.axis_label, axis.label(), ha="center", va="top", fontsize=FONT)


def frequency_response_2d_figure(kernels: np.ndarray) -> Figure:
    """|DFT| of 2-D kernels (N, kh, kw), zero-padded to 32 x 32, DC at the centre, +fy up; each tile scaled to its
    own peak (written above it), with one colour bar. Drawn as one image of tiles (a fraction of the time of an axes
    per kernel, which matters for models of many layers)."""
    w = _stack(kernels, 2)
    n, note = _capped(len(w), MAX_PANELS, "kernels")
    rows, cols = _grid(n, 4)
    responses = [frequency_response_2d(w[i]) for i in range(n)]
    th, tw = responses[0].magnitude.shape
    gap, band = 4, 10  # between tiles; above each tile, for its label
    canvas = np.full((rows * (th + band + gap), cols * (tw + gap) - gap), np.nan)
    fig = Figure(figsize=(max(1.9 * cols + 0.9, 4.6), 2.0 * rows + 0.5), layout="constrained")
    ax = fig.add_subplot()
    for i, r in enumerate(responses):
        peak = float(r.magnitude.max())
        y, x = (i // cols) * (th + band + gap) + band, (i % cols) * (tw + gap)
        canvas[y : y + th, x : x + tw] = (r.magnitude / (peak if peak > 0 else 1.0))[::-1]  # row 0: the highest fy
        ax.text(x + tw / 2, y - 1.5, f"kernel {i}  (peak {peak:.3g})", ha="center", va="bottom", fontsize=FONT)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    im = ax.imshow(canvas, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, shrink=0.8, label="|H| / kernel's peak")
    title = "Kernel spectra: DC at the centre of each tile,|fx to the right and fy up, -0.5 to 0.5 cycles/pixel"
    fig.suptitle(title.replace("|", " " if cols == 4 else "\n") + note, fontsize=TITLE)  # two lines where narrow
    return fig


def signal_responses_figure(kernels: np.ndarray, signals: dict[str, np.ndarray]) -> Figure:
    """Every kernel of a layer (N, k) on each test signal, in one figure: a panel per signal, a row per kernel with
    the input (grey) and the layer's output (padding="same", no bias, no ReLU) scaled to the input's peak."""
    kernels = np.asarray(kernels, dtype=np.float64)[:MAX_PANELS]
    n = len(kernels)
    fig = Figure(figsize=(2.6 * len(signals), 0.55 * n + 1.0), layout="constrained")
    axes = fig.subplots(1, len(signals), squeeze=False, sharey=True)[0]
    for ax, (name, x) in zip(axes, signals.items(), strict=True):
        peak = float(np.abs(x).max()) or 1.0
        for i, w in enumerate(kernels):
            y = respond_1d(w, x)
            top = float(np.abs(y).max())
            offset = -2.4 * i
            ax.plot(x / peak + offset, color=REF, lw=0.7)
            ax.plot((y / top if top > 0 else y) + offset, color=INK, lw=1.0)
        ax.set_title(name, fontsize=TITLE)
        ax.set_xlim(0, len(x) - 1)
        ax.set_xlabel("sample", fontsize=FONT)
        ax.tick_params(labelsize=FONT)
    axes[0].set_yticks([-2.4 * i for i in range(n)], [f"kernel {i}" for i in range(n)], fontsize=FONT)
    fig.suptitle("input (grey) and output (blue), each scaled to its own peak", fontsize=FONT)
    return fig


def feature_maps_figure(maps: np.ndarray, images: np.ndarray, class_names: list[str]) -> Figure:
    """First-layer feature maps (B, out, H, W) of images (B, in, H, W), one row per image labelled with
    class_names[b]: the input (grey, mean over its channels), then a column per kernel in a diverging map
    centred at zero, the colour scale symmetric and shared down each column. On a Canvas."""
    maps = np.asarray(maps)
    images = np.asarray(images)
    b = len(maps)
    n, note = _capped(maps.shape[1], MAX_PANELS, "kernels")
    side = min(0.9, PANEL_MAX_WIDTH / (n + 1))  # inches a column (72 px); many kernels, narrower (fits a page)
    two_lines = n < 7  # a narrow figure: the title in two lines
    top, left, gap = (0.62 if two_lines else 0.45), 0.22, 0.06  # the title and column titles; the row labels
    width, height = side * (n + 1), (side + 0.05) * b + top
    c = Canvas(width, height)
    cell = min((width - left) / (n + 1), (height - top - 0.05) / b)
    tile = cell - gap
    lims = np.abs(maps[:, :n]).reshape(b, n, -1).max(axis=(0, 2))  # (n,) per kernel column
    for r in range(b):
        y0 = height - top - (r + 1) * cell
        box = c.fit(images[r].shape[1:], left, y0, tile)
        c.image(images[r].mean(axis=0), *box, cmap="gray")
        c.text(left - 0.04, y0 + tile / 2, class_names[r], rotation=90, ha="right", va="center", fontsize=FONT)
        for j in range(n):
            lim = float(lims[j]) or 1.0
            c.image(
                maps[r, j], *c.fit(maps.shape[2:], left + (j + 1) * cell, y0, tile), cmap="RdBu_r", vmin=-lim, vmax=lim
            )
    for j, name in enumerate(["input", *(f"kernel {j}" for j in range(n))]):
        c.text(left + j * cell + tile / 2, height - top + 0.03, name, ha="center", va="bottom", fontsize=FONT)
    title = "Feature maps before ReLU: red > 0 > blue,|scale symmetric per kernel column" + note
    fig = c.figure()
    fig.suptitle(title.replace("|", "\n" if two_lines else " "), fontsize=TITLE, y=1 - 0.04 / height, va="top")
    return fig


def channel_combined_figure(w: np.ndarray) -> Figure:
    """A Conv1d layer (out, in, k) summed and averaged over its input channels: two panels, a line per filter."""
    views = channel_views_1d(np.asarray(w, dtype=np.float64))
    n = len(views.sum)
    fig = Figure(figsize=(10, 3.4))
    axes = fig.subplots(1, 2)
    cmap = matplotlib.colormaps["tab20" if n > 10 else "tab10"]
    taps = np.arange(views.sum.shape[1])
    style = "o-" if len(taps) <= 64 else "-"  # a marker a tap only where the taps can be told apart
    for ax, data, name in ((axes[0], views.sum, "sum"), (axes[1], views.mean, "mean")):
        ax.axhline(0, color=REF, lw=0.6)
        for f in range(n):
            ax.plot(taps, data[f], style, color=cmap(f % cmap.N), lw=1.0, ms=2.5, label=f"filter {f}")
        ax.set(title=f"{name} over {views.weights.shape[1]} input channels", xlabel="tap", ylabel=f"{name} of weights")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=FONT, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5), ncol=1 + n // 11)
    fig.tight_layout()
    return fig


def input_space_figure(v: np.ndarray) -> Figure:
    """Second-layer kernels projected to input space (filters.input_space_2d/1d): (out2, H, W) as grey tiles with
    zero white (RdBu_r, as the mosaics), each scaled symmetrically to its own largest |value|; (out2, L) as small
    line plots. On a Canvas."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim not in (2, 3):
        raise ValueError(f"expected (out2, L) or (out2, H, W), got shape {v.shape}")
    n, note = _capped(len(v), MAX_TILES, "kernels")
    image = v.ndim == 3
    rows, cols = _grid(n, 8)
    side = max(1.15, INPUT_SPACE_WIDTH / cols)  # inches a column: few kernels, larger tiles
    height = (1.25 if image else 1.0) * side * rows + 0.4
    c = Canvas(side * cols, height)
    top, label, pad = 0.3, 0.2, 0.06  # the figure's title; each tile's; around each tile
    cell_h = (height - top) / rows
    tile = min(side, cell_h - label) - 2 * pad
    for i in range(n):
        r_, c_ = divmod(i, cols)
        x0, y0 = c_ * side + (side - tile) / 2, height - top - r_ * cell_h - label - pad - tile
        lim = float(np.abs(v[i]).max()) or 1.0
        if image:
            box = c.fit(v[i].shape, x0, y0, tile)
            c.image(v[i], *box, cmap="RdBu_r", vmin=-lim, vmax=lim)
            label_y = box[1] + box[3]
        else:  # a line plot as wide as its column and as tall as its row leave room
            x0, w, h = c_ * side + pad, side - 2 * pad, cell_h - label - 2 * pad
            y0 = height - top - (r_ + 1) * cell_h + pad
            c.ax.plot([x0, x0 + w], [y0 + h / 2] * 2, color=REF, lw=0.5)
            c.trace(v[i], (x0, y0, w, h), 1.1 * lim, color=INK, lw=1.0)
            label_y = y0 + h
        c.text(c_ * side + side / 2, label_y + 0.03, f"kernel {i}", ha="center", va="bottom", fontsize=FONT)
    kind = "white = 0, scaled per tile" if image else "scaled per panel"
    fig = c.figure()
    fig.suptitle(
        f"Layer-2 kernels in input space (linear, pooling as stride; {kind})" + note,
        fontsize=FONT,
        y=1 - 0.04 / height,
        va="top",
    )
    return fig
