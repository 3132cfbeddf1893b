"""KernelRecorder: record the kernels of a user's own model, from their own training loop, in the run format.

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

from dataclasses import replace
from pathlib import Path
from types import TracebackType

from torch import nn

from ..errors import UserError
from ..model import conv_layers
from ..rundir import METRIC_FIELDS, Recording, Run, RunMeta
from ..train import kernels_of, layer_infos


class KernelRecorder:
    """Snapshots of every Conv1d/Conv2d layer of `model`: at step 0 (now), then every `every` calls to step().
    Metrics passed to step() (loss, train_accuracy, test_accuracy, epoch) go to metrics.csv. Files are written
    atomically and in chunks, so a killed loop leaves a readable run folder."""

    def __init__(self, model: nn.Module, run_dir: str | Path, every: int = 1, name: str | None = None) -> None:
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.model, self.every, self.steps = model, every, 0
        self.run = Run(Path(run_dir))
        if not conv_layers(model):
            raise UserError("the model has no Conv1d or Conv2d layer to record")
        if self.run.path.exists() and (not self.run.path.is_dir() or any(self.run.path.iterdir())):
            raise UserError(f"{self.run.path} already exists and is not empty: choose another run folder")
        self.run.path.mkdir(parents=True, exist_ok=True)
        self.meta = RunMeta(name or self.run.path.name, "recorder", "running", 0, tuple(layer_infos(model)))
        self.run.write_meta(self.meta)
        self.recording = Recording(self.run)
        self.recording.snapshot(0, kernels_of(model))
        self.recording.flush()

    def step(self, **metrics: float) -> None:
        """One optimiser step done: record its metrics, and the kernels if it is an `every`-th step."""
        unknown = set(metrics) - set(METRIC_FIELDS) - {"step"}
        if unknown:
            raise ValueError(f"unknown metric {sorted(unknown)[0]!r}; use any of {', '.join(METRIC_FIELDS[1:])}")
        self.steps += 1
        self.recording.rows.append({"step": self.steps, **metrics})
        if self.steps % self.every == 0:
            self.recording.snapshot(self.steps, kernels_of(self.model))
        if self.recording.due():
            self.flush()

    def flush(self) -> None:
        self.recording.flush()
        self.meta = replace(self.meta, steps=self.steps)
        self.run.write_meta(self.meta)

    def close(self, test_accuracy: float | None = None) -> Run:
        """The last snapshot (if the last step was not one already), everything written, the run marked complete."""
        if self.steps % self.every != 0:
            self.recording.snapshot(self.steps, kernels_of(self.model))
        self.meta = replace(self.meta, status="complete", test_accuracy=test_accuracy)
        self.flush()
        return self.run

    def __enter__(self) -> KernelRecorder:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.flush()  # keep what was recorded; the run stays "running"
