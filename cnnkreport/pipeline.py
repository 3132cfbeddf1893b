"""The jobs behind the commands that go from start to site: `cnnkreport build` (train the default presets and the
recipe check, reusing finished runs, then render the site; with `--data`, one run on a user's data set instead) and
`cnnkreport inspect` (a user's model, read into a run folder, then rendered)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .analysis import recipe
from .config import (
    DEFAULT_PRESETS,
    DEVICES,
    DataConfig,
    RunConfig,
    check_name,
    load_run_config,
    preset,
    quick,
    user_run,
)
from .cost import training_work
from .errors import JobsFailed, UserError
from .executors import Events, ExecutorConfig, Failed, run_jobs
from .executors import check as check_engine
from .names import slug
from .rundir import Run
from .site.layout import check_out_dir
from .swap import recover
from .tomlio import from_dict, read_toml
from .workers import default_workers, one_thread, run_all, start

if TYPE_CHECKING:  # torch, the site and the model readers (matplotlib, scipy, onnx) are imported once they are
    # needed: training starts sooner, and the worker processes' server imports torch while this process does
    from .analysis.scores import LayerAnalysis
    from .site import RunView


@dataclass(frozen=True)
class BuildData:
    """A build config's [data] table, or `build --data TRAIN [--test TEST] [--name NAME] [--label-column COL]`: a
    user's data set, trained on in one run (named `name`, or after the data set) instead of the presets."""

    train: str = ""  # the training file or image folder ("": the presets)
    test: str = ""  # its test file ("": a stratified share of `train` is held out)
    name: str = ""  # the run's name
    label_column: str = ""  # .csv: the column of the labels

    def __post_init__(self) -> None:
        if not self.train and (self.test or self.name or self.label_column):
            raise UserError("--test, --name and --label-column (data.test, .name, .label_column) need --data TRAIN")
        if self.name:
            check_name(self.name, "--name")


@dataclass(frozen=True)
class BuildConfig:
    """What `build` does. In a TOML file, `[overrides.PRESET]` tables change a preset's run config, and a [data]
    table (BuildData) trains on a user's data set instead of the presets."""

    out: str = "site"
    runs: str = "runs"  # where the trained runs are kept (runs/<preset>)
    presets: tuple[str, ...] = DEFAULT_PRESETS
    seed: int = 0
    quick: bool = False
    device: str = "auto"
    seeds: int = 5  # the recipe check: each preset with targets is also trained on the seeds after `seed`
    ablation: bool = True  # ...and once without the recipe's key choice (recipe.ABLATIONS)
    workers: int = 0  # runs trained at once (0: one per core)
    executor: ExecutorConfig = ExecutorConfig()  # where the runs train: the [executor] table
    data: BuildData = BuildData()  # a user's data set: the [data] table
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.seeds <= 20:
            raise UserError(f"seeds must be between 1 and 20, got {self.seeds}")
        if self.seed + self.seeds > 2**32:
            raise UserError(f"seed + seeds must stay below 2**32, got {self.seed} + {self.seeds}")
        if not 0 <= self.workers <= 256:
            raise UserError(f"workers must be between 0 (one per core) and 256, got {self.workers}")
        if self.device not in DEVICES:
            raise UserError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if not self.presets:
            raise UserError("presets must name at least one preset")
        for p in [*self.presets, *self.overrides]:
            preset(p)  # unknown names fail here, with the list of known ones

    def run_configs(self) -> list[RunConfig]:
        cfgs = []
        for name in self.presets:
            cfg = replace(preset(name), seed=self.seed, device=self.device)
            try:
                cfg = from_dict(RunConfig, self.overrides.get(name, {}), f"overrides.{name}", cfg)
            except UserError as e:  # a range error names the key only; say which preset's override it is
                message = str(e)
                raise UserError(message if f"overrides.{name}" in message else f"overrides.{name}: {message}") from None
            cfgs.append(quick(cfg) if self.quick else cfg)
        return cfgs

    def check_configs(self) -> list[tuple[str, RunConfig, list[RunConfig], RunConfig | None]]:
        """For each preset with targets: (preset, its run config, the same on the other seeds, its ablation).
        `--quick` checks two seeds at most."""
        seeds = min(self.seeds, 2) if self.quick else self.seeds
        return [
            (name, cfg, recipe.seed_configs(cfg, seeds), recipe.ablation_config(name, cfg) if self.ablation else None)
            for name, cfg in zip(self.presets, self.run_configs(), strict=True)
            if name in recipe.TARGETS
        ]


