"""Pictures of a whole layer that fit a page, whatever its shape, drawn with mosaic's palette and tiles: the layer
(draw_layer, layer_mosaic), its animation (evolution_frames), its kernels beside their best matches (match_frames), a
bank of templates (bank_mosaic), a 1-D layer's channels (channel_grid), and every channel for download (grid_pages).

A page shows a picture at its own size up to mosaic.PAGE_WIDTH (a wider one is scaled down and loses its pixels),
and a layer page holds several, so each is drawn to fit mosaic.PAGE_WIDTH x mosaic.PAGE_HEIGHT:
  - 2-D kernels: tiles, enlarged as far as fits; with several input channels a row of tiles per kernel;
  - 1-D kernels: stem plots when short (up to STEM_TAPS taps), line plots when longer, one heat-map row per kernel
    when there are more than MAX_LINES of them (long kernels binned to the page's width); with several input
    channels a heat map per kernel (a row per input channel, a column per tap);
  - where even that does not fit: each kernel's sum over its input channels (every channel: `grid_pages`), or,
    for more single-channel kernels than fit at one pixel a weight, the first of them.
Every Drawing says what it shows (`note`), for the caption.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..analysis.filters import roomy
from .mosaic import (
    AXIS,
    GAP,
    INK,
    MATCH_FRAMES,
    MAX_SIDE,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    PAPER,
    auto_zoom,
    enlarge,
    fit_cols,
    frame_subset,
    grid,
    label_strip,
    stem_tiles,
    tile_vmax,
    to_levels,
)

STEM_TAPS = 32  # longer 1-D kernels are drawn as line plots or heat-map rows: stems of hundreds of taps blur
MAX_LINES = 64  # more 1-D kernels than this: a heat-map row each
HEAT_HEIGHT = 1024  # heat-map rows: about this tall in all, 1 to 8 px a kernel
GRID_PIXELS = 16_000_000  # pixels of a summed layer's full grid (grid_pages) in all; the rest: the weights file
Box = tuple[int, int]  # (width, height) in pixels
PAGE: Box = (PAGE_WIDTH, PAGE_HEIGHT)


@dataclass(frozen=True)
class Drawing:
    """A layer's picture: palette indices, what each kernel is drawn as, how many of its kernels (the first
    `shown`), whether each is summed over its input channels (`summed` channels), and how to read it (`note`)."""

    image: np.ndarray
    what: str  # tile, stem plot, line plot, row
    shown: int
    total: int
    note: str = ""
    summed: int = 0

    @property
    def colourbar(self) -> bool:
        """Drawn in the diverging weight colours (stem and line plots are not)."""
        return self.what not in ("stem plot", "line plot")


@dataclass(frozen=True)
class Level:
    """One way to draw single-channel kernels of a shape as tiles of h x w pixels, from the largest down."""

    kind: str  # tile, stem plot, line plot
    h: int
    w: int
    size: int  # the zoom (tile), pixels a tap (stem plot), or the width (line plot)

    def draw(self, w: np.ndarray, vmax: np.ndarray) -> np.ndarray:
        """Tiles (N, h, w) of kernels (N, *k), each on its scale vmax (N,)."""
        if self.kind == "tile":
            return enlarge(to_levels(w, vmax.reshape(-1, 1, 1)), self.size)
        if self.kind == "stem plot":
            return stem_tiles(w, vmax, height=self.h, tap=self.size)
        return line_tiles(w, vmax, self.w, self.h)


def levels(kshape: tuple[int, ...], zoom: int | None = None, height: int = 56, tap: int | None = None) -> list[Level]:
    """The ways to draw single-channel kernels of `kshape`, largest first: 2-D tiles from the zoom that makes them
    about 48 px across down to 1 px a weight; 1-D stem plots (short kernels, from `tap` or at least 8 px a tap down
    to 3), then line plots from about 2 px a tap (at most 512 px wide) down to 64 px wide."""
    if len(kshape) == 2:
        z0 = zoom or auto_zoom(np.zeros(kshape))
        return [Level("tile", kshape[0] * z, kshape[1] * z, z) for z in range(z0, 0, -1)]
    k = kshape[0]
    out = []
    if k <= STEM_TAPS:
        tap0 = tap or max(zoom or auto_zoom(np.zeros(kshape)), 8)
        out += [Level("stem plot", height, k * t, t) for t in range(tap0, 2, -1)]
    lw0 = int(np.clip(2 * k, 64, 512))
    for lw in sorted({max(64, lw0 * f // 8) for f in (8, 6, 4, 3, 2, 1)}, reverse=True):
        out.append(Level("line plot", height if lw <= 256 else height + 24, lw, lw))
    return out


def _prefer(level: Level, n: int, box: Box) -> int:
    """The number of columns a layout of n tiles leans to: 2-D tiles twice as many columns as rows (at most 32),
    stem plots a square, line plots as many as fill the width."""
    if level.kind == "tile":
        return min(math.ceil(math.sqrt(2 * n)), 32)
    if level.kind == "stem plot":
        return math.ceil(math.sqrt(n))
    return max(1, (box[0] - 3) // (level.w + 3))


def _squeeze(w: np.ndarray) -> np.ndarray:
    """Conv2d kernels with one spatial axis of length 1 (out, in, k, 1) as the 1-D kernels they are (out, in, k)."""
    if w.ndim == 4 and 1 in w.shape[2:] and max(w.shape[2:]) > 1:
        return w.reshape(*w.shape[:2], max(w.shape[2:]))
    return w


def draw_layer(
    w: np.ndarray, scale: str = "tile", vmax: np.ndarray | None = None, zoom: int | None = None, box: Box = PAGE
) -> Drawing:
    """A layer's kernels (out, in, *k) drawn to fit `box`, each on its own scale (`scale="tile"`: per kernel for
    1-D, per kernel and channel for 2-D; or `vmax`, broadcastable to that) or all on one (`scale="global"`)."""
    w = _squeeze(np.asarray(w))
    out, in_c = w.shape[:2]
    if math.prod(w.shape[2:]) == 1:
        return _matrix(w, scale)
    if in_c > 1:
        drawn = _channels_2d(w, scale, zoom, box) if w.ndim == 4 else _channels_1d(w, scale, zoom, box)
        if drawn is not None:
            return drawn
        sums = draw_layer(roomy(w, in_c).sum(axis=1, keepdims=True), scale, None, zoom, box)
        note = f"Each kernel summed over its {in_c:,} input channels (every channel would not fit a page). "
        return replace(sums, summed=in_c, note=note + sums.note)
    v = (np.abs(w).max() if scale == "global" else tile_vmax(w)) if vmax is None else vmax
    flat = np.broadcast_to(np.asarray(v, dtype=np.float64).reshape(-1), (out,))  # one scale, or one a kernel
    return single(w[:, 0], flat, zoom, box)


def layer_mosaic(w: np.ndarray, scale: str = "tile", zoom: int | None = None) -> np.ndarray:
    """Krizhevsky 2012 Fig. 3 style: each tile scaled symmetrically (zero = the middle colour), thin gaps,
    enlarged; drawn to fit a page whatever the layer's shape (draw_layer says how, and what it shows).
    `scale="global"` puts every tile on one scale instead, which shows which kernels are weak or dead."""
    return draw_layer(w, scale, zoom=zoom).image


def evolution_frames(
    steps: Sequence[int] | np.ndarray, weights: np.ndarray, zoom: int | None = None
) -> list[np.ndarray]:
    """One frame per snapshot of a layer (S, out, in, ...), all on one scale per kernel (its max |w| over the
    whole run), so growth is visible and nothing flickers. Each frame carries its step above the layer's picture
    (draw_layer: the same drawing in every frame, since it depends on the shape only)."""
    vmax = np.abs(weights).reshape(weights.shape[0], weights.shape[1], -1).max(axis=(0, 2))  # (out,)
    vmax = vmax.reshape((-1,) + (1,) * (weights.ndim - 2))
    frames = []
    last = int(steps[-1])
    for step, w in zip(steps, weights, strict=True):
        body = draw_layer(w, vmax=vmax, zoom=zoom).image
        strip = label_strip(body.shape[1], f"step {int(step):,} / {last:,}")
        frames.append(np.concatenate([strip, body], axis=0))
    return frames


def single(
    w: np.ndarray,
    vmax: np.ndarray,
    zoom: int | None = None,
    box: Box = PAGE,
    prefer: int | None = None,
    max_lines: int = MAX_LINES,
    min_cols: int = 1,
) -> Drawing:
    """Single-channel kernels (N, *k), each on its scale vmax (N,), in the largest way that fits `box` (`prefer`:
    columns to lean to, instead of each way's own; `min_cols`: at least as many); more than `max_lines` 1-D kernels
    as heat-map rows."""
    n = len(w)
    for level in levels(w.shape[1:], zoom):
        if level.kind == "line plot" and n > max_lines:
            break
        cols = fit_cols(n, level.h, level.w, box, prefer or _prefer(level, n, box))
        if cols is not None and cols >= min(min_cols, n):
            return Drawing(grid(level.draw(w, vmax), cols), level.kind, n, n, _line_note(level, w.shape[1:]))
    if w.ndim == 2:
        return heat_rows(w, vmax, box)
    level = levels(w.shape[1:], 1)[-1]  # 2-D kernels at 1 px a weight: the first that fit
    per_row, rows = (box[0] - 3) // (level.w + 3), (box[1] - 3) // (level.h + 3)
    shown = max(1, per_row * rows)
    image = grid(level.draw(w[:shown], vmax[:shown]), max(1, per_row))
    return Drawing(image, "tile", shown, n, f"The first {shown:,} of {n:,} kernels (all: the weights file). ")


def _line_note(level: Level, kshape: tuple[int, ...]) -> str:
    if level.kind != "line plot":
        return ""
    k = kshape[0]
    per = (k - 1) / level.w
    binned = f", {per:.3g} taps a pixel column (each spans the least to the greatest weight in it)" if per > 1 else ""
    return f"Each kernel as a line plot of its {k:,} taps{binned}, zero on the grey line. "


def bin_taps(w: np.ndarray, width: int) -> tuple[np.ndarray, int]:
    """1-D kernels (N, k) in at most `width` columns: b = ceil(k / width) taps a column, each column the weight of
    the largest magnitude among its taps (sign kept), so that a narrow peak is not averaged away. (binned, b)."""
    n, k = w.shape
    b = max(1, math.ceil(k / max(width, 1)))
    if b == 1:
        return w, 1
    padded = np.zeros((n, math.ceil(k / b) * b))
    padded[:, :k] = w
    blocks = padded.reshape(n, -1, b)
    pick = np.abs(blocks).argmax(axis=2)
    return np.take_along_axis(blocks, pick[..., None], axis=2)[..., 0], b


def line_tiles(w: np.ndarray, vmax: np.ndarray, width: int, height: int = 56) -> np.ndarray:
    """1-D kernels (N, k) as line plots (N, height, width): the kernel's polyline resampled to `width` columns,
    each column drawn from the least to the greatest value the line takes over it (so that no peak is lost when
    many taps share a column), zero on a grey line, +-vmax at the top and bottom."""
    n, k = w.shape
    v = np.clip(w / np.where(vmax > 0, vmax, 1.0).reshape(n, 1), -1, 1)
    if k == 1:
        v = np.repeat(v, 2, axis=1)
        k = 2
    edges = np.linspace(0, k - 1, width + 1)
    i0 = np.minimum(np.floor(edges).astype(int), k - 2)
    at = v[:, i0] * (1 - (edges - i0)) + v[:, i0 + 1] * (edges - i0)  # the line at each column's edges
    lo, hi = np.minimum(at[:, :-1], at[:, 1:]), np.maximum(at[:, :-1], at[:, 1:])
    col = np.minimum(np.searchsorted(edges, np.arange(k), side="right") - 1, width - 1)  # the column of each tap
    starts = np.flatnonzero(np.diff(col, prepend=-1))
    owner = col[starts]
    hi[:, owner] = np.maximum(hi[:, owner], np.maximum.reduceat(v, starts, axis=1))
    lo[:, owner] = np.minimum(lo[:, owner], np.minimum.reduceat(v, starts, axis=1))
    mid = height // 2
    top = np.rint(mid - hi * (mid - 2)).astype(int)[:, None, :]
    bottom = np.rint(mid - lo * (mid - 2)).astype(int)[:, None, :]
    rows = np.arange(height)[None, :, None]
    tiles = np.full((n, height, width), PAPER, dtype=np.uint8)
    tiles[:, mid, :] = AXIS
    tiles[(rows >= top) & (rows <= bottom)] = INK
    return tiles


def heat_rows(w: np.ndarray, vmax: np.ndarray, box: Box = PAGE) -> Drawing:
    """Many 1-D kernels (N, k) as a heat map, a row per kernel and its taps left to right (up to 8 px a tap, binned
    to the box's width when long). The rows are 1 to 8 px tall, about HEAT_HEIGHT in all; narrow ones go into
    blocks side by side, as many as keep them 4 px tall and fit the width, and so do more rows than the box is tall;
    more than those blocks hold are left out (said so in the note)."""
    n, k = w.shape
    natural = min(8 * k, box[0] - 6)  # one row, at up to 8 px a tap
    blocks = max(1, min((box[0] - 3) // (natural + 3), math.ceil(4 * n / HEAT_HEIGHT)))
    rh = int(np.clip(HEAT_HEIGHT * blocks // n, 1, 8))
    per_block = math.ceil(n / blocks)
    if per_block * rh > box[1] - 6:  # more rows than the box is tall, even at 1 px
        per_block = (box[1] - 6) // rh
        blocks = math.ceil(n / per_block)
    width = min(natural, (box[0] - 3) // blocks - 3)
    if width < 32:
        blocks, width = max(1, (box[0] - 3) // 35), 32
    shown = min(n, blocks * per_block)
    binned, b = bin_taps(w[:shown], width)
    tap_px = int(np.clip(width // binned.shape[1], 1, 8))
    levels_ = to_levels(binned, vmax[:shown].reshape(-1, 1))
    rows = np.repeat(levels_.repeat(tap_px, axis=1), rh, axis=0)  # (shown * rh, width)
    if rh >= 4:
        rows[rh - 1 :: rh] = GAP  # a thin line between kernels
    pad = np.full((blocks * per_block * rh - len(rows), rows.shape[1]), GAP, dtype=np.uint8)
    image = grid(np.concatenate([rows, pad]).reshape(blocks, per_block * rh, rows.shape[1]), blocks)
    note = f"A row per kernel, its {k:,} taps left to right"
    note += f", binned {b} to a pixel (each the weight of the largest magnitude among them). " if b > 1 else ". "
    if blocks > 1:
        note += f"Kernels {per_block:,} to a column, the columns left to right. "
    if shown < n:
        note += f"The first {shown:,} of {n:,} kernels (all: the weights file). "
    return Drawing(image, "row", shown, n, note)


def _matrix(w: np.ndarray, scale: str) -> Drawing:
    """1x1 kernels (out, in, 1, 1): a weight matrix, a row per kernel, a column per input channel (each row on its
    own scale, or one global scale), enlarged up to 1,024 px and cut at MAX_SIDE."""
    out, in_c = w.shape[:2]
    m = w.reshape(out, in_c)[:MAX_SIDE, :MAX_SIDE]
    vmax = np.abs(m).max() if scale == "global" else np.abs(m).max(axis=1, keepdims=True)
    zoom = int(max(1, min(16, 1024 // max(m.shape))))
    note = "1x1 kernels form a weight matrix: a row per kernel, a column per input channel. "
    if m.shape != (out, in_c):
        note += f"The first {m.shape[0]:,} of {out:,} kernels and {m.shape[1]:,} of {in_c:,} input channels. "
    return Drawing(enlarge(to_levels(m, vmax), zoom), "row", m.shape[0], out, note)


def _per_tile(w: np.ndarray, scale: str) -> np.ndarray:
    """Symmetric scales, one per (kernel, input channel) tile of 2-D kernels, one per kernel of 1-D kernels."""
    if scale == "global":
        return np.full((len(w),) + (1,) * (w.ndim - 1), np.abs(w).max())
    if w.ndim == 4:
        return np.abs(w).max(axis=(2, 3), keepdims=True)
    return tile_vmax(w)


def _channels_2d(w: np.ndarray, scale: str, zoom: int | None, box: Box) -> Drawing | None:
    """2-D kernels with several input channels: a row of tiles per kernel, a column per channel (the rows in
    columns side by side, channels 1 px apart, where one column of them would not fit); None if that does not fit
    `box` with tiles of at least 6 px."""
    out, in_c, kh, kw = w.shape
    for z in range(zoom or auto_zoom(w), max(1, math.ceil(6 / min(kh, kw))) - 1, -1):
        one_column = in_c * (kw * z + 3) + 3 <= box[0] and out * (kh * z + 3) + 3 <= box[1]
        row_w = in_c * (kw * z + 1) - 1  # a kernel's row of tiles, 1 px apart
        cols = None if one_column else fit_cols(out, kh * z, row_w, box, math.ceil(math.sqrt(out * kh * z / row_w)))
        if not one_column and cols is None:
            continue
        tiles = enlarge(to_levels(w, _per_tile(w, scale)), z)
        note = "A row per kernel, a column per input channel. "
        if one_column:
            return Drawing(grid(tiles.reshape(out * in_c, kh * z, kw * z), in_c), "tile", out, out, note)
        rows = np.stack([grid(t, in_c, gap=1)[1:-1, 1:-1] for t in tiles])
        note = "A row of tiles per kernel (a tile per input channel), the kernels in columns side by side. "
        return Drawing(grid(rows, cols), "tile", out, out, note)
    return None


def _channels_1d(w: np.ndarray, scale: str, zoom: int | None, box: Box) -> Drawing | None:
    """1-D kernels with several input channels: a heat map per kernel, a row per channel and a column per tap
    (binned when long); None if those do not fit `box`."""
    out, in_c, k = w.shape
    z0 = zoom or auto_zoom(w)
    rz = max(z0, min(16, math.ceil(24 / in_c)))  # a few channels: rows tall enough to see
    vmax = _per_tile(w, scale)
    for cz in range(z0, 0, -1):
        rz = min(rz, max(cz, math.ceil(24 / in_c)))
        binned, b = bin_taps(w.reshape(out * in_c, k), box[0] - 6) if k * cz > box[0] - 6 else (w, 1)
        tw = binned.shape[-1] * cz
        cols = fit_cols(out, in_c * rz, tw, box, math.ceil(math.sqrt(out)))
        if cols is None:
            continue
        levels_ = to_levels(binned.reshape(out, in_c, -1), vmax)
        tiles = levels_.repeat(rz, axis=1).repeat(cz, axis=2)
        note = "A heat map per kernel: a row per input channel, a column per tap"
        note += f" ({b} taps a pixel, each the weight of the largest magnitude among them). " if b > 1 else ". "
        return Drawing(grid(tiles, cols), "tile", out, out, note)
    return None


def grid_pages(w: np.ndarray, budget: int = GRID_PIXELS, side: int = MAX_SIDE) -> list[tuple[np.ndarray, int, int]]:
    """Every input channel of every kernel of a layer (out, in, *k), in pictures of at most `side` px a side and
    `budget` px in all, for download: (picture, first kernel, end) each. A 2-D kernel is a row of tiles (a column
    per channel; zoom 1 to 4, as the budget allows), a 1-D kernel a heat map (a row per channel, a column per tap,
    binned when long); each on its own scale. Kernels beyond the budget are left out."""
    w = _squeeze(np.asarray(w, dtype=np.float64))
    out, in_c = w.shape[:2]
    block: Callable[[int], np.ndarray]
    if w.ndim == 4:
        kh, kw = w.shape[2:]
        z = max(1, min(4, (side - 2) // (in_c * (kw + 1) + 1), int(math.sqrt(budget / w.size / 2))))
        lv = to_levels(w, _per_tile(w, "tile"))

        def block(i: int) -> np.ndarray:
            return grid(enlarge(lv[i], z), min(in_c, (side - 2) // (kw * z + 1)), gap=1)

    else:
        binned, _ = bin_taps(w.reshape(out * in_c, -1), side - 4)
        lv = to_levels(binned.reshape(out, in_c, -1), tile_vmax(w))
        rz = max(1, min(8, 24 // in_c))  # a few channels: rows tall enough to see

        def block(i: int) -> np.ndarray:
            return lv[i].repeat(rz, axis=0)

    bh, bw = block(0).shape
    per_page = max(1, ((side - 2) // (bw + 2)) * ((side - 2) // (bh + 2)))

    def layout(n: int) -> tuple[int, int]:  # (columns, pixels) of a page of n blocks
        cols = fit_cols(n, bh, bw, (side, side), math.ceil(math.sqrt(n * bh / bw)), gap=2) or 1
        return cols, (math.ceil(n / cols) * (bh + 2) + 2) * (cols * (bw + 2) + 2)

    pages: list[tuple[np.ndarray, int, int]] = []
    start, left = 0, budget
    while start < out:
        n = min(out - start, per_page)
        while n > 1 and layout(n)[1] > left:
            n = max(1, min(n - 1, n * left // layout(n)[1]))
        if pages and layout(n)[1] > left:
            break
        image = grid(np.stack([block(i) for i in range(start, start + n)]), layout(n)[0], gap=2)
        pages.append((image, start, start + n))
        start, left = start + n, left - image.size
    return pages


def match_frames(
    steps: np.ndarray, kernels: np.ndarray, matches: np.ndarray, limit: int = MATCH_FRAMES, box: Box = PAGE
) -> list[np.ndarray]:
    """Frames of kernels (S, N, *k) each followed by its current best match (S, N, *k, already projected): pairs
    side by side, kernel on the left, each on its own scale over the run, in the largest way that fits `box`; at
    most `limit` frames (the best match changes often, so frames are costly)."""
    keep = frame_subset(len(kernels), limit)
    steps, kernels, matches = np.asarray(steps)[keep], kernels[keep], matches[keep]
    s, n = kernels.shape[:2]
    v_k, v_m = (np.abs(x).reshape(s, n, -1).max(axis=(0, 2)) for x in (kernels, matches))
    options = [lv for lv in levels(kernels.shape[2:]) if lv.kind != "line plot" or n <= MAX_LINES]
    prefer = max(1, math.ceil(math.sqrt(n / 2)))
    fits = [(lv, fit_cols(n, lv.h, 2 * lv.w + 3, box, prefer)) for lv in options]
    level, cols = next(((lv, c) for lv, c in fits if c is not None), (options[-1], None))
    cols = cols or max(1, (box[0] - 3) // (2 * level.w + 6))
    gap = np.full((n, level.h, 3), GAP, dtype=np.uint8)
    frames = []
    for step, k, m in zip(steps, kernels, matches, strict=True):
        pairs = np.concatenate([level.draw(k, v_k), gap, level.draw(m, v_m)], axis=2)
        body = grid(pairs, cols)
        frames.append(np.concatenate([label_strip(body.shape[1], f"step {int(step):,} / {int(steps[-1]):,}"), body]))
    return frames


def bank_mosaic(weights: np.ndarray, limit: int = 96) -> tuple[np.ndarray, int]:
    """Templates (M, *k) as a mosaic that fits a page, each on its own scale, 16 to a row where they fit and at least
    8 (smaller stems or lines, where they would not); at most `limit`, evenly sampled. (image, shown)."""
    pick = np.unique(np.linspace(0, len(weights) - 1, min(limit, len(weights))).round().astype(int))
    chosen = np.asarray(weights, dtype=np.float64)[pick]
    vmax = np.abs(chosen).reshape(len(chosen), -1).max(axis=1)
    zoom = auto_zoom(chosen, target=32)
    return single(chosen, vmax, zoom, prefer=min(len(pick), 16), max_lines=limit, min_cols=8).image, len(pick)


def channel_grid(w: np.ndarray, box: Box = PAGE) -> np.ndarray:
    """A 1-D layer (out, in, k) as a grid, a row per input channel and a column per filter, all on one scale: stem
    plots of short filters, line plots of long ones, the largest that fit `box`."""
    out, in_c, k = w.shape
    by_channel = w.transpose(1, 0, 2).reshape(in_c * out, k)
    vmax = np.full(len(by_channel), np.abs(w).max())
    options = levels((k,), height=40, tap=max(3, 36 // k))
    fitting = [lv for lv in options if out * (lv.w + 3) + 3 <= box[0] and in_c * (lv.h + 3) + 3 <= box[1]]
    level = (fitting or options[-1:])[0]
    return grid(level.draw(by_channel, vmax), out)
