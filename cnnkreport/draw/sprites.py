"""An animation written once for the pages and once for download: its frames as a sprite sheet (every frame in one
PNG, a grid of equal cells with no gap between them) that the pages' player shows one cell at a time, and that shows
as a filmstrip of every frame without JavaScript and in print; and an animated GIF of the same frames, linked as a
download. The two are drawn from one list of frames, so what the player shows is what the GIF holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .mosaic import MAX_SIDE, PAGE_WIDTH, coarser, frame_subset, shrink, write_gif, write_png, write_rgb_gif
from .mosaic import write_rgb_png as _write_rgb_png

OPTIMIZE_PIXELS = 2**20  # sheets up to this many pixels get the PNG compression pass (about 10% smaller, ms each)
GIF_STRIDE = 3  # a GIF download keeps every third frame of its animation (and the last) ...
GIF_ALL = 12  # ... if it has more than this many (a short history of checkpoints keeps every frame)


@dataclass(frozen=True)
class Sprite:
    """A sprite sheet beside the page: `src` (and `gif`, the same frames animated, where written), `cols` x `rows`
    cells of `width` x `height` pixels, cell k showing the snapshot `frames[k]` (an index into the run's
    snapshots)."""

    src: str
    gif: str  # "" where none was written
    cols: int
    rows: int
    width: int
    height: int
    frames: tuple[int, ...]


def sheet_layout(count: int, height: int, width: int) -> tuple[int, np.ndarray]:
    """(columns, the frames kept) of a sheet of `count` frames of height x width: as many columns as fit a page
    (PAGE_WIDTH), and no more rows than fit MAX_SIDE (frames evenly thinned, the first and last kept, if need be)."""
    cols = max(1, min(count, PAGE_WIDTH // max(width, 1)))
    fit = (MAX_SIDE // max(height, 1)) * cols
    keep = frame_subset(count, max(1, min(count, fit)))
    return min(cols, len(keep)), keep


def sheet(frames: Sequence[np.ndarray], cols: int) -> np.ndarray:
    """Frames of one shape ((H, W) palette indices or (H, W, 3) RGB) in a grid of `cols` columns, no gaps; the cells
    after the last frame repeat it (so that no colour is added)."""
    n = len(frames)
    rows = math.ceil(n / cols)
    cells = list(frames) + [frames[-1]] * (rows * cols - n)
    return np.concatenate([np.concatenate(cells[r * cols : (r + 1) * cols], axis=1) for r in range(rows)], axis=0)


def gif_subset(n: int) -> list[int]:
    """The frames a GIF download keeps of an animation's `n`: all of a short one, else every GIF_STRIDE-th and
    always the first and the last (the page's player shows them all; the GIF is a third of the bytes)."""
    if n <= GIF_ALL:
        return list(range(n))
    keep = list(range(0, n, GIF_STRIDE))
    return keep if keep[-1] == n - 1 else [*keep, n - 1]


def animation_files(name: str, gif: bool = True) -> tuple[str, str]:
    """The file names write_animation gives an animation `name`: its sprite sheet, and its GIF ("" without one)."""
    return f"{name}-frames.png", f"{name}.gif" if gif else ""


def write_animation(
    folder: Path,
    name: str,
    frames: Sequence[np.ndarray],
    snapshots: Sequence[int] | np.ndarray,
    colour: bool = False,
    gif: bool = True,
) -> Sprite:
    """Write `frames` (one per snapshot index in `snapshots`) as `name`-frames.png (the sprite sheet) and, with
    `gif`, `name`.gif beside it. Palette frames are put on the animation's coarser weight levels in both, as the GIF
    always was."""
    frames = [shrink(f) for f in frames]
    if not colour:
        frames = [coarser(f) for f in frames]
    height, width = frames[0].shape[:2]
    cols, keep = sheet_layout(len(frames), height, width)
    kept = [frames[i] for i in keep]
    src, animated = animation_files(name, gif)
    gif_frames = [frames[i] for i in gif_subset(len(frames))]
    if colour:
        _write_rgb_png(folder / src, sheet(kept, cols))
        if animated:
            write_rgb_gif(folder / animated, gif_frames)
    else:
        whole = sheet(kept, cols)
        write_png(folder / src, whole, optimize=whole.size <= OPTIMIZE_PIXELS)
        if animated:
            write_gif(folder / animated, gif_frames)
    rows = math.ceil(len(kept) / cols)
    return Sprite(src, animated, cols, rows, width, height, tuple(int(snapshots[i]) for i in keep))
