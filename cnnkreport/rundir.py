"""The run folder: the one place that knows its layout. Every file is written atomically (temp file + rename).

runs/NAME/
  run.json            what the run is: name, source, status, classes, conv layers, final test accuracy
  config.toml         the resolved config (reproduces the run)
  metrics.csv         step, epoch, loss, train_accuracy (of that step's batch), test_accuracy (where evaluated)
  snapshots/step-00000042.npz   the weights of every conv layer after 42 optimiser steps (0 = initialisation)
  weights.pt          final weights, a plain state_dict (torch.load(..., weights_only=True))
  resume.pt           training state at the last snapshot, while the run is unfinished
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import UserError

FORMAT_VERSION = 1
METRIC_FIELDS = ("step", "epoch", "loss", "train_accuracy", "test_accuracy")
_SNAPSHOT = re.compile(r"^step-(\d{8})\.npz$")
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through `write(fh)` (a binary file) into a temp file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes files private; ours are ordinary files
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str  # "conv1d" | "conv2d"
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Run:
    """A run folder on disk. Paths are derived here and nowhere else."""

    path: Path

    @property
    def meta_path(self) -> Path:
        return self.path / "run.json"

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def snapshot_dir(self) -> Path:
        return self.path / "snapshots"

    @property
    def weights_path(self) -> Path:
        return self.path / "weights.pt"

    @property
    def resume_path(self) -> Path:
        return self.path / "resume.pt"

    def snapshot_path(self, step: int) -> Path:
        return self.snapshot_dir / f"step-{step:08d}.npz"

    # --- writing -------------------------------------------------------------------------------------------

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write_text(self.meta_path, json.dumps({"version": FORMAT_VERSION, **meta}, indent=2) + "\n")

    def write_snapshot(self, step: int, kernels: dict[str, np.ndarray]) -> None:
        atomic_write(self.snapshot_path(step), lambda fh: np.savez(fh, allow_pickle=False, **kernels))

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in METRIC_FIELDS})
        atomic_write_text(self.metrics_path, buf.getvalue())

    # --- reading -------------------------------------------------------------------------------------------

    def read_meta(self) -> dict[str, Any]:
        if not self.meta_path.is_file():
            raise UserError(f"{self.path}: not a run folder (no run.json)")
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{self.meta_path}: corrupt run.json ({e})") from None
        if not isinstance(meta, dict) or meta.get("version") != FORMAT_VERSION:
            raise UserError(f"{self.meta_path}: unsupported run format version {meta.get('version')!r}")
        return meta

    def layers(self) -> list[LayerInfo]:
        return [LayerInfo(d["name"], d["kind"], tuple(d["shape"])) for d in self.read_meta()["layers"]]

    def snapshot_steps(self) -> list[int]:
        if not self.snapshot_dir.is_dir():
            return []
        steps = [int(m.group(1)) for p in self.snapshot_dir.iterdir() if (m := _SNAPSHOT.match(p.name))]
        return sorted(steps)

    def read_snapshot(self, step: int) -> dict[str, np.ndarray]:
        path = self.snapshot_path(step)
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as e:
            raise UserError(f"{path}: corrupt snapshot ({e})") from None

    def read_kernels(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps (S,), weights (S, *shape)) of one layer over all snapshots."""
        steps = self.snapshot_steps()
        if not steps:
            raise UserError(f"{self.path}: run has no kernel snapshots")
        w = np.stack([self.read_snapshot(s)[layer] for s in steps])
        return np.asarray(steps), w

    def read_metrics(self) -> list[dict[str, float | None]]:
        if not self.metrics_path.is_file():
            return []
        with open(self.metrics_path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))

        def num(v: str | None) -> float | None:
            if v in (None, ""):
                return None
            x = float(v)
            return x if math.isfinite(x) else None

        try:
            return [{k: num(r.get(k)) for k in METRIC_FIELDS} for r in rows]
        except ValueError as e:
            raise UserError(f"{self.metrics_path}: corrupt metrics ({e})") from None
