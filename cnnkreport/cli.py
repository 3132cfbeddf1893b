"""The command line: a few lines per command; the library does the work, UserError becomes exit code 2."""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from . import __version__
from .config import PRESETS, RunConfig, load_run_config, preset, quick
from .errors import JobsFailed, UserError, os_error_text
from .executors import ExecutorConfig
from .names import printable
from .progress import JobBars, bars, item_callback, say, step_callback

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="See inside a CNN: train on synthetic lab waveforms, record every kernel, publish a gallery.",
    pretty_exceptions_enable=False,
)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML file setting any option; options given here win.")
]
SeedOpt = Annotated[int | None, typer.Option("--seed", min=0, max=2**32 - 1, help="Random seed.")]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda.")]
ExecutorOpt = Annotated[
    str | None,
    typer.Option("--executor", help="Where runs train: local (a process pool), dask or slurm [default: local]."),
]
SchedulerOpt = Annotated[
    str | None, typer.Option("--scheduler", help="The Dask scheduler, like tcp://host:8786 (--executor dask).")
]
SchedulerFileOpt = Annotated[
    Path | None,
    typer.Option("--scheduler-file", help="The file `dask scheduler --scheduler-file F` wrote (--executor dask)."),
]
DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        metavar="TRAIN",
        help="Train one run on your data set instead: .ts, .tsv, .csv or .npz, or a folder of class folders.",
    ),
]
TestOpt = Annotated[
    str | None,
    typer.Option("--test", metavar="TEST", help="Its test set [default: a stratified 20% of TRAIN held out]."),
]
NameOpt = Annotated[str | None, typer.Option("--name", help="The run's name [default: the data set's, or the file's].")]
LabelColumnOpt = Annotated[
    str | None, typer.Option("--label-column", metavar="COL", help="A .csv file's column of the labels.")
]
QuickOpt = Annotated[
    bool | None, typer.Option("--quick/--full", help="Tiny data and one epoch: seconds, for a smoke test.")
]


# A file system that refuses: full, read-only, no permission, a path that does not exist or is not a folder. Every
# write is atomic (temp file, then rename), so what was there before is still whole: tell the user, exit 2.
REFUSALS = {
    errno.ENOSPC: "free some space and run it again",
    errno.EDQUOT: "free some space and run it again",
    errno.EFBIG: "the file system refuses a file this large",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "check the permissions",
    errno.EPERM: "check the permissions",
    errno.ENOENT: "",
    errno.ENOTDIR: "",
    errno.EISDIR: "",
}


def refusal(e: OSError) -> str:
    hint = REFUSALS.get(e.errno or 0, "")
    return os_error_text(e) + (f"; {hint}" if hint else "")


