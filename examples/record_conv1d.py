"""Record the filters of your own Conv1d model from your own training loop, then draw the gallery.

This is the situation of the seed Q&A "How can 1D CNN filters be visualized in PyTorch?": a trained Conv1d model
whose filters you want to see. Here the model learns to tell five lab waveforms apart (cnnkreport's pulse
signals); any model and data work the same way. The only lines about cnnkreport are marked with # <--.

    python examples/record_conv1d.py                 # about 10 s on a laptop CPU
    cnnkreport render runs/my-conv1d --out site      # the gallery: site/index.html
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from cnnkreport import KernelRecorder  # <--
from cnnkreport.config import DataConfig
from cnnkreport.data import make_dataset


class Net(nn.Module):
    def __init__(self, classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, 8, kernel_size=15, padding=7)
        self.conv2 = nn.Conv1d(8, 16, kernel_size=9, padding=4)
        self.head = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, L) -> (B, classes)
        x = torch.max_pool1d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool1d(torch.relu(self.conv2(x)), 2)
        return self.head(x.amax(dim=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/my-conv1d"), help="run folder to write")
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()

    torch.manual_seed(0)
    data = make_dataset(DataConfig(kind="signal", size=128, n_train=4000, n_test=1000, noise=0.02), seed=0)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    model = Net(len(data.classes))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)

    recorder = KernelRecorder(model, args.run, every=10)  # <-- snapshots the initial kernels now
    for _ in range(args.epochs):
        for idx in torch.randperm(len(y)).split(64):
            logits = model(x[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            accuracy = (logits.argmax(1) == y[idx]).float().mean().item()
            recorder.step(loss=loss.item(), train_accuracy=accuracy)  # <--
    with torch.no_grad():
        test = (model(torch.from_numpy(data.x_test)).argmax(1) == torch.from_numpy(data.y_test)).float().mean()
    recorder.close(test_accuracy=float(test))  # <--
    print(f"recorded {recorder.steps} steps into {args.run}; test accuracy {float(test):.1%}")
    print(f"now: cnnkreport render {args.run} --out site")


if __name__ == "__main__":
    main()
