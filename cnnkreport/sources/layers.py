"""Which weights of a read model file are conv layers to draw, which convolution-like ones are not, and why, and
which tensors of a conv weight's rank were not read as conv weights at all.

Where a model's graph says which tensors it passes to a convolution (a TorchScript program: `Checkpoint.conv_keys`),
those are its conv weights, parameters, buffers or plain attributes alike, with the weights of its torch conv
modules; otherwise a convolution-like weight is a 3-, 4- or 5-D tensor under a "weight" key ("features.0.weight"; a
bare "weight" is the root module's). `--conv-tensors REGEX` (`with_conv_tensors`) adds the tensors whose key matches.
(out, in_per_group, k) is a Conv1d, (out, in_per_group, kh, kw) a Conv2d, 5-D a Conv3d (not drawn). A layer is
named by its weight's key less ".weight" ("features.0"; "" for the root module), a tensor of another name by its
key ("stft.forward_basis_buffer"). A transposed convolution's weight, (in, out, k...), looks alike: it is told by
the graph or its module's class when the file says (TorchScript, pickled models, ONNX, Keras), else guessed from
its name. Built-in torch modules that are not convolutions (nn.Bilinear) are left out; 1-D filters longer than
MAX_TAPS and 2-D kernels larger than MAX_KERNEL_SIDE on a side are not drawn. Tensors of 3 to 5 dimensions read as
none of these are `other_tensors`, listed on the run page. This works on arrays already read (a `Checkpoint`): it
opens no file and runs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from torch import nn

from ..errors import UserError
from ..rundir import LayerInfo, OtherTensor, Unshown
from .modelfile import Checkpoint, shape_text

# 2-D kernels up to this many pixels per side are analysed (a dense template bank of a few thousand templates), and
# 1-D filters (Conv1d, or Conv2d kernels of (k, 1) or (1, k)) up to MAX_TAPS taps (fitted families, analysis/fit.py).
MAX_KERNEL_SIDE = 64
MAX_TAPS = 8192
TRANSPOSED = "a transposed convolution: its weight is (in, out, k...), which this report does not draw"
CONV3D = "a Conv3d (5-D weight): only 1-D and 2-D kernels are shown"
CONV_RANKS = (3, 4, 5)
_NAME_GUESS = re.compile(r"transpose|deconv|upconv", re.IGNORECASE)
_TORCH_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def is_conv_weight(key: str, ndim: int) -> bool:
    """A convolution-like weight, by its state_dict key and number of dimensions."""
    return (key == "weight" or key.endswith(".weight")) and ndim in CONV_RANKS


def _layer_name(key: str) -> str:
    """The layer of a conv weight's key: "features.0.weight" -> "features.0", "weight" -> "" (the root module),
    any other key itself ("stft.forward_basis_buffer")."""
    return "" if key == "weight" else key.removesuffix(".weight")


def layer_label(name: str) -> str:
    """A layer name for messages: the root module (name "") is called by its key, "weight"."""
    return name or "weight"


def _torch_non_conv(kind: str) -> bool:
    """A built-in torch module that is known not to be a convolution (nn.Bilinear has a 3-D weight)."""
    cls = getattr(nn, kind, None)
    return isinstance(cls, type) and issubclass(cls, nn.Module) and not issubclass(cls, _TORCH_CONVS)


def _torch_conv(kind: str | None) -> bool:
    cls = getattr(nn, kind, None) if kind else None
    return isinstance(cls, type) and issubclass(cls, _TORCH_CONVS)


def conv_weights(ckpt: Checkpoint) -> Iterator[tuple[str, str, np.ndarray, str | None]]:
    """(key, layer name, weight, module class name if known) of every convolution-like weight, in order."""
    known = ckpt.conv_keys
    for key, a in ckpt.tensors.items():
        if a.ndim not in CONV_RANKS:
            continue
        name = _layer_name(key)
        kind = ckpt.module_kinds.get(name) if key == "weight" or key.endswith(".weight") else None
        if known is not None and key in known:
            yield key, name, a, known[key] or kind
        elif not is_conv_weight(key, a.ndim):
            continue
        elif _torch_conv(kind) if known is not None else not _torch_non_conv(kind or ""):
            yield key, name, a, kind


def other_tensors(ckpt: Checkpoint) -> list[OtherTensor]:
    """The tensors of a conv weight's rank (3 to 5 dimensions) that are not read as conv weights (a `*_basis`
    buffer, an attention table, the stored tensors a listed computed weight is made from), in the file's order."""
    used = {key for key, *_ in conv_weights(ckpt)} | {u.name for u in ckpt.unread}
    return [
        OtherTensor(k, tuple(int(s) for s in a.shape))
        for k, a in ckpt.tensors.items()
        if a.ndim in CONV_RANKS and k not in used
    ]


