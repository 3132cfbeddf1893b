"""The pooling layer's cost: torch's nn.MaxPool1d/2d against cnnkreport's MaxPool2x (same values and gradients),
in one training step (batch 64) and one pass over a test set (1,000 samples in batches of 256, as train.py
evaluates) of each preset's network, one thread.

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
from cnnkreport.train import EVAL_BATCH  # noqa: E402


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


def test_seconds(model: nn.Module, x: torch.Tensor, repeat: int) -> float:
    """Seconds per pass over `x` without gradients, in batches of train.EVAL_BATCH, after one to warm up."""
    for k in range(1 + repeat):
        if k == 1:
            t = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(x), EVAL_BATCH):
                model(x[i : i + EVAL_BATCH])
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
        theirs, ours = with_torch_pooling(PulseNet(cfg.model, cfg.data), dims), PulseNet(cfg.model, cfg.data)
        a, b = (step_seconds(m, x, y, args.repeat) * 1e3 for m in (theirs, ours))
        print(f"{name:<14}{'step':<8}{a:>10.2f}{b:>10.2f}{b / a:>8.2f}")
        x_test = torch.randn(1000, 1, *shape)
        a, b = (test_seconds(m, x_test, max(1, args.repeat // 8)) * 1e3 for m in (theirs, ours))
        print(f"{name:<14}{'test':<8}{a:>10.2f}{b:>10.2f}{b / a:>8.2f}")


if __name__ == "__main__":
    main()
