"""Building a site, in two phases (as mkdocs and pelican do). Phase 1, here: read every run, analyse each layer and
draw its figures into the layer's folder, layers in parallel worker processes, into views of what each page shows.
Phase 2 (pages.py): write the pages and JSON from those views. All of it into a temporary folder that is swapped in
at the end (layout.swap_in): a failed build leaves the previous site untouched. Where each file goes: layout.py;
each drawing job gets its folder as a layout.Folder, which hands out every file in it once, and the layout claims
them all when the jobs are done, before any page is written.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis import filters, report, scores
from ..analysis.recipe import RecipeCheck
from ..analysis.results import LayerResult
from ..analysis.scores import LayerAnalysis
from ..config import RunConfig
from ..data import Dataset, class_samples
from ..draw import figures, mosaic
from ..errors import UserError
from ..rundir import LayerInfo, Run, RunMeta
from ..tomlio import from_dict, read_toml
from . import layout as paths
from . import reference
from .downloads import Numbers, copy_run_files, weights_home, write_layer_json
from .kernels import GIF_FRAMES, KernelView, kernel_views
from .layout import Folder, Layout, swap_in
from .pages import write_pages
from .player import Player, Timeline, make_player
from .sections import (
    EVOLUTION_KERNELS,
    LAYER_GIF_FRAMES,
    analysis_section,
    animated,
    extra_sections,
    filter_section,
    kernels_section,
)
from .views import MAX_KERNEL_PAGES, Figure, LayerView, Reference, RunView, Section

MAX_WORKERS = 8  # processes drawing layers in parallel (at most one per core)
SAMPLE_CLASSES = 12  # classes of a user's data set that the data samples and feature maps show at most

Checks = Sequence[RecipeCheck] | Callable[[list[RunView]], Sequence[RecipeCheck]]
Analysed = Mapping[str, LayerAnalysis | None]  # a run's layers analysed already, by name (None: too small to score)


@dataclass(frozen=True)
class Training:
    """Runs that are still to be trained when their site is begun: `names` (as each run.json will say), and
    `run(ready)`, which trains them and calls ready(i) once run i is complete and may be drawn (on a core that the
    training leaves idle, say); a run it never calls ready for is drawn after it returns."""

    names: list[str]
    run: Callable[[Callable[[int], None]], None]


def build_site(
    run_paths: list[Path],
    out: Path,
    on_run: Callable[[str], None] | None = None,
    checks: Checks = (),
    training: Training | None = None,
    analysed: Sequence[Analysed | None] | None = None,
) -> list[RunView]:
    """Render the site for `run_paths` into `out`, with the recipe page when there are `checks` (or a function that
    judges them from the gathered views, so that no layer is analysed twice). With `training`, the runs are trained
    first, and each is drawn as soon as it is ready. `analysed[i]`: run i's layers already analysed (by name), drawn
    without analysing them again. A failure leaves the previous site at `out` untouched."""
    if not run_paths:
        raise UserError("no runs to render")

    def fill(layout: Layout) -> list[RunView]:
        views = gather(run_paths, layout, on_run, training, analysed)
        write_pages(views, layout, checks(views) if callable(checks) else checks)
        return views

    result: list[RunView] = swap_in(out, fill)
    return result


# --- phase 1: gather ------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """What phase 1 knows of a run before its figures are drawn."""

    run: Run
    meta: RunMeta
    name: str
    slug: str
    config_text: str | None
    config: RunConfig | None
    downloads: list[tuple[str, str]]
    folder: Folder  # the run's, with its downloads in it: its figures go there too


def gather(
    run_paths: list[Path],
    layout: Layout,
    on_run: Callable[[str], None] | None = None,
    training: Training | None = None,
    analysed: Sequence[Analysed | None] | None = None,
) -> list[RunView]:
    """Phase 1: read every run, analyse it (but the layers of `analysed[i]`, analysed already), and write its figures
    into its folders of `layout`, layers in parallel; `on_run(name)` as each run is done. With `training`, the
    drawing begins as the runs become ready."""
    runs = [Run(p) for p in run_paths]
    metas: list[RunMeta | None] = [None] * len(runs)  # a run still to be trained is read when it is ready
    if training is None:
        read = [r.read_meta() for r in runs]  # fail early, before any drawing, on a folder that is not a run
        names = [m.name or r.path.name for r, m in zip(runs, read, strict=True)]
        work = sum(len(m.layers) + 1 for m in read)  # the drawing's jobs: one per layer, one per run
        metas[:] = read
    else:
        names, work = training.names, MAX_WORKERS
    slugs = paths.run_slugs(names)
    plans: list[_Run | None] = [None] * len(runs)
    with _Drawing(work, (lambda i: on_run(names[i])) if on_run else None) as drawing:

        def ready(i: int) -> None:
            """Claim run i's folders and hand its drawing jobs to the workers, once."""
            if plans[i] is None:
                plan = plans[i] = _plan(runs[i], metas[i] or runs[i].read_meta(), names[i], slugs[i], layout)
                for fn, args in _jobs(plan, layout, analysed[i] if analysed else None):
                    drawing.submit(i, fn, args)

        if training is not None:
            training.run(ready)
        for i in range(len(runs)):
            ready(i)
        results = drawing.results()
    for _, folder in results:  # every file that the workers wrote, claimed before any page is
        layout.adopt(folder)
    views = []
    for i, p in enumerate(plans):
        assert p is not None
        mine = [results[k][0] for k, r in enumerate(drawing.runs) if r == i]
        layers, run_figs = mine[:-1], mine[-1]
        snapshots = len(p.run.snapshot_steps())
        views.append(
            RunView(
                p.name, p.slug, p.meta, p.config_text, layers, run_figs, snapshots, p.meta.steps, p.downloads, p.config
            )
        )
    return views


