"""Matplotlib figures: one function per figure, each returning the Figure; `save` writes and closes it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .data import Dataset  # noqa: E402
from .rundir import atomic_write  # noqa: E402


def save(fig: Figure, path: Path, dpi: int = 100) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    fig.clear()
    atomic_write(path, lambda fh: fh.write(buf.getvalue()))


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
    if train:
        steps = np.array([r["step"] for r in train])
        loss = np.array([r["loss"] for r in train])
        acc = np.array([r["train_accuracy"] for r in train])
        n = max(1, len(steps) // 50)
        ax_loss.plot(steps, loss, color="#bbbbbb" if n > 1 else "#1f4e79", lw=0.6, label="per batch")
        if n > 1:
            ax_loss.plot(steps, _smooth(loss, n), color="#1f4e79", lw=1.5, label=f"mean of {n} batches")
        ax_acc.plot(
            steps,
            _smooth(acc, n),
            color="#1f4e79",
            lw=1.5,
            label=f"train (mean of {n} batches)" if n > 1 else "train (per batch)",
        )
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
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def data_montage(ds: Dataset, per_class: int = 6) -> Figure:
    """A few training samples of each class: a row per class, as the network sees them."""
    k = len(ds.classes)
    fig = Figure(figsize=(1.3 * per_class, 1.3 * k))
    axes = fig.subplots(k, per_class, squeeze=False)
    image = ds.x_train.ndim == 4
    lim = float(np.abs(ds.x_train[: 50 * k]).max())
    for c, name in enumerate(ds.classes):
        idx = np.flatnonzero(ds.y_train == c)[:per_class]
        for j, ax in enumerate(axes[c]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(idx):
                ax.axis("off")
                continue
            x = ds.x_train[idx[j], 0]
            if image:
                ax.imshow(x, cmap="gray", interpolation="nearest")
            else:
                ax.plot(x, color="#1f4e79", lw=0.8)
                ax.set_ylim(-lim, lim)
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig
