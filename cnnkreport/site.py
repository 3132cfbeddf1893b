"""The static site: gather every run's figures and facts, then write HTML, into a temp folder swapped in at the end.

Layout of the output (all links relative, so it works from file://, a local server, or a sub-path):
  index.html, .nojekyll, static/style.css
  runs/<slug>/index.html and the run's figures, GIFs and config.toml
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from . import __version__, figures, mosaic
from .config import RunConfig, from_dict, read_toml
from .data import make_dataset
from .errors import UserError
from .rundir import LayerInfo, Run, atomic_write_text

MARKER = ".cnnkreport-site"  # marks a folder as ours, so we never replace a folder we did not make


def templates_dir() -> Path:
    """Installed wheels carry the templates inside the package; a source checkout has them at the top level."""
    packaged = Path(str(resources.files("cnnkreport"))) / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "templates"


def slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return s or "x"


@dataclass(frozen=True)
class Figure:
    src: str  # relative to the run page
    alt: str
    caption: str
    pixels: bool = False  # kernel pictures: enlarge with hard pixel edges, never smooth them


@dataclass
class LayerView:
    info: LayerInfo
    slug: str
    figures: list[Figure] = field(default_factory=list)


@dataclass
class RunView:
    name: str
    slug: str
    meta: dict[str, Any]
    config_text: str | None
    layers: list[LayerView]
    figures: list[Figure]  # run-level: curves, data samples
    snapshots: int
    steps: int

    @property
    def test_accuracy(self) -> float | None:
        return self.meta.get("test_accuracy")

    @property
    def first_mosaic(self) -> str | None:
        return self.layers[0].figures[0].src if self.layers and self.layers[0].figures else None


def _unique_slugs(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        s = slug(n)
        seen[s] = seen.get(s, 0) + 1
        out.append(s if seen[s] == 1 else f"{s}-{seen[s]}")
    return out


def _describe(info: LayerInfo) -> str:
    out_c, in_c, *k = info.shape
    return f"{out_c} kernels of {' x '.join(map(str, k))}, {in_c} input channel{'s' if in_c != 1 else ''}"


def _run_figures(run: Run, cfg: RunConfig | None, folder: Path, meta: dict[str, Any]) -> list[Figure]:
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


def _layer_figures(run: Run, info: LayerInfo, lslug: str, folder: Path, first: bool) -> list[Figure]:
    steps, w = run.read_kernels(info.name)  # (S,), (S, out, in, *k)
    figs = []
    mosaic.write_png(folder / f"{lslug}-mosaic.png", mosaic.layer_mosaic(w[-1]))
    what = "stem plot" if info.kind == "conv1d" and info.shape[1] == 1 else "tile"
    layout = ""
    if info.shape[1] > 1:
        layout = (
            "A row per kernel, a column per input channel. "
            if info.kind == "conv2d"
            else "A tile per kernel: a row per input channel, a column per tap. "
        )
    figs.append(
        Figure(
            f"{lslug}-mosaic.png",
            f"Layer {info.name}: {_describe(info)}, after training, each {what} on its own scale",
            f"After training (step {int(steps[-1]):,}). {layout}Each {what} is scaled to its own largest weight; "
            + (
                "bars go up for positive weights."
                if what == "stem plot"
                else "mid-grey is zero, white positive, black negative."
            ),
            pixels=True,
        )
    )
    mosaic.write_png(folder / f"{lslug}-mosaic-global.png", mosaic.layer_mosaic(w[-1], scale="global"))
    figs.append(
        Figure(
            f"{lslug}-mosaic-global.png",
            f"Layer {info.name} after training, all kernels on one common scale",
            "The same kernels on one common scale: weak kernels fade towards zero.",
            pixels=True,
        )
    )
    if first:
        mosaic.write_gif(folder / f"{lslug}-evolution.gif", mosaic.evolution_frames(steps, w))
        figs.append(
            Figure(
                f"{lslug}-evolution.gif",
                f"Animation of layer {info.name}'s kernels from initialisation (step 0) to step {int(steps[-1]):,}",
                f"The kernels at each of {len(steps)} snapshots, from initialisation to the end, each kernel on one "
                "scale over the whole run so that growth is visible.",
                pixels=True,
            )
        )
    return figs


def gather(run_paths: list[Path], out: Path, on_run: Callable[[str], None] | None = None) -> list[RunView]:
    """Phase 1: read every run and write its figures under `out/runs/<slug>/`; `on_run(name)` after each."""
    runs = [Run(p) for p in run_paths]
    metas = [r.read_meta() for r in runs]  # fail early, before any drawing, on a folder that is not a run
    views = []
    for run, meta, rslug in zip(
        runs,
        metas,
        _unique_slugs([m.get("name") or r.path.name for r, m in zip(runs, metas, strict=True)]),
        strict=True,
    ):
        name = meta.get("name") or run.path.name
        folder = out / "runs" / rslug
        folder.mkdir(parents=True, exist_ok=True)
        cfg, config_text = None, None
        if run.config_path.is_file():
            config_text = run.config_path.read_text(encoding="utf-8")
            cfg = from_dict(RunConfig, read_toml(run.config_path))
            shutil.copyfile(run.config_path, folder / "config.toml")
        layers = []
        infos = run.layers()
        for i, (info, lslug) in enumerate(zip(infos, _unique_slugs([li.name for li in infos]), strict=True)):
            layers.append(LayerView(info, lslug, _layer_figures(run, info, lslug, folder, first=(i == 0))))
        views.append(
            RunView(
                name,
                rslug,
                meta,
                config_text,
                layers,
                _run_figures(run, cfg, folder, meta),
                len(run.snapshot_steps()),
                int(meta.get("steps") or 0),
            )
        )
        if on_run:
            on_run(name)
    return views


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"
    env.filters["describe"] = _describe
    return env


def write_pages(views: list[RunView], out: Path) -> None:
    """Phase 2: the HTML pages and static files."""
    env = _env()
    common = {"version": __version__, "runs": views}
    atomic_write_text(out / "index.html", env.get_template("index.html").render(root="", page="index", **common))
    for v in views:
        html = env.get_template("run.html").render(root="../../", page="run", run=v, **common)
        atomic_write_text(out / "runs" / v.slug / "index.html", html)
    shutil.copytree(templates_dir() / "static", out / "static", dirs_exist_ok=True)
    (out / ".nojekyll").write_text("")
    (out / MARKER).write_text(f"made by cnnkreport {__version__}\n")


def check_out_dir(out: Path) -> None:
    """Refuse to replace anything that is not a previous cnnkreport site."""
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} exists and is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(f"output folder {out} is not empty and was not made by cnnkreport; choose another --out")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UserError(f"cannot write the site: folder {parent} does not exist")
    try:  # a real probe: permission bits say nothing for root, or on a read-only mount
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent))
    except OSError as e:
        raise UserError(f"cannot write the site in {parent}: {e.strerror}") from None


def build_site(run_paths: list[Path], out: Path, on_run: Callable[[str], None] | None = None) -> list[RunView]:
    """Render the site for `run_paths` into `out`. A failure leaves the previous site at `out` untouched."""
    if not run_paths:
        raise UserError("no runs to render")
    check_out_dir(out)
    out = out.resolve()
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as e:
        raise UserError(f"cannot write the site in {out.parent}: {e.strerror}") from None
    try:
        views = gather(run_paths, tmp, on_run)
        write_pages(views, tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a published site is not
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except OSError as e:  # a full disk, a file that vanished: one line, and the previous site stays
        raise UserError(f"cannot write the site: {e.strerror or e}{f' ({e.filename})' if e.filename else ''}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return views