def command(fn: Callable[..., None]) -> Callable[..., None]:
    """Register a command whose UserError, or a refusal of the file system, becomes one line on stderr and exit
    code 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        try:
            fn(*args, **kwargs)
        except UserError as e:
            typer.echo(f"error: {printable(str(e))}", err=True)
            raise typer.Exit(2) from None
        except JobsFailed as e:  # the other runs are done; a rerun retries only these
            for name, error in e.failed:
                typer.echo(f"error: {printable(name)} failed: {printable(error)}", err=True)
            typer.echo(f"{e}; run the same command again to retry them (finished runs are kept)", err=True)
            raise typer.Exit(1) from None
        except BrokenProcessPool:  # a worker killed from outside (the out-of-memory killer, say): not bad input
            typer.echo("error: a worker process died (out of memory?); nothing was replaced", err=True)
            raise typer.Exit(1) from None
        except OSError as e:
            if e.errno not in REFUSALS:
                raise
            typer.echo(f"error: {printable(refusal(e))}", err=True)
            raise typer.Exit(2) from None

    return app.command()(wrapper)


def executor_config(
    base: ExecutorConfig, kind: str | None, scheduler: str | None, scheduler_file: Path | None
) -> ExecutorConfig:
    """The config file's [executor] table with the command line's options on top (a scheduler given here replaces
    the file's address or scheduler file, whichever it named)."""
    changes: dict[str, Any] = {} if kind is None else {"kind": kind}
    if scheduler is not None or scheduler_file is not None:
        named = "" if scheduler_file is None else str(scheduler_file)
        changes |= {"scheduler": scheduler or "", "scheduler_file": named}
    return replace(base, **changes)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnnkreport {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """cnnkreport: see inside a convolutional network."""


@command
def build(
    config: ConfigOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Site folder [default: site].")] = None,
    runs: Annotated[
        Path | None, typer.Option("--runs", help="Where the trained runs are kept [default: runs].")
    ] = None,
    quick_: QuickOpt = None,
    seed: SeedOpt = None,
    seeds: Annotated[
        int | None,
        typer.Option("--seeds", min=1, max=20, help="Check the recipe on this many seeds (1: no check) [default: 5]."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=0, help="Runs trained at once, locally [default: 0, one per core].")
    ] = None,
    executor: ExecutorOpt = None,
    scheduler: SchedulerOpt = None,
    scheduler_file: SchedulerFileOpt = None,
    device: DeviceOpt = None,
    data_: DataOpt = None,
    test: TestOpt = None,
    name: NameOpt = None,
    label_column: LabelColumnOpt = None,
) -> None:
    """The main job: data, training of the default presets, analysis, figures, animations and the site, in one go.
    Each preset with targets is also trained on more seeds and once without its key choice: the recipe page. With
    --data, one run on your own data set instead, with the same recording, analysis and site."""
    from .pipeline import build as run_build
    from .pipeline import load_build_config

    cfg = load_build_config(
        config,
        {"train": data_, "test": test, "name": name, "label_column": label_column},
        out=None if out is None else str(out),
        runs=None if runs is None else str(runs),
        quick=quick_,
        seed=seed,
        seeds=seeds,
        workers=workers,
        device=device,
    )
    cfg = replace(cfg, executor=executor_config(cfg.executor, executor, scheduler, scheduler_file))
    reused: list[str] = []
    with bars() as progress:

        def on_train(rc: RunConfig, done: bool) -> Callable[[int, int], None] | None:
            if done:
                reused.append(rc.name)
                return None
            return step_callback(progress, f"train {rc.name}")

        renders = 1 if cfg.data.train else len(cfg.presets)
        views = run_build(cfg, on_train, item_callback(progress, "render", total=renders))
    if reused:
        say(f"reused {len(reused)} finished run{'s' if len(reused) != 1 else ''} with the same config from {cfg.runs}")
    for v in views:
        say(f"{v.name}: test accuracy {100 * v.test_accuracy:.1f}%" if v.test_accuracy is not None else v.name)
    say(f"site written to {cfg.out}/index.html")


@command
def data(
    preset_: Annotated[str, typer.Option("--preset", help=f"One of: {', '.join(PRESETS)}.")] = "pulses-2d",
    out: Annotated[Path, typer.Option("--out", help="Folder for the montage PNG and the data set (.npz).")] = Path(
        "data"
    ),
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    quick_: QuickOpt = None,
) -> None:
    """Generate a data set and preview it: a montage PNG of labelled samples, and the arrays as .npz."""
    from .data import make_dataset
    from .draw.figures import data_montage, save
    from .files import atomic_write

    cfg = load_run_config(config, preset(preset_))
    cfg = replace(cfg, seed=cfg.seed if seed is None else seed)
    cfg = quick(cfg) if quick_ else cfg
    _writable_dir(out)
    ds = make_dataset(cfg.data, cfg.seed)
    save(data_montage(ds), out / f"{cfg.name}-montage.png")
    atomic_write(
        out / f"{cfg.name}.npz",
        lambda fh: np.savez_compressed(
            fh,
            x_train=ds.x_train,
            y_train=ds.y_train,
            x_test=ds.x_test,
            y_test=ds.y_test,
            classes=np.array(ds.classes),
        ),
    )
    say(f"{len(ds.y_train)} train + {len(ds.y_test)} test samples of shape {ds.x_train.shape[1:]}")
    say(f"wrote {out / f'{cfg.name}-montage.png'} and {out / f'{cfg.name}.npz'}")


@command
def train(
    run: Annotated[Path, typer.Option("--run", help="Run folder to write, e.g. runs/my-run.")],
    preset_: Annotated[str, typer.Option("--preset", help=f"One of: {', '.join(PRESETS)}.")] = "pulses-2d",
    config: ConfigOpt = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run from its last snapshot.")
    ] = False,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    quick_: QuickOpt = None,
) -> None:
    """Train one model and record snapshots of its kernels."""
    from .train import train as run_train

    cfg = load_run_config(config, preset(preset_))
    cfg = replace(
        cfg,
        name=run.name if config is None else cfg.name,
        seed=cfg.seed if seed is None else seed,
        device=cfg.device if device is None else device,
    )
    cfg = quick(cfg) if quick_ else cfg
    with bars() as progress:
        result = run_train(cfg, run, resume=resume, on_step=step_callback(progress, f"train {cfg.name}"))
    acc = "n/a" if result.test_accuracy is None else f"{100 * result.test_accuracy:.1f}%"
    say(f"{run}: {result.steps} steps, test accuracy {acc}")


@command
def render(
    runs: Annotated[list[Path], typer.Argument(help="Run folders to render.")],
    out: Annotated[Path, typer.Option("--out", help="Site folder.")] = Path("site"),
) -> None:
    """Figures, animations and the site from recorded runs, without training."""
    from .site import build_site

    with bars() as progress:
        build_site(list(runs), out, item_callback(progress, "render", total=len(runs)))
    say(f"site written to {out}/index.html")


@command
def inspect(
    checkpoints: Annotated[list[str], typer.Argument(help="Checkpoint files, folders or globs (one model's history).")],
    out: Annotated[Path, typer.Option("--out", help="Site folder.")] = Path("site"),
    layers: Annotated[
        str | None, typer.Option("--layers", help="Only conv layers whose name matches this regex.")
    ] = None,
    trust_pickle: Annotated[
        bool,
        typer.Option(
            "--trust-pickle",
            help="Allow files that run code when loaded: whole pickled models and TorchScript programs.",
        ),
    ] = False,
    sample_rate: Annotated[
        str | None,  # text: the library checks it, with the same one-line error as cnnkreport.inspect's
        typer.Option(
            "--sample-rate",
            metavar="HZ",
            help="Sample rate of the model's input in Hz: frequencies in Hz too.",
        ),
    ] = None,
    conv_tensors: Annotated[
        str | None,
        typer.Option(
            "--conv-tensors",
            metavar="REGEX",
            help="Also read the tensors whose key matches this regex (3 to 5 dimensions) as conv weights.",
        ),
    ] = None,
) -> None:
    """The gallery for your own model: a state_dict, checkpoint dict or safetensors file (a whole pickled model or a
    TorchScript file with --trust-pickle), or several checkpoints of one training run (ordered by the step in their
    names)."""
    from .pipeline import inspect as inspect_model

    with bars() as progress:  # every argument is checked by inspect_model, the function the API's save calls
        on_run = item_callback(progress, "render", total=1)
        inspect_model(checkpoints, out, layers, trust_pickle, sample_rate, on_run, conv_tensors=conv_tensors)
    say(f"site written to {out}/index.html")


@command
def sweep(
    config: Annotated[Path | None, typer.Option("--config", help="Sweep config: preset, seeds and a [grid].")] = None,
    builtin: Annotated[str | None, typer.Option("--builtin", help="A built-in sweep: loss-kernels.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the comparison page.")] = Path("site-sweep"),
    runs: Annotated[Path, typer.Option("--runs", help="Where the runs go (runs/<sweep name>/...).")] = Path("runs"),
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Runs at a time, locally [default: one per core].")
    ] = None,
    executor: ExecutorOpt = None,
    scheduler: SchedulerOpt = None,
    scheduler_file: SchedulerFileOpt = None,
    quick_: QuickOpt = None,
) -> None:
    """Many runs over a grid of settings and seeds, in parallel and resumable, compared on one page. The runs go to
    a local process pool, a Dask cluster or a Slurm queue; a cluster must share the --runs folder."""
    from .site import check_out_dir
    from .sweep import expand, judge, load_sweep, render_sweep, run_sweep
    from .workers import default_workers

    cfg = load_sweep(config, builtin)
    engine = executor_config(cfg.executor, executor, scheduler, scheduler_file)
    points = expand(cfg, quick_runs=bool(quick_))
    check_out_dir(out)
    with bars() as progress:
        events = JobBars(progress, f"sweep {cfg.name}", [p.folder for p in points])
        paths = run_sweep(points, runs / cfg.name, workers or default_workers(), events, engine)
    summaries = render_sweep(cfg, judge(points, paths), out)
    best = max(summaries, key=lambda s: s.values["hit_rate"][0])
    say(
        f"{len(points)} runs, {len(summaries)} settings; highest hit rate: {best.label} "
        f"({100 * best.values['hit_rate'][0]:.0f}% mean over {best.seeds} seeds)"
    )
    say(f"comparison written to {out}/index.html")