def _plan(run: Run, meta: RunMeta, name: str, rslug: str, layout: Layout) -> _Run:
    """Claim the run's folder, read its config, and copy its config and downloads there."""
    folder = layout.folder(paths.run_dir(rslug), f"run {name!r}")
    cfg, config_text = None, None
    if run.config_path.is_file():
        config_text = run.config_path.read_text(encoding="utf-8")
        cfg = from_dict(RunConfig, read_toml(run.config_path))
    return _Run(run, meta, name, rslug, config_text, cfg, copy_run_files(run, folder), folder)


def _jobs(
    p: _Run, layout: Layout, analysed: Analysed | None = None
) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    """The run's drawing jobs: one per layer (into the layer's folder, claimed here; with its analysis, where
    `analysed` holds it), then the run-level figures (into the run's); each returns its result and its folder, with
    the files it handed out."""
    infos = list(p.meta.layers)
    jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    for j, (info, lslug) in enumerate(zip(infos, paths.layer_slugs([li.name for li in infos]), strict=True)):
        folder = layout.folder(paths.layer_dir(p.slug, lslug), f"layer {info.name!r} of run {p.name!r}")
        # Lee's input-space picture needs the architecture between the layers (2x pooling): known for the
        # second layer of a PulseNet trained here, not for a user's model (nor an FCN, which does not pool).
        pooled = p.config is not None and p.config.model.arch == "pulsenet"
        prev_name = infos[0].name if j == 1 and pooled else None
        job = _Layer(p.run, info, lslug, p.config, prev_name, j == 0, p.meta.sample_rate, weights_home(p.meta))
        if analysed is not None and info.name in analysed:
            job = replace(job, analysed=True, analysis=analysed[info.name])
        jobs.append((_filled, (_layer_view, folder, job)))
    jobs.append((_filled, (_run_figures, p.folder, p.run, p.config)))
    return jobs


def _filled(fill: Callable[..., Any], folder: Folder, *args: Any) -> tuple[Any, Folder]:
    """fill(folder, *args), and the folder it filled (from a worker process: a copy, with what it handed out)."""
    return fill(folder, *args), folder


class _Drawing:
    """Phase 1's jobs, each drawn in a worker process where there are cores, one per core (forked as soon as this is
    made: before any thread of a training starts), or here, one after another, when results() asks for them;
    `on_run(i)` as the last job of run i is done."""

    def __init__(self, work: int, on_run: Callable[[int], None] | None) -> None:
        self.on_run = on_run
        self.runs: list[int] = []  # each job's run
        self.calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.futures: list[Future[Any]] = []
        self.pool = _pool(work)
        if self.pool is not None:
            self.pool.submit(int).result()  # a forked pool's workers all start with its first job

    def __enter__(self) -> _Drawing:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, run: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.runs.append(run)
        self.calls.append((fn, args))
        if self.pool is not None:
            self.futures.append(self.pool.submit(fn, *args))

    def results(self) -> list[Any]:
        """Every job's result, in the order they were submitted."""
        results: list[Any] = [None] * len(self.runs)
        remaining: dict[int, int] = {}
        for r in self.runs:
            remaining[r] = remaining.get(r, 0) + 1

        def done(k: int, result: Any) -> None:
            results[k] = result
            remaining[self.runs[k]] -= 1
            if self.on_run and remaining[self.runs[k]] == 0:
                self.on_run(self.runs[k])

        if self.pool is None:
            for k, (fn, args) in enumerate(self.calls):
                done(k, fn(*args))
        else:
            index = {f: k for k, f in enumerate(self.futures)}
            for future in as_completed(self.futures):
                done(index[future], future.result())
        return results


