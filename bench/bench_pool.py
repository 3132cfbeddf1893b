"""The pooling layer's cost: torch's nn.MaxPool1d/2d against cnnkreport's MaxPool2x (same values and gradients),
in one training step (batch 64) of each preset's network, one thread. (Without gradients MaxPool2x is torch's
own pooling: nothing to compare.)

    python bench/bench_pool.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not

from cnnkreport.config import PRESETS  # noqa: E402
from cnnkreport.model import MaxPool2x, PulseNet  # noqa: E402


def with_torch_pooling(model: PulseNet, dims: int) -> PulseNet:
    for i, m in enumerate(model.features):
        if isinstance(m, MaxPool2x):
            model.features[i] = nn.MaxPool2d(2) if dims == 2 else nn.MaxPool1d(2)
    return model


def step_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeat: int) -> float:
    """Seconds per Adam step on the batch (x, y), after three to warm up."""
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for k in range(3 + repeat):
        if k == 3:
            t = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'preset':<14}{'pass':<8}{'torch ms':>10}{'ours ms':>10}{'ratio':>8}")
    for name, cfg in PRESETS.items():
        dims = 2 if cfg.data.kind == "image" else 1
        shape = (cfg.data.size,) * dims
        x, y = torch.randn(64, 1, *shape), torch.randint(0, len(cfg.data.classes), (64,))
        theirs = step_seconds(with_torch_pooling(PulseNet(cfg.model, cfg.data), dims), x, y, args.repeat)
        ours = step_seconds(PulseNet(cfg.model, cfg.data), x, y, args.repeat)
        a, b = theirs * 1e3, ours * 1e3
        print(f"{name:<14}{'step':<8}{a:>10.2f}{b:>10.2f}{b / a:>8.2f}")


if __name__ == "__main__":
    main()
