"""The test-set pass (train.accuracy) at the batch size it picks (train.eval_batch) against fixed batch sizes.

A pass over each preset's 1,000 test samples, one thread, the best of `--repeat` passes (sizes taking turns),
at the batch size `eval_batch` picks (the first conv layer's output of a batch within train.EVAL_BYTES) and at
32-512 samples; the ratio is each size's time over the picked one's (above 1: the pick is faster). Training
evaluates the test set at every epoch end and at train.EVAL_POINTS more steps: 26 passes for pulses-2d.

    python bench/bench_eval.py
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not

from bench_pool import best_ms  # noqa: E402  (bench/ is on the path: the sizes take turns as there)

import cnnkreport.train as train  # noqa: E402
from cnnkreport.config import DEFAULT_PRESETS, preset  # noqa: E402
from cnnkreport.data import make_dataset  # noqa: E402
from cnnkreport.model import PulseNet  # noqa: E402

SIZES = (32, 64, 128, 256, 512)


def pass_at(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> Callable[[], None]:
    """One train.accuracy pass over (x, y) at `batch` samples a batch."""

    def run() -> None:
        picked = train.eval_batch
        train.eval_batch = lambda model, x: batch  # type: ignore[assignment]
        try:
            train.accuracy(model, x, y)
        finally:
            train.eval_batch = picked  # type: ignore[assignment]

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'preset':<14}{'picked':>7}{'seconds':>9}   " + "".join(f"{f'at {n}':>14}" for n in SIZES))
    for name in DEFAULT_PRESETS:
        cfg = preset(name)
        torch.manual_seed(0)
        model = PulseNet(cfg.model, cfg.data)
        ds = make_dataset(cfg.data, 0)
        x, y = torch.from_numpy(ds.x_test), torch.from_numpy(ds.y_test)
        pick = train.eval_batch(model, x)
        sizes = sorted({pick, *SIZES})
        ms = best_ms([pass_at(model, x, y, n) for n in sizes], repeat=1, rounds=args.repeat)
        best = {n: t / 1e3 for n, t in zip(sizes, ms, strict=True)}
        print(
            f"{name:<14}{pick:>7}{best[pick]:>9.3f}   "
            + "".join(f"{best[n]:>8.3f} {best[n] / best[pick]:>4.2f}x" for n in SIZES)
        )


if __name__ == "__main__":
    main()
