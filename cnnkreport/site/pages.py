"""The static site: gather every run's analysis, figures and facts, then write HTML and JSON, into a temp folder that
is swapped in at the end.

Layout of the output (all links relative, so it works from file://, a local server, or a sub-path):
  index.html, methods.html, summary.json, .nojekyll, static/style.css
  recipe.html, recipe/<run>.png    the default recipe checked on more seeds and without its key choice (`build`)
  runs/<run>/index.html            the run: curves, data, each layer's headline and mosaic, config
  runs/<run>/<layer>/index.html    the layer: every view of its kernels, and layer.json
  banks/<shape>/index.html         the detector bank at that kernel size
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from .. import __version__
from ..analysis import scores as analysis, filters, recipe, report
from ..draw import figures, filter_figures, mosaic
from ..analysis.scores import LayerAnalysis
from ..analysis.bank import FAMILY_ORDER, Bank
from ..config import RunConfig, from_dict, read_toml
from ..data import make_dataset
from ..errors import UserError, os_error_text
from ..names import unique_slugs
from .kernels import GIF_FRAMES, KernelView, kernel_views
from .layout import MARKER
from ..analysis.recipe import RecipeCheck
from ..rundir import LayerInfo, Run, RunMeta, atomic_write, atomic_write_text
from ..swap import make_temp, recover, replace_dir

MAX_MATCH_ROWS = 32  # kernels shown beside their best matches in one figure
MAX_WORKERS = 8  # processes drawing layers in parallel (at most one per core)
TABLE_PAGE = 64  # kernels per page of a layer's kernel table
RUN_FILES = {"index.html", "config.html", "curves.png", "data.png", "config.toml", "metrics.csv", "weights.pt"}
MAX_WEIGHTS_DOWNLOAD = 20 * 2**20  # bytes of final weights copied into the site for download
MAX_MOSAIC_TILES = 2048  # more tiles than this (kernels x input channels): show each kernel's channel sum
MAX_KERNEL_PAGES = 64  # kernels of a layer that get a page of their own (the table lists them all)
MAX_GRID = 16  # filters and input channels in the channel grid of a multi-channel 1-D layer
MAX_JSON_WEIGHTS = 200_000  # weights of a layer written into layer.json; a larger layer's go to weights.npy
LAYER_GIF_FRAMES = 40  # frames of a layer's evolution GIF (every snapshot stays in layer.json)


def templates_dir() -> Path:
    """Installed wheels carry the templates inside the package; a source checkout has them at the top level."""
    packaged = Path(str(resources.files("cnnkreport"))) / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "templates"


def bank_slug(kshape: tuple[int, ...]) -> str:
    return f"{len(kshape)}d-" + "x".join(map(str, kshape))


@dataclass(frozen=True)
class Figure:
    src: str  # relative to the page that shows it
    alt: str
    caption: str
    pixels: bool = False  # kernel pictures: enlarge with hard pixel edges, never smooth them
    colourbar: bool = False  # drawn in the diverging weight colours: show the colour scale under it
    print_src: str | None = None  # an animation's filmstrip, shown in print instead of the GIF

    def under(self, prefix: str) -> Figure:
        return replace(
            self, src=prefix + self.src, print_src=None if self.print_src is None else prefix + self.print_src
        )


@dataclass
class Section:
    title: str
    anchor: str
    text: str = ""
    figures: list[Figure] = field(default_factory=list)


@dataclass
class LayerView:
    info: LayerInfo
    slug: str
    analysis: LayerAnalysis | None
    summary: dict[str, Any] | None
    headline: str
    mosaic: Figure  # relative to the layer page
    sections: list[Section]
    rows: list[dict[str, Any]]  # the kernel table
    kernels: list[KernelView] = field(default_factory=list)

    @property
    def table_pages(self) -> list[list[dict[str, Any]]]:
        """The kernel table in pages of TABLE_PAGE rows: the first on the layer page, the rest in kernels/."""
        return [self.rows[i : i + TABLE_PAGE] for i in range(0, len(self.rows), TABLE_PAGE)] or [[]]

    @property
    def describe(self) -> str:
        return describe(self.info)


@dataclass
class RunView:
    name: str
    slug: str
    meta: RunMeta
    config_text: str | None
    layers: list[LayerView]
    figures: list[Figure]  # run-level: curves, data samples
    snapshots: int
    steps: int
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (file name in the run folder, what it is)
    config: RunConfig | None = None  # for a run trained here

    @property
    def test_accuracy(self) -> float | None:
        return self.meta.test_accuracy

    @property
    def first(self) -> LayerView | None:
        return self.layers[0] if self.layers else None

    @property
    def lee_figure(self) -> tuple[LayerView, Figure] | None:
        """The second layer drawn in input space (Lee et al. 2009 Fig. 3 style), if the run has one."""
        for lv in self.layers[1:]:
            for section in lv.sections:
                for fig in section.figures:
                    if fig.src == "input-space.png":
                        return lv, fig
        return None


def describe(info: LayerInfo) -> str:
    out_c, in_c, *k = info.shape
    return f"{out_c} kernels of {' x '.join(map(str, k))}, {in_c} input channel{'s' if in_c != 1 else ''}"


# --- phase 1: gather ------------------------------------------------------------------------------------------------


def _run_figures(run: Run, cfg: RunConfig | None, folder: Path) -> list[Figure]:
    figs = []
    metrics = run.read_metrics()
    if metrics:
        figures.save(figures.training_curves(metrics), folder / "curves.png")
        figs.append(
            Figure(
                "curves.png",
                "Training loss and accuracy over optimiser steps",
                "Training loss (left) and accuracy (right); test accuracy as measured on held-out data.",
            )
        )
    if cfg is not None:
        sample_cfg = replace(cfg.data, n_train=12 * len(cfg.data.classes), n_test=0)
        figures.save(figures.data_montage(make_dataset(sample_cfg, cfg.seed)), folder / "data.png", dpi=80)
        figs.append(
            Figure(
                "data.png",
                f"Sample {cfg.data.kind}s of each waveform class, one row per class",
                "Samples drawn with this run's data settings, one row per class.",
            )
        )
    return figs


def _animation(folder: Path, name: str, frames: list[np.ndarray], colour: bool = False) -> str:
    """Write frames (palette indices, or RGB with `colour`) as name.gif and, for print, a filmstrip
    name-filmstrip.png; returns the filmstrip's file name."""
    if colour:
        mosaic.write_rgb_gif(folder / f"{name}.gif", frames)
        strip = np.stack([frames[i] for i in mosaic.frame_subset(len(frames), 6)])
        mosaic.write_rgb_png(folder / f"{name}-filmstrip.png", mosaic.rgb_grid(strip, 3, gap=6))
    else:
        mosaic.write_gif(folder / f"{name}.gif", frames)
        mosaic.write_png(folder / f"{name}-filmstrip.png", mosaic.filmstrip(frames))
    return f"{name}-filmstrip.png"


