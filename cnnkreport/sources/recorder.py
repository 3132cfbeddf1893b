"""Recording the kernels of a user's own model as it learns, in the run format: `Recorder`, the one writer of a
recorded run, and `KernelRecorder`, for a PyTorch model in the user's own training loop. The Keras and Lightning
callbacks (cnnkreport.keras, cnnkreport.lightning) write through `Recorder` too.

    from cnnkreport import KernelRecorder

    recorder = KernelRecorder(model, "runs/mine", every=20)   # snapshots step 0 (the initialisation) at once
    for x, y in loader:
        ...
        optimizer.step()
        recorder.step(loss=loss.item())                         # counts steps; snapshots every 20th
    recorder.close(test_accuracy=0.97)

Then `cnnkreport render runs/mine` draws the same gallery as for a built-in run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parameter import is_lazy

from ..errors import UserError
from ..files import atomic_write
from ..model import conv_layers
from ..rundir import METRIC_FIELDS, LayerInfo, Recording, Run, RunMeta, Unshown
from ..train import kernels_of, layer_infos

Kernels = Callable[[], dict[str, np.ndarray]]  # the conv layers' weights now, (out, in_per_group, *k) each, copies


def check_every(every: object) -> int:
    """`every` (snapshot every so many steps), a whole number of at least 1, else a UserError."""
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise UserError(f"every must be a whole number of steps, at least 1, not {every!r}")
    return every


def check_run_dir(run_dir: str | Path) -> Path:
    """A run folder to record into: one that does not exist yet, or an empty folder; else a UserError."""
    path = Path(run_dir)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file, not a folder: choose another run folder")
    if path.is_dir() and any(path.iterdir()):
        raise UserError(f"{path} already exists and is not empty: choose another run folder")
    return path


def _checked(metrics: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(metrics) - set(METRIC_FIELDS[1:])
    if unknown:
        raise ValueError(f"unknown metric {sorted(unknown)[0]!r}; use any of {', '.join(METRIC_FIELDS[1:])}")
    return dict(metrics)


class Recorder:
    """The one writer of a recorded run (run.json with source "recorder", snapshot chunks, metrics.csv, weights.pt),
    whatever the framework: `kernels()` gives the conv layers' weights in PyTorch's layout, `layers` says what they
    are. Snapshots step 0 at once, then one each time the step count reaches a multiple of `every`, and the last at
    close(). Files are written atomically and in chunks, so a killed loop leaves a readable run folder."""

    def __init__(
        self,
        run_dir: str | Path,
        layers: Sequence[LayerInfo],
        kernels: Kernels,
        every: int = 1,
        name: str | None = None,
        unshown: Sequence[Unshown] = (),
        weights: Callable[[], Mapping[str, torch.Tensor]] | None = None,
    ) -> None:
        self.every = check_every(every)
        self.run = Run(check_run_dir(run_dir))
        if not layers:
            raise UserError("the model has no Conv1d or Conv2d layer to record")
        self.kernels, self.weights = kernels, weights
        self.steps = self.snapped = 0  # steps done; the step of the last snapshot
        self.run.path.mkdir(parents=True, exist_ok=True)
        self.meta = RunMeta(name or self.run.path.name, "recorder", "running", 0, tuple(layers), unshown=tuple(unshown))
        self.run.write_meta(self.meta)
        self.recording = Recording(self.run)
        self.recording.snapshot(0, kernels())
        self.recording.flush()

    def step(self, step: int | None = None, **metrics: float) -> None:
        """One optimiser step done (or, with `step`, so many done in all, as a framework counts them): record its
        metrics (loss, train_accuracy, test_accuracy, epoch), and the kernels if a multiple of `every` is reached."""
        row = _checked(metrics)
        new = self.steps + 1 if step is None else int(step)
        if new <= self.steps:
            raise ValueError(f"step {new} is not after the last step recorded, {self.steps}")
        self.steps = new
        self.recording.rows.append({"step": new, **row})
        if new // self.every > self.snapped // self.every:
            self.recording.snapshot(new, self.kernels())
            self.snapped = new
        if self.recording.due():
            self.flush()

    def note(self, **metrics: float) -> None:
        """Metrics measured after the last step recorded (a validation accuracy at an epoch's end): added to its
        row."""
        row = _checked(metrics)
        rows = self.recording.rows
        if rows and rows[-1]["step"] == self.steps:
            rows[-1].update(row)
        else:
            rows.append({"step": self.steps, **row})

    def flush(self) -> None:
        self.recording.flush()
        self.meta = replace(self.meta, steps=self.steps)
        self.run.write_meta(self.meta)

    def reopen(self) -> None:
        """Recording goes on after close() (a second `fit` with the same callback): the run is "running" again."""
        self.meta = replace(self.meta, status="running")
        self.run.write_meta(self.meta)

    def close(self, test_accuracy: float | None = None) -> Run:
        """The last snapshot (if the last step was not one already), the final weights, everything written, the run
        marked complete."""
        final = self.kernels() if self.snapped != self.steps or self.weights is None else {}
        if self.snapped != self.steps:
            self.recording.snapshot(self.steps, final)
            self.snapped = self.steps
        weights = dict(self.weights()) if self.weights else {_key(n): torch.from_numpy(a) for n, a in final.items()}
        atomic_write(self.run.weights_path, lambda fh: torch.save(weights, fh))
        self.meta = replace(self.meta, status="complete", test_accuracy=test_accuracy)
        self.flush()
        return self.run


def _key(layer: str) -> str:
    """A layer's weight as a state_dict key: "conv1" -> "conv1.weight", the root module "" -> "weight"."""
    return f"{layer}.weight" if layer else "weight"


class KernelRecorder(Recorder):
    """Snapshots of every Conv1d/Conv2d layer of `model`: at step 0 (now), then every `every` calls to step().
    Metrics passed to step() (loss, train_accuracy, test_accuracy, epoch) go to metrics.csv; close() writes the
    model's state_dict as weights.pt. Files are written atomically and in chunks, so a killed loop leaves a readable
    run folder."""

    def __init__(self, model: nn.Module, run_dir: str | Path, every: int = 1, name: str | None = None) -> None:
        check_every(every)
        check_run_dir(run_dir)
        if not conv_layers(model):
            raise UserError("the model has no Conv1d or Conv2d layer to record")
        self.model = model

        def weights() -> dict[str, torch.Tensor]:  # a lazy module's weights not made yet (never run) are left out
            return {k: v.detach().cpu() for k, v in model.state_dict().items() if not is_lazy(v)}

        super().__init__(run_dir, layer_infos(model), lambda: kernels_of(model), every, name, weights=weights)

    def __enter__(self) -> KernelRecorder:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.flush()  # keep what was recorded; the run stays "running"
