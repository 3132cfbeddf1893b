"""Building a site, in two phases (as mkdocs and pelican do). Phase 1, here: read every run, analyse each layer and
draw its figures into the layer's folder, layers in parallel worker processes, into views of what each page shows.
Phase 2 (pages.py): write the pages and JSON from those views. All of it into a temporary folder that is swapped in
at the end (layout.swap_in): a failed build leaves the previous site untouched. Where each file goes: layout.py.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis import filters, report, scores
from ..analysis.recipe import RecipeCheck
from ..analysis.scores import LayerAnalysis
from ..config import RunConfig, from_dict, read_toml
from ..data import make_dataset
from ..draw import figures, mosaic
from ..errors import UserError
from ..files import atomic_write, atomic_write_text
from ..rundir import LayerInfo, Run, RunMeta
from . import layout as paths
from . import reference
from .kernels import GIF_FRAMES, kernel_views
from .layout import Layout, swap_in
from .pages import write_pages
from .player import Timeline, make_player
from .sections import (
    EVOLUTION_KERNELS,
    LAYER_GIF_FRAMES,
    analysis_section,
    animated,
    extra_sections,
    filter_section,
    kernels_section,
)
from .views import MAX_KERNEL_PAGES, Figure, LayerView, RunView

MAX_WORKERS = 8  # processes drawing layers in parallel (at most one per core)
MAX_WEIGHTS_DOWNLOAD = 20 * 2**20  # bytes of final weights copied into the site for download
MAX_JSON_WEIGHTS = 200_000  # weights of a layer written into layer.json; a larger layer's go to weights.npy

Checks = Sequence[RecipeCheck] | Callable[[list[RunView]], Sequence[RecipeCheck]]


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
) -> list[RunView]:
    """Render the site for `run_paths` into `out`, with the recipe page when there are `checks` (or a function that
    judges them from the gathered views, so that no layer is analysed twice). With `training`, the runs are trained
    first, and each is drawn as soon as it is ready. A failure leaves the previous site at `out` untouched."""
    if not run_paths:
        raise UserError("no runs to render")

    def fill(layout: Layout) -> list[RunView]:
        views = gather(run_paths, layout, on_run, training)
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


def gather(
    run_paths: list[Path],
    layout: Layout,
    on_run: Callable[[str], None] | None = None,
    training: Training | None = None,
) -> list[RunView]:
    """Phase 1: read every run, analyse it, and write its figures into its folders of `layout`, layers in parallel;
    `on_run(name)` as each run is done. With `training`, the drawing begins as the runs become ready."""
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
                for fn, args in _jobs(plan, layout):
                    drawing.submit(i, fn, args)

        if training is not None:
            training.run(ready)
        for i in range(len(runs)):
            ready(i)
        results = drawing.results()
    views = []
    for i, p in enumerate(plans):
        assert p is not None
        mine = [results[k] for k, r in enumerate(drawing.runs) if r == i]
        layers, run_figs = mine[:-1], mine[-1]
        snapshots = len(p.run.snapshot_steps())
        views.append(
            RunView(
                p.name, p.slug, p.meta, p.config_text, layers, run_figs, snapshots, p.meta.steps, p.downloads, p.config
            )
        )
    return views


def _plan(run: Run, meta: RunMeta, name: str, rslug: str, layout: Layout) -> _Run:
    """Claim the run's folder and files, and copy its config and downloads there."""
    who = f"run {name!r}"
    folder = layout.folder(paths.run_dir(rslug), who)
    for file in (paths.CURVES, paths.DATA, paths.CONFIG_TOML, paths.METRICS, paths.WEIGHTS):
        layout.claim(paths.run_file(rslug, file), who)
    cfg, config_text = None, None
    if run.config_path.is_file():
        config_text = run.config_path.read_text(encoding="utf-8")
        cfg = from_dict(RunConfig, read_toml(run.config_path))
        shutil.copyfile(run.config_path, folder / paths.CONFIG_TOML)
    return _Run(run, meta, name, rslug, config_text, cfg, _copy_downloads(run, folder))


def _jobs(p: _Run, layout: Layout) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    """The run's drawing jobs: one per layer (into the layer's folder, claimed here), then the run-level figures."""
    infos = list(p.meta.layers)
    jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    for j, (info, lslug) in enumerate(zip(infos, paths.layer_slugs([li.name for li in infos]), strict=True)):
        folder = layout.folder(paths.layer_dir(p.slug, lslug), f"layer {info.name!r} of run {p.name!r}")
        # Lee's input-space picture needs the architecture between the layers (2x pooling): known for the
        # second layer of a run trained here, not for a user's model.
        prev_name = infos[0].name if j == 1 and p.config is not None else None
        jobs.append((_layer_view, (p.run, info, lslug, folder, p.config, prev_name, j == 0, p.meta.sample_rate)))
    jobs.append((_run_figures, (p.run, p.config, layout.root / paths.run_dir(p.slug))))
    return jobs


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


