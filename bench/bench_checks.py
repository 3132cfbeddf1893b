"""The recipe check's runs, recorded in full against judged only (recipe.judged_only: the first and last kernels,
one test after training): seconds to train one check run of each preset with targets, one thread, the two taking
turns, the best of --rounds. The weights are the same bit for bit (tests/test_train.py); only the recording
differs.

    python bench/bench_checks.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not

from cnnkreport.analysis import recipe  # noqa: E402
from cnnkreport.config import PRESETS  # noqa: E402
from cnnkreport.train import train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'preset':<12}{'full, s':>9}{'judged only, s':>16}{'ratio':>7}")
    with tempfile.TemporaryDirectory(prefix="cnnk-checks-") as tmp:
        for name in recipe.TARGETS:
            # the check's second seed, recorded in full and as build records it
            full = replace(recipe.seed_configs(PRESETS[name], 2)[0], train=PRESETS[name].train)
            lean = recipe.judged_only(full)
            best = {"full": float("inf"), "lean": float("inf")}
            for r in range(args.rounds):
                for label, cfg in (("full", full), ("lean", lean)):
                    t = time.perf_counter()
                    train(cfg, Path(tmp) / f"{name}-{label}-{r}")
                    best[label] = min(best[label], time.perf_counter() - t)
            print(f"{name:<12}{best['full']:>9.2f}{best['lean']:>16.2f}{best['lean'] / best['full']:>6.2f}x")


if __name__ == "__main__":
    main()
