"""Issue 16's build-time lever, measured: train a preset's seeds together, stacked with torch.func.vmap, against
one model after another.

Five copies of the richer pulses-2d network (16 kernels of 7x7, then 16 of 5x5), one Adam step each on a batch of
64 (forward, backward, update), on one torch thread as the build trains: the time per step of the five one by one,
and of the five stacked (`stack_module_state`, `vmap(grad(...))`, one Adam over the stacked parameters), fastest
of --repeat.

    python bench/bench_stacked.py [--repeat 3] [--steps 30]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, stack_module_state, vmap

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout, installed or not

from cnnkreport.config import RunConfig, preset  # noqa: E402
from cnnkreport.model import PulseNet  # noqa: E402
from cnnkreport.tomlio import from_dict  # noqa: E402

SEEDS, BATCH = 5, 64
RICHER = {"model": {"channels": [16, 16], "kernel_size": [7, 5]}, "train": {"weight_decay": 0.1}}


def timed(step: Any, steps: int, repeat: int) -> float:
    for _ in range(3):
        step()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = from_dict(RunConfig, RICHER, "", preset("pulses-2d"))
    torch.manual_seed(0)
    models = [PulseNet(cfg.model, cfg.data) for _ in range(SEEDS)]
    x = torch.randn(SEEDS, BATCH, 1, cfg.data.size, cfg.data.size)
    y = torch.randint(0, len(cfg.data.classes), (SEEDS, BATCH))
    opts = [torch.optim.Adam(m.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay) for m in models]

    def one_by_one() -> None:
        for m, opt, xi, yi in zip(models, opts, x, y, strict=True):
            opt.zero_grad()
            F.cross_entropy(m(xi), yi).backward()
            opt.step()

    params, buffers = stack_module_state(models)  # type: ignore[arg-type]
    base = copy.deepcopy(models[0]).to("meta")

    def loss(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> Any:
        return F.cross_entropy(functional_call(base, (p, b), (xi,)), yi)

    gradients = vmap(grad(loss))
    stacked_opt = torch.optim.Adam(list(params.values()), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)

    def stacked() -> None:
        for name, g in gradients(params, buffers, x, y).items():
            params[name].grad = g
        stacked_opt.step()

    separate = timed(one_by_one, args.steps, args.repeat)
    together = timed(stacked, args.steps, args.repeat)
    print(f"{SEEDS} seeds of the richer pulses-2d network, one Adam step each, batch {BATCH}, 1 thread:")
    print(f"  one after another: {1000 * separate:7.1f} ms")
    print(f"  stacked (vmap):    {1000 * together:7.1f} ms")
    print(f"speed-up of stacking: {separate / together:.2f}x")


if __name__ == "__main__":
    main()
