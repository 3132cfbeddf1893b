"""`cnnkreport sweep`: many runs over a grid of settings and seeds, in parallel, resumable, compared on one page.

A sweep config (TOML) names a preset, the seeds, and a grid of config keys with several values each:

    name = "loss-kernels"
    preset = "pulses-2d"
    seeds = [0, 1, 2]
    [grid]
    "train.loss" = ["cross_entropy", "l1", "mse"]
    "model.kernel_size" = [[5, 5], [7, 5]]

Every combination of values is a setting; every setting runs once per seed, into runs/<sweep>/<setting>-seed<N>.
A finished run made from the same config is not run again, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .analysis.recipe import judge as judge_run
from .config import RunConfig, check_name, load_run_config, preset, quick
from .errors import JobsFailed, UserError
from .executors import Events, ExecutorConfig, Failed, check, run_jobs
from .names import slug
from .rundir import Run
from .tomlio import from_dict, read_toml, to_dict
from .workers import OnStep


@dataclass(frozen=True)
class SweepConfig:
    name: str = "sweep"
    preset: str = "pulses-2d"
    seeds: tuple[int, ...] = (0, 1, 2)
    grid: dict[str, list[Any]] = field(default_factory=dict)  # "section.key" -> values
    executor: ExecutorConfig = ExecutorConfig()  # where the points run: the [executor] table

    def __post_init__(self) -> None:
        check_name(self.name)  # runs go to <runs>/<name>: it must stay a plain folder name
        preset(self.preset)
        if not self.seeds:
            raise UserError("seeds must list at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise UserError(f"seeds lists a seed twice: {list(self.seeds)}")
        for seed in self.seeds:
            if not 0 <= seed < 2**32:
                raise UserError(f"seeds must be between 0 and 2**32-1, got {seed}")


BUILTIN: dict[str, SweepConfig] = {
    # The seed project's question: how do the loss, the kernel size and the number of kernels shape the kernels?
    "loss-kernels": SweepConfig(
        name="loss-kernels",
        preset="pulses-2d",
        seeds=(0, 1, 2),
        grid={
            "train.loss": ["cross_entropy", "l1", "mse"],
            "model.kernel_size": [[5, 5], [7, 5], [9, 5]],
            "model.channels": [[4, 16], [8, 16], [16, 16]],
        },
    ),
}


@dataclass(frozen=True)
class Point:
    setting: tuple[tuple[str, Any], ...]  # ((key, value), ...) in grid order
    seed: int
    config: RunConfig

    @property
    def label(self) -> str:
        return ", ".join(f"{k.split('.')[-1]}={_text(v)}" for k, v in self.setting)

    @property
    def folder(self) -> str:
        """The run's folder (and name): the setting, then the seed after '_' (so '_' in a key or value becomes '-')."""
        setting = "-".join(f"{k.split('.')[-1]}-{_text(v)}" for k, v in self.setting).replace("_", "-")
        return slug(f"{setting or 'base'}_seed-{self.seed}")


def _text(v: Any) -> str:
    return "x".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def load_sweep(path: Path | None, builtin: str | None) -> SweepConfig:
    if (path is None) == (builtin is None):
        raise UserError(f"give a sweep config file or --builtin {' | '.join(BUILTIN)} (one of them)")
    if builtin is not None:
        if builtin not in BUILTIN:
            raise UserError(f"unknown built-in sweep {builtin!r} (known: {', '.join(BUILTIN)})")
        return BUILTIN[builtin]
    assert path is not None
    d = dict(read_toml(path))
    grid = d.pop("grid", {})
    if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise UserError(f"{path}: [grid] must map config keys to non-empty lists of values")
    try:
        cfg: SweepConfig = from_dict(SweepConfig, d)
        cfg = replace(cfg, grid=grid)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
    return cfg


def _nested(key: str, value: Any) -> dict[str, Any]:
    head, _, rest = key.partition(".")
    return {head: _nested(rest, value) if rest else value}


def expand(cfg: SweepConfig, quick_runs: bool = False) -> list[Point]:
    """Every setting of the grid times every seed, each a validated run config."""
    base = preset(cfg.preset)
    keys = list(cfg.grid)
    points = []
    for values in itertools.product(*(cfg.grid[k] for k in keys)):
        setting = tuple(zip(keys, values, strict=True))
        run = base
        for k, v in setting:
            try:
                run = from_dict(RunConfig, _nested(k, v), "", run)
            except UserError as e:
                raise UserError(f"sweep grid {k} = {v!r}: {e}") from None
        for seed in cfg.seeds:
            rc = replace(run, seed=seed)
            rc = quick(rc) if quick_runs else rc
            point = Point(setting, seed, rc)
            points.append(replace(point, config=replace(rc, name=point.folder)))
    return points


def train_point(config: dict[str, Any], path: str, on_step: OnStep | None = None) -> None:
    """One point of a sweep, on whatever engine runs it: train its run into `path` (an absolute folder on the file
    system the workers share), or finish the run there if one was started with this config (after a worker died,
    say), or nothing if it is done. Plain arguments, so that any engine can ship it."""
    from .train import train

    cfg = from_dict(RunConfig, config)
    folder = Path(path)
    status = _status(folder, cfg)
    if status == "other":
        raise _in_the_way(folder)
    if status != "done":
        train(cfg, folder, resume=status == "resume", on_step=on_step)


def _in_the_way(folder: Path) -> UserError:
    return UserError(f"{folder} holds a run with another config; remove it or choose another --runs folder")


