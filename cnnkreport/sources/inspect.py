"""`cnnkreport inspect` and `cnnkreport.inspect`: a user's own model, from one checkpoint or several (a training
history), or held in memory (the Python API).

One path for all of them: the arguments are checked (`inspect_options`, the same one-line `UserError` for the
command and the API), the model is read (`read_model`: files are read safely by checkpoint.py, a model in memory
becomes the same `Checkpoint` records in memory.py) into a `Model`, and its Conv1d/Conv2d weights become a run folder
in the run format (`write_run`: one snapshot per checkpoint, the first one the baseline, with the layers not drawn
and the other tensors of a conv weight's rank listed), which pipeline.inspect renders like any other run.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..names import printable
from ..rundir import CheckpointFile, LayerInfo, OtherTensor, Run, RunMeta, Unshown
from .checkpoint import find_checkpoints, history
from .layers import conv_layers, other_tensors
from .memory import in_memory
from .modelfile import Checkpoint


@dataclass(frozen=True)
class InspectOptions:
    """The arguments of an inspect, checked (inspect_options)."""

    layers: str | None = None  # a regular expression that layer names must match (re.search)
    pattern: re.Pattern[str] | None = None  # ...compiled
    trust_pickle: bool = False
    sample_rate: float | None = None  # Hz
    name: str | None = None  # the model's name (None: from its first file, or its class)
    conv_tensors: str | None = None  # a regular expression: tensors whose keys match are read as conv weights
    conv_pattern: re.Pattern[str] | None = None  # ...compiled


@dataclass(frozen=True)
class Model:
    """A model read (read_model): its checkpoints in order (one snapshot each, the first the baseline), the conv
    layers to draw, the convolution-like layers not drawn, with why, and the tensors of a conv weight's rank not
    read as conv weights. A layer's weight in a checkpoint is layer_weight(checkpoint, layer)."""

    name: str
    checkpoints: tuple[Checkpoint, ...]
    convs: tuple[LayerInfo, ...]
    unshown: tuple[Unshown, ...]
    other_tensors: tuple[OtherTensor, ...] = ()


def inspect_options(
    layers: object = None,
    trust_pickle: object = False,
    sample_rate: object = None,
    name: object = None,
    conv_tensors: object = None,
) -> InspectOptions:
    """The arguments that `cnnkreport inspect` and `cnnkreport.inspect` share, checked before anything is read: the
    same input is refused with the same one-line UserError, named as the command's options."""
    rate = checked_sample_rate(sample_rate)  # the first check, as it was on the command line
    if not isinstance(trust_pickle, bool):
        raise UserError(f"--trust-pickle must be True or False, got {trust_pickle!r}")
    if name is not None and not (isinstance(name, str) and name):
        raise UserError(f"name must be a non-empty string, got {name!r}")
    if layers is not None and not isinstance(layers, str):
        raise UserError(f"--layers must be a regular expression, got {layers!r}")
    if conv_tensors is not None and not isinstance(conv_tensors, str):
        raise UserError(f"--conv-tensors must be a regular expression, got {conv_tensors!r}")
    pattern = layer_pattern(layers)
    conv_pattern = regex(conv_tensors, "--conv-tensors")
    return InspectOptions(layers, pattern, trust_pickle, rate, name, conv_tensors, conv_pattern)


def checked_sample_rate(value: object) -> float | None:
    """A sample rate in Hz: a positive finite number, or its text (the command line's); None stays None."""
    if value is None:
        return None
    wrong = "--sample-rate must be a positive number of Hz, got"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise UserError(f"{wrong} {value!r}") from None
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise UserError(f"{wrong} {value!r}")
    rate = float(value)
    if not (math.isfinite(rate) and rate > 0):
        raise UserError(f"{wrong} {rate}")
    return rate


def layer_pattern(layers: str | None) -> re.Pattern[str] | None:
    """The regular expression that layer names must match (None: every layer)."""
    return regex(layers, "--layers")


def regex(text: str | None, option: str) -> re.Pattern[str] | None:
    """An option's regular expression, compiled (None stays None); one that does not compile is a UserError."""
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as e:
        raise UserError(f"{option} is not a valid regular expression: {e}") from None