@command
def serve(
    directory: Annotated[Path, typer.Argument(help="Site folder to preview.")] = Path("site"),
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")] = 8000,
    open_: Annotated[bool, typer.Option("--open", help="Open it in the web browser.")] = False,
) -> None:
    """Preview the site on 127.0.0.1 until Ctrl-C."""
    from .publish import serve as run_server

    run_server(directory, port=port, open_browser=open_, on_ready=lambda url: say(f"serving {directory} at {url}"))


@command
def pack(
    directory: Annotated[Path, typer.Argument(help="Site folder to pack.")] = Path("site"),
    format_: Annotated[
        str, typer.Option("--format", help="html: one self-contained file; zip: the whole site.")
    ] = "html",
    max_mb: Annotated[
        float | None,
        typer.Option(
            "--max-mb",
            help="html: keep the file within N MB (1,000,000 bytes), leaving out the largest downloads and kernel "
            "pages first, and saying so in it.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output file [default: site.html or site.zip].")] = None,
) -> None:
    """One self-contained HTML file (images inlined, players working) or a zip of the site, for coursework."""
    from .publish import pack_html, pack_zip

    if format_ not in ("html", "zip"):
        raise UserError(f"--format must be html or zip, got {format_!r}")
    if max_mb is not None and format_ != "html":
        raise UserError("--max-mb applies to --format html only (a zip holds the whole site)")
    target = out or directory.with_name(f"{directory.resolve().name}.{format_}")
    if format_ == "zip":
        path = pack_zip(directory, target)
        say(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")
        return
    result = pack_html(directory, target, max_mb=max_mb)
    say(f"wrote {result.path}: {result.pages} pages, {result.images} images, {result.size / 1e6:.1f} MB")
    for line in result.skipped:
        say(f"  left out: {line}")
    if result.left_out:
        say(f"  left out to stay within {max_mb:g} MB (the file says so at its top): {len(result.left_out)} items")


def _writable_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise UserError(f"output path {path} exists and is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder {path}: {e.strerror}") from None


def main() -> None:
    app()