def _colour(info: LayerInfo) -> bool:
    """A first layer on RGB input: drawn in colour."""
    return info.kind == "conv2d" and info.shape[1] == 3 and math.prod(info.shape[2:]) > 1


def _animated(info: LayerInfo, count: int) -> bool:
    """Whether the layer's kernels get an evolution GIF of all of them: single-channel and colour layers."""
    return count > 1 and (info.shape[1] == 1 or _colour(info)) and math.prod(info.shape[2:]) > 1


def _kernels_section(
    info: LayerInfo, steps: np.ndarray, last: np.ndarray, frames: mosaic.Frames, folder: Path
) -> tuple[Figure, Section]:
    """The layer's kernels after training (`last`, per-tile and global scale) and their evolution (from `frames`),
    drawn the way that suits the layer: colour tiles for a first layer on RGB input, a weight matrix for 1x1
    kernels, channel sums when a layer has more tiles than a page can show, stem plots for single-channel 1-D
    kernels."""
    out_c, in_c, *spatial = info.shape
    colour = _colour(info)
    matrix = math.prod(spatial) == 1
    summed = not colour and not matrix and out_c * in_c > MAX_MOSAIC_TILES
    stems = info.kind == "conv1d" and (in_c == 1 or summed)
    if colour:
        what, sign = "tile", "each colour channel's weight, mid-grey zero (Krizhevsky et al. 2012, Fig. 3)."
        for name, scale in (("mosaic", "tile"), ("mosaic-global", "global")):
            mosaic.write_rgb_png(folder / f"{name}.png", mosaic.rgb_mosaic(last, scale))
    else:
        what = "stem plot" if stems else "row" if matrix else "tile"
        sign = "bars go up for positive weights." if stems else "near-white is zero, red positive, blue negative."
        pictured = last.sum(axis=1, keepdims=True) if summed else last
        for name, scale in (("mosaic", "tile"), ("mosaic-global", "global")):
            image = mosaic.matrix_image(last, scale) if matrix else mosaic.layer_mosaic(pictured, scale=scale)
            mosaic.write_png(folder / f"{name}.png", image)
    layout = ""
    if matrix:
        layout = "1x1 kernels form a weight matrix: a row per kernel, a column per input channel. "
    elif summed:
        layout = f"Each kernel summed over its {in_c} input channels ({out_c * in_c:,} tiles would not fit a page). "
    elif in_c > 1 and not colour:
        layout = (
            "A row per kernel, a column per input channel. "
            if info.kind == "conv2d"
            else "A tile per kernel: a row per input channel, a column per tap. "
        )
    main = Figure(
        "mosaic.png",
        f"Layer {info.name}: {describe(info)}, after training, each {what} on its own scale",
        f"After training (step {int(steps[-1]):,}). {layout}Each {what} is scaled to its own largest weight; {sign}",
        pixels=True,
        colourbar=not stems and not colour,
    )
    figs = [
        main,
        Figure(
            "mosaic-global.png",
            f"Layer {info.name} after training, all kernels on one common scale",
            "The same kernels on one common scale: weak kernels fade towards zero.",
            pixels=True,
            colourbar=not stems and not colour,
        ),
    ]
    if _animated(info, len(steps)):
        shown = frames.subset(LAYER_GIF_FRAMES)
        draw = mosaic.rgb_frames if colour else mosaic.evolution_frames
        filmstrip = _animation(folder, "evolution", draw(shown.steps, shown.weights), colour)
        figs.append(
            Figure(
                "evolution.gif",
                f"Animation of layer {info.name}'s kernels from initialisation (step 0) to step {int(steps[-1]):,}",
                f"The kernels at {len(shown.index)} of the {len(steps)} snapshots, from the first to the last, each "
                "kernel on one scale over the whole run so that growth is visible.",
                pixels=True,
                colourbar=not stems and not colour,
                print_src=filmstrip,
            )
        )
    return main, Section("Kernels", "kernels", figures=figs)


