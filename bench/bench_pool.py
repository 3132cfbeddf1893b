"""The pooling layer's cost: torch's nn.MaxPool1d/2d against cnnkreport's MaxPool2x (same values and gradients),
in one training step (batch 64) and one test-set pass (1,000 samples) of each preset's network, one thread.

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


def seconds(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    for _ in range(3):
        fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
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
        x_test = torch.randn(1000, 1, *shape)
        times = {}
        for label, model in (("torch", with_torch_pooling(PulseNet(cfg.model, cfg.data), dims)),
                             ("ours", PulseNet(cfg.model, cfg.data))):
            opt = torch.optim.Adam(model.parameters(), 1e-3)

            def step() -> None:
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()

            def evaluate() -> None:
                with torch.no_grad():
                    model(x_test)

            times[label] = (seconds(step, args.repeat), seconds(evaluate, max(1, args.repeat // 4)))
        for k, what in enumerate(("step", "test")):
            a, b = times["torch"][k] * 1e3, times["ours"][k] * 1e3
            print(f"{name:<14}{what:<8}{a:>10.2f}{b:>10.2f}{b / a:>8.2f}")


if __name__ == "__main__":
    main()
