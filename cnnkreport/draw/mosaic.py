"""The palette, tiles and writers of the kernel pictures, drawn with numpy into palette images (no matplotlib per
frame): kernels as tiles and stem plots, grids of them, step labels, colour tiles of a first layer on RGB input (and
its animation frames), and the PNG and GIF writers. A whole layer drawn to fit a page, and its animation frames, are
compact's (layer_mosaic, evolution_frames), which draws with the tiles here.

Every picture here is an array of palette indices (uint8): 0..LEVELS-1 is the weight scale, a colour-blind-safe
diverging map (ColorBrewer RdBu: blue negative, near-white zero, red positive), and a few indices above it are fixed
colours for gaps, ink and text. One palette serves all frames of an animation, which keeps GIFs small and fast to
write.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..files import atomic_write

LEVELS = 249  # odd, so that zero falls exactly on the middle level
ZERO = LEVELS // 2
GIF_LEVEL_STEP = 4  # animations use every 4th level: 63 shades still, and a third smaller GIFs
MATCH_FRAMES = 20  # frames of an animation of kernels beside their best matches (the match changes often: costly)
MAX_SIDE = 4096  # no picture written is larger on its longest side (the writers here and figures.save make sure)
PAGE_WIDTH = 1088  # a page's content at a 1280-px window (main: 70rem less its padding): a picture up to this wide
# shows every pixel (wider ones are scaled down); pictures for a page are drawn to fit it, and to PAGE_HEIGHT
PAGE_HEIGHT = 2048
GAP, PAPER, INK, AXIS, TEXT = range(LEVELS, LEVELS + 5)
# ColorBrewer RdBu (11 classes), from most negative (dark blue) through zero (near-white) to most positive (dark red)
DIVERGING = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
             "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"]  # fmt: skip
_FIXED = {
    GAP: (190, 190, 190),
    PAPER: (236, 239, 243),
    INK: (31, 78, 121),
    AXIS: (170, 170, 170),
    TEXT: (20, 20, 20),
}


def _hex(c: str) -> tuple[int, int, int]:
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


def weight_colours() -> np.ndarray:
    """(LEVELS, 3) uint8: the diverging map, interpolated; the middle level is zero."""
    stops = np.array([_hex(c) for c in DIVERGING], dtype=float)
    x = np.linspace(0, len(stops) - 1, LEVELS)
    rgb = np.stack([np.interp(x, np.arange(len(stops)), stops[:, ch]) for ch in range(3)], axis=1)
    return rgb.round().astype(np.uint8)


@functools.lru_cache(maxsize=1)
def palette() -> tuple[int, ...]:
    """Flat RGB list of 256 entries: the weight colours, then the fixed colours."""
    rgb = [tuple(int(v) for v in c) for c in weight_colours()] + [_FIXED[i] for i in sorted(_FIXED)]
    rgb += [(0, 0, 0)] * (256 - len(rgb))
    return tuple(c for t in rgb for c in t)


def to_levels(w: np.ndarray, vmax: np.ndarray | float) -> np.ndarray:
    """Weights to palette levels, symmetric about zero: -vmax -> 0 (dark blue), 0 -> the middle level (near-white),
    +vmax -> the top level (dark red)."""
    vmax = np.where(np.asarray(vmax) > 0, vmax, 1.0)
    v = np.clip(np.asarray(w) / vmax, -1.0, 1.0)
    return np.rint((v + 1.0) * 0.5 * (LEVELS - 1)).astype(np.uint8)


def tile_vmax(w: np.ndarray, scale: str = "tile") -> np.ndarray:
    """Per-tile max |w| (shape (N, 1, ...), broadcastable), or one global value for `scale="global"`."""
    if scale == "global":
        return np.full((len(w),) + (1,) * (w.ndim - 1), np.abs(w).max())
    return np.abs(w).reshape(len(w), -1).max(axis=1).reshape((len(w),) + (1,) * (w.ndim - 1))


def grid(tiles: np.ndarray, cols: int | None = None, gap: int = 3, fill: int = GAP) -> np.ndarray:
    """Lay out (N, h, w) tiles row by row with `gap` pixels between and around them."""
    n, h, w = tiles.shape
    cols = max(1, min(cols or int(np.ceil(np.sqrt(n))), n))
    rows = int(np.ceil(n / cols))
    out = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap), fill, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        out[y : y + h, x : x + w] = tiles[i]
    return out


def fit_cols(n: int, th: int, tw: int, box: tuple[int, int], prefer: int, gap: int = 3) -> int | None:
    """The number of columns, as near `prefer` as may be, that lays out n tiles of th x tw px (with `gap`s) within
    box (width, height); None if no number does."""
    max_cols = min(n, (box[0] - gap) // (tw + gap))
    max_rows = (box[1] - gap) // (th + gap)
    if max_cols < 1 or max_rows < 1 or math.ceil(n / max_rows) > max_cols:
        return None
    return int(np.clip(prefer, math.ceil(n / max_rows), max_cols))


def enlarge(tiles: np.ndarray, zoom: int) -> np.ndarray:
    """Nearest-neighbour enlargement of the last two axes."""
    return tiles.repeat(zoom, axis=-2).repeat(zoom, axis=-1)


def stem_tiles(w: np.ndarray, vmax: np.ndarray, height: int = 40, tap: int = 6) -> np.ndarray:
    """1-D kernels (N, k) as stem plots (N, height, k*tap): a bar per tap up or down from a zero line."""
    n, k = w.shape
    tiles = np.full((n, height, k * tap), PAPER, dtype=np.uint8)
    mid = height // 2
    tiles[:, mid, :] = AXIS
    v = np.clip(w / np.where(vmax > 0, vmax, 1.0).reshape(n, 1), -1, 1)  # (N, k)
    ends = np.rint(mid - v * (mid - 2)).astype(int)  # row of each bar's tip
    rows = np.arange(height)[None, :, None]  # (1, H, 1)
    lo, hi = np.minimum(ends, mid)[:, None, :], np.maximum(ends, mid)[:, None, :]
    bar = (rows >= lo) & (rows <= hi)  # (N, H, k)
    bar_px = bar.repeat(tap, axis=2)
    inner = np.zeros(k * tap, dtype=bool)
    for t in range(k):  # leave a 1-px gap between neighbouring bars
        inner[t * tap + 1 : (t + 1) * tap] = True
    tiles[bar_px & inner[None, None, :]] = INK
    return tiles


def auto_zoom(w: np.ndarray, target: int = 48) -> int:
    """Enlargement that makes a kernel tile about `target` pixels across, whatever the kernel size."""
    return int(np.clip(round(target / max(w.shape[-1], 1)), 2, 16))


def projection(kernels: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """The part of each kernel (N, *k) that its template (N, *k) explains: the template, zero-mean and scaled by its
    dot product with the zero-mean kernel (so it carries the matching sign and the kernel's strength)."""
    n = len(kernels)
    k = kernels.reshape(n, -1) - kernels.reshape(n, -1).mean(axis=1, keepdims=True)
    t = templates.reshape(n, -1) - templates.reshape(n, -1).mean(axis=1, keepdims=True)
    t = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    return ((k * t).sum(axis=1, keepdims=True) * t).reshape(kernels.shape)


def frame_subset(count: int, limit: int) -> np.ndarray:
    """Indices of at most `limit` of `count` frames, evenly spread, always the first and the last."""
    return np.unique(np.linspace(0, count - 1, min(count, limit)).round().astype(int))


@dataclass(frozen=True)
class Frames:
    """The snapshots a layer's animations show, read once for all of them: `weights` (F, n, ...) of its first n
    kernels at the snapshots `index` (F,), ascending, of the run's `count`, taken at `steps` (F,). An animation of
    at most `limit` frames shows frame_subset(count, limit) of the snapshots, so a run of any length is read for
    no more frames than its animations show."""

    count: int
    index: np.ndarray
    steps: np.ndarray
    weights: np.ndarray

    @staticmethod
    def wanted(count: int, limits: Sequence[int]) -> np.ndarray:
        """The snapshots that animations of at most each of `limits` frames show, ascending."""
        return np.unique(np.concatenate([frame_subset(count, n) for n in limits] + [np.zeros(0, dtype=int)]))

    def subset(self, limit: int) -> Frames:
        """The frames of an animation of at most `limit` frames (which must have been among those read)."""
        want = frame_subset(self.count, limit)
        rows = np.minimum(np.searchsorted(self.index, want), max(len(self.index) - 1, 0))
        if len(self.index) == 0 or not np.array_equal(self.index[rows], want):
            raise ValueError(f"frames for an animation of {limit} frames were not read")
        return Frames(self.count, self.index[rows], self.steps[rows], self.weights[rows])


def filmstrip(frames: Sequence[np.ndarray], count: int = 6, cols: int = 3) -> np.ndarray:
    """A few frames of an animation side by side (first and last included), for print, where GIFs cannot move:
    `cols` to a row where that fits MAX_SIDE, else the layout that comes nearest, the frames thinned to fit."""
    keep = frame_subset(len(frames), count)
    picked = np.stack([frames[i] for i in keep])
    n = len(picked)

    def side(c: int, f: int = 1) -> int:
        h, w = -(-picked.shape[1] // f), -(-picked.shape[2] // f)
        return max(c * (w + 6), math.ceil(n / c) * (h + 6)) + 6

    best = min(cols, n) if side(min(cols, n)) <= MAX_SIDE else min(range(1, n + 1), key=side)
    f = next(f for f in range(1, max(picked.shape[1:3]) + 1) if side(best, f) <= MAX_SIDE)
    return grid(picked[:, ::f, ::f], best, gap=6)


def write_heatmap(path: Path, values: np.ndarray, zoom: int = 4) -> None:
    """A non-negative map (H, W) in viridis, row 0 at the bottom (for spectra with +fy up), enlarged."""
    import matplotlib

    colours = (matplotlib.colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    top = float(values.max()) or 1.0
    idx = np.rint(np.clip(values / top, 0, 1) * 255).astype(np.uint8)[::-1]
    zoom = max(1, min(zoom, MAX_SIDE // max(idx.shape)))
    img = _used_colours(shrink(enlarge(idx, zoom)), colours)
    atomic_write(path, lambda fh: img.save(fh, format="PNG", optimize=True))


def rgb_tiles(w: np.ndarray, vmax: np.ndarray, zoom: int) -> np.ndarray:
    """Kernels with 3 input channels (N, 3, kh, kw) as colour tiles (N, kh*zoom, kw*zoom, 3), as Krizhevsky et al.
    2012 Fig. 3 shows them: each channel is the weight on that input colour, scaled symmetrically so that zero is
    mid-grey."""
    v = np.clip(0.5 + 0.5 * w / np.where(vmax > 0, vmax, 1.0), 0, 1)  # (N, 3, kh, kw)
    return enlarge(np.rint(255 * v).astype(np.uint8), zoom).transpose(0, 2, 3, 1)


def rgb_grid(tiles: np.ndarray, cols: int | None = None, gap: int = 3) -> np.ndarray:
    """Lay out colour tiles (N, h, w, 3) like `grid`, gaps in the gap colour."""
    channels = [grid(tiles[..., c], cols, gap, fill=0) for c in range(3)]
    out = np.stack(channels, axis=-1)
    gap_mask = grid(np.zeros(tiles.shape[:3], dtype=np.uint8), cols, gap, fill=1).astype(bool)
    out[gap_mask] = _FIXED[GAP]
    return out


def rgb_layout(w: np.ndarray) -> tuple[int, int]:
    """(zoom, columns) of colour tiles of kernels (out, 3, kh, kw) that fit a page: the zoom that makes a tile about
    48 px across or less, twice as many columns as rows."""
    n, kh, kw = len(w), *w.shape[2:]
    prefer = math.ceil(math.sqrt(2 * n))
    for z in range(auto_zoom(w), 0, -1):
        cols = fit_cols(n, kh * z, kw * z, (PAGE_WIDTH, PAGE_HEIGHT), prefer)
        if cols is not None:
            return z, cols
    return 1, max(1, (PAGE_WIDTH - 3) // (kw + 3))


def rgb_mosaic(w: np.ndarray, scale: str = "tile") -> np.ndarray:
    """A first layer on colour input (out, 3, kh, kw) as colour tiles, each on its own scale (or one global one)."""
    zoom, cols = rgb_layout(w)
    return rgb_grid(rgb_tiles(w, tile_vmax(w, scale), zoom), cols)


def rgb_frames(steps: Sequence[int] | np.ndarray, weights: np.ndarray) -> list[np.ndarray]:
    """Colour evolution frames (S, out, 3, kh, kw): each kernel on one scale over the run, the step above."""
    vmax = np.abs(weights).reshape(weights.shape[0], weights.shape[1], -1).max(axis=(0, 2)).reshape(-1, 1, 1, 1)
    (zoom, cols), last = rgb_layout(weights[0]), int(steps[-1])
    colours = np.asarray(palette(), dtype=np.uint8).reshape(256, 3)
    frames = []
    for step, w in zip(steps, weights, strict=True):
        body = rgb_grid(rgb_tiles(w, vmax, zoom), cols)
        strip = colours[label_strip(body.shape[1], f"step {int(step):,} / {last:,}")]
        frames.append(np.concatenate([strip, body], axis=0))
    return frames


def shrink(picture: np.ndarray, side: int = MAX_SIDE) -> np.ndarray:
    """A picture (palette indices (H, W) or RGB (H, W, 3)) no larger than `side` on its longest side: every f-th
    pixel of a larger one. Every writer here passes its pictures through this, the last guard of MAX_SIDE; the
    drawings are made to fit without it."""
    f = math.ceil(max(picture.shape[:2]) / side)
    return picture if f <= 1 else picture[::f, ::f]


def write_rgb_png(path: Path, rgb: np.ndarray) -> None:
    image = Image.fromarray(shrink(rgb), mode="RGB")
    atomic_write(path, lambda fh: image.save(fh, format="PNG", optimize=True))


def write_rgb_gif(path: Path, frames: Sequence[np.ndarray], frame_ms: int = 60, hold_ms: int = 1500) -> None:
    """Colour frames as a GIF with one adaptive palette for all of them (so colours do not flicker)."""
    frames = [shrink(f) for f in frames]
    sample = np.concatenate([f for f in frames[:: max(1, len(frames) // 8)]], axis=0)
    pal = Image.fromarray(sample, mode="RGB").quantize(colors=255)
    images = [Image.fromarray(f, mode="RGB").quantize(palette=pal, dither=Image.Dither.NONE) for f in frames]
    durations = [max(frame_ms, 20)] * len(images)
    durations[-1] = hold_ms

    def save(fh: BinaryIO) -> None:
        images[0].save(fh, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)

    atomic_write(path, save)


def to_image(indices: np.ndarray) -> Image.Image:
    img = Image.fromarray(indices, mode="P")
    img.putpalette(list(palette()))
    return img


def write_png(path: Path, indices: np.ndarray, optimize: bool = True) -> None:
    """A palette PNG whose palette holds only the colours it uses: a small kernel picture uses a few dozen of the
    256, and the full palette (768 bytes) would be most of its file. `optimize=False` for large pictures: the
    extra compression pass takes seconds there."""
    img = _used_colours(shrink(indices), np.asarray(palette(), dtype=np.uint8).reshape(-1, 3))
    atomic_write(path, lambda fh: img.save(fh, format="PNG", optimize=optimize))


def _used_colours(indices: np.ndarray, colours: np.ndarray) -> Image.Image:
    """Palette indices (H, W) into `colours` (256, 3) as a palette image whose palette holds only the colours used
    (the full palette, 768 bytes, would be most of a small picture's file)."""
    used = np.unique(indices)
    lut = np.zeros(256, dtype=np.uint8)
    lut[used] = np.arange(len(used), dtype=np.uint8)
    img = Image.fromarray(lut[indices], mode="P")
    img.putpalette(colours[used].ravel().tolist())
    return img


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def label_strip(width: int, text: str, height: int = 14) -> np.ndarray:
    """A strip of paper with `text` written on it, as palette indices."""
    img = to_image(np.full((height, width), PAPER, dtype=np.uint8))
    ImageDraw.Draw(img).text((3, 1), text, fill=TEXT, font=_font())
    return np.asarray(img)


def coarser(frame: np.ndarray, step: int = GIF_LEVEL_STEP) -> np.ndarray:
    """Weight levels rounded to every `step`-th one (zero and both ends stay exact); other colours unchanged."""
    weights = frame < LEVELS
    return np.where(weights, np.minimum(np.rint(frame / step) * step, LEVELS - 1), frame).astype(np.uint8)


def write_gif(path: Path, frames: Sequence[np.ndarray], frame_ms: int = 60, hold_ms: int = 1500) -> None:
    """An animated GIF from palette frames, on 1/GIF_LEVEL_STEP of the weight levels: tiny changes between
    snapshots no longer cost bytes, and the frames that are then identical are merged by Pillow."""
    # Pillow directly, not imageio: its pillow plugin can hand the palette on only as Pillow's `palette=` option,
    # which remaps every frame; same pixels, but far slower and larger (bench/bench_site.py measures both)
    images = [to_image(coarser(shrink(f))) for f in frames]
    durations = [max(frame_ms, 20)] * len(images)
    durations[-1] = hold_ms  # rest on the trained kernels before looping

    def save(fh: BinaryIO) -> None:
        images[0].save(fh, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)

    atomic_write(path, save)
