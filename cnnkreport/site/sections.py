"""A layer's sections, drawn: its kernels (mosaics and their evolution), how detector-like they are, what they do as
filters, and the extras some layers get (feature maps, input channels, input space), each picture with its caption.
The pictures go into the layer's folder, each name claimed there (layout.Folder) and given as the figure's src; the
sections say what the layer page shows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..analysis import filters
from ..analysis.scores import LayerAnalysis
from ..draw import compact, figures, filter_figures, mosaic
from ..rundir import LayerInfo
from .as_filters import filter_section as filter_section  # the "As filters" section, drawn there
from .as_filters import sorted_order
from .downloads import COPIED_WEIGHTS, GRID_BUDGET, Numbers, grid_applies
from .kernels import animation
from .layout import INPUT_SPACE, Folder
from .player import chart_markers
from .views import MAX_KERNEL_PAGES, Figure, Section, describe

MAX_MATCH_ROWS = 32  # kernels shown beside their best matches in one figure (fewer where they do not fit a page)
EVOLUTION_KERNELS = 64  # kernels in a layer's evolution GIF (the first; every frame draws them all)
MAX_GRID = 16  # filters and input channels in the channel grid of a multi-channel 1-D layer
LAYER_GIF_FRAMES = 40  # frames of a layer's evolution GIF (every snapshot stays in layer.json)
MATRIX_SIDE = 256  # kernels and input channels of a 1x1 layer's weight matrix drawn (the first); the rest: numbers
# The ids of what a layer page's player moves: the kernels' evolution, the kernels beside their matches, and the
# marker on the score-over-training chart.
EVOLUTION_ID, MATCHES_ID, OVER_TRAINING_ID = "evolution-view", "matches-view", "over-training-chart"


def _colour(info: LayerInfo) -> bool:
    """A first layer on RGB input: drawn in colour."""
    return info.kind == "conv2d" and info.shape[1] == 3 and math.prod(info.shape[2:]) > 1


def animated(info: LayerInfo, count: int) -> bool:
    """Whether the layer's kernels (the first EVOLUTION_KERNELS) get an evolution GIF: one-channel and colour ones."""
    return count > 1 and (info.shape[1] == 1 or _colour(info)) and math.prod(info.shape[2:]) > 1


FILE_ORDER = "mosaic-file-order.png"  # a layer drawn sorted by peak frequency: its kernels in file order
SORTED = (
    "Sorted by peak frequency (of each kernel's sum over its input channels), the lowest first, as a filterbank is "
    "read: the n-th drawn is not kernel n (the table and the kernel pages keep the file order; the kernels in file "
    "order are linked below). "
)
SIGNS = {
    "stem plot": "bars go up for positive weights.",
    "line plot": "up is positive.",
    "tile": "near-white is zero, red positive, blue negative.",
    "row": "near-white is zero, red positive, blue negative.",
}


