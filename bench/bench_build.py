"""`cnnkreport build` end to end: wall time, and the test accuracy of the default presets over several seeds.

Runs the real command (`python -m cnnkreport build`) in an empty temporary folder, as a new user would, and
reports its wall time against the 90 s budget (aim: 60 s) on this machine. Then trains each default preset with
seeds 1..N (seed 0 is the build itself) and reports the test accuracy of every run against the 95% target.

    python bench/bench_build.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout, installed or not

from cnnkreport.config import DEFAULT_PRESETS, PRESETS  # noqa: E402
from cnnkreport.rundir import Run  # noqa: E402
from cnnkreport.train import train  # noqa: E402

BUDGET_S, AIM_S, TARGET_ACC = 90.0, 60.0, 0.95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds per preset, counting the build's seed 0 (default 5)")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]

    accuracy: dict[str, list[float]] = {name: [] for name in DEFAULT_PRESETS}
    with tempfile.TemporaryDirectory(prefix="cnnk-build-") as tmp:
        t0 = time.perf_counter()
        env_cmd = [sys.executable, "-m", "cnnkreport", "build"]
        subprocess.run(
            env_cmd,
            cwd=tmp,
            check=True,
            stderr=subprocess.DEVNULL,
            env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
        )
        wall = time.perf_counter() - t0
        for name in DEFAULT_PRESETS:
            accuracy[name].append(Run(Path(tmp) / "runs" / name).read_meta()["test_accuracy"])
        for seed in range(1, args.seeds):
            for name in DEFAULT_PRESETS:
                result = train(replace(PRESETS[name], seed=seed), Path(tmp) / f"{name}-seed{seed}")
                accuracy[name].append(result.test_accuracy or 0.0)

    print(
        f"cnnkreport build, no arguments: {wall:.1f} s (budget {BUDGET_S:.0f} s, aim {AIM_S:.0f} s): "
        f"{'met' if wall <= BUDGET_S else 'NOT met'}"
    )
    print(f"{'preset':<12}" + "".join(f"{f'seed {s}':>9}" for s in range(args.seeds)) + f"{'min':>9}")
    for name, accs in accuracy.items():
        print(f"{name:<12}" + "".join(f"{100 * a:>8.1f}%" for a in accs) + f"{100 * min(accs):>8.1f}%")
    worst = min(min(a) for a in accuracy.values())
    print(
        f"lowest test accuracy {100 * worst:.1f}% (target >= {100 * TARGET_ACC:.0f}% on every seed): "
        f"{'met' if worst >= TARGET_ACC else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
