"""Data generation speed: vectorised rasterising versus drawing each image with matplotlib.

The reference draws every sample the way the original research project did: one matplotlib figure per
image (Agg canvas, 1x1 inch at 32 dpi = 32x32 pixels, black background, axes off), the waveform as a
white line of the configured thickness on a dense x grid, `canvas.draw()`, then one channel of the RGBA
buffer, plus the same Gaussian noise. It uses `Figure` + `FigureCanvasAgg` directly, which is a little
faster than going through pyplot, so the reference is if anything flattered. Both sides use the same
waveform values (`cnnkreport.data.waveform`) and the pulses-2d preset's `DataConfig`.

The fast path is `cnnkreport.data.render_images` on a large batch. Target: at least 100x fewer
microseconds per image than the reference. The 1-D signal rate (`render_signals`, pulses-1d) is
reported for completeness, without a target.

    python bench/bench_data.py [--n-ref 200] [--n 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout, installed or not

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnnkreport.config import PRESETS, DataConfig  # noqa: E402
from cnnkreport.data import Params, draw_params, render_images, render_signals, waveform  # noqa: E402

TARGET = 100.0
DENSE = 1024  # x samples per trace for the matplotlib line


def draw_one(cfg: DataConfig, p: Params, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One (S, S) float32 image the matplotlib way. `p` holds a single sample."""
    y = waveform(p, cfg.classes, x)[0]
    fig = Figure(figsize=(cfg.size / 32, cfg.size / 32), dpi=32, facecolor="black")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0), facecolor="black")
    ax.plot(x, y, color="white", linewidth=cfg.thickness * 72 / 32, antialiased=True)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-0.5, 0.5)
    ax.set_axis_off()
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[:, :, 0].astype(np.float32) / 255.0
    fig.clear()  # the "close": drop the artists; with no pyplot there is no figure manager to close
    if cfg.noise > 0:
        img += rng.normal(0.0, cfg.noise, size=img.shape).astype(np.float32)
    return img


def reference(cfg: DataConfig, p: Params, rng: np.random.Generator) -> np.ndarray:
    x = np.linspace(0.0, 1.0, DENSE)
    return np.stack([draw_one(cfg, p[i : i + 1], x, rng) for i in range(len(p.label))])[:, None]


def median_time(repeat: int, fn: Callable[[], object]) -> float:
    """Median wall time of `repeat` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-ref", type=int, default=200, help="images drawn with matplotlib (default 200)")
    ap.add_argument("--n", type=int, default=5000, help="images rendered in one batch (default 5000)")
    ap.add_argument("--repeat", type=int, default=3, help="timings per measurement, median kept (default 3)")
    args = ap.parse_args()

    img_cfg = PRESETS["pulses-2d"].data
    sig_cfg = PRESETS["pulses-1d"].data
    rng = np.random.default_rng(0)
    p_ref = draw_params(img_cfg, args.n_ref, rng)
    p_big = draw_params(replace(img_cfg, n_train=args.n), args.n, rng)
    p_sig = draw_params(sig_cfg, args.n, rng)

    reference(img_cfg, p_ref[:5], rng)  # warm-up: font cache, first-figure costs
    t_ref = median_time(args.repeat, lambda: reference(img_cfg, p_ref, rng)) / args.n_ref
    t_fast = median_time(args.repeat, lambda: render_images(img_cfg, p_big, rng)) / args.n
    t_sig = median_time(args.repeat, lambda: render_signals(sig_cfg, p_sig, rng)) / args.n

    rows = [
        (f"matplotlib, one figure per image ({args.n_ref} images)", t_ref),
        (f"render_images, {img_cfg.size}x{img_cfg.size} ({args.n} images)", t_fast),
        (f"render_signals, {sig_cfg.size} samples ({args.n} signals)", t_sig),
    ]
    print(f"{'method':<52} {'us/item':>10} {'items/s':>12}")
    for label, t in rows:
        print(f"{label:<52} {t * 1e6:>10.2f} {1 / t:>12,.0f}")
    ratio = t_ref / t_fast
    print(f"speed-up {ratio:,.0f}x (target >= {TARGET:.0f}x): {'met' if ratio >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