def _mosaics(info: LayerInfo, step: int, last: np.ndarray, folder: Folder, numbers: Numbers | None) -> list[Figure]:
    """Draw the kernels after training (`last`) as mosaic.png (each tile on its own scale) and mosaic-global.png (one
    scale), the way that suits the layer and fits a page (compact.draw_layer): colour tiles for a first layer on RGB
    input, a weight matrix for 1x1 kernels, tiles, stem or line plots, heat-map rows for many long kernels, channel
    sums (and every channel in grid pictures, for download) where the channels do not fit; a long 1-D layer sorted by
    peak frequency (as_filters.sorted_order), with its file order a picture linked; a 1x1 layer's first MATRIX_SIDE
    kernels and channels, as a weight matrix with a row per kernel on its own scale (only: the matrix on one scale
    would say little more, at the same weight). The caption links or names where every weight is (`numbers`).
    Returns the figures."""
    matrix = math.prod(info.shape[2:]) == 1
    files = {"tile": folder.file("mosaic.png", "the kernels, each on its own scale")}
    if not matrix:
        files["global"] = folder.file("mosaic-global.png", "the kernels on one scale")
    if _colour(info):
        for scale, file in files.items():
            mosaic.write_rgb_png(file.path, mosaic.rgb_mosaic(last, scale))
        what, note, bar, shown = "tile", "", False, ""
        sign = "each colour channel's weight, mid-grey zero (Krizhevsky et al. 2012, Fig. 3)."
        links: tuple[tuple[str, str], ...] = ()
    else:
        order = None if matrix else sorted_order(info, last)
        cut = last[:MATRIX_SIDE, :MATRIX_SIDE] if matrix else last
        drawn = {scale: compact.draw_layer(cut if order is None else last[order], scale) for scale in files}
        for scale, file in files.items():
            mosaic.write_png(file.path, drawn[scale].image)
        d = drawn["tile"]
        what, sign, note, bar = d.what, SIGNS[d.what], d.note + _cut(info, cut), d.colourbar
        total = len(last)
        shown = f", the first {d.shown:,} of {total:,} kernels" if d.shown < total else ""
        shown += f", each kernel summed over its {d.summed:,} input channels" if d.summed else ""
        links, where = _full_grid(info, last, folder, numbers, bool(d.summed or d.shown < total or cut is not last))
        note += where
        if order is not None:
            file_order = folder.file(FILE_ORDER, "the kernels in file order")
            mosaic.write_png(file_order.path, compact.draw_layer(last).image)
            shown = ", sorted by peak frequency" + shown.replace("kernels", "kernels in that order", 1)
            note = SORTED + note
            links = ((file_order.src, f"the kernels in file order ({file_order.src})"), *links)
    main = Figure(
        files["tile"].src,
        f"Layer {info.name}: {describe(info)}, after training{shown}, each {what} on its own scale",
        f"After training (step {step:,}). {note}Each {what} is scaled to its own largest weight; {sign}",
        pixels=True,
        colourbar=bar,
        links=links,
    )
    if matrix:
        return [main]
    common = Figure(
        files["global"].src,
        f"Layer {info.name} after training{shown}, all kernels on one common scale",
        "The same kernels on one common scale: weak kernels fade towards zero.",
        pixels=True,
        colourbar=bar,
    )
    return [main, common]


def _cut(info: LayerInfo, cut: np.ndarray) -> str:
    """What a 1x1 layer's weight matrix leaves out (MATRIX_SIDE), in words."""
    (out, in_c), (rows, cols) = info.shape[:2], cut.shape[:2]
    if (rows, cols) == (out, in_c):
        return ""
    return f"The first {rows:,} of {out:,} kernels and {cols:,} of {in_c:,} input channels. "


def _full_grid(
    info: LayerInfo, last: np.ndarray, folder: Folder, numbers: Numbers | None, partial: bool
) -> tuple[tuple[tuple[str, str], ...], str]:
    """Where every weight of the layer is: links to its weights file (weights.npy always; layer.json where the
    picture is `partial`: channel sums, or the first kernels only) and, for a partial picture where they add
    information (downloads.grid_applies), grid pictures of every input channel (as many as GRID_BUDGET allows);
    or, for weights not copied into the site, a sentence that says where they are. Returns the (file, label) links
    and that sentence."""
    links: list[tuple[str, str]] = []
    if numbers is None:
        return (), ""
    end = len(last)
    if partial and grid_applies(info, numbers):
        for i, (image, first, end) in enumerate(compact.grid_pages(last, GRID_BUDGET), start=1):
            grid = folder.file(f"grid-{i}.png", f"grid picture {i} of every input channel")
            mosaic.write_png(grid.path, image, optimize=False)
            links.append((grid.src, f"every input channel of kernels {first:,} to {end - 1:,} ({grid.src})"))
    if numbers.file is not None and (partial or numbers.weights == "file"):
        rest = f"all {len(last):,} kernels" if end < len(last) else "every weight"
        links.append((numbers.file, f"{rest}, as numbers ({numbers.file})"))
    elsewhere = numbers.file is None and (partial or numbers.count > COPIED_WEIGHTS)
    where = f"Every weight: {numbers.words()}. " if elsewhere else ""
    return tuple(links), where