def _pool(jobs: int) -> Executor | None:
    """Worker processes for the drawing, one per core (forked: the workers import nothing, and never call torch,
    whose thread pool does not survive a fork). None where one process is all there is."""
    workers = min(jobs, os.cpu_count() or 1, MAX_WORKERS)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


def _run_figures(folder: Folder, run: Run, cfg: RunConfig | None) -> list[Figure]:
    figs = []
    metrics = run.read_metrics()
    if metrics:
        curves = folder.file(paths.CURVES, "the training curves")
        figures.save(figures.training_curves(metrics), curves.path)
        figs.append(
            Figure(
                curves.src,
                "Training loss and accuracy over optimiser steps",
                "Training loss (left) and accuracy (right); test accuracy as measured on held-out data.",
            )
        )
    if cfg is not None:
        sample = class_samples(cfg.data, cfg.seed, 12, SAMPLE_CLASSES)
        montage = figures.data_montage(sample)
        data = folder.file(paths.DATA, "the data samples")
        figures.save(montage, data.path, dpi=figures.PANEL_DPI)
        figs.append(_samples_figure(data.src, cfg, sample))
    return figs


def _samples_figure(src: str, cfg: RunConfig, sample: Dataset) -> Figure:
    d = cfg.data
    if not d.path:
        return Figure(
            src,
            f"Sample {d.kind}s of each waveform class, one row per class",
            "Samples drawn with this run's data settings, one row per class.",
        )
    what, shown = "images" if d.kind == "image" else "series", len(sample.classes)
    some = f" (the first {shown} of its {len(d.classes)} classes)" if shown < len(d.classes) else ""
    channel = f", channel 1 of {d.channels}" if d.channels > 1 else ""
    caption = f"Training {what} as the network sees them (standardised{channel}), one row per class{some}."
    return Figure(src, f"Training {what} of each class, one row per class", caption)


def _class_samples(info: LayerInfo, first: bool, cfg: RunConfig | None) -> tuple[np.ndarray, list[str]] | None:
    """One image of each class from the run's data settings (B, 1, H, W), for a first Conv2d layer on images."""
    if not (first and info.kind == "conv2d" and info.shape[1] == 1 and cfg is not None and cfg.data.kind == "image"):
        return None
    sample = class_samples(cfg.data, cfg.seed, 1 if cfg.data.path else 10, SAMPLE_CLASSES)
    shown = [c for c in range(len(sample.classes)) if (sample.y_train == c).any()]
    idx = [int(np.flatnonzero(sample.y_train == c)[0]) for c in shown]
    return sample.x_train[idx], [sample.classes[c] for c in shown]


def _kernel_rows(a: LayerAnalysis) -> list[dict[str, Any]]:
    rows = []
    shapes = a.filter_shapes
    for i in range(len(a.final.score)):
        t = a.bank.templates[a.final.top[i, 0]]
        rows.append(
            {
                "index": i,
                "score": a.final.score[i],
                "init": None if a.init is None else a.init.score[i],
                "hit": bool(a.hits[i]) if a.claims_possible else None,
                "filter": None if shapes is None else shapes[i],
                "match": t.label(),
                "family": t.family,
                "surrogate_p": a.surrogate_p[i],
                "sign_p": a.sign_p[i],
                "dc": a.dc_fraction[i],
                "page": i < MAX_KERNEL_PAGES,
            }
        )
    return rows


def _frames(run: Run, info: LayerInfo, count: int, analysed: bool) -> mosaic.Frames:
    """The snapshots that the layer's animations show (its evolution GIF; when `analysed`, the kernel pages' GIFs
    and the matches GIF), and only those: at most LAYER_GIF_FRAMES + GIF_FRAMES + MATCH_FRAMES of the `count`, and
    of the kernels that they show (the first EVOLUTION_KERNELS and MAX_KERNEL_PAGES)."""
    moving = animated(info, count)
    limits = ([LAYER_GIF_FRAMES] if moving else []) + ([GIF_FRAMES, mosaic.MATCH_FRAMES] if analysed else [])
    index = mosaic.Frames.wanted(count, limits)
    kernels = max(EVOLUTION_KERNELS if moving else 0, MAX_KERNEL_PAGES)
    parts = [(s, w[:, :kernels].copy()) for s, w in run.iter_kernels(info.name, keep=index)] if len(index) else []
    if not parts:
        return mosaic.Frames(count, index, np.zeros(0, dtype=np.int64), np.zeros((0, *info.shape)))
    return mosaic.Frames(count, index, np.concatenate([s for s, _ in parts]), np.concatenate([w for _, w in parts]))