def _status(path: Path, cfg: RunConfig) -> str:
    """'done' (finished with this config), 'resume' (started with it, or killed before it wrote run.json), 'new',
    or 'other' (another config)."""
    run = Run(path)
    if not path.exists():
        return "new"
    if not run.meta_path.exists():
        return "resume"  # train() clears what a run killed at its start leaves, and refuses anything else
    try:
        meta = run.read_meta()
        same = load_run_config(run.config_path, cfg) == cfg
    except UserError:
        return "other"
    if not same:
        return "other"
    return "done" if meta.status == "complete" else "resume"


class _Renumbered(Events):
    """Events of the jobs that were run, told as events of their points."""

    def __init__(self, events: Events, points: list[int]) -> None:
        self.events, self.points = events, points

    def started(self, k: int) -> None:
        self.events.started(self.points[k])

    def step(self, k: int, step: int, total: int) -> None:
        self.events.step(self.points[k], step, total)

    def finished(self, k: int, failure: Failed | None) -> None:
        self.events.finished(self.points[k], failure)


def run_sweep(
    points: Sequence[Point],
    runs: Path,
    workers: int,
    events: Events | None = None,
    executor: ExecutorConfig | None = None,
) -> list[Path]:
    """Train every point not already done on the chosen engine (the local pool, `workers` at a time, by default);
    returns the run folders, in point order. Every point runs to its end; if any failed, JobsFailed names them
    after the others are done (a rerun retries only those)."""
    events = events or Events()
    executor = executor or ExecutorConfig()
    check(executor)
    runs = runs.absolute()  # the workers of a cluster do not share our working directory
    paths = [runs / p.folder for p in points]
    todo = []
    for k, (p, path) in enumerate(zip(points, paths, strict=True)):
        status = _status(path, p.config)
        if status == "other":
            raise _in_the_way(path)
        if status == "done":
            events.finished(k, None)
        else:
            todo.append(k)
    jobs = [(train_point, (to_dict(points[k].config), str(paths[k]))) for k in todo]
    results = run_jobs(jobs, executor, workers, _Renumbered(events, todo), runs / ".submitit")
    failed = [(points[k].folder, r.error) for k, r in zip(todo, results, strict=True) if isinstance(r, Failed)]
    if failed:
        raise JobsFailed(failed, len(points))
    return paths


@dataclass(frozen=True)
class Outcome:
    """The first layer of one run, judged: what the comparison page shows."""

    point: Point
    path: Path
    test_accuracy: float | None
    hit_rate: float
    kappa: float | None
    controlled: float  # share of the kernels that are hits both controls support


def judge(points: Sequence[Point], paths: Sequence[Path]) -> list[Outcome]:
    outcomes = []
    for p, path in zip(points, paths, strict=True):
        j = judge_run(path)
        outcomes.append(Outcome(p, path, j.test_accuracy, j.hit_rate, j.kappa, j.controlled / j.kernels))
    return outcomes


@dataclass(frozen=True)
class Summary:
    setting: tuple[tuple[str, Any], ...]
    label: str
    seeds: int
    values: dict[str, tuple[float, float]]  # measure -> (mean, standard deviation over seeds)
    example: Outcome  # the run of the first seed, for the mosaic


MEASURES = ("hit_rate", "kappa", "controlled", "test_accuracy")


def aggregate(outcomes: Sequence[Outcome]) -> list[Summary]:
    """Per setting: mean and spread (standard deviation) of each measure over its seeds, in grid order."""
    groups: dict[tuple[tuple[str, Any], ...], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(_key(o.point.setting), []).append(o)
    out = []
    for group in groups.values():
        values = {}
        for m in MEASURES:
            xs = np.array([getattr(o, m) for o in group if getattr(o, m) is not None], dtype=float)
            values[m] = (float(xs.mean()), float(xs.std())) if len(xs) else (float("nan"), float("nan"))
        out.append(Summary(group[0].point.setting, group[0].point.label, len(group), values, group[0]))
    return out


def _key(setting: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    return tuple((k, _text(v)) for k, v in setting)


def render_sweep(cfg: SweepConfig, outcomes: Sequence[Outcome], out: Path) -> list[Summary]:
    """The comparison page (index.html of `out`): the table, the effect of each swept value, and each setting's
    first-layer mosaic, side by side. Written into a temp folder and swapped in, like every site."""
    from .draw import figures
    from .site import Layout, first_layer_png, jinja_env, swap_in, write_page, write_static
    from .site import layout as paths

    summaries = aggregate(outcomes)
    keys = list(cfg.grid)
    values = {k: [_text(v) for v in cfg.grid[k]] for k in keys}
    results = [{"setting": dict(_key(o.point.setting)), **{m: getattr(o, m) for m in MEASURES}} for o in outcomes]

    def fill(layout: Layout) -> None:
        effects = layout.claim(paths.SWEEP_EFFECTS, "the sweep's effects figure")
        figures.save(figures.sweep_effects(keys, values, results), effects, dpi=figures.PANEL_DPI)
        for n, summary in enumerate(summaries):
            first_layer_png(summary.example.path, layout.claim(paths.sweep_mosaic(n), f"setting {summary.label!r}"))
        write_page(
            layout,
            jinja_env(),
            "sweep.html",
            paths.INDEX,
            "the sweep page",
            runs=[],
            banks=[],
            checks={},
            version=__version__,
            sweep=cfg,
            summaries=summaries,
            keys=keys,
            seeds=list(cfg.seeds),
            colour=preset(cfg.preset).data.kind == "image",
        )
        write_static(layout)

    swap_in(out, fill)
    return summaries