def load_build_config(path: Path | None, data: dict[str, str | None] | None = None, **cli: Any) -> BuildConfig:
    """The build config from a TOML file (if any), then command-line options (those not None) on top; `data` holds
    the options of the [data] table (BuildData's fields)."""
    d: dict[str, Any] = dict(read_toml(path)) if path is not None else {}
    overrides = d.pop("overrides", {})
    where = f"{path}: " if path else ""
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise UserError(f"{where}overrides must hold one table per preset, like [overrides.pulses-2d.train]")
    try:
        d = {k: v for k, v in d.items() if k != "overrides"}
        cfg: BuildConfig = from_dict(BuildConfig, d)
        cfg = replace(cfg, overrides=overrides, **{k: v for k, v in cli.items() if v is not None})
        cfg = replace(cfg, data=replace(cfg.data, **{k: v for k, v in (data or {}).items() if v is not None}))
        cfg.run_configs()  # validate every override now, before hours of work
        return cfg
    except UserError as e:
        raise UserError(f"{where}{e}") from None


def _reusable(run: Run, cfg: RunConfig) -> bool:
    """A finished run made from exactly this config needs no retraining."""
    try:
        return run.read_meta().status == "complete" and load_run_config(run.config_path, cfg) == cfg
    except UserError:
        return False


def build(
    cfg: BuildConfig,
    on_train: Callable[[RunConfig, bool], Callable[[int, int], None] | None] = lambda c, r: None,
    on_render: Callable[[str], None] | None = None,
) -> list[RunView]:
    """Train (or reuse) every preset's run under cfg.runs, and the recipe's checks under cfg.runs/checks, several at
    once, and render the presets' runs into cfg.out (on this machine, each as soon as it is trained and a core is
    free). `on_train(run_config, reused)` may return a per-step progress callback. With a [data] table (`--data`),
    build_user instead."""
    if cfg.data.train:
        return build_user(cfg, on_train, on_render)
    check_out_dir(Path(cfg.out))  # fail before training, not after
    check_engine(cfg.executor)
    runs = Path(cfg.runs)
    main = [(rc, runs / rc.name) for rc in cfg.run_configs()]
    checks = cfg.check_configs()

    def checked(c: RunConfig) -> Path:
        return runs / "checks" / c.name

    extra = [c for _, _, seeds, ab in checks for c in [*seeds, *([ab] if ab else [])]]
    todo = []
    for rc, path in main + [(c, checked(c)) for c in extra]:
        recover(path)  # a build killed while swapping this run in
        reused = _reusable(Run(path), rc)
        callback = on_train(rc, reused)
        if not reused:
            todo.append((rc, path.absolute(), callback))  # absolute: a cluster's workers start elsewhere
    todo.sort(key=lambda t: -training_work(t[0]))  # the longest first: the last runs to end are short ones
    callbacks, names = [c for _, _, c in todo], [rc.name for rc, _, _ in todo]
    local = cfg.executor.kind == "local"
    if todo and local and cfg.workers != 1:
        start(["cnnkreport.train"])  # the workers' server imports torch while this process imports the site
    from .site.build import Training, build_site  # (matplotlib, scipy: before the drawing's workers fork)

    main_paths = [path for _, path in main]
    if not local:
        from .train import train_into

        jobs = [(train_into, (rc, path)) for rc, path, _ in todo]
        results = run_jobs(jobs, cfg.executor, 1, _Steps(callbacks), runs.absolute() / ".submitit")
        failed = [(name, r.error) for name, r in zip(names, results, strict=True) if isinstance(r, Failed)]
        if failed:
            raise JobsFailed(failed, len(jobs))

    def judge(views: list[RunView]) -> list[recipe.RecipeCheck]:
        """The recipe checks, judged once the site has analysed the main runs: their first layers are not analysed
        again (the check runs under runs/checks are not rendered, and are analysed here)."""
        analysed = {p: v.first.analysis for p, v in zip(main_paths, views, strict=True) if v.first and v.first.analysis}
        return [
            recipe.check(rc.name, name, [runs / rc.name, *map(checked, seeds)], checked(ab) if ab else None, analysed)
            for name, rc, seeds, ab in checks
        ]

    def train(ready: Callable[[int], None]) -> None:
        _train_here(todo, main_paths, _workers(cfg), ready)

    training = Training([rc.name for rc, _ in main], train) if local else None
    return build_site(main_paths, Path(cfg.out), on_render, judge, training)


def _train_here(
    todo: list[tuple[RunConfig, Path, Callable[[int, int], None] | None]],
    main_paths: list[Path],
    workers: int,
    ready: Callable[[int], None],
) -> None:
    """Train the runs of `todo` in this machine's worker processes, `workers` at a time. The main runs that are
    complete (`ready(i)` for main_paths[i]) are drawn only once a core is left without a run to train: the drawing
    then fills the cores that the last runs leave idle instead of slowing the others."""
    from .train import train_into

    jobs = [(train_into, (rc, path)) for rc, path, _ in todo]
    main = {path.absolute(): i for i, path in enumerate(main_paths)}  # the jobs' paths are absolute
    trained = {path for _, path, _ in todo}
    complete = [i for path, i in main.items() if path not in trained]  # reused
    left = len(jobs)

    def release() -> None:
        while complete:
            ready(complete.pop(0))

    def on_end(k: int, error: BaseException | None) -> None:
        nonlocal left
        left -= 1
        path = todo[k][1]
        if error is None and path in main:
            complete.append(main[path])
        if left < workers:
            release()

    if left < workers:
        release()
    run_all(jobs, workers, [c for _, _, c in todo], on_end=on_end)
    release()