def _run_figures(run: Run, cfg: RunConfig | None, folder: Path) -> list[Figure]:
    figs = []
    metrics = run.read_metrics()
    if metrics:
        figures.save(figures.training_curves(metrics), folder / paths.CURVES)
        figs.append(
            Figure(
                paths.CURVES,
                "Training loss and accuracy over optimiser steps",
                "Training loss (left) and accuracy (right); test accuracy as measured on held-out data.",
            )
        )
    if cfg is not None:
        sample_cfg = replace(cfg.data, n_train=12 * len(cfg.data.classes), n_test=0)
        montage = figures.data_montage(make_dataset(sample_cfg, cfg.seed))
        figures.save(montage, folder / paths.DATA, dpi=figures.PANEL_DPI)
        figs.append(
            Figure(
                paths.DATA,
                f"Sample {cfg.data.kind}s of each waveform class, one row per class",
                "Samples drawn with this run's data settings, one row per class.",
            )
        )
    return figs


def _class_samples(info: LayerInfo, first: bool, cfg: RunConfig | None) -> tuple[np.ndarray, list[str]] | None:
    """One image of each class from the run's data settings (B, 1, H, W), for a first Conv2d layer on images."""
    if not (first and info.kind == "conv2d" and info.shape[1] == 1 and cfg is not None and cfg.data.kind == "image"):
        return None
    sample = make_dataset(replace(cfg.data, n_train=10 * len(cfg.data.classes), n_test=0), cfg.seed)
    idx = [int(np.flatnonzero(sample.y_train == c)[0]) for c in range(len(sample.classes))]
    return sample.x_train[idx], list(sample.classes)


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


def _layer_view(
    run: Run,
    info: LayerInfo,
    lslug: str,
    folder: Path,
    cfg: RunConfig | None,
    prev_name: str | None,
    first: bool,
    sample_rate: float | None,
) -> LayerView:
    """Everything about one layer: its figures under folder/, its numbers, its page and its kernels' pages.
    `prev_name` names the conv layer before it (for the input-space picture); `first`: the model's first layer;
    `sample_rate`: of the model's input, in Hz, where the user gave it."""
    folder.mkdir(parents=True, exist_ok=True)
    # One pass over the snapshots, a chunk at a time: the scores at every snapshot, and the first and last weights.
    scorer = scores.score_chunks(info.name, info.kind, run.iter_kernels(info.name))
    a = scorer.analysis()
    steps, last = scorer.steps, scorer.last
    assert last is not None  # iter_kernels yields at least one snapshot or raises
    frames = _frames(run, info, len(steps), a is not None)
    timeline = Timeline.of(steps, run.read_metrics())
    big = last.size > MAX_JSON_WEIGHTS  # a large layer's weights go to weights.npy, not into the JSON
    every_weight = None if a is None else paths.LAYER_WEIGHTS if big else paths.LAYER_JSON  # for a download link
    mosaic_fig, tiles = kernels_section(info, steps, last, frames, folder, every_weight)
    sections = [tiles]
    samples = _class_samples(info, first, cfg)
    summary, headline, rows, kernels, ref = (
        None,
        f"The kernels of {info.name} are too small to compare with detectors.",
        [],
        [],
        None,
    )
    if a is not None:
        filters_, freq = filter_section(info, a, folder)
        matches = analysis_section(a, frames, folder)
        # where no match claim is possible, what the kernels do as filters comes first
        sections += [matches, filters_] if a.claims_possible else [filters_, matches]
        summary, headline, rows = report.layer_summary(a, sample_rate), report.headline(a, sample_rate), _kernel_rows(a)
        if big:
            atomic_write(folder / paths.LAYER_WEIGHTS, lambda fh: np.save(fh, last, allow_pickle=False))
        weights_file = paths.LAYER_WEIGHTS if big else None
        detail = report.layer_detail(a, None if big else last, freq, weights_file, sample_rate)
        atomic_write_text(folder / paths.LAYER_JSON, report.dumps(detail, compact=True))
        maps = None if samples is None else (filters.feature_maps_2d(last, samples[0]), samples[1])
        kernels = kernel_views(info, a, last, frames, folder / paths.KERNELS, timeline, maps, limit=MAX_KERNEL_PAGES)
        if cfg is not None and reference.applies(info, first, cfg, a):
            offered, ref = reference.reference_section(info, a, cfg, folder)
            sections.insert(sections.index(matches) + 1, offered)
    prev = None if prev_name is None else run.read_snapshot(int(steps[-1]))[prev_name]
    sections += extra_sections(info, last, prev, samples, folder)
    moving = [f for s in sections for f in s.figures if f.anchor]
    player = make_player(
        timeline,
        [f.sprite.frames for f in moving if f.sprite is not None],
        [f.anchor for f in moving],
        None if a is None else np.median(a.scores, axis=1),
        "median r*",
    )
    return LayerView(info, lslug, a, summary, headline, mosaic_fig, sections, rows, kernels, player, ref)


def _copy_downloads(run: Run, folder: Path) -> list[tuple[str, str]]:
    """Copy the run's metrics and final weights into the site, for download (weights only up to a size that a
    static site can carry)."""
    out = []
    if run.config_path.is_file():
        out.append((paths.CONFIG_TOML, "the resolved config"))
    if run.metrics_path.is_file():
        shutil.copyfile(run.metrics_path, folder / paths.METRICS)
        out.append((paths.METRICS, "loss and accuracy at every step"))
    if run.weights_path.is_file() and run.weights_path.stat().st_size <= MAX_WEIGHTS_DOWNLOAD:
        shutil.copyfile(run.weights_path, folder / paths.WEIGHTS)
        out.append((paths.WEIGHTS, "final weights, a plain state_dict: torch.load(path, weights_only=True)"))
    return out
