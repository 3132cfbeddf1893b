"""The site's weight and speed: its size (total, per type, largest files), the time to render it, and GIF export
against rendering the same frames with matplotlib.

1. Renders the default runs (trained here, or read from --runs) into a temporary site, fastest of --repeat, and
   reports the total size against the 5 MB target and the largest GIF against 1 MB, with what the players cost:
   their sprite sheets, the GIFs beside them, and the inline script and numbers in the pages. With --site, the same
   figures for a site already built (the output of `cnnkreport build`, recipe page included).
2. Exports the first layer's evolution of `pulses-2d` as a GIF: numpy palette frames written with Pillow (what the
   site does) against the same frames drawn one by one with matplotlib (imshow per kernel, one figure per frame,
   as a notebook would) and written with Pillow. Target: at least 20x faster.
3. Writes the same palette frames as a GIF two ways, Pillow directly (what the site does) and through imageio v3's
   pillow plugin (`palette=` handed on to Pillow's GIF writer), in the same run, fastest of --repeat: time, size,
   their ratios, and whether the decoded frames, durations and loop are the same. The project's rule: use imageio
   only if it stays within 10% of Pillow's speed and size.

    python bench/bench_site.py [--runs DIR] [--site DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import re
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
from cnnkreport.draw import compact, mosaic  # noqa: E402
from cnnkreport.rundir import Run  # noqa: E402
from cnnkreport.site import build_site  # noqa: E402
from cnnkreport.train import train  # noqa: E402

SITE_TARGET, GIF_TARGET, SPEED_TARGET = 5 * 2**20, 2**20, 20.0


def site_figures(paths: list[Path], out: Path, repeat: int) -> None:
    times = []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        build_site(paths, out)
        times.append(time.perf_counter() - t0)
    print(f"render of {len(paths)} runs: {min(times):.2f} s (fastest of {repeat})")
    weigh(out)


def weigh(out: Path) -> None:
    """The site's size: per type, the largest files, what the players cost, and the verdicts."""
    files = [p for p in out.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    by_type: dict[str, list[int]] = defaultdict(list)
    for p in files:
        by_type[p.suffix or p.name].append(p.stat().st_size)
    print(f"{'type':<10}{'files':>7}{'KB':>10}")
    for ext, sizes in sorted(by_type.items(), key=lambda kv: -sum(kv[1])):
        print(f"{ext:<10}{len(sizes):>7}{sum(sizes) / 1024:>10.0f}")
    print("largest files:")
    for p in sorted(files, key=lambda p: -p.stat().st_size)[:5]:
        print(f"  {p.stat().st_size / 1024:>7.0f} KB  {p.relative_to(out)}")
    sheets = [p.stat().st_size for p in files if p.name.endswith("-frames.png")]
    gifs = [p for p in files if p.suffix == ".gif"]
    inline = 0
    for p in files:
        if p.suffix == ".html":
            text = p.read_text(encoding="utf-8")
            inline += sum(len(m.encode()) for m in re.findall(r"<script[^>]*>.*?</script>", text, re.DOTALL))
    print(
        f"players: {len(sheets)} sprite sheets {sum(sheets) / 1024:.0f} KB, {len(gifs)} GIFs to download "
        f"{sum(p.stat().st_size for p in gifs) / 1024:.0f} KB, inline script and numbers {inline / 1024:.0f} KB"
    )
    verdict = "met" if total <= SITE_TARGET else "NOT met"
    print(f"site {total / 2**20:.2f} MB (target <= {SITE_TARGET / 2**20:.0f} MB): {verdict}")
    if gifs:
        biggest = max(gifs, key=lambda p: p.stat().st_size)
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
        mosaic.write_gif(out / "numpy.gif", compact.evolution_frames(steps, w))
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


def imageio_gif(path: Path, frames: list[np.ndarray], frame_ms: int = 60, hold_ms: int = 1500) -> None:
    """mosaic.write_gif's animation written through imageio v3's pillow plugin: the same palette indices, the
    palette passed on to Pillow's GIF writer, durations in milliseconds, looping forever."""
    import imageio.v3 as iio

    indices = np.stack([mosaic.coarser(f) for f in frames])  # (F, H, W) palette indices
    durations = [max(frame_ms, 20)] * len(indices)
    durations[-1] = hold_ms
    iio.imwrite(path, indices, plugin="pillow", mode="P", palette=bytes(mosaic.palette()), duration=durations, loop=0)


def decoded(path: Path) -> tuple[list[np.ndarray], list[int], int | None]:
    """A GIF's frames as RGB arrays, their durations (ms) and its loop count, as Pillow reads them."""
    with Image.open(path) as im:
        pixels, durations = [], []
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            pixels.append(np.asarray(im.convert("RGB")))
            durations.append(int(im.info.get("duration", 0)))
        return pixels, durations, im.info.get("loop")


def gif_writers(run: Path, out: Path, repeat: int) -> None:
    """Pillow directly against imageio's pillow plugin, on the same palette frames, alternating, fastest kept."""
    try:
        import imageio
    except ImportError:
        print("\nimageio is not installed: `pip install imageio` to compare GIF writers")
        return
    steps, w = Run(run).read_kernels(Run(run).layers()[0].name)
    frames = compact.evolution_frames(steps, w)
    direct, via = out / "pillow.gif", out / "imageio.gif"
    t_direct, t_via = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        mosaic.write_gif(direct, frames)
        t_direct.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        imageio_gif(via, frames)
        t_via.append(time.perf_counter() - t0)
    size_direct, size_via = direct.stat().st_size, via.stat().st_size
    a, b = decoded(direct), decoded(via)
    same = len(a[0]) == len(b[0]) and all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True))
    time_ratio, size_ratio = min(t_via) / min(t_direct), size_via / size_direct
    print(f"\nGIF writing, {len(frames)} palette frames of {frames[0].shape[1]}x{frames[0].shape[0]} px:")
    print(f"  {'Pillow directly:':<32}{min(t_direct):.3f} s, {size_direct / 1024:.0f} KB")
    print(f"  {f'imageio {imageio.__version__} pillow plugin:':<32}{min(t_via):.3f} s, {size_via / 1024:.0f} KB")
    print(f"  imageio / Pillow: time {time_ratio:.2f}x, size {size_ratio:.2f}x (fastest of {repeat})")
    print(f"  decoded frames {'identical' if same else 'DIFFERENT'}, durations and loop", end=" ")
    print("identical" if (a[1], a[2]) == (b[1], b[2]) else f"DIFFERENT ({a[1:]} vs {b[1:]})")
    verdict = "within" if time_ratio <= 1.1 and size_ratio <= 1.1 else "NOT within"
    print(
        f"imageio {verdict} 10% of Pillow's speed and size: {'use imageio' if verdict == 'within' else 'keep Pillow'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, help="folder holding finished default runs (default: train them here)")
    ap.add_argument("--site", type=Path, help="also weigh this site, already built (e.g. by `cnnkreport build`)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions, fastest kept (default 3)")
    args = ap.parse_args()
    if args.site is not None:
        print(f"the site at {args.site}:")
        weigh(args.site)
        print()
    with tempfile.TemporaryDirectory(prefix="cnnk-site-") as tmp:
        if args.runs is not None:
            paths = [args.runs / name for name in DEFAULT_PRESETS]
        else:
            paths = [train(PRESETS[name], Path(tmp) / name).run.path for name in DEFAULT_PRESETS]
        site_figures(paths, Path(tmp) / "site", args.repeat)
        gif_figures(paths[0], Path(tmp), args.repeat)
        gif_writers(paths[0], Path(tmp), args.repeat)


if __name__ == "__main__":
    main()