def kernels_section(
    info: LayerInfo,
    steps: np.ndarray,
    last: np.ndarray,
    frames: mosaic.Frames,
    folder: Folder,
    numbers: Numbers | None = None,
) -> tuple[Figure, Section]:
    """The layer's kernels after training (`last`, per-tile and global scale) and their evolution (from `frames`);
    returns the main mosaic (what the run page shows of the layer) and the section. `numbers`: where every weight
    of the layer is (downloads.Numbers), for the caption to link or name."""
    figs = _mosaics(info, int(steps[-1]), last, folder, numbers)
    main = figs[0]
    if animated(info, len(steps)):
        figs.append(_evolution(info, steps, frames, folder))
    return main, Section("Kernels", "kernels", figures=figs)


def _evolution(info: LayerInfo, steps: np.ndarray, frames: mosaic.Frames, folder: Folder) -> Figure:
    """The layer's kernels (the first EVOLUTION_KERNELS) over training: evolution.gif and its sprite sheet."""
    colour = _colour(info)
    shown = frames.subset(LAYER_GIF_FRAMES)
    weights = shown.weights[:, :EVOLUTION_KERNELS]
    draw = mosaic.rgb_frames if colour else compact.evolution_frames
    sprite = animation(folder, "evolution", "the kernels' evolution", draw(shown.steps, weights), shown.index, colour)
    n, out = weights.shape[1], info.shape[0]
    return Figure(
        sprite.src,
        f"Layer {info.name}'s kernels from initialisation (step 0) to step {int(steps[-1]):,}, one frame per snapshot",
        f"The kernels at {len(sprite.frames)} of the {len(steps)} snapshots, from the first to the last, each "
        "kernel on one scale over the whole run so that growth is visible"
        + (f"; the first {n} of {out:,} kernels." if n < out else ".")
        + " The player above steps through them.",
        pixels=True,
        colourbar=not colour and compact.draw_layer(weights[-1]).colourbar,
        links=((sprite.gif, f"the animation as a GIF ({sprite.gif})"),),
        sprite=sprite,
        anchor=EVOLUTION_ID,
    )


def _summed(w: np.ndarray, kshape: tuple[int, ...]) -> np.ndarray:
    """Snapshots of kernels (F, n, in, *k) summed over their input channels, at the analysed shape: (F, n, *kshape)."""
    return filters.roomy(w, w.shape[2]).reshape(*w.shape[:3], *kshape).sum(axis=2)


def analysis_section(a: LayerAnalysis, frames: mosaic.Frames, folder: Folder) -> Section:
    """Scores, baselines and the views that show them (the animation from `frames`)."""
    init_scores = None if a.init is None else a.init.score
    histogram = folder.file("scores.png", "the score histogram")
    figures.save(figures.score_histogram(a.final.score, init_scores, a.null, a.threshold), histogram.path)
    over_training = figures.score_over_training(a.steps, a.scores, a.null, a.threshold, a.hits_over_training)
    over = folder.file("over-training.png", "the scores over training")
    figures.save(over_training, over.path)
    summed_note = " (each kernel summed over its input channels)" if a.shape[1] > 1 else ""
    figs = [
        Figure(
            histogram.src,
            f"Histogram of best-match scores for {a.name}: trained, at initialisation, and random kernels",
            "How well each kernel matches its closest classical detector (r*, 1 = a perfect match), after training, "
            "at initialisation, and for random kernels of the same shape. Right of the dashed line lies the top 1% "
            "of random kernels.",
        ),
        Figure(
            over.src,
            f"Median best-match score and hit rate of {a.name} at each snapshot, against the null band",
            "Left: median r* of the kernels at each snapshot (band: middle half of the kernels) against random "
            "kernels (grey band up to the threshold). Right: share of kernels above the threshold.",
            anchor=OVER_TRAINING_ID,
            markers=chart_markers(over_training, a.steps) if len(a.steps) > 1 else (),
        ),
        *_matches(a, frames, folder, summed_note),
        *_added(a, folder),
    ]
    text = ""
    if a.added is not None:
        added = a.final.top.shape[0]
        text += (
            "What training added (the kernel now minus at initialisation) matches a detector above the threshold "
            f"for {int((a.added.score > a.threshold).sum())} of {added} kernels "
            f"(median r* {np.median(a.added.score):.2f})."
        )
    return Section("How detector-like", "scores", text=text, figures=figs)


