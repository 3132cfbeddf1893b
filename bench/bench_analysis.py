"""Speed of the kernel analysis: matching per 1,000 kernels, and what the analysis adds to `cnnkreport build`.

1. For several kernel sizes: the bank size, the time to generate the bank and its null distribution (once per
   shape, cached), and the time to score 1,000 kernels against the bank (one matrix product).
2. For the default runs (trained here, or read from --runs): the time of the analysis itself over every snapshot
   of every layer, and what the analysis adds to the render: the render as `build` runs it, minus the same render
   with the analysis and its views (scores, controls, figures, GIFs, JSON) switched off. Target: the analysis adds
   at most 10 s to the build.

    python bench/bench_analysis.py [--runs DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout, installed or not

from cnnkreport.analysis import scores  # noqa: E402
from cnnkreport.analysis.bank import bank  # noqa: E402
from cnnkreport.config import DEFAULT_PRESETS, PRESETS  # noqa: E402
from cnnkreport.rundir import Run  # noqa: E402
from cnnkreport.site import build as site  # noqa: E402
from cnnkreport.train import train  # noqa: E402

BUDGET_S = 10.0
SHAPES: list[tuple[int, ...]] = [(3, 3), (5, 5), (7, 7), (11, 11), (9,), (15,), (31,)]


def per_shape() -> None:
    print(f"{'kernel':<8}{'bank':>7}{'bank (s)':>10}{'null (s)':>10}{'ms / 1000 kernels':>19}{'null p99':>10}")
    for shape in SHAPES:
        t0 = time.perf_counter()
        b = bank(shape)
        t1 = time.perf_counter()
        null = scores.null_scores(1, shape)
        t2 = time.perf_counter()
        kernels = np.random.default_rng(0).normal(size=(20_000, *shape))
        scores.match(kernels, b)
        t3 = time.perf_counter()
        name = "x".join(map(str, shape))
        print(
            f"{name:<8}{len(b):>7}{t1 - t0:>10.2f}{t2 - t1:>10.2f}{1000 * (t3 - t2) / 20:>19.1f}"
            f"{np.quantile(null, 0.99):>10.2f}"
        )


def default_runs(runs: Path | None, tmp: Path) -> list[Path]:
    if runs is not None:
        return [runs / name for name in DEFAULT_PRESETS]
    return [train(PRESETS[name], tmp / name).run.path for name in DEFAULT_PRESETS]


def render_seconds(paths: list[Path], out: Path) -> float:
    scores.null_scores.cache_clear()  # as in a fresh build
    bank.cache_clear()
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    site.build_site(paths, out)
    return time.perf_counter() - t0


def render(paths: list[Path], out: Path, repeat: int) -> None:
    """The render with everything, against the same render with the analysis and its views switched off (only
    the mosaics, GIF and training curves of a plain gallery), fastest of `repeat` each."""
    full = min(render_seconds(paths, out) for _ in range(repeat))
    originals = site.scores.score_chunks, site.extra_sections
    # the snapshots read as the render reads them, and nothing scored: the layer's analysis is None
    site.scores.score_chunks = lambda name, kind, chunks: originals[0](name, kind, chunks, score=False)  # type: ignore[assignment]
    site.extra_sections = lambda *args, **kwargs: []  # type: ignore[assignment]
    try:
        plain = min(render_seconds(paths, out) for _ in range(repeat))
    finally:
        site.scores.score_chunks, site.extra_sections = originals
    t0 = time.perf_counter()
    kernels = 0
    for p in paths:
        run = Run(p)
        for info in run.layers():
            steps, w = run.read_kernels(info.name)
            scores.analyse_layer(info.name, info.kind, steps, w)
            kernels += w.shape[0] * w.shape[1]
    alone = time.perf_counter() - t0
    print(f"\ndefault runs: {kernels:,} kernel snapshots (channel sums) scored over every snapshot")
    print(f"  the analysis alone (scores, null, controls, in one process): {alone:.2f} s")
    print(
        f"  render with the analysis and its views: {full:.2f} s; without: {plain:.2f} s "
        f"(layers drawn in parallel on {os.cpu_count()} cores)"
    )
    added = full - plain
    print(
        f"analysis adds {added:.1f} s to the build (target <= {BUDGET_S:.0f} s): "
        + ("met" if added <= BUDGET_S else "NOT met")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, help="folder holding finished default runs (default: train them here)")
    ap.add_argument("--repeat", type=int, default=3, help="renders per variant, fastest kept (default 3)")
    args = ap.parse_args()
    per_shape()
    with tempfile.TemporaryDirectory(prefix="cnnk-analysis-") as tmp:
        render(default_runs(args.runs, Path(tmp)), Path(tmp) / "site", args.repeat)


if __name__ == "__main__":
    main()