def user_config(cfg: BuildConfig) -> RunConfig:
    """The run config of `build --data`: the build's data set, read and checked here (a bad one is a UserError
    before anything is written), with the one recipe of config.user_run."""
    from .data import read_user_dataset, with_facts

    d = cfg.data
    data = DataConfig(path=d.train, test_path=d.test, label_column=d.label_column)
    ds = read_user_dataset(data, cfg.seed)
    name = d.name or slug(ds.source.name if ds.source and ds.source.name else Path(d.train).stem)
    rc = user_run(name, with_facts(data, ds), cfg.seed, cfg.device)
    return quick(rc) if cfg.quick else rc


def build_user(
    cfg: BuildConfig,
    on_train: Callable[[RunConfig, bool], Callable[[int, int], None] | None] = lambda c, r: None,
    on_render: Callable[[str], None] | None = None,
) -> list[RunView]:
    """`build --data`: one run on a user's data set, under cfg.runs/NAME, recorded, analysed and drawn as a preset's
    run is (the recipe check is the presets' and is left out). It trains on this machine, afresh each time (a data
    file may change under the same name; `cnnkreport render` draws a run again). Nothing is written for a bad data
    set; a failed run leaves the runs folder and the site as they were."""
    if cfg.executor.kind != "local":
        raise UserError("build --data trains its one run on this machine: leave out --executor")
    check_out_dir(Path(cfg.out))
    rc = user_config(cfg)
    path = Path(cfg.runs) / rc.name
    made = not path.parent.exists()  # the runs folder, where train_into makes it
    recover(path)
    from .site.build import Training, build_site
    from .train import train_into

    def train(ready: Callable[[int], None]) -> None:
        one_thread(train_into, (rc, path.absolute()), on_train(rc, False))  # as the presets' runs train
        ready(0)

    try:
        return build_site([path], Path(cfg.out), on_render, (), Training([rc.name], train))
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only if empty: the run was not swapped in
        raise


def inspect(
    model: Any,
    out: str | os.PathLike[str],
    layers: str | None = None,
    trust_pickle: bool = False,
    sample_rate: float | str | None = None,
    on_run: Callable[[str], None] | None = None,
    name: str | None = None,
    conv_tensors: str | None = None,
    analysed: Mapping[str, LayerAnalysis | None] | None = None,
) -> list[RunView]:
    """`cnnkreport inspect` and the API's `Report.save`: the gallery of `model` into `out`. `model` is what
    sources.inspect.read_model reads: files, folders or globs (several: a history), an nn.Module, a state_dict, one
    weight array, or a Model already read. `layers` is a regular expression that layer names must match
    (re.search); `sample_rate` (Hz) of the model's input, where known, adds frequencies in Hz; `name` names the
    model; tensors whose keys match `conv_tensors` (a regular expression) are read as conv weights too. Every
    argument is checked here, before anything is read, with the same one-line UserError whichever of the two calls
    it. `analysed`: the layers' analyses already done on the same weights (by name; None for a layer too small to
    score), which the site then draws instead of analysing them again (Report.save)."""
    from .site import build_site
    from .sources.inspect import inspect_options, read_model, write_run

    opts = inspect_options(layers, trust_pickle, sample_rate, name, conv_tensors)
    site = site_folder(out)  # before reading gigabytes
    read = read_model(model, opts)
    with tempfile.TemporaryDirectory(prefix="cnnkreport-inspect-") as tmp:
        run = write_run(Path(tmp) / "run", read, opts.sample_rate)
        return build_site([run.path], site, on_run, analysed=None if analysed is None else [analysed])


def site_folder(out: object) -> Path:
    """The folder a site may be written to (site.layout.check_out_dir), checked."""
    if not isinstance(out, str | os.PathLike):
        raise UserError(f"--out must be a folder path, got {out!r}")
    site = Path(out)
    check_out_dir(site)
    return site


class _Steps(Events):
    """Each run's steps to its own progress callback (where it has one)."""

    def __init__(self, callbacks: list[Callable[[int, int], None] | None]) -> None:
        self.callbacks = callbacks

    def step(self, k: int, step: int, total: int) -> None:
        if (callback := self.callbacks[k]) is not None:
            callback(step, total)


def _workers(cfg: BuildConfig) -> int:
    """Runs at a time: one per core, but one at a time on a GPU (the runs would only queue for it)."""
    from .train import resolve_device

    if cfg.device == "cuda" or (cfg.device == "auto" and resolve_device("auto").type == "cuda"):
        return 1
    return cfg.workers or default_workers()
