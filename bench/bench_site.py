"""The site's weight and speed: its size (total, per type, largest files), the time to render it, and GIF export
against rendering the same frames with matplotlib.

1. Renders the default runs (trained here, or read from --runs) into a temporary site, fastest of --repeat, and
   reports the total size against the 5 MB target and the largest GIF against 1 MB.
2. Exports the first layer's evolution of `pulses-2d` as a GIF: numpy palette frames written with Pillow (what the
   site does) against the same frames drawn one by one with matplotlib (imshow per kernel, one figure per frame,
   as a notebook would) and written with Pillow. Target: at least 20x faster.

    python bench/bench_site.py [--runs DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout, installed or not

from cnnkreport.config import DEFAULT_PRESETS, PRESETS  # noqa: E402
from cnnkreport.draw import mosaic  # noqa: E402
from cnnkreport.rundir import Run  # noqa: E402
from cnnkreport.site.pages import build_site  # noqa: E402
from cnnkreport.train import train  # noqa: E402

SITE_TARGET, GIF_TARGET, SPEED_TARGET = 5 * 2**20, 2**20, 20.0


def site_figures(paths: list[Path], out: Path, repeat: int) -> None:
    times = []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        build_site(paths, out)
        times.append(time.perf_counter() - t0)
    files = [p for p in out.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    by_type: dict[str, list[int]] = defaultdict(list)
    for p in files:
        by_type[p.suffix or p.name].append(p.stat().st_size)
    print(f"render of {len(paths)} runs: {min(times):.2f} s (fastest of {repeat})")
    print(f"{'type':<10}{'files':>7}{'KB':>10}")
    for ext, sizes in sorted(by_type.items(), key=lambda kv: -sum(kv[1])):
        print(f"{ext:<10}{len(sizes):>7}{sum(sizes) / 1024:>10.0f}")
    print("largest files:")
    for p in sorted(files, key=lambda p: -p.stat().st_size)[:5]:
        print(f"  {p.stat().st_size / 1024:>7.0f} KB  {p.relative_to(out)}")
    gifs = [p for p in files if p.suffix == ".gif"]
    biggest = max(gifs, key=lambda p: p.stat().st_size)
    verdict = "met" if total < SITE_TARGET else "NOT met"
    print(f"site {total / 2**20:.2f} MB (target < {SITE_TARGET / 2**20:.0f} MB): {verdict}")
    print(
        f"largest GIF {biggest.stat().st_size / 1024:.0f} KB (target < 1024 KB): "
        + ("met" if biggest.stat().st_size < GIF_TARGET else "NOT met")
    )


def matplotlib_frames(steps: np.ndarray, w: np.ndarray) -> list[Image.Image]:
    """The reference: each snapshot drawn as a matplotlib figure of kernels (one imshow per kernel)."""
    vmax = np.abs(w).max()
    frames = []
    for step, kernels in zip(steps, w, strict=True):
        fig = Figure(figsize=(4, 2), dpi=60)
        axes = fig.subplots(2, int(np.ceil(len(kernels) / 2)))
        for ax, k in zip(axes.flat, kernels, strict=False):
            ax.imshow(k[0], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
            ax.set_axis_off()
        fig.suptitle(f"step {int(step)}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        frames.append(Image.open(buf).convert("RGB").quantize(colors=255))
    return frames


def gif_figures(run: Path, out: Path, repeat: int) -> None:
    steps, w = Run(run).read_kernels(Run(run).layers()[0].name)
    fast, slow = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        mosaic.write_gif(out / "numpy.gif", mosaic.evolution_frames(steps, w))
        fast.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        frames = matplotlib_frames(steps, w)
        frames[0].save(out / "matplotlib.gif", save_all=True, append_images=frames[1:], duration=60, loop=0)
        slow.append(time.perf_counter() - t0)
    ratio = min(slow) / min(fast)
    print(f"\nGIF of {len(steps)} frames of {w.shape[1]} kernels {w.shape[-2]}x{w.shape[-1]}:")
    print(f"  numpy palette frames + Pillow: {min(fast):.3f} s, {(out / 'numpy.gif').stat().st_size / 1024:.0f} KB")
    print(
        f"  matplotlib frames + Pillow:    {min(slow):.3f} s, {(out / 'matplotlib.gif').stat().st_size / 1024:.0f} KB"
    )
    print(
        f"GIF export {ratio:.0f}x faster than matplotlib (target >= {SPEED_TARGET:.0f}x): "
        + ("met" if ratio >= SPEED_TARGET else "NOT met")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, help="folder holding finished default runs (default: train them here)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions, fastest kept (default 3)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cnnk-site-") as tmp:
        if args.runs is not None:
            paths = [args.runs / name for name in DEFAULT_PRESETS]
        else:
            paths = [train(PRESETS[name], Path(tmp) / name).run.path for name in DEFAULT_PRESETS]
        site_figures(paths, Path(tmp) / "site", args.repeat)
        gif_figures(paths[0], Path(tmp), args.repeat)


if __name__ == "__main__":
    main()
