"""About how long a run takes to train, from its config alone: the build trains the longest runs first (so that the
last to end are short ones) by this estimate."""

from __future__ import annotations

import math

from .config import EVAL_POINTS, RunConfig, conv_sides

STEP_COST = 130e6  # what an optimiser step costs beyond its convolutions (Python, the optimiser, small tensors),
# in multiply-adds of this machine's convolutions: fitted to whole runs of pulses-1d and pulses-2d (5.6-6.5 and
# 5.3-5.8 s on one thread, with 1,575 and 819 steps; issue 16 fitted 100e6 to single steps, 8.1 and 4.5 ms)


def training_work(cfg: RunConfig) -> float:
    """About how long a run takes to train, in multiply-adds: its conv layers' multiply-adds for every training
    sample (three per weight and place: forward and the two gradients) and test pass, and STEP_COST per step. Only
    to start the longest runs first, so that the last to end are short."""
    dims = cfg.data.dims
    m = cfg.model
    inputs = (1, *m.channels[:-1])
    sides = conv_sides(m, cfg.data.size)
    per_sample = sum(
        n**dims * c * c_in * k**dims for n, c, c_in, k in zip(sides, m.channels, inputs, m.kernel_size, strict=True)
    )
    t = cfg.train
    steps = t.epochs * math.ceil(cfg.data.n_train / t.batch_size)
    tests = (EVAL_POINTS + t.epochs if t.test_curve else 1) * cfg.data.n_test
    return t.epochs * cfg.data.n_train * 3 * per_sample + tests * per_sample + steps * STEP_COST


__all__ = ["STEP_COST", "training_work"]
