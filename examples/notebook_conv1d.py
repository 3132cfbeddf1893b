"""The filters of a Conv1d model held in memory, through cnnkreport's Python API, as you would in a notebook.

The views asked for in the seed Q&A "How can 1D CNN filters be visualized in PyTorch?" (one filter; every filter x
input channel; the channels combined) and in "Where can I find a good explanation of Keras's Conv1D layer?" (the
response to test signals; the frequency response), as matplotlib Figures saved to a folder, plus the numbers: how
far each filter became a classical detector, against random filters of the same shape. In Jupyter, leave out the
savefig calls: a Figure shows itself, and so does `report`. Runs as a script too:

    python examples/notebook_conv1d.py --out figures      # under a minute on a small CPU
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch import nn

import cnnkreport as ck
from cnnkreport.config import DataConfig
from cnnkreport.data import make_dataset


def train(epochs: int) -> nn.Module:
    """A small Conv1d model, trained in memory on cnnkreport's five lab waveforms (any model would do)."""
    torch.manual_seed(0)
    data = make_dataset(DataConfig(kind="signal", size=128, n_train=2000, n_test=500, noise=0.02), seed=0)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    model = nn.Sequential(
        nn.Conv1d(1, 8, kernel_size=15, padding=7),  # layer "0": 8 filters of 15 taps
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(8, 8, kernel_size=9, padding=4),  # layer "3": 8 filters on 8 channels
        nn.ReLU(),
        nn.AdaptiveMaxPool1d(1),
        nn.Flatten(),
        nn.Linear(8, len(data.classes)),
    )
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(64):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def one_filter(layer: ck.Layer, index: int = 0) -> Figure:
    """Seed 001's first view, one filter's weights, drawn from the numbers the report holds."""
    assert layer.weights is not None
    fig = Figure(figsize=(6, 2.5))
    ax = fig.add_subplot()
    ax.stem(layer.weights[index, 0])
    k = layer.kernels[index]
    ax.set_title(f"filter {index}: r* {k.score:.2f} against {k.best_match.name} ({k.best_match.family})", fontsize=9)
    ax.set_xlabel("tap")
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("figures"), help="folder for the figures")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    model = train(args.epochs)

    report = ck.inspect(model)  # nothing is written; in Jupyter, `report` alone shows a table and the kernels
    first, second = report.layers["0"], report.layers["3"]
    figures = {
        "one-filter": one_filter(first),  # seed 001: one filter
        "filters-by-channels": second.plot("mosaic"),  # seed 001: every filter x input channel
        "channels-combined": second.plot("channels"),  # seed 001: the channels combined
        "test-signals": first.plot("signals"),  # seed 000: the response to test signals
        "frequency": first.plot("frequency"),  # seed 000: the frequency response
        "filterbank": first.plot("filterbank"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        fig.savefig(args.out / f"{name}.png", dpi=80)
    print(f"layer 0: hit rate {first.hit_rate:.0%} against random filters (threshold r* {first.null_threshold:.2f})")
    for k in first.kernels:
        print(f"  filter {k.index}: r* {k.score:.2f} {k.best_match.family:<7} peak {k.peak_frequency:.3f} c/sample")
    print(f"{len(figures)} figures in {args.out}")


if __name__ == "__main__":
    main()