def _summed(w: np.ndarray, kshape: tuple[int, ...]) -> np.ndarray:
    """Snapshots of kernels (F, n, in, *k) summed over their input channels, at the analysed shape: (F, n, *kshape)."""
    return w.reshape(*w.shape[:3], *kshape).sum(axis=2)


def _analysis_section(a: LayerAnalysis, frames: mosaic.Frames, folder: Path) -> Section:
    """Scores, baselines and the views that show them (the animation from `frames`)."""
    init_scores = None if a.init is None else a.init.score
    figures.save(figures.score_histogram(a.final.score, init_scores, a.null, a.threshold), folder / "scores.png")
    figures.save(figures.score_over_training(a.steps, a.scores, a.null, a.threshold), folder / "over-training.png")
    n = min(len(a.final.score), MAX_MATCH_ROWS)
    tops = a.final.top[:n]
    labels = [[a.bank.templates[t].short() for t in row] for row in tops]
    fig = figures.best_matches(
        a.summed_last[:n], a.bank.weights[tops], labels, a.final.top_scores[:n], [f"kernel {i}" for i in range(n)]
    )
    figures.save(fig, folder / "matches.png", dpi=80)
    shown = min(len(a.final.score), MAX_KERNEL_PAGES)  # the animation's frames grow with the kernels it shows
    sub = frames.subset(mosaic.MATCH_FRAMES)
    summed = _summed(sub.weights[:, :shown], a.kshape)  # (F, shown, *k)
    best = a.bank.weights[a.best[sub.index, :shown]]  # the best template at each of those snapshots
    proj = mosaic.projection(summed.reshape(-1, *a.kshape), best.reshape(-1, *a.kshape)).reshape(summed.shape)
    filmstrip = _animation(folder, "matches", mosaic.match_frames(sub.steps, summed, proj))
    tiles = len(a.kshape) == 2  # 2-D kernels are coloured tiles; 1-D channel sums are stem plots
    summed_note = " (each kernel summed over its input channels)" if a.shape[1] > 1 else ""
    added_figs = []
    if a.added is not None:
        mosaic.write_png(folder / "added.png", mosaic.layer_mosaic((a.summed_last - a.summed_first)[:, None]))
        added_figs.append(
            Figure(
                "added.png",
                f"What training added to each kernel of {a.name}: the kernel after training minus at initialisation",
                "What training added: each kernel after training minus the same kernel at initialisation, each on its "
                "own scale. Scored like a kernel in the text above.",
                pixels=True,
                colourbar=tiles,
            )
        )
    figs = [
        Figure(
            "scores.png",
            f"Histogram of best-match scores for {a.name}: trained, at initialisation, and random kernels",
            "How well each kernel matches its closest classical detector (r*, 1 = a perfect match), after training, "
            "at initialisation, and for random kernels of the same shape. Right of the dashed line lies the top 1% "
            "of random kernels.",
        ),
        Figure(
            "over-training.png",
            f"Median best-match score and hit rate of {a.name} at each snapshot, against the null band",
            "Left: median r* of the kernels at each snapshot (band: middle half of the kernels) against random "
            "kernels (grey band up to the threshold). Right: share of kernels above the threshold.",
        ),
        Figure(
            "matches.png",
            f"Each kernel of {a.name}{summed_note} beside its three best-matching classical detectors, with scores",
            f"Each kernel{summed_note} beside its three best matches from the detector bank, with |cos|; templates "
            "are shown with the sign that matches the kernel."
            + (f" The first {n} of {len(a.final.score)} kernels." if n < len(a.final.score) else ""),
        ),
        Figure(
            "matches.gif",
            f"Animation of {a.name}'s kernels, each beside its best-matching detector, over training",
            "Each kernel (left of each pair) beside the part of it that its current best-matching detector explains "
            "(right), over training" + (f"; the first {shown} kernels." if shown < len(a.final.score) else "."),
            pixels=True,
            colourbar=tiles,
            print_src=filmstrip,
        ),
        *added_figs,
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


def _filter_section(info: LayerInfo, a: LayerAnalysis, folder: Path) -> tuple[Section, dict[str, Any] | None]:
    """Frequency responses (and, for single-channel 1-D layers, responses to test signals)."""
    last = a.summed_last  # (out, *k)
    figs: list[Figure] = []
    freq: dict[str, Any] | None = None
    if len(a.kshape) == 1:
        responses = [filters.frequency_response_1d(k) for k in last]
        freq = {
            "freq": responses[0].freq,
            "magnitude_db": np.stack([r.magnitude_db for r in responses]),
            "phase": np.stack([r.phase for r in responses]),
        }
        figures.save(filter_figures.frequency_response_1d_figure(last), folder / "frequency.png", dpi=80)
        figs.append(
            Figure(
                "frequency.png",
                f"Frequency response of each kernel of {info.name}: magnitude in dB and phase, 0 to 0.5 cycles/sample",
                "Magnitude (dB, each kernel normalised to its own peak) and phase over 0-0.5 cycles/sample, as the "
                "layer applies the kernel; dashed: the first and second difference, for reference.",
            )
        )
        if info.shape[1] == 1:
            fig = filter_figures.signal_responses_figure(last, filters.test_signals())
            figures.save(fig, folder / "signals.png", dpi=80)
            shown = min(len(last), filter_figures.MAX_PANELS)
            figs.append(
                Figure(
                    "signals.png",
                    f"Each kernel of {info.name} applied to a sine, square, triangle, sawtooth and gaussian pulses",
                    "Each kernel applied to synthetic test signals exactly as PyTorch applies it (cross-correlation, "
                    "'same' padding): input and output overlaid, a row per kernel"
                    + (f", the first {shown} of {len(last)}." if shown < len(last) else "."),
                )
            )
    else:
        figures.save(filter_figures.frequency_response_2d_figure(last), folder / "frequency.png", dpi=80)
        figs.append(
            Figure(
                "frequency.png",
                f"2-D frequency response magnitude of each kernel of {info.name}",
                "Magnitude of each kernel's 2-D Fourier transform (zero-padded, zero frequency at the centre): a "
                "vertical-edge detector shows two lobes left and right of the centre.",
            )
        )
    return Section("As filters", "filters", figures=figs), freq


def _class_samples(info: LayerInfo, first: bool, cfg: RunConfig | None) -> tuple[np.ndarray, list[str]] | None:
    """One image of each class from the run's data settings (B, 1, H, W), for a first Conv2d layer on images."""
    if not (first and info.kind == "conv2d" and info.shape[1] == 1 and cfg is not None and cfg.data.kind == "image"):
        return None
    sample = make_dataset(replace(cfg.data, n_train=10 * len(cfg.data.classes), n_test=0), cfg.seed)
    idx = [int(np.flatnonzero(sample.y_train == c)[0]) for c in range(len(sample.classes))]
    return sample.x_train[idx], list(sample.classes)


def _extra_sections(
    info: LayerInfo,
    w_last: np.ndarray,
    prev: np.ndarray | None,
    samples: tuple[np.ndarray, list[str]] | None,
    folder: Path,
) -> list[Section]:
    """Feature maps (first 2-D layer), channel views (multi-channel 1-D), and layer 2 in input space (Lee 2009)."""
    sections = []
    if samples is not None:
        images, classes = samples
        maps = filters.feature_maps_2d(w_last, images)
        figures.save(filter_figures.feature_maps_figure(maps, images, classes), folder / "feature-maps.png", dpi=70)
        sections.append(
            Section(
                "Feature maps",
                "feature-maps",
                "Each first-layer kernel applied to one sample of each class, as the layer applies it (before bias "
                "and ReLU): which parts of each waveform light up.",
                [
                    Figure(
                        "feature-maps.png",
                        f"Feature maps of {info.name} for one sample of each waveform class",
                        "Rows: one sample per class (left: the input). Columns: kernels; red positive, blue negative.",
                    )
                ],
            )
        )
    if info.kind == "conv1d" and info.shape[1] > 1:
        mosaic.write_png(folder / "channels.png", mosaic.channel_grid(w_last[:MAX_GRID, :MAX_GRID]))
        figures.save(
            filter_figures.channel_combined_figure(w_last[:MAX_GRID]), folder / "channels-combined.png", dpi=80
        )
        sections.append(
            Section(
                "Input channels",
                "channels",
                "Multi-channel 1-D kernels: each filter's weights per input channel, and the channels combined.",
                [
                    Figure(
                        "channels.png",
                        f"Weights of each filter of {info.name} per input channel, as stem plots",
                        "Rows: input channels; columns: filters; all on one scale.",
                        pixels=True,
                    ),
                    Figure(
                        "channels-combined.png",
                        f"Filters of {info.name} summed and averaged over input channels",
                        "Each filter summed (left) and averaged (right) over its input channels.",
                    ),
                ],
            )
        )
    if prev is not None and prev.ndim == w_last.ndim and prev.shape[0] == w_last.shape[1]:
        project = filters.input_space_2d if w_last.ndim == 4 else filters.input_space_1d
        v = project(w_last, prev, stride=2)
        figures.save(filter_figures.input_space_figure(v), folder / "input-space.png", dpi=80)
        sections.append(
            Section(
                "In input space",
                "input-space",
                "Each kernel of this layer drawn as the weighted combination of the previous layer's kernels that "
                "feed it, each placed where its tap sees the input through the 2x pooling, as Lee et al. (2009) drew "
                "their second layer. A linear picture: the ReLU between the layers is ignored.",
                [
                    Figure(
                        "input-space.png",
                        f"Kernels of {info.name} drawn in input space as combinations of the previous layer's kernels",
                        "Second-layer kernels in input space: red positive, blue negative, white zero.",
                        pixels=True,
                    )
                ],
            )
        )
    return sections


def _kernel_rows(a: LayerAnalysis) -> list[dict[str, Any]]:
    rows = []
    for i in range(len(a.final.score)):
        t = a.bank.templates[a.final.top[i, 0]]
        rows.append(
            {
                "index": i,
                "score": a.final.score[i],
                "init": None if a.init is None else a.init.score[i],
                "hit": bool(a.hits[i]),
                "match": t.label(),
                "family": t.family,
                "surrogate_p": a.surrogate_p[i],
                "dc": a.dc_fraction[i],
                "page": i < MAX_KERNEL_PAGES,
            }
        )
    return rows


def _frames(run: Run, info: LayerInfo, count: int, analysed: bool) -> mosaic.Frames:
    """The snapshots that the layer's animations show (its evolution GIF; when `analysed`, the kernel pages' GIFs
    and the matches GIF), and only those: at most LAYER_GIF_FRAMES + GIF_FRAMES + MATCH_FRAMES of the `count`, and
    of the kernels that the pages show unless the evolution GIF shows them all."""
    animated = _animated(info, count)
    limits = ([LAYER_GIF_FRAMES] if animated else []) + ([GIF_FRAMES, mosaic.MATCH_FRAMES] if analysed else [])
    index = mosaic.Frames.wanted(count, limits)
    kernels = info.shape[0] if animated else MAX_KERNEL_PAGES
    parts = [(s, w[:, :kernels].copy()) for s, w in run.iter_kernels(info.name, keep=index)] if len(index) else []
    if not parts:
        return mosaic.Frames(count, index, np.zeros(0, dtype=np.int64), np.zeros((0, *info.shape)))
    return mosaic.Frames(count, index, np.concatenate([s for s, _ in parts]), np.concatenate([w for _, w in parts]))


def _layer_view(
    run: Run, info: LayerInfo, lslug: str, folder: Path, cfg: RunConfig | None, prev_name: str | None, first: bool
) -> LayerView:
    """Everything about one layer: its figures under folder/, its numbers, its page and its kernels' pages.
    `prev_name` names the conv layer before it (for the input-space picture); `first`: the model's first layer."""
    folder.mkdir(parents=True, exist_ok=True)
    # One pass over the snapshots, a chunk at a time: the scores at every snapshot, and the first and last weights.
    scorer = analysis.score_chunks(info.name, info.kind, run.iter_kernels(info.name))
    a = scorer.analysis()
    steps, last = scorer.steps, scorer.last
    assert last is not None  # iter_kernels yields at least one snapshot or raises
    frames = _frames(run, info, len(steps), a is not None)
    mosaic_fig, kernels_section = _kernels_section(info, steps, last, frames, folder)
    sections = [kernels_section]
    samples = _class_samples(info, first, cfg)
    summary, headline, rows, kernels = (
        None,
        f"The kernels of {info.name} are too small to compare with detectors.",
        [],
        [],
    )
    if a is not None:
        sections.append(_analysis_section(a, frames, folder))
        filter_section, freq = _filter_section(info, a, folder)
        sections.append(filter_section)
        summary, headline, rows = report.layer_summary(a), report.headline(a), _kernel_rows(a)
        big = last.size > MAX_JSON_WEIGHTS  # a large layer's weights go to weights.npy, not into the JSON
        if big:
            atomic_write(folder / "weights.npy", lambda fh: np.save(fh, last, allow_pickle=False))
        detail = report.layer_detail(a, None if big else last, freq, weights_file="weights.npy" if big else None)
        atomic_write_text(folder / "layer.json", report.dumps(detail, compact=True))
        maps = None if samples is None else (filters.feature_maps_2d(last, samples[0]), samples[1])
        kernels = kernel_views(info, a, last, frames, folder / "kernels", maps, limit=MAX_KERNEL_PAGES)
    prev = None if prev_name is None else run.read_snapshot(int(steps[-1]))[prev_name]
    sections += _extra_sections(info, last, prev, samples, folder)
    return LayerView(info, lslug, a, summary, headline, mosaic_fig, sections, rows, kernels)


def _copy_downloads(run: Run, folder: Path) -> list[tuple[str, str]]:
    """Copy the run's metrics and final weights into the site, for download (weights only up to a size that a
    static site can carry)."""
    out = []
    if run.config_path.is_file():
        out.append(("config.toml", "the resolved config"))
    if run.metrics_path.is_file():
        shutil.copyfile(run.metrics_path, folder / "metrics.csv")
        out.append(("metrics.csv", "loss and accuracy at every step"))
    if run.weights_path.is_file() and run.weights_path.stat().st_size <= MAX_WEIGHTS_DOWNLOAD:
        shutil.copyfile(run.weights_path, folder / "weights.pt")
        out.append(("weights.pt", "final weights, a plain state_dict: torch.load(path, weights_only=True)"))
    return out


def _pool(jobs: int) -> Executor | None:
    """Worker processes for the drawing, one per core (forked: the workers import nothing, and never call torch,
    whose thread pool does not survive a fork). None where one process is all there is."""
    workers = min(jobs, os.cpu_count() or 1, MAX_WORKERS)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


def gather(run_paths: list[Path], out: Path, on_run: Callable[[str], None] | None = None) -> list[RunView]:
    """Phase 1: read every run, analyse it, and write its figures under `out/runs/<run>/`, layers in parallel;
    `on_run(name)` as each run is done."""
    runs = [Run(p) for p in run_paths]
    metas = [r.read_meta() for r in runs]  # fail early, before any drawing, on a folder that is not a run
    names = [m.name or r.path.name for r, m in zip(runs, metas, strict=True)]
    slugs = unique_slugs(names)
    jobs: list[tuple[int, Callable[..., Any], tuple[Any, ...]]] = []  # (run index, function, arguments)
    config_texts: list[str | None] = []
    configs: list[RunConfig | None] = []
    downloads: list[list[tuple[str, str]]] = []
    for i, (run, rslug) in enumerate(zip(runs, slugs, strict=True)):
        folder = out / "runs" / rslug
        folder.mkdir(parents=True, exist_ok=True)
        cfg, config_text = None, None
        if run.config_path.is_file():
            config_text = run.config_path.read_text(encoding="utf-8")
            cfg = from_dict(RunConfig, read_toml(run.config_path))
            shutil.copyfile(run.config_path, folder / "config.toml")
        config_texts.append(config_text)
        configs.append(cfg)
        downloads.append(_copy_downloads(run, folder))
        infos = list(metas[i].layers)
        lslugs = unique_slugs([li.name for li in infos], RUN_FILES)
        for j, (info, lslug) in enumerate(zip(infos, lslugs, strict=True)):
            # Lee's input-space picture needs the architecture between the layers (2x pooling): known for the
            # second layer of a run trained here, not for a user's model.
            prev_name = infos[0].name if j == 1 and cfg is not None else None
            jobs.append((i, _layer_view, (run, info, lslug, folder / lslug, cfg, prev_name, j == 0)))
        jobs.append((i, _run_figures, (run, cfg, folder)))

    results: list[Any] = [None] * len(jobs)
    remaining = [sum(1 for r, _, _ in jobs if r == i) for i in range(len(runs))]

    def done(k: int, result: Any) -> None:
        results[k] = result
        remaining[jobs[k][0]] -= 1
        if on_run and remaining[jobs[k][0]] == 0:
            on_run(names[jobs[k][0]])

    pool = _pool(len(jobs))
    if pool is None:
        for k, (_, fn, args) in enumerate(jobs):
            done(k, fn(*args))
    else:
        with pool:
            futures = {pool.submit(fn, *args): k for k, (_, fn, args) in enumerate(jobs)}
            for future in as_completed(futures):
                done(futures[future], future.result())

    views = []
    for i, (run, meta, name, rslug) in enumerate(zip(runs, metas, names, slugs, strict=True)):
        mine = [results[k] for k, (r, _, _) in enumerate(jobs) if r == i]
        layers, run_figs = mine[:-1], mine[-1]
        steps = meta.steps
        views.append(
            RunView(
                name,
                rslug,
                meta,
                config_texts[i],
                layers,
                run_figs,
                len(run.snapshot_steps()),
                steps,
                downloads[i],
                configs[i],
            )
        )
    return views


# --- phase 2: write -------------------------------------------------------------------------------------------------


def _num(v: float | None, digits: int = 2) -> str:
    """A number to `digits` decimals, with no minus sign on a value that rounds to zero."""
    if v is None:
        return "n/a"
    text = f"{v:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def jinja_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"
    env.filters["num"] = _num
    env.filters["describe"] = describe
    env.filters["recipe"] = lambda cfg: "" if cfg is None else recipe.describe(cfg)
    env.globals["table_page"] = TABLE_PAGE
    return env


def _banks(views: list[RunView]) -> dict[str, Bank]:
    return {bank_slug(lv.analysis.kshape): lv.analysis.bank for v in views for lv in v.layers if lv.analysis}


def _write_bank(b: Bank, folder: Path) -> list[dict[str, Any]]:
    """One mosaic per family; returns what the bank page lists."""
    folder.mkdir(parents=True, exist_ok=True)
    families = []
    for fam in sorted({t.family for t in b.templates}, key=FAMILY_ORDER.index):
        idx = [i for i, t in enumerate(b.templates) if t.family == fam]
        img, shown = mosaic.bank_mosaic(b.weights[idx])
        mosaic.write_png(folder / f"{fam}.png", img)
        names = sorted({b.templates[i].name for i in idx})
        families.append({"family": fam, "count": len(idx), "shown": shown, "names": names, "src": f"{fam}.png"})
    return families


def first_layer_png(run_path: Path, path: Path) -> None:
    """The first layer of a run after training (its last snapshot only), as a mosaic PNG: what the recipe page and
    a sweep's comparison page show of each run."""
    run = Run(run_path)
    _, w = run.read_kernels(run.layers()[0].name, keep=[-1])
    mosaic.write_png(path, mosaic.layer_mosaic(w[-1]))


def _recipe_figures(checks: Sequence[RecipeCheck], folder: Path) -> None:
    """The first layer of every run behind the recipe page, after training: recipe/<run>.png."""
    for c in checks:
        for j in [*c.seeds, *([c.ablation] if c.ablation else [])]:
            first_layer_png(j.path, folder / f"{j.name}.png")


def write_pages(views: list[RunView], out: Path, checks: Sequence[RecipeCheck] = ()) -> None:
    """Phase 2: the HTML pages, JSON and static files."""
    env = jinja_env()
    banks = _banks(views)
    common = {
        "version": __version__,
        "runs": views,
        "banks": sorted(banks),
        "checks": {c.run: c for c in checks},
    }

    def page(template: str, path: Path, root: str, **kw: Any) -> None:
        atomic_write_text(out / path, env.get_template(template).render(root=root, **common, **kw))

    page("index.html", Path("index.html"), "")
    page("methods.html", Path("methods.html"), "", constants=_constants())
    if checks:
        page("recipe.html", Path("recipe.html"), "")
    for v in views:
        page("run.html", Path("runs", v.slug, "index.html"), "../../", run=v)
        page("config.html", Path("runs", v.slug, "config.html"), "../../", run=v)
        for lv in v.layers:
            bank_href = f"../../../banks/{bank_slug(lv.analysis.kshape)}/index.html" if lv.analysis else None
            folder = Path("runs", v.slug, lv.slug)
            page("layer.html", folder / "index.html", "../../../", run=v, layer=lv, bank_href=bank_href)
            for n, rows in enumerate(lv.table_pages[1:], start=2):
                page(
                    "kernel_table.html",
                    folder / "kernels" / f"page-{n}.html",
                    "../../../../",
                    run=v,
                    layer=lv,
                    rows=rows,
                    page_index=n - 1,
                )
            for i, k in enumerate(lv.kernels):
                prev, nxt = (lv.kernels[i - 1] if i else None), (lv.kernels[i + 1] if i + 1 < len(lv.kernels) else None)
                page(
                    "kernel.html",
                    folder / "kernels" / f"{k.index}.html",
                    "../../../../",
                    run=v,
                    layer=lv,
                    k=k,
                    prev=prev,
                    next=nxt,
                )
    for bslug, b in banks.items():
        families = _write_bank(b, out / "banks" / bslug)
        page("bank.html", Path("banks", bslug, "index.html"), "../../", bank=b, bslug=bslug, families=families)
    summary = {
        "version": report.SUMMARY_VERSION,
        "runs": [
            {
                "name": v.name,
                "source": v.meta.source,
                "test_accuracy": v.test_accuracy,
                "layers": [lv.summary for lv in v.layers if lv.summary is not None],
            }
            for v in views
        ],
        "recipe_checks": [c.summary() for c in checks],
    }
    atomic_write_text(out / "summary.json", report.dumps(summary))
    shutil.copytree(templates_dir() / "static", out / "static", dirs_exist_ok=True)
    (out / ".nojekyll").write_text("")


def _constants() -> dict[str, Any]:
    return {
        "null_samples": analysis.NULL_SAMPLES,
        "quantile": int(100 * analysis.THRESHOLD_QUANTILE),
        "surrogates": analysis.SURROGATES,
        "alpha": analysis.SURROGATE_ALPHA,
    }


# --- the swap -------------------------------------------------------------------------------------------------------


def check_out_dir(out: Path) -> None:
    """Refuse to replace anything that is not a previous cnnkreport site."""
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} exists and is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(f"output folder {out} is not empty and was not made by cnnkreport; choose another --out")
    parent = out.resolve().parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"cannot write the site: {parent} is a file, not a folder")
    if not parent.is_dir():
        raise UserError(f"cannot write the site: folder {parent} does not exist")
    try:  # a real probe: permission bits say nothing for root, or on a read-only mount
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent))
    except OSError as e:
        raise UserError(f"cannot write the site in {parent}: {e.strerror}") from None


