"""One page per kernel: its evolution, its best matches, its numbers, and what it does as a filter.

Pictures are numpy-drawn PNG/GIF tiles and inline SVG charts (a few KB each), so a layer of hundreds of kernels
stays light and quick to render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from ..analysis import filters
from ..draw import mosaic, svg
from ..analysis.scores import SURROGATE_ALPHA, LayerAnalysis
from ..rundir import LayerInfo

GIF_FRAMES = 16  # frames of a single kernel's evolution GIF
MAX_CHANNELS = 16  # input channels drawn (and printed as numbers) one by one; more: the channel sum


@dataclass(frozen=True)
class Picture:
    src: str  # relative to the kernel page
    alt: str
    print_src: str | None = None  # a filmstrip to print in place of an animation


@dataclass
class KernelView:
    index: int
    href: str  # relative to the layer page
    picture: Picture
    evolution: Picture | None
    matches: list[dict[str, Any]]
    numbers: dict[str, Any]
    charts: list[Markup] = field(default_factory=list)
    pictures: list[tuple[Picture, str]] = field(default_factory=list)  # (picture, caption)
    weights: list[tuple[str, list[list[float]]]] = field(default_factory=list)  # (channel label, rows)
    colourbar: bool = True  # its tiles use the diverging weight colours (not stem plots)


def _weights_tables(w: np.ndarray) -> list[tuple[str, list[list[float]]]]:
    """A kernel (in, *k) as tables of numbers: one per input channel, a 1-D kernel as one row."""
    tables = []
    for c, ch in enumerate(w):
        rows = ch.tolist() if ch.ndim == 2 else [ch.tolist()]
        tables.append((f"input channel {c}" if len(w) > 1 else "weights", rows))
    return tables


def _charts_1d(kernel: np.ndarray, name: str, single_channel: bool) -> list[Markup]:
    fr = filters.frequency_response_1d(kernel, n=128)
    refs = filters.reference_responses_1d(len(fr.freq))
    peak = float(fr.magnitude.max()) or 1.0
    db = 20 * np.log10(np.maximum(fr.magnitude / peak, 1e-6))
    ref_series = [
        svg.Series(20 * np.log10(np.maximum(v, 1e-6)), fr.freq, "#999999", 1.0, "4 3" if i == 0 else "1 2", label)
        for i, (label, v) in enumerate(refs.items())
    ]
    charts = [
        svg.line_chart(
            [svg.Series(db, fr.freq, label="this kernel"), *ref_series],
            f"Frequency response of {name}: gain in dB relative to its peak ({peak:.3g})",
            "frequency (cycles/sample)",
            "gain (dB re peak)",
            ylim=(-40, 3),
        ),
        svg.line_chart(
            [svg.Series(fr.phase / np.pi, fr.freq, "#d55e00")],
            f"Phase response of {name}, in units of pi",
            "frequency (cycles/sample)",
            "phase (π rad)",
        ),
    ]
    if single_channel:
        for signal_name, x in filters.test_signals().items():
            y = filters.respond_1d(kernel, x)
            top = float(np.abs(y).max()) or 1.0
            scale = float(np.abs(x).max()) / top
            charts.append(
                svg.line_chart(
                    [
                        svg.Series(x, colour="#999999", width=1.0, label="input"),
                        svg.Series(y * scale, label=f"output × {scale:.2g}"),
                    ],
                    f"{name} applied to a {signal_name}: input and output (scaled to the input's peak)",
                    "sample",
                    signal_name,
                    width=300,
                    height=150,
                )
            )
    return [Markup(c) for c in charts]  # noqa: S704 - generated here from numbers, names escaped in svg.py


def kernel_views(
    info: LayerInfo,
    a: LayerAnalysis,
    last: np.ndarray,
    frames: mosaic.Frames,
    folder: Path,
    maps: tuple[np.ndarray, list[str]] | None = None,
    limit: int | None = None,
) -> list[KernelView]:
    """Pages' contents and pictures for the kernels of a layer (the first `limit` of them), written under folder/
    (the layer's `kernels/` folder): `last` (out, in, *k) the weights at the last snapshot, `frames` the snapshots
    for the evolution GIFs (at least GIF_FRAMES of them, of at least the first `limit` kernels). `maps`:
    (first-layer feature maps (B, out, H, W), class names)."""
    folder.mkdir(parents=True, exist_ok=True)
    out, in_c = last.shape[:2]
    s = len(a.steps)
    w = last.reshape(out, in_c, *a.kshape)
    summed = a.summed_last  # (out, *k)
    colourbar = not (len(a.kshape) == 1 and in_c == 1)
    if s > 1:
        shown = frames.subset(GIF_FRAMES)
        evolving = shown.weights.reshape(*shown.weights.shape[:3], *a.kshape).sum(axis=2)  # (F, n, *k)
    steps = a.steps.astype(float)
    views = []
    for i in range(out if limit is None else min(out, limit)):
        name = f"kernel {i} of {info.name}"
        per_channel = 1 < in_c <= MAX_CHANNELS
        drawn = w[i : i + 1] if in_c <= MAX_CHANNELS else summed[i : i + 1, None]
        mosaic.write_png(folder / f"{i}-kernel.png", mosaic.layer_mosaic(drawn, zoom=None))
        suffix = (
            ", per input channel" if per_channel else f", summed over its {in_c} input channels" if in_c > 1 else ""
        )
        picture = Picture(f"{i}-kernel.png", f"{name} after training{suffix}")
        evolution = None
        if s > 1:  # the kernel as the analysis sees it: summed over input channels
            pictures = mosaic.evolution_frames(shown.steps, evolving[:, i : i + 1, None])
            mosaic.write_gif(folder / f"{i}-evolution.gif", pictures)
            mosaic.write_png(folder / f"{i}-filmstrip.png", mosaic.filmstrip(pictures))
            evolution = Picture(
                f"{i}-evolution.gif",
                f"Animation of {name} from initialisation to step {int(a.steps[-1]):,}",
                f"{i}-filmstrip.png",
            )
        matches = []
        for rank, (t, score) in enumerate(zip(a.final.top[i], a.final.top_scores[i], strict=True)):
            template = a.bank.templates[t]
            proj = mosaic.projection(summed[i][None], a.bank.weights[t][None])[0]
            mosaic.write_png(folder / f"{i}-match-{rank}.png", mosaic.layer_mosaic(proj[None, None]))
            matches.append({"template": template, "score": float(score), "src": f"{i}-match-{rank}.png"})
        numbers = {
            "score": float(a.final.score[i]),
            "init": None if a.init is None else float(a.init.score[i]),
            "threshold": a.threshold,
            "hit": bool(a.hits[i]),
            "surrogate_p": float(a.surrogate_p[i]),
            "passes_control": bool(a.surrogate_p[i] < SURROGATE_ALPHA),
            "dc": float(a.dc_fraction[i]),
            "added": None if a.added is None else float(a.added.score[i]),
            "added_match": None if a.added is None else a.bank.templates[a.added.top[i, 0]].label(),
            "per_channel": None if a.per_channel is None else [float(x) for x in a.per_channel[i]],
        }
        view = KernelView(i, f"kernels/{i}.html", picture, evolution, matches, numbers, colourbar=colourbar)
        score_chart = svg.line_chart(  # at most svg.MAX_POINTS points a line, however many snapshots
            [
                svg.Series(a.scores[:, i], steps, label="r*"),
                svg.Series(np.full(len(steps), a.threshold), steps, "#d55e00", 1.0, "4 3", "null 99th pct"),
            ],
            f"Best-match score of {name} at each snapshot, against the null threshold {a.threshold:.2f}",
            "optimiser step",
            "r*",
            ylim=(0, 1),
        )
        view.charts.append(Markup(score_chart))  # noqa: S704 - generated from numbers
        if len(a.kshape) == 1:
            view.charts += _charts_1d(summed[i], name, in_c == 1)
        else:
            mosaic.write_heatmap(folder / f"{i}-spectrum.png", filters.frequency_response_2d(summed[i]).magnitude)
            view.pictures.append(
                (
                    Picture(
                        f"{i}-spectrum.png", f"2-D frequency response magnitude of {name}, zero frequency at the centre"
                    ),
                    "Magnitude of the 2-D Fourier transform (zero-padded, zero frequency at the centre, +fy up; "
                    "viridis, brightest = largest gain).",
                )
            )
        if maps is not None:
            m, classes = maps
            vmax = float(np.abs(m[:, i]).max()) or 1.0
            tiles = mosaic.enlarge(mosaic.to_levels(m[:, i], vmax), 3)
            mosaic.write_png(folder / f"{i}-maps.png", mosaic.grid(tiles, len(classes)))
            view.pictures.append(
                (
                    Picture(
                        f"{i}-maps.png", f"Feature maps of {name} for one sample of each class: {', '.join(classes)}"
                    ),
                    f"The kernel applied to one sample of each class ({', '.join(classes)}, left to right), before "
                    "bias and ReLU: red positive, blue negative.",
                )
            )
        view.weights = _weights_tables(np.round(w[i] if in_c <= MAX_CHANNELS else summed[i][None], 4))
        if in_c > MAX_CHANNELS:
            view.weights = [
                (f"summed over the {in_c} input channels (all channels: layer.json or weights.npy)", view.weights[0][1])
            ]
        views.append(view)
    return views
