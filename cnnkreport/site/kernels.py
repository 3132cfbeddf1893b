"""One page per kernel: its evolution, its best matches, its numbers, and what it does as a filter.

Pictures are numpy-drawn PNG/GIF tiles and inline SVG charts (a few KB each), so a layer of hundreds of kernels
stays light and quick to render.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from markupsafe import Markup

from ..analysis import filters
from ..analysis.matching import NEAR
from ..analysis.scores import SURROGATE_ALPHA, LayerAnalysis
from ..draw import compact, mosaic, sprites, svg
from ..draw.sprites import Sprite
from ..rundir import LayerInfo
from . import layout
from .player import Marker, Player, Timeline, make_player

GIF_FRAMES = 16  # frames of a single kernel's evolution GIF
EVOLUTION_ID, SCORE_ID = "kernel-evolution", "score-chart"  # what a kernel page's player moves
SPECTRUM_ZOOM = 4  # a kernel's 2-D spectrum is shown at 4 CSS px a frequency bin
MAX_CHANNELS = 16  # input channels drawn (and printed as numbers) one by one; more: the channel sum
MAX_PRINTED = 4096  # weights printed on a kernel's page; more: the page says where they are (downloads.Numbers)
WRAP = 32  # taps per row of a long 1-D filter's table


@dataclass(frozen=True)
class Picture:
    src: str  # relative to the kernel page
    alt: str
    sprite: Sprite | None = None  # an animation: `src` is its sprite sheet, shown a frame at a time by the player
    width: int = 0  # shown this many CSS px wide (and high), enlarged without smoothing; 0: at its own size


@dataclass
class KernelView:
    index: int
    href: str  # relative to the layer page
    picture: Picture
    evolution: Picture | None
    matches: list[dict[str, Any]]
    numbers: dict[str, Any]
    charts: list[Markup] = field(default_factory=list)
    score_chart: tuple[Markup, Marker] | None = None  # r* over training, and where the player's marker goes on it
    player: Player | None = None
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
    folder: layout.Folder,
    timeline: Timeline,
    maps: tuple[np.ndarray, list[str]] | None = None,
    limit: int | None = None,
    where: str = "the layer's layer.json",
) -> list[KernelView]:
    """Pages' contents and pictures for the kernels of a layer (the first `limit` of them), the pictures written
    into `folder` (the layer's kernels/ folder, where the pages go too): `last` (out, in, *k) the weights at the
    last snapshot, `frames` the snapshots for the evolution animations (at least GIF_FRAMES of them, of at least
    the first `limit` kernels), `timeline` the run's steps, epochs and losses for the player's label. `maps`:
    (first-layer feature maps (B, out, H, W), class names). `where`: where every weight of the layer is, in words
    (downloads.Numbers.words), for the pages that cannot print them all."""
    out, in_c = last.shape[:2]
    w = last.reshape(out, in_c, *a.kshape)
    evolving = None
    if len(a.steps) > 1:
        shown = frames.subset(GIF_FRAMES)
        summed = filters.roomy(shown.weights, shown.weights.shape[2]).reshape(*shown.weights.shape[:3], *a.kshape)
        evolving = (shown.index, shown.steps, summed.sum(axis=2))
    views = []
    for i in range(out if limit is None else min(out, limit)):
        name = f"kernel {i} of {info.name}"
        view = KernelView(
            i,
            layout.KERNELS + layout.kernel_page_name(i),
            _picture(i, name, w, a.summed_last, folder),
            None if evolving is None else _evolution(i, name, a, evolving, folder),
            _matches(i, a, folder),
            {**_numbers(i, a), "weights_in": where},
            colourbar=not (len(a.kshape) == 1 and in_c == 1),
        )
        view.score_chart = _score_chart(i, name, a)
        if view.evolution is not None and view.evolution.sprite is not None:
            shown_frames = [view.evolution.sprite.frames]
            view.player = make_player(timeline, shown_frames, [EVOLUTION_ID, SCORE_ID], a.scores[:, i])
        if len(a.kshape) == 1:
            view.charts += _charts_1d(a.summed_last[i], name, in_c == 1)
        else:
            view.pictures.append(_spectrum(i, name, a.summed_last[i], folder))
        if maps is not None:
            view.pictures.append(_maps(i, name, maps, folder))
        view.weights = _weights(w[i], a.summed_last[i], where)
        views.append(view)
    return views


def animation(
    folder: layout.Folder,
    name: str,
    what: str,
    frames: Sequence[np.ndarray],
    snapshots: Sequence[int] | np.ndarray,
    colour: bool = False,
    gif: bool = True,
) -> Sprite:
    """sprites.write_animation into `folder`, for `what` (in words); its files (the sprite sheet and the GIF, named
    by sprites.animation_files) are claimed there before they are written."""
    for file in sprites.animation_files(name, gif):
        if file:
            folder.file(file, what)
    return sprites.write_animation(folder.dir, name, frames, snapshots, colour, gif)


def _picture(i: int, name: str, w: np.ndarray, summed: np.ndarray, folder: layout.Folder) -> Picture:
    """The kernel after training, per input channel (a few) or summed over them (many)."""
    in_c = w.shape[1]
    per_channel = 1 < in_c <= MAX_CHANNELS
    drawn = w[i : i + 1] if in_c <= MAX_CHANNELS else summed[i : i + 1, None]
    picture = folder.file(layout.kernel_file(i, "kernel.png"), f"the picture of kernel {i}")
    mosaic.write_png(picture.path, compact.layer_mosaic(drawn, zoom=None))
    suffix = ", per input channel" if per_channel else f", summed over its {in_c} input channels" if in_c > 1 else ""
    return Picture(picture.src, f"{name} after training{suffix}")


def _evolution(
    i: int, name: str, a: LayerAnalysis, evolving: tuple[np.ndarray, np.ndarray, np.ndarray], folder: layout.Folder
) -> Picture:
    """The kernel as the analysis sees it (summed over input channels) over training: its sprite sheet. (No GIF of
    its own: the page links to its layer's, which show it among the others, and a GIF per kernel would weigh
    more than all the sprite sheets together.)"""
    index, steps, summed = evolving
    pictures = compact.evolution_frames(steps, summed[:, i : i + 1, None])
    sprite = animation(
        folder, layout.kernel_file(i, "evolution"), f"the evolution of kernel {i}", pictures, index, gif=False
    )
    alt = f"{name} from initialisation to step {int(a.steps[-1]):,}, one frame per snapshot"
    return Picture(sprite.src, alt, sprite)


def _matches(i: int, a: LayerAnalysis, folder: layout.Folder) -> list[dict[str, Any]]:
    """The kernel's best matches, each drawn as the part of the kernel it explains."""
    matches = []
    for rank, (t, score) in enumerate(zip(a.final.top[i], a.final.top_scores[i], strict=True)):
        proj = mosaic.projection(a.summed_last[i][None], a.bank.weights[t][None])[0]
        match = folder.file(layout.kernel_file(i, f"match-{rank}.png"), f"match {rank} of kernel {i}")
        mosaic.write_png(match.path, compact.layer_mosaic(proj[None, None]))
        matches.append({"template": a.bank.templates[t], "score": float(score), "src": match.src})
    return matches


def _numbers(i: int, a: LayerAnalysis) -> dict[str, Any]:
    return {
        "score": float(a.final.score[i]),
        "init": None if a.init is None else float(a.init.score[i]),
        "threshold": a.threshold,
        "hit": bool(a.hits[i]),
        "negligible": bool(a.negligible[i]),
        "surrogate_p": None if np.isnan(a.surrogate_p[i]) else float(a.surrogate_p[i]),
        "sign_p": None if np.isnan(a.sign_p[i]) else float(a.sign_p[i]),
        "passes_control": bool(a.surrogate_p[i] < SURROGATE_ALPHA),
        "passes_both": bool(a.controlled_hits[i]),
        "dc": float(a.dc_fraction[i]),
        "added": None if a.added is None else float(a.added.score[i]),
        "added_match": None if a.added is None else a.bank.templates[a.added.top[i, 0]].label(),
        "per_channel": None if a.per_channel is None else [float(x) for x in a.per_channel[i]],
        "filter": None if a.filter_shapes is None else a.filter_shapes[i],
        "near": [(a.bank.templates[t], float(score)) for t, score in a.final.alternatives(i)],
        "near_within": NEAR,
        "size": math.prod(a.shape[1:]),
    }


def _score_chart(i: int, name: str, a: LayerAnalysis) -> tuple[Markup, Marker]:
    """The kernel's r* over training as an inline SVG chart, and where a marker at a given step goes on it."""
    steps = a.steps.astype(float)
    series = [
        svg.Series(a.scores[:, i], steps, label="r*"),
        svg.Series(np.full(len(steps), a.threshold), steps, "#d55e00", 1.0, "4 3", "null 99th pct"),
    ]
    chart = svg.line_chart(  # at most svg.MAX_POINTS points a line, however many snapshots
        series,
        f"Best-match score of {name} at each snapshot, against the null threshold {a.threshold:.2f}",
        "optimiser step",
        "r*",
        ylim=(0, 1),
    )
    left, right, top, bottom = svg.plot_box()
    marker = Marker(svg.x_range(series), (left, right), top, bottom)
    return Markup(chart), marker  # noqa: S704 - generated from numbers


def _spectrum(i: int, name: str, kernel: np.ndarray, folder: layout.Folder) -> tuple[Picture, str]:
    spectrum = folder.file(layout.kernel_file(i, "spectrum.png"), f"the spectrum of kernel {i}")
    magnitude = filters.frequency_response_2d(kernel).magnitude
    mosaic.write_heatmap(spectrum.path, magnitude, zoom=1)  # enlarged by the page: a quarter of the bytes
    return (
        Picture(
            spectrum.src,
            f"2-D frequency response magnitude of {name}, zero frequency at the centre",
            width=SPECTRUM_ZOOM * magnitude.shape[1],
        ),
        "Magnitude of the 2-D Fourier transform (zero-padded, zero frequency at the centre, +fy up; "
        "viridis, brightest = largest gain).",
    )


def _maps(i: int, name: str, maps: tuple[np.ndarray, list[str]], folder: layout.Folder) -> tuple[Picture, str]:
    m, classes = maps
    vmax = float(np.abs(m[:, i]).max()) or 1.0
    tiles = mosaic.enlarge(mosaic.to_levels(m[:, i], vmax), 3)
    file = folder.file(layout.kernel_file(i, "maps.png"), f"the feature maps of kernel {i}")
    mosaic.write_png(file.path, mosaic.grid(tiles, len(classes)))
    return (
        Picture(file.src, f"Feature maps of {name} for one sample of each class: {', '.join(classes)}"),
        f"The kernel applied to one sample of each class ({', '.join(classes)}, left to right), before "
        "bias and ReLU: red positive, blue negative.",
    )


def _weights(w: np.ndarray, summed: np.ndarray, where: str) -> list[tuple[str, list[list[float]]]]:
    """The kernel's weights as tables: per input channel (a few), or their sum (many). A long 1-D filter is wrapped
    into rows of WRAP taps; past MAX_PRINTED numbers, the page says where they are instead (`where`)."""
    in_c = len(w)
    shown = w if in_c <= MAX_CHANNELS else summed[None]
    if shown.size > MAX_PRINTED:
        return []
    if shown.ndim == 2 and shown.shape[1] > WRAP:  # (in, k) with k long: rows of WRAP taps
        pad = -shown.shape[1] % WRAP
        wrapped = np.pad(shown, ((0, 0), (0, pad)), constant_values=np.nan).reshape(len(shown), -1, WRAP)
        tables = [
            (label, [[v for v in row if v == v] for row in ch])
            for (label, _), ch in zip(_weights_tables(shown), wrapped.tolist(), strict=True)
        ]
    else:
        tables = _weights_tables(shown)
    if in_c > MAX_CHANNELS:
        tables = [(f"summed over the {in_c} input channels (every channel: {where})", tables[0][1])]
    return tables
