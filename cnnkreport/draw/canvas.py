"""Small multiples drawn into one axes that spans the figure, in inches from its lower left corner: each panel
placed, framed and labelled by hand. They look like an axes per panel and take a fraction of the time: an axes
costs about 10 ms to make and as much to draw, mostly its ticks, and a layer's figures had up to 64 of them."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox, TransformedBbox

Segment = list[tuple[float, float]]


class Canvas:
    """A figure of `width` x `height` inches to place panels on; `figure()` finishes and returns it."""

    def __init__(self, width: float, height: float) -> None:
        self.width, self.height = width, height
        self.fig = Figure(figsize=(width, height))
        self.ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))
        self.ax.set_axis_off()
        self._frames: list[Rectangle] = []
        self._grid: list[Segment] = []
        self._ticks: list[Segment] = []

    def frame(self, x0: float, y0: float, w: float, h: float) -> None:
        """A black frame, as an axes' spines."""
        self._frames.append(Rectangle((x0, y0), w, h))

    def image(self, data: np.ndarray, x0: float, y0: float, w: float, h: float, **kw: Any) -> AxesImage:
        """`data` (rows, cols) filling the box, framed, row 0 at the top; kw as for imshow (cmap, vmin, vmax)."""
        im = self.ax.imshow(data, extent=(x0, x0 + w, y0, y0 + h), aspect="auto", interpolation="nearest", **kw)
        self.frame(x0, y0, w, h)
        return im

    def fit(self, shape: tuple[int, ...], x0: float, y0: float, side: float) -> tuple[float, float, float, float]:
        """The box of an image of `shape` (rows, cols) as large as fits a side x side cell at (x0, y0), centred,
        its pixels square."""
        rows, cols = shape[0], shape[1]
        w, h = (side, side * rows / cols) if cols >= rows else (side * cols / rows, side)
        return x0 + (side - w) / 2, y0 + (side - h) / 2, w, h

    def clip(self, artist: Artist, x0: float, y0: float, w: float, h: float) -> None:
        """Cut `artist` (a line, say) at the box, as an axes cuts what leaves its limits."""
        artist.set_clip_box(TransformedBbox(Bbox([[x0, y0], [x0 + w, y0 + h]]), self.ax.transData))

    def trace(self, values: np.ndarray, box: tuple[float, float, float, float], span: float, **kw: Any) -> None:
        """`values` (L,) as a line across the framed `box` (x0, y0, width, height), -span to span from its bottom
        to its top, cut at the frame; kw as for plot (color, lw)."""
        x0, y0, w, h = box
        xs = x0 + np.arange(len(values)) / max(len(values) - 1, 1) * w
        self.frame(x0, y0, w, h)
        self.clip(self.ax.plot(xs, y0 + h / 2 + np.asarray(values) / (2 * span) * h, **kw)[0], x0, y0, w, h)

    def grid_line(self, segment: Segment) -> None:
        self._grid.append(segment)

    def tick(self, segment: Segment) -> None:
        self._ticks.append(segment)

    def text(self, x: float, y: float, s: str, **kw: Any) -> Any:
        return self.ax.text(x, y, s, **kw)

    def figure(self) -> Figure:
        """The frames, grid lines and ticks added, the inches fixed as the axes' limits."""
        self.ax.add_collection(PatchCollection(self._frames, facecolor="none", edgecolor="black", linewidth=0.8))
        self.ax.add_collection(LineCollection(self._grid, colors="#b0b0b0", linewidths=0.8, alpha=0.3))
        self.ax.add_collection(LineCollection(self._ticks, colors="black", linewidths=0.8))
        self.ax.set_xlim(0, self.width)
        self.ax.set_ylim(0, self.height)
        return self.fig