def with_conv_tensors(ckpt: Checkpoint, pattern: re.Pattern[str] | None) -> Checkpoint:
    """The checkpoint with the tensors of 3 to 5 dimensions whose key matches `pattern` (re.search) read as conv
    weights too (--conv-tensors); one that matches none is a UserError."""
    if pattern is None:
        return ckpt
    matched = [k for k, a in ckpt.tensors.items() if a.ndim in CONV_RANKS and pattern.search(k)]
    if not matched:
        ranked = [f"{k} {shape_text(a.shape)}" for k, a in ckpt.tensors.items() if a.ndim in CONV_RANKS][:3]
        some = f"; those there are: {', '.join(ranked)}" if ranked else ""
        raise UserError(f"{ckpt.path}: --conv-tensors {pattern.pattern!r} matches no tensor of 3 to 5 dimensions{some}")
    known: dict[str, str | None] = {key: kind for key, _name, _a, kind in conv_weights(ckpt)}
    return replace(ckpt, conv_keys={**known, **{k: known.get(k) for k in matched}})


def _one_d(spatial: tuple[int, ...]) -> bool:
    """A Conv1d kernel, or a Conv2d kernel of (k, 1) or (1, k): a 1-D filter."""
    return len(spatial) == 1 or min(spatial) == 1


def _too_large(spatial: tuple[int, ...]) -> str | None:
    """Why kernels of this spatial shape are not analysed, or None when they are."""
    if _one_d(spatial):
        if max(spatial) <= MAX_TAPS:
            return None
        return f"a filter of {max(spatial):,} taps: more than the {MAX_TAPS:,} that cnnkreport analyses"
    if max(spatial) <= MAX_KERNEL_SIDE:
        return None
    return (
        f"kernels of {' x '.join(map(str, spatial))}: larger than the {MAX_KERNEL_SIDE} x {MAX_KERNEL_SIDE} "
        "that cnnkreport analyses"
    )


def _classify(ckpt: Checkpoint) -> tuple[list[LayerInfo], list[Unshown]]:
    shown: list[LayerInfo] = []
    unshown: list[Unshown] = []
    names: set[str] = set()
    for key, name, a, kind in conv_weights(ckpt):
        shape = tuple(int(s) for s in a.shape)
        if name in names or (name == key and f"{key}.weight" in ckpt.tensors):
            unshown.append(Unshown(key, shape, f"its layer name {name} is also the tensor {key}.weight's"))
            continue
        names.add(name)
        if kind is not None and ("transpose" in kind.lower() or "deconv" in kind.lower()):
            unshown.append(Unshown(name, shape, TRANSPOSED))
        elif kind is None and _NAME_GUESS.search(name):
            unshown.append(Unshown(name, shape, TRANSPOSED + " (guessed from its name)"))
        elif a.ndim == 5:
            unshown.append(Unshown(name, shape, CONV3D))
        elif (why := _too_large(shape[2:])) is not None:
            unshown.append(Unshown(name, shape, why))
        else:
            shown.append(LayerInfo(name, "conv1d" if a.ndim == 3 else "conv2d", shape))
    return shown, unshown + list(ckpt.unread)


def conv_layers(ckpt: Checkpoint) -> tuple[list[LayerInfo], list[Unshown]]:
    """The Conv1d/Conv2d layers to draw (by weight key and shape, in state_dict order) and the convolution-like
    weights that are not drawn, with why (transposed, Conv3d, kernels too large, computed in the graph). Without module
    kinds (state_dicts, safetensors) a transposed convolution can only be told from its name; otherwise it is drawn
    as an ordinary conv of its weight. A checkpoint with nothing to draw is a UserError."""
    shown, unshown = _classify(ckpt)
    if not shown and not unshown:
        examples = ", ".join(f"{k} {shape_text(a.shape)}" for k, a in list(ckpt.tensors.items())[:3])
        more = f"; shapes like {examples}" if examples else ""
        n = len(ckpt.tensors)
        hint = "; --conv-tensors REGEX reads ones of 3 to 5 dimensions as conv weights" if other_tensors(ckpt) else ""
        raise UserError(f"{ckpt.path}: no Conv1d or Conv2d layer found ({n} tensor{'s' if n != 1 else ''}{more}){hint}")
    if not shown:
        u = unshown[0]
        others = f" (and {len(unshown) - 1} more that cannot be drawn)" if len(unshown) > 1 else ""
        raise UserError(
            f"{ckpt.path}: no conv layer that cnnkreport can draw: layer {layer_label(u.name)} "
            f"{shape_text(u.shape)} is {u.reason}{others}"
        )
    return shown, unshown


def layer_mismatch(
    a: Checkpoint, la: list[LayerInfo], b: Checkpoint, lb: list[LayerInfo], label: dict[Path, str]
) -> str | None:
    """The first difference between two checkpoints' conv layers (b against the reference a), or None."""
    shapes_a = {layer.name: layer.shape for layer in la}
    shapes_b = {layer.name: layer.shape for layer in lb}
    for layer in la:
        if layer.name not in shapes_b:
            return (
                f"{label[b.path]}: has no layer {layer_label(layer.name)} "
                f"({label[a.path]} has it, shape {shape_text(layer.shape)})"
            )
        if shapes_b[layer.name] != layer.shape:
            return (
                f"{label[b.path]}: layer {layer_label(layer.name)} has shape {shape_text(shapes_b[layer.name])}, "
                f"{label[a.path]} has {shape_text(layer.shape)}"
            )
    extra = next((layer for layer in lb if layer.name not in shapes_a), None)
    if extra is not None:
        return f"{label[b.path]}: layer {layer_label(extra.name)} is not in {label[a.path]}"
    return None
