"""The pooling layer's cost: torch's nn.MaxPool1d/2d against cnnkreport's MaxPool2x (same values and gradients),
each after the ReLU, and MaxPool2x before it as PulseNet has it (same values and gradients again), in one training
step (batch 64) and one pass over a test set (1,000 samples in batches of train.eval_batch, as train.py
evaluates) of each preset's network, one thread. Ratios are against torch's pooling after the ReLU.

    python bench/bench_pool.py [--repeat 20]   # rounds of 20 steps and of 2 test passes, the best of 9
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not

from cnnkreport.config import PRESETS  # noqa: E402
from cnnkreport.model import MaxPool2x, PulseNet  # noqa: E402
from cnnkreport.train import eval_batch  # noqa: E402


def relu_first(model: PulseNet) -> PulseNet:
    """The model with each ReLU before its pooling (conv, ReLU, pool), as the textbook draws it."""
    f = list(model.features)
    for i in range(0, len(f), 3):
        f[i + 1], f[i + 2] = f[i + 2], f[i + 1]
    model.features = nn.Sequential(*f)
    return model


def with_torch_pooling(model: PulseNet, dims: int) -> PulseNet:
    for i, m in enumerate(model.features):
        if isinstance(m, MaxPool2x):
            model.features[i] = nn.MaxPool2d(2) if dims == 2 else nn.MaxPool1d(2)
    return model


def stepper(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """One Adam step on the batch (x, y)."""
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def tester(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One pass over `x` without gradients, in batches of train.eval_batch."""
    bs = eval_batch(model, x)

    def test() -> None:
        with torch.no_grad():
            for i in range(0, len(x), bs):
                model(x[i : i + bs])

    return test


def best_ms(fns: list[Callable[[], None]], repeat: int, rounds: int = 9) -> list[float]:
    """Milliseconds a call of each of `fns`: the best of `rounds` rounds of `repeat` calls, the functions taking
    turns round by round (so that a change in the machine's load falls on each alike), after one call to warm up."""
    best = [float("inf")] * len(fns)
    for fn in fns:
        fn()
    for _ in range(rounds):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            for _ in range(repeat):
                fn()
            best[k] = min(best[k], (time.perf_counter() - t) / repeat * 1e3)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'preset':<14}{'pass':<6}{'torch, ms':>11}{'MaxPool2x after ReLU':>26}{'MaxPool2x, then ReLU':>26}")
    for name, cfg in PRESETS.items():
        dims = cfg.data.dims
        shape = (cfg.data.size,) * dims
        x, y = torch.randn(64, 1, *shape), torch.randint(0, len(cfg.data.classes), (64,))
        models = [
            with_torch_pooling(relu_first(PulseNet(cfg.model, cfg.data)), dims),
            relu_first(PulseNet(cfg.model, cfg.data)),
            PulseNet(cfg.model, cfg.data),
        ]
        x_test = torch.randn(1000, 1, *shape)
        for what, ms in (
            ("step", best_ms([stepper(m, x, y) for m in models], args.repeat)),
            ("test", best_ms([tester(m, x_test) for m in models], max(1, args.repeat // 8))),
        ):
            a, b, c = ms
            print(f"{name:<14}{what:<6}{a:>11.2f}{b:>16.2f} ms {b / a:>4.2f}x{c:>16.2f} ms {c / a:>4.2f}x")


if __name__ == "__main__":
    main()