@dataclass(frozen=True)
class _Layer:
    """What drawing one layer of a run takes, besides its folder (it travels to a worker process)."""

    run: Run
    info: LayerInfo
    slug: str
    config: RunConfig | None  # the run's, for a run trained here
    prev_name: str | None  # the conv layer before it, for the input-space picture
    first: bool  # the model's first layer
    sample_rate: float | None  # of the model's input, in Hz, where the user gave it
    weights_home: str = ""  # where the run's weights are outside the site, in words (downloads.weights_home)
    analysed: bool = False  # analysed already (Report.save): `analysis` is the layer's, not to be redone
    analysis: LayerAnalysis | None = None


@dataclass(frozen=True)
class _Drawn:
    """What a layer's pictures are drawn from: its weights after training, the snapshots that its animations show,
    the run's timeline, and one sample of each class (for a first 2-D layer on images)."""

    last: np.ndarray
    frames: mosaic.Frames
    timeline: Timeline
    samples: tuple[np.ndarray, list[str]] | None


@dataclass
class _Analysed:
    """What the analysis adds to a layer's view: only its headline where the kernels are too small to compare."""

    headline: str
    sections: list[Section] = field(default_factory=list)
    summary: LayerResult | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    kernels: list[KernelView] = field(default_factory=list)
    reference: Reference | None = None


def _layer_view(folder: Folder, job: _Layer) -> LayerView:
    """Everything about one layer: its figures in its folder, its numbers, its page and its kernels' pages."""
    info = job.info
    # One pass over the snapshots, a chunk at a time: the scores at every snapshot (unless analysed already), and the
    # first and last weights.
    scorer = scores.score_chunks(info.name, info.kind, job.run.iter_kernels(info.name), score=not job.analysed)
    a = job.analysis if job.analysed else scorer.analysis()
    steps, last = scorer.steps, scorer.last
    assert last is not None  # iter_kernels yields at least one snapshot or raises
    frames = _frames(job.run, info, len(steps), a is not None)
    timeline = Timeline.of(steps, job.run.read_metrics())
    numbers = Numbers.of(info, job.weights_home, a is not None)  # where every weight is: the pictures link it
    mosaic_fig, tiles = kernels_section(info, steps, last, frames, folder, numbers)
    drawn = _Drawn(last, frames, timeline, _class_samples(info, job.first, job.config))
    if a is None:
        found = _Analysed(f"No pattern score for {info.name}: {report.not_scored(info.shape)}.")
    else:
        found = _analysed(folder, job, a, drawn)
    prev = None if job.prev_name is None else job.run.read_snapshot(int(steps[-1]))[job.prev_name]
    sections = [tiles, *found.sections, *extra_sections(info, last, prev, drawn.samples, folder)]
    view = LayerView(info, job.slug, a, found.summary, found.headline, mosaic_fig, sections, found.rows, found.kernels)
    view.player, view.reference = _player(timeline, sections, a), found.reference
    return view


def _analysed(folder: Folder, job: _Layer, a: LayerAnalysis, drawn: _Drawn) -> _Analysed:
    """An analysed layer's sections (how detector-like, as filters, what the data offers), its numbers (in
    layer.json, beside it the binary files that downloads.py puts its larger numbers in) and its kernels' pages."""
    info, cfg, rate = job.info, job.config, job.sample_rate
    filters_, freq = filter_section(info, a, folder, rate)
    matches = analysis_section(a, drawn.frames, folder)
    # where no match claim is possible, what the kernels do as filters comes first
    found = _Analysed(report.headline(a, rate), [matches, filters_] if a.claims_possible else [filters_, matches])
    found.summary, found.rows = report.layer_summary(a, rate), _kernel_rows(a)
    numbers = Numbers.of(info, job.weights_home)
    write_layer_json(folder, a, drawn.last, freq, numbers, rate)  # and weights.npy, where the numbers go there
    samples = drawn.samples
    maps = None if samples is None else (filters.feature_maps_2d(drawn.last, samples[0]), samples[1])
    pages = folder.folder(paths.KERNELS, "the kernels' pages and pictures")
    found.kernels = kernel_views(
        info, a, drawn.last, drawn.frames, pages, drawn.timeline, maps, MAX_KERNEL_PAGES, numbers.words()
    )
    if cfg is not None and reference.applies(info, job.first, cfg, a):
        offered, found.reference = reference.reference_section(info, a, cfg, folder)
        found.sections.insert(found.sections.index(matches) + 1, offered)
    return found


def _player(timeline: Timeline, sections: list[Section], a: LayerAnalysis | None) -> Player | None:
    """The layer page's player, over the snapshots that its animations show."""
    moving = [f for s in sections for f in s.figures if f.anchor]
    return make_player(
        timeline,
        [f.sprite.frames for f in moving if f.sprite is not None],
        [f.anchor for f in moving],
        None if a is None else np.median(a.scores, axis=1),
        "median r*",
    )
