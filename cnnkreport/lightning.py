"""`cnnkreport.lightning.KernelRecorder`: a Lightning callback that records a LightningModule's Conv1d/Conv2d
kernels as it learns, in the run format, through `cnnkreport.KernelRecorder` (sources/recorder.py), so that
`cnnkreport render RUN_DIR` draws the gallery.

    import lightning
    from cnnkreport.lightning import KernelRecorder

    trainer = lightning.Trainer(max_epochs=5, callbacks=[KernelRecorder("runs/mine", every=20)])
    trainer.fit(module, train_loader, val_loader)

Recorded: step 0 (on_train_start, before the first batch), every `every` optimiser steps (`trainer.global_step`:
with gradient accumulation, batches that do not step are not steps), and the end of training (on_train_end); with
the metrics the module logged (`trainer.callback_metrics`): the training loss (`train_loss`, `loss`, or else the
loss training_step returned), the training accuracy (`train_accuracy`, `train_acc`, `accuracy`, `acc`) and the
validation accuracy (`val_accuracy`, `val_acc`, `valid_acc`...; the sanity check's is left out), each also with a
"_step" suffix (logged with on_step and on_epoch). Only the global-zero process records. lightning itself is
imported only when KernelRecorder is first used (`pip install 'cnnkreport[lightning]'`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import UserError
from .sources.recorder import KernelRecorder as _ModuleRecorder
from .sources.recorder import check_every, check_run_dir

__all__ = ["KernelRecorder"]  # noqa: F822 -- made on first use (__getattr__)

LOSS_KEYS = ("train_loss", "loss")
TRAIN_ACCURACY_KEYS = ("train_accuracy", "train_acc", "accuracy", "acc")
TEST_ACCURACY_KEYS = ("val_accuracy", "val_acc", "valid_accuracy", "valid_acc", "validation_accuracy")


def _number(value: Any) -> float | None:
    """A logged value (a tensor of one element, or a number) as a finite float, else None."""
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


def metric(metrics: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    """The first of `keys` (each "<key>_step" first: the value of this step) that `metrics` holds a number for."""
    for key in keys:
        for name in (f"{key}_step", key):
            if name in metrics and (value := _number(metrics[name])) is not None:
                return value
    return None


def _returned_loss(outputs: Any) -> float | None:
    """The loss training_step returned (a tensor, or a dict with "loss"), if any."""
    return _number(outputs.get("loss") if isinstance(outputs, Mapping) else outputs) if outputs is not None else None


class _Recording:
    """What the callback does; KernelRecorder is it on lightning.pytorch.Callback (made when first used)."""

    def __init__(self, run_dir: str | Path, every: int = 1, name: str | None = None) -> None:
        super().__init__()
        self.every, self.run_dir, self.name = check_every(every), check_run_dir(run_dir), name
        self.recorder: _ModuleRecorder | None = None
        self.test_accuracy: float | None = None  # the last validation accuracy
        self._offset = 0  # steps recorded before this trainer's first (another fit with the same callback)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        if self.recorder is None:
            self.recorder = _ModuleRecorder(pl_module, self.run_dir, self.every, self.name)
        else:  # another fit() with the same callback: the run goes on, from the steps recorded so far
            self.recorder.reopen()
            self._offset = self.recorder.steps - trainer.global_step

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        rec, step = self.recorder, self._offset + trainer.global_step
        if rec is None or step <= rec.steps:  # accumulating gradients: no optimiser step yet
            return
        logged = trainer.callback_metrics
        loss = metric(logged, LOSS_KEYS)
        per_epoch = trainer.num_training_batches
        row = {
            "epoch": trainer.current_epoch + (batch_idx + 1) / per_epoch if math.isfinite(per_epoch) else None,
            "loss": _returned_loss(outputs) if loss is None else loss,
            "train_accuracy": metric(logged, TRAIN_ACCURACY_KEYS),
        }
        rec.step(step, **{k: v for k, v in row.items() if v is not None})

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if self.recorder is None or trainer.sanity_checking:
            return
        test = metric(trainer.callback_metrics, TEST_ACCURACY_KEYS)
        if test is not None:
            self.test_accuracy = test
            self.recorder.note(test_accuracy=test)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.recorder is not None:
            self.recorder.flush()  # an epoch's snapshots on disk: a fit killed later keeps them

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.recorder is not None:
            self.recorder.close(test_accuracy=self.test_accuracy)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.recorder is not None:
            self.recorder.flush()  # keep what was recorded; the run stays "running"


@functools.cache
def _callback_class() -> type:
    try:
        from lightning.pytorch import Callback
    except ImportError as e:
        raise UserError(f"cnnkreport.lightning needs Lightning ({e}): pip install 'cnnkreport[lightning]'") from None
    doc = f"A lightning.pytorch.Callback that records the module's conv kernels into `run_dir`.\n\n{__doc__}"
    return type("KernelRecorder", (_Recording, Callback), {"__module__": __name__, "__doc__": doc})


def __getattr__(name: str) -> Any:
    """`KernelRecorder`, made on first use (importing this module imports no lightning)."""
    if name == "KernelRecorder":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