def model_name(paths: list[Path]) -> str:
    """A name for the model: the first file's name without its step number (ckpt_step100.pt -> ckpt_step), with
    characters that cannot be printed written out (names.printable)."""
    return printable(re.sub(r"[-_.]*\d+$", "", paths[0].stem) or paths[0].stem)


def select_layers(
    opts: InspectOptions, convs: Sequence[LayerInfo], unshown: Sequence[Unshown]
) -> tuple[list[LayerInfo], list[Unshown]]:
    """The layers (drawn and not) whose names match the options' pattern (re.search); none drawn is a UserError."""
    if opts.pattern is None:
        return list(convs), list(unshown)
    convs = [c for c in convs if opts.pattern.search(c.name)]
    if not convs:
        raise UserError(f"no conv layer name matches --layers {opts.layers!r}")
    return convs, [u for u in unshown if opts.pattern.search(u.name)]


def _paths(model: Any) -> list[str | Path]:
    """The files, folders or globs a model is given as: a path, or a list of them."""
    given = [model] if isinstance(model, str | os.PathLike) else model
    if isinstance(given, Sequence) and not isinstance(given, bytes | bytearray):
        odd = [a for a in given if not isinstance(a, str | os.PathLike)]
        if not odd:
            return [a if isinstance(a, str) else Path(a) for a in given]
        what = f"{type(given).__name__} of {type(odd[0]).__name__}"
    else:
        what = type(model).__name__
    raise UserError(f"cannot inspect a {what}: give an nn.Module, a state_dict, paths or an array")


def read_model(model: Any, opts: InspectOptions) -> Model:
    """The one reader of inspect: `model` is files, folders or globs (several make a history), an nn.Module, a
    state_dict, one weight array, or a Model already read (the API's Report.save). Every kind becomes the same
    checked Checkpoints (the tensors matching opts.conv_tensors read as conv weights too); then the layers are
    chosen (opts.layers) and the model named (opts.name, else its own)."""
    convs: Sequence[LayerInfo]
    unshown: Sequence[Unshown]
    if isinstance(model, Model):
        drawn, not_drawn = select_layers(opts, model.convs, model.unshown)
        return replace(model, name=opts.name or model.name, convs=tuple(drawn), unshown=tuple(not_drawn))
    if (held := in_memory(model, opts.conv_pattern)) is not None:
        ckpt, name = held
        checkpoints, (convs, unshown) = [ckpt], conv_layers(ckpt)
    else:
        paths = find_checkpoints(_paths(model))
        checkpoints, convs, unshown = history(paths, opts.trust_pickle, opts.conv_pattern)
        name = model_name(paths)
    drawn, not_drawn = select_layers(opts, convs, unshown)
    others = tuple(other_tensors(checkpoints[0]))
    return Model(opts.name or name, tuple(checkpoints), tuple(drawn), tuple(not_drawn), others)


def write_run(folder: Path, model: Model, sample_rate: float | None = None) -> Run:
    """A model read as a run folder at `folder` (which must not exist): one snapshot of its conv layers per
    checkpoint."""
    run = Run(folder)
    run.path.mkdir()
    checkpoints, convs = model.checkpoints, model.convs
    files = tuple(CheckpointFile(printable(c.path.name), c.step, c.format) for c in checkpoints)
    run.write_meta(
        RunMeta(
            name=model.name,
            source="inspect",
            status="complete",
            steps=checkpoints[-1].step or 0,
            layers=convs,
            unshown=model.unshown,
            other_tensors=model.other_tensors,
            checkpoints=files,
            sample_rate=sample_rate,
        )
    )
    run.write_snapshots([(c.step or 0, {conv.name: layer_weight(c, conv.name) for conv in convs}) for c in checkpoints])
    return run


def weight_key(layer: str) -> str:
    return f"{layer}.weight" if layer else "weight"


def layer_weight(ckpt: Checkpoint, layer: str) -> np.ndarray:
    """A conv layer's weight in a checkpoint: under "<layer>.weight", or under the layer's own name for a tensor
    read as a conv weight by another key ("stft.forward_basis_buffer"; the layers module never draws a layer whose
    name is both)."""
    key = weight_key(layer)
    return ckpt.tensors[key] if key in ckpt.tensors else ckpt.tensors[layer]
