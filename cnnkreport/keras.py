"""`cnnkreport.keras.KernelRecorder`: a Keras 3 callback (any backend) that records a model's conv kernels as it
learns, in the run format (sources/recorder.py writes it), so that `cnnkreport render RUN_DIR` draws the gallery.

    from cnnkreport.keras import KernelRecorder

    model.fit(x, y, epochs=5, validation_data=(x_val, y_val), callbacks=[KernelRecorder("runs/mine", every=20)])

Recorded: the kernels of every Conv1D, Conv2D, DepthwiseConv1D/2D, SeparableConv1D/2D ("<name>.depthwise" and
"<name>.pointwise") and ConvLSTM1D/2D ("<name>" and "<name>.recurrent") in the model, nested models and wrappers
included ("<outer>.<inner>"), named as Keras names them and converted to PyTorch's layout by the very functions that
read them from a Keras file (sources/keraslayers.py); transposed and 3-D convolutions are listed as not shown. At
step 0 (on_train_begin, before any batch), after every `every`-th batch, and at the end of training; with the loss
and accuracy Keras reports for each batch (its running means over the epoch) and the validation accuracy at each
epoch's end. keras itself is imported only when KernelRecorder is first used (`pip install 'cnnkreport[keras]'`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError
from .rundir import LayerInfo, Unshown
from .sources.keraslayers import KINDS, Spec, pick_kernels, torch_parts
from .sources.layers import CONV3D, TRANSPOSED
from .sources.recorder import Recorder, check_every, check_run_dir

__all__ = ["KernelRecorder"]  # noqa: F822 -- made on first use (__getattr__)

# Keras's names of an accuracy metric in `logs` (the first one there is taken); "val_" + it, its validation value
ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")
_WRAPPED = ("layer", "forward_layer", "backward_layer")  # TimeDistributed, Bidirectional (as keraslayers.SLOTS)


def _spec(layer: Any) -> Spec | None:
    """The Keras conv class a layer is (a subclass of Conv1D is a Conv1D), or None."""
    return next((KINDS[c.__name__] for c in type(layer).__mro__ if c.__name__ in KINDS), None)


def _children(layer: Any) -> list[Any]:
    """The layers a layer holds: a model's layers, a wrapper's, or those of a custom layer."""
    flatten = getattr(layer, "_flatten_layers", None)
    if callable(flatten):
        return list(flatten(include_self=False, recursive=False))
    found = list(getattr(layer, "layers", None) or [])
    return found + [getattr(layer, s) for s in _WRAPPED if getattr(layer, s, None) is not None]


def conv_layers(model: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Spec, list[Any]]]:
    """(name, its Keras class, its kernel variables in torch_parts' order) of every built conv layer of a model,
    in order; a layer inside another is "<outer>.<inner>", as the file readers name it."""
    for layer in _children(model):
        name, spec = prefix + layer.name, _spec(layer)
        if spec is None:
            if depth < 32:
                yield from conv_layers(layer, f"{name}.", depth + 1)
            continue
        by_path = {v.path: v for v in layer.weights}
        picked = [by_path[p] for p in pick_kernels(spec, list(by_path)) if p is not None]
        if picked:  # a layer that was never built has no variables, and nothing to record
            yield name, spec, picked


def _numpy(variable: Any) -> np.ndarray:
    import keras

    return np.array(keras.ops.convert_to_numpy(variable), dtype=np.float32)  # a copy, whatever the backend


def kernels(layers: list[tuple[str, Spec, list[Any]]]) -> dict[str, np.ndarray]:
    """Every recorded layer's kernels now, in PyTorch's layout (float32 copies), by layer name."""
    out: dict[str, np.ndarray] = {}
    for name, spec, variables in layers:
        for part, a in torch_parts(name, spec, [_numpy(v) for v in variables]).items():
            if part in out:
                raise UserError(f"two conv layers of the Keras model are named {part!r}: give them other names")
            out[part] = np.ascontiguousarray(a)
    return out


def _split(layers: list[tuple[str, Spec, list[Any]]]) -> tuple[list[tuple[str, Spec, list[Any]]], list[Unshown]]:
    """The layers the run records (1-D and 2-D convolutions), and those it lists as not shown, with why."""
    keep, unshown = [], []
    for layer in layers:
        name, spec, variables = layer
        why = TRANSPOSED if spec.kind == "transpose" else CONV3D if spec.rank == 3 else None
        if why is None:
            keep.append(layer)
            continue
        parts = torch_parts(name, spec, [_numpy(v) for v in variables])
        unshown += [Unshown(part, tuple(a.shape), why) for part, a in parts.items()]
    return keep, unshown


def _metric(logs: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    """The first of `keys` that `logs` holds a number for (a metric of many values is no number here)."""
    for key in keys:
        try:
            return float(logs[key])
        except (KeyError, TypeError, ValueError):
            continue
    return None


class _Recording:
    """What the callback does; KernelRecorder is it on keras.callbacks.Callback (made when first used, as keras
    needs its backend chosen before it is imported)."""

    model: Any  # set by Keras (keras.callbacks.Callback.set_model); on JAX, reading it syncs the variables
    params: dict[str, Any]

    def __init__(self, run_dir: str | Path, every: int = 1, name: str | None = None) -> None:
        super().__init__()
        self.every, self.run_dir, self.name = check_every(every), check_run_dir(run_dir), name
        self.recorder: Recorder | None = None
        self.test_accuracy: float | None = None  # the last validation accuracy
        self._epoch, self._first = 0, 0  # the epoch going on, and the steps before it

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if self.recorder is not None:  # another fit() with the same callback: the run goes on
            self.recorder.reopen()
            return
        layers, unshown = _split(list(conv_layers(self.model)))
        if not layers:
            raise UserError("the Keras model has no Conv1D or Conv2D layer (built) to record")

        def now() -> dict[str, np.ndarray]:
            self.model  # noqa: B018 -- on JAX, reading `model` syncs its variables with the training state
            return kernels(layers)

        infos = [LayerInfo(n, "conv1d" if a.ndim == 3 else "conv2d", a.shape) for n, a in kernels(layers).items()]
        self.recorder = Recorder(self.run_dir, infos, now, self.every, self.name, unshown)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._first = self.recorder.steps if self.recorder else 0

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.recorder is None:
            return
        logs, per_epoch = logs or {}, (self.params or {}).get("steps")
        epoch = self._epoch + (batch + 1) / per_epoch if per_epoch else float(self._epoch)
        metrics = {"epoch": epoch, "loss": _metric(logs, ("loss",)), "train_accuracy": _metric(logs, ACCURACY_KEYS)}
        self.recorder.step(self._first + batch + 1, **{k: v for k, v in metrics.items() if v is not None})

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.recorder is None:
            return
        test = _metric(logs or {}, tuple(f"val_{k}" for k in ACCURACY_KEYS))
        if test is not None:
            self.test_accuracy = test
            self.recorder.note(test_accuracy=test)
        self.recorder.flush()  # an epoch's snapshots on disk: a fit killed later keeps them

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self.recorder is not None:
            self.recorder.close(test_accuracy=self.test_accuracy)


@functools.cache
def _callback_class() -> type:
    try:
        import keras
    except ImportError as e:
        raise UserError(f"cnnkreport.keras needs Keras 3 ({e}): pip install 'cnnkreport[keras]'") from None
    doc = f"A keras.callbacks.Callback that records the model's conv kernels into `run_dir`.\n\n{__doc__}"
    return type("KernelRecorder", (_Recording, keras.callbacks.Callback), {"__module__": __name__, "__doc__": doc})


def __getattr__(name: str) -> Any:
    """`KernelRecorder`, made on first use (importing this module imports no keras)."""
    if name == "KernelRecorder":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