def best_matches_png(a: LayerAnalysis, path: Path, noun: str, most: int = MAX_MATCH_ROWS) -> int:
    """Draw the first kernels of `a` (each named `noun` and its index) beside their three best matches, with
    scores, into `path`: as many as fit a page, `most` at most. Returns how many are drawn."""
    n = min(len(a.final.score), most, figures.match_rows(a.kshape))
    tops = a.final.top[:n]
    labels = [[a.bank.templates[t].short() for t in row] for row in tops]
    fig = figures.best_matches(
        a.summed_last[:n], a.bank.weights[tops], labels, a.final.top_scores[:n], [f"{noun} {i}" for i in range(n)]
    )
    figures.save(fig, path, dpi=figures.DPI)
    return n


def _matches(a: LayerAnalysis, frames: mosaic.Frames, folder: Folder, summed_note: str) -> list[Figure]:
    """Each kernel beside its best matches after training (matches.png), and over training (matches.gif and its
    sprite sheet), where there is more than one snapshot and a match can be evidence at this kernel size (where
    random kernels match as well, an animation of the best match would only show noise)."""
    picture = folder.file("matches.png", "the kernels' best matches")
    n = best_matches_png(a, picture.path, "kernel")
    still = Figure(
        picture.src,
        f"Each kernel of {a.name}{summed_note} beside its three best-matching classical detectors, with scores",
        f"Each kernel{summed_note} beside its three best matches from the detector bank, with |cos|; templates "
        "are shown with the sign that matches the kernel."
        + (f" The first {n} of {len(a.final.score)} kernels." if n < len(a.final.score) else ""),
    )
    if len(a.steps) < 2 or not a.claims_possible:
        return [still]
    shown = min(len(a.final.score), MAX_KERNEL_PAGES)  # the animation's frames grow with the kernels it shows
    sub = frames.subset(mosaic.MATCH_FRAMES)
    summed = _summed(sub.weights[:, :shown], a.kshape)  # (F, shown, *k)
    best = a.bank.weights[a.best[sub.index, :shown]]  # the best template at each of those snapshots
    proj = mosaic.projection(summed.reshape(-1, *a.kshape), best.reshape(-1, *a.kshape)).reshape(summed.shape)
    keep = mosaic.frame_subset(len(sub.index), mosaic.MATCH_FRAMES)  # the frames match_frames draws
    drawn = compact.match_frames(sub.steps, summed, proj)
    sprite = animation(folder, "matches", "the kernels' best matches over training", drawn, sub.index[keep])
    return [
        still,
        Figure(
            sprite.src,
            f"{a.name}'s kernels, each beside its best-matching detector, one frame per snapshot of training",
            "Each kernel (left of each pair) beside the part of it that its current best-matching detector explains "
            "(right), over training"
            + (f"; the first {shown} of {len(a.final.score):,} kernels." if shown < len(a.final.score) else ".")
            + " The player above steps through them.",
            pixels=True,
            colourbar=len(a.kshape) == 2,  # 2-D kernels are coloured tiles; 1-D channel sums are stem plots
            links=((sprite.gif, f"the animation as a GIF ({sprite.gif})"),),
            sprite=sprite,
            anchor=MATCHES_ID,
        ),
    ]


def _added(a: LayerAnalysis, folder: Folder) -> list[Figure]:
    """What training added to each kernel (added.png), where the layer has an initialisation to subtract."""
    if a.added is None:
        return []
    drawn = compact.draw_layer((filters.roomy(a.summed_last, 2) - filters.roomy(a.summed_first, 2))[:, None])
    added = folder.file("added.png", "what training added")
    mosaic.write_png(added.path, drawn.image)
    summed = " (each summed over its input channels)" if a.shape[1] > 1 else ""
    return [
        Figure(
            added.src,
            f"What training added to each kernel of {a.name}: the kernel after training minus at initialisation",
            f"What training added: each kernel{summed} after training minus the same kernel at initialisation, each "
            f"on its own scale. {drawn.note}Scored like a kernel in the text above.",
            pixels=True,
            colourbar=drawn.colourbar,
        )
    ]