def swap_in(out: Path, fill: Callable[[Path], Any]) -> Any:
    """Let fill(tmp) write a site into a temporary folder beside `out`, then swap it in for `out`; returns what fill
    returns. A failure, or a kill at any moment, leaves the previous site at `out` untouched."""
    recover(out)  # a previous command killed in the middle of its swap
    check_out_dir(out)
    out = out.resolve()
    try:
        tmp = make_temp(out)
    except OSError as e:
        raise UserError(f"cannot write the site in {out.parent}: {e.strerror}") from None
    try:
        result = fill(tmp)
        (tmp / MARKER).write_text(f"made by cnnkreport {__version__}\n")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a published site is not
        replace_dir(tmp, out)
    except OSError as e:  # a full disk, a file that vanished: one line, and the previous site stays
        raise UserError(f"cannot write the site: {os_error_text(e)}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def build_site(
    run_paths: list[Path],
    out: Path,
    on_run: Callable[[str], None] | None = None,
    checks: Sequence[RecipeCheck] = (),
) -> list[RunView]:
    """Render the site for `run_paths` into `out`, with the recipe page when there are `checks`. A failure leaves the
    previous site at `out` untouched."""
    if not run_paths:
        raise UserError("no runs to render")

    def fill(tmp: Path) -> list[RunView]:
        views = gather(run_paths, tmp, on_run)
        _recipe_figures(checks, tmp / "recipe")
        write_pages(views, tmp, checks)
        return views

    result: list[RunView] = swap_in(out, fill)
    return result
