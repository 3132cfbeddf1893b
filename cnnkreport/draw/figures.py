"""Matplotlib figures: one function per figure, each returning the Figure; `save` writes and closes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ..data import Dataset
from ..files import atomic_write
from .canvas import Canvas
from .compact import levels
from .mosaic import MAX_SIDE, PAGE_HEIGHT, PAGE_WIDTH, grid, palette

# Readable at page size: every text of a figure on the site is at least MIN_TEXT_PX px tall (its size in points x
# dpi / 72) where a 1280-px window shows the figure, which is at its natural width up to PAGE_WIDTH px (wider ones
# are scaled down, and their text with them). The site writes each figure at one of these dpi (tests/test_readable.py
# checks every figure at the dpi the site gives it):
MIN_TEXT_PX = 10
DPI = 100  # plots of a few axes (training curves, scores) and the match table, drawn a pixel per 1/100 in
PANEL_DPI = 80  # figures of many small panels (filters, feature maps, input space, data, sweep effects)
PANEL_FONT = 72 * MIN_TEXT_PX / PANEL_DPI  # 9 pt: the smallest text of a PANEL_DPI figure
FONT = 8.0  # the smallest text of a DPI figure (11 px; 72 * MIN_TEXT_PX / DPI = 7.2 pt at least)
PANEL_MAX_WIDTH = PAGE_WIDTH / PANEL_DPI  # inches: a PANEL_DPI figure no wider is shown at its natural size


def written_dpi(fig: Figure, dpi: int = DPI) -> int:
    """The dpi `save` writes the figure at: `dpi`, lower where that would make it larger than MAX_SIDE px."""
    return min(dpi, int(MAX_SIDE / max(fig.get_size_inches())))


def save(fig: Figure, path: Path, dpi: int = DPI) -> None:
    """Write a figure as PNG, quantised to an adaptive palette of 128 colours: plots have few colours, and this
    makes their files about three times smaller with no visible change. At most MAX_SIDE px a side: a larger
    figure is written at a lower dpi (and, should it still be larger, scaled down)."""
    fig.set_dpi(written_dpi(fig, dpi))
    canvas = FigureCanvasAgg(fig)  # drawn straight into pixels: no PNG written and read back (layout is set when
    canvas.draw()  # the figure is made)
    rgb = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
    if max(rgb.size) > MAX_SIDE:
        rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    small = rgb.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    atomic_write(path, lambda fh: small.save(fh, format="PNG", optimize=True))


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    """Trailing moving average over n points (shorter at the start)."""
    c = np.cumsum(np.insert(y, 0, 0.0))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(idx - n, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def training_curves(metrics: list[dict[str, Any]]) -> Figure:
    """Loss and accuracy over optimiser steps; per-batch values are smoothed, test accuracy is as measured."""
    fig = Figure(figsize=(9, 3.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    train = [r for r in metrics if r.get("loss") is not None]
    test = [r for r in metrics if r.get("test_accuracy") is not None]
    n = max(1, len(train) // 50)
    if train:
        steps = np.array([r["step"] for r in train])
        loss = np.array([r["loss"] for r in train])
        ax_loss.plot(steps, loss, color="#bbbbbb" if n > 1 else "#1f4e79", lw=0.6, label="per batch")
        if n > 1:
            ax_loss.plot(steps, _smooth(loss, n), color="#1f4e79", lw=1.5, label=f"mean of {n} batches")
    with_acc = [r for r in train if r.get("train_accuracy") is not None]  # a recorder may log the loss only
    if with_acc:
        acc = np.array([r["train_accuracy"] for r in with_acc])
        label = f"train (mean of {n} batches)" if n > 1 else "train (per batch)"
        ax_acc.plot([r["step"] for r in with_acc], _smooth(acc, n), color="#1f4e79", lw=1.5, label=label)
    if test:
        ax_acc.plot(
            [r["step"] for r in test],
            [r["test_accuracy"] for r in test],
            "o-",
            color="#d55e00",
            ms=3,
            lw=1.2,
            label="test",
        )
    ax_loss.set(xlabel="optimiser step", ylabel="loss", title="Training loss")
    ax_acc.set(xlabel="optimiser step", ylabel="accuracy", title="Accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT, frameon=False)
    fig.tight_layout()
    return fig


def data_montage(ds: Dataset, per_class: int = 6) -> Figure:
    """A few training samples of each class: a row per class, as the network sees them. On a Canvas."""
    k = len(ds.classes)
    cell, left, pad = 1.3, 0.25, 0.05  # inches a sample; the class names; around each sample
    c = Canvas(cell * per_class, cell * k)
    image = ds.x_train.ndim == 4
    lim = float(np.abs(ds.x_train[: 50 * k]).max()) or 1.0
    side = (cell * per_class - left) / per_class - 2 * pad
    for row, name in enumerate(ds.classes):
        y0 = cell * (k - 1 - row) + pad
        h = cell - 2 * pad
        c.text(left - 0.04, y0 + h / 2, name, rotation=90, ha="right", va="center", fontsize=PANEL_FONT)
        for j, i in enumerate(np.flatnonzero(ds.y_train == row)[:per_class]):
            x0, x = left + j * (side + 2 * pad) + pad, ds.x_train[i, 0]
            if image:
                c.image(x, *c.fit(x.shape, x0, y0 + (h - side) / 2, side), cmap="gray")
            else:
                c.trace(x, (x0, y0, side, h), lim, color="#1f4e79", lw=0.8)
    return c.figure()


def score_histogram(trained: np.ndarray, init: np.ndarray | None, null: np.ndarray, threshold: float) -> Figure:
    """Distribution of the best-match score r*: trained kernels, the same kernels at initialisation, random kernels."""
    fig = Figure(figsize=(5.5, 3.2))
    ax = fig.subplots()
    bins = np.linspace(0, 1, 41).tolist()
    ax.hist(null, bins=bins, density=True, color="#bbbbbb", label=f"random kernels (null, n={len(null)})")
    if init is not None:
        ax.hist(init, bins=bins, density=True, histtype="step", lw=1.8, color="#e69f00", label="at initialisation")
    ax.hist(trained, bins=bins, density=True, histtype="step", lw=2.2, color="#0072b2", label="trained")
    ax.axvline(threshold, color="#d55e00", ls="--", lw=1.2, label=f"null 99th percentile {threshold:.2f}")
    ax.set(xlabel="best-match score r* (|cos| with the closest detector)", ylabel="density", xlim=(0, 1))
    ax.legend(fontsize=FONT, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def score_over_training(
    steps: np.ndarray, scores: np.ndarray, null: np.ndarray, threshold: float, hits: np.ndarray | None = None
) -> Figure:
    """Median r* (with its interquartile band) and the hit rate at each snapshot, against the null. `hits` (S, N):
    which kernels are hits at each snapshot (default: above the threshold)."""
    fig = Figure(figsize=(9, 3.2))
    ax_s, ax_h = fig.subplots(1, 2)
    q25, q50, q75 = np.quantile(scores, [0.25, 0.5, 0.75], axis=1)
    x = np.maximum(steps, 0)
    ax_s.axhspan(float(np.quantile(null, 0.01)), threshold, color="#dddddd", label="null, 1st-99th percentile")
    ax_s.axhline(float(np.median(null)), color="#999999", lw=1, label="null median")
    ax_s.fill_between(x, q25, q75, color="#0072b2", alpha=0.2, lw=0, label="kernels, interquartile")
    ax_s.plot(x, q50, color="#0072b2", lw=1.8, label="kernels, median")
    ax_s.set(xlabel="optimiser step", ylabel="best-match score r*", ylim=(0, 1), title="Score over training")
    hit = scores > threshold if hits is None else hits
    ax_h.plot(x, hit.mean(axis=1), color="#0072b2", lw=1.8, label="trained kernels")
    ax_h.axhline(1 - 0.99, color="#999999", lw=1, ls="--", label="expected by chance (1%)")
    ax_h.set(
        xlabel="optimiser step",
        ylabel="share above the null threshold",
        ylim=(-0.02, 1.02),
        title="Hit rate over training",
    )
    for ax in (ax_s, ax_h):
        if len(x) > 2 and x[1] > 0:
            ax.set_xscale("symlog", linthresh=max(1.0, float(x[1])))
            ax.set_xlim(0, float(x[-1]))  # steps start at 0: no padding into negative steps
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


LABEL_H, CELL_W = 28, 88  # best_matches: room for a label (two lines of MATCH_FONT, 26 px) above each tile, the
# narrowest cell (the longest labels, as "gauss d2 165°", are at most 79 px wide)
MATCH_FONT = 7.5  # pt: 10.4 px at DPI, the dpi best_matches is drawn at (a pixel of its tiles per 1/100 in)


def match_rows(kshape: tuple[int, ...], top: int = 3) -> int:
    """How many kernels best_matches can draw, each beside its `top` matches, within a page's height."""
    smallest = levels(kshape)[-1]
    return max(1, (PAGE_HEIGHT - 3) // (smallest.h + LABEL_H + 3))


def best_matches(
    kernels: np.ndarray, templates: np.ndarray, labels: list[list[str]], scores: np.ndarray, names: list[str]
) -> Figure:
    """Each kernel (N, *k) beside its best-matching detectors (N, top, *k) with their scores, as Lee et al. 2009
    Fig. 2 placed next to the bank. Each template is shown with the sign that matches the kernel. Drawn as one
    image of tiles (fast for large layers), labelled with text; the tiles as large as fit a page (match_rows)."""
    n, top = templates.shape[:2]
    k = kernels.reshape(n, -1) - kernels.reshape(n, -1).mean(axis=1, keepdims=True)
    t = templates.reshape(n, top, -1) - templates.reshape(n, top, -1).mean(axis=2, keepdims=True)
    signs = np.sign(np.einsum("nd,ntd->nt", k, t))
    signs[signs == 0] = 1.0
    rows = np.concatenate([kernels[:, None], templates * signs.reshape(n, top, *([1] * (kernels.ndim - 1)))], axis=1)
    rows = rows.reshape(n * (top + 1), *kernels.shape[1:])
    options = levels(kernels.shape[1:])
    fitting = [
        lv
        for lv in options
        if (top + 1) * (max(lv.w, CELL_W) + 3) + 3 <= PAGE_WIDTH and n * (lv.h + LABEL_H + 3) + 3 <= PAGE_HEIGHT
    ]
    level = (fitting or options[-1:])[0]
    tiles = level.draw(rows, np.abs(rows).reshape(len(rows), -1).max(axis=1))
    th, tw = tiles.shape[1:]
    gap, label_h, cell_w = 3, LABEL_H, max(tw, CELL_W)
    padded = np.full((len(tiles), th + label_h, cell_w), 250, dtype=np.uint8)  # room for the label, centred tile
    left = (cell_w - tw) // 2
    padded[:, label_h:, left : left + tw] = tiles
    tw = cell_w
    img = grid(padded, top + 1, gap=gap)
    rgb = np.asarray(palette(), dtype=np.uint8).reshape(256, 3)[img]
    dpi = DPI
    fig = Figure(figsize=(max(img.shape[1], 300) / dpi, img.shape[0] / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(rgb, interpolation="nearest")
    ax.set_axis_off()
    for i in range(n):
        for j in range(top + 1):
            x = gap + j * (tw + gap) + tw / 2
            y = gap + i * (th + label_h + gap) + label_h - 2
            text = names[i] if j == 0 else f"{labels[i][j - 1]}\n{scores[i, j - 1]:.2f}"
            ax.text(x, y, text, ha="center", va="bottom", fontsize=MATCH_FONT, weight="bold" if j == 0 else "normal")
    return fig


def sweep_effects(keys: list[str], values: dict[str, list[str]], results: list[dict[str, Any]]) -> Figure:
    """For each swept key (columns) and each measure (rows): the mean of every run with that value, with its
    standard deviation as an error bar. results: dicts with "setting" {key: value text} and the measures. Drawn to
    be written at PANEL_DPI."""
    measures = [("hit_rate", "hit rate"), ("kappa", "kappa"), ("test_accuracy", "test accuracy")]
    width = min(3.2 * len(keys), PANEL_MAX_WIDTH)  # many keys: narrower panels, not a figure shrunk on the page
    fig = Figure(figsize=(width, 2.4 * len(measures)), layout="constrained")
    axes = fig.subplots(len(measures), len(keys), squeeze=False)
    for j, key in enumerate(keys):
        for i, (m, label) in enumerate(measures):
            ax = axes[i, j]
            means, stds = [], []
            for v in values[key]:
                xs = [r[m] for r in results if r["setting"][key] == v and r[m] is not None]
                means.append(float(np.mean(xs)) if xs else np.nan)
                stds.append(float(np.std(xs)) if xs else np.nan)
            ax.errorbar(range(len(means)), means, yerr=stds, fmt="o-", color="#1f4e79", capsize=3)
            ax.set_xticks(range(len(means)), values[key], fontsize=PANEL_FONT)
            ax.set_ylim(-0.05 if m == "kappa" else 0, 1.02)
            ax.grid(alpha=0.3)
            if i == len(measures) - 1:
                ax.set_xlabel(key.split(".")[-1])
            if j == 0:
                ax.set_ylabel(label)
    return fig