def extra_sections(
    info: LayerInfo,
    w_last: np.ndarray,
    prev: np.ndarray | None,
    samples: tuple[np.ndarray, list[str]] | None,
    folder: Folder,
) -> list[Section]:
    """Feature maps (first 2-D layer), channel views (multi-channel 1-D), and layer 2 in input space (Lee 2009)."""
    sections = []
    if samples is not None:
        sections.append(_feature_maps(info, w_last, samples, folder))
    if sum(side > 1 for side in info.shape[2:]) == 1 and info.shape[1] > 1:  # 1-D kernels, several channels
        sections.append(_channels(info, w_last.reshape(*info.shape[:2], -1), folder))
    if prev is not None and prev.ndim == w_last.ndim and prev.shape[0] == w_last.shape[1]:
        sections.append(_input_space(info, w_last, prev, folder))
    return sections


def _feature_maps(
    info: LayerInfo, w_last: np.ndarray, samples: tuple[np.ndarray, list[str]], folder: Folder
) -> Section:
    images, classes = samples
    maps = filters.feature_maps_2d(w_last, images)
    picture = folder.file("feature-maps.png", "the feature maps")
    figures.save(filter_figures.feature_maps_figure(maps, images, classes), picture.path, dpi=figures.PANEL_DPI)
    return Section(
        "Feature maps",
        "feature-maps",
        "Each first-layer kernel applied to one sample of each class, as the layer applies it (before bias "
        "and ReLU): which parts of each waveform light up.",
        [
            Figure(
                picture.src,
                f"Feature maps of {info.name} for one sample of each waveform class",
                "Rows: one sample per class (left: the input). Columns: kernels; red positive, blue negative.",
            )
        ],
    )


def _channels(info: LayerInfo, w_last: np.ndarray, folder: Folder) -> Section:
    """1-D kernels with several input channels (out, in, k): the first MAX_GRID filters and channels one by one,
    and the filters summed and averaged over their channels."""
    out, in_c, _ = w_last.shape
    grid = folder.file("channels.png", "the input channels")
    mosaic.write_png(grid.path, compact.channel_grid(w_last[:MAX_GRID, :MAX_GRID]))
    combined = folder.file("channels-combined.png", "the input channels combined")
    figures.save(filter_figures.channel_combined_figure(w_last[:MAX_GRID]), combined.path, dpi=figures.PANEL_DPI)
    rows = f"the first {MAX_GRID} of {in_c:,} input channels" if in_c > MAX_GRID else "input channels"
    cols = f"the first {MAX_GRID} of {out:,} filters" if out > MAX_GRID else "filters"
    some = f"The first {MAX_GRID} of {out:,} filters" if out > MAX_GRID else "Each filter"
    return Section(
        "Input channels",
        "channels",
        "Multi-channel 1-D kernels: each filter's weights per input channel, and the channels combined.",
        [
            Figure(
                grid.src,
                f"Weights of each filter of {info.name} per input channel, as stem or line plots",
                f"Rows: {rows}; columns: {cols}; all on one scale.",
                pixels=True,
            ),
            Figure(
                combined.src,
                f"Filters of {info.name} summed and averaged over input channels",
                f"{some} summed (left) and averaged (right) over its {in_c:,} input channels.",
            ),
        ],
    )


def _input_space(info: LayerInfo, w_last: np.ndarray, prev: np.ndarray, folder: Folder) -> Section:
    project = filters.input_space_2d if w_last.ndim == 4 else filters.input_space_1d
    v = project(w_last, prev, stride=2)
    picture = folder.file(INPUT_SPACE, "the layer in input space")
    figures.save(filter_figures.input_space_figure(v), picture.path, dpi=figures.PANEL_DPI)
    return Section(
        "In input space",
        "input-space",
        "Each kernel of this layer drawn as the weighted combination of the previous layer's kernels that "
        "feed it, each placed where its tap sees the input through the 2x pooling, as Lee et al. (2009) drew "
        "their second layer. A linear picture: the ReLU between the layers is ignored.",
        [
            Figure(
                picture.src,
                f"Kernels of {info.name} drawn in input space as combinations of the previous layer's kernels",
                "Second-layer kernels in input space: red positive, blue negative, white zero.",
                pixels=True,
            )
        ],
    )
