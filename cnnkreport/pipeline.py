"""`cnnkreport build`: train the default presets and render the site, in one go, reusing finished runs."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import DEFAULT_PRESETS, DEVICES, RunConfig, from_dict, load_run_config, preset, quick, read_toml
from .errors import UserError
from .rundir import Run
from .site import RunView, build_site, check_out_dir
from .train import TrainResult, train


@dataclass(frozen=True)
class BuildConfig:
    """What `build` does. In a TOML file, `[overrides.PRESET]` tables change a preset's run config."""

    out: str = "site"
    runs: str = "runs"  # where the trained runs are kept (runs/<preset>)
    presets: tuple[str, ...] = DEFAULT_PRESETS
    seed: int = 0
    quick: bool = False
    device: str = "auto"
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
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
            cfg = from_dict(RunConfig, self.overrides.get(name, {}), f"overrides.{name}", cfg)
            cfgs.append(quick(cfg) if self.quick else cfg)
        return cfgs


def load_build_config(path: Path | None, **cli: Any) -> BuildConfig:
    """The build config from a TOML file (if any), then command-line options (those not None) on top."""
    d: dict[str, Any] = dict(read_toml(path)) if path is not None else {}
    overrides = d.pop("overrides", {})
    where = f"{path}: " if path else ""
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise UserError(f"{where}overrides must hold one table per preset, like [overrides.pulses-2d.train]")
    try:
        d = {k: v for k, v in d.items() if k != "overrides"}
        cfg: BuildConfig = from_dict(BuildConfig, d)
        cfg = replace(cfg, overrides=overrides, **{k: v for k, v in cli.items() if v is not None})
        cfg.run_configs()  # validate every override now, before hours of work
        return cfg
    except UserError as e:
        raise UserError(f"{where}{e}") from None


def _reusable(run: Run, cfg: RunConfig) -> bool:
    """A finished run made from exactly this config needs no retraining."""
    try:
        meta = run.read_meta()
        return meta.get("status") == "complete" and load_run_config(run.config_path, cfg) == cfg
    except UserError:
        return False


def train_into(cfg: RunConfig, path: Path, on_step: Callable[[int, int], None] | None) -> TrainResult:
    """Train into a temp folder beside `path` and swap it in when done: a failed run never replaces a good one.
    Only a folder that `build` made itself (run.json says so) is ever replaced."""
    if path.exists():
        try:
            made_by_build = Run(path).read_meta().get("made_by") == "build"
        except UserError:
            made_by_build = False
        if not made_by_build:
            raise UserError(f"{path} exists and was not made by `cnnkreport build`; move it, or use another --runs")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    except OSError as e:
        raise UserError(f"cannot create runs folder {path.parent}: {e.strerror}") from None
    try:
        result = train(cfg, tmp, on_step=on_step)
        run = Run(tmp)
        run.write_meta({**run.read_meta(), "made_by": "build"})
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return replace(result, run=Run(path))


def build(
    cfg: BuildConfig,
    on_train: Callable[[RunConfig, bool], Callable[[int, int], None] | None] = lambda c, r: None,
    on_render: Callable[[str], None] | None = None,
) -> list[RunView]:
    """Train (or reuse) every preset's run under cfg.runs, then render them all into cfg.out.
    `on_train(run_config, reused)` may return a per-step progress callback."""
    check_out_dir(Path(cfg.out))  # fail before training, not after
    paths = []
    for rc in cfg.run_configs():
        path = Path(cfg.runs) / rc.name
        reused = _reusable(Run(path), rc)
        callback = on_train(rc, reused)
        if not reused:
            train_into(rc, path, callback)
        paths.append(path)
    return build_site(paths, Path(cfg.out), on_render)
