"""The Keras layers that hold conv kernels, their configs, and their kernels in PyTorch's layout (kerasfile.py finds
them in a file's layout; kerash5.py reads the arrays).

A model config's layer list becomes `Layer`s: a nested model has its layers as children, and so has a wrapper
(TimeDistributed: its `layer`; Bidirectional: its `layer` and `backward_layer`, the forward and backward copies),
each child with the group (`slot`) that Keras 3 keeps its variables in. Kernels take PyTorch's layout as float32
(no flip: both compute cross-correlation): ConvND (k..., in/groups, out) -> (out, in/groups, k...); a transposed
conv (k..., out, in) -> (in, out, k...), listed as not drawn; DepthwiseConvND (k..., in, multiplier) ->
(in*multiplier, 1, k...), channel c*multiplier+m; SeparableConvND -> layers "<name>.depthwise" and
"<name>.pointwise" (1x1); ConvLSTMND, whose kernels convolve the input and the state into the four gates ->
"<name>" (4*filters, in, k...) and "<name>.recurrent" (4*filters, filters, k...). Kernels whose rank or size does not
fit their layer's config are refused.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import numpy as np

from ..errors import UserError
from ..names import printable
from .kerash5 import File, array, walk
from .modelfile import shape_text

MAX_DEPTH = 32  # models nested in models
Config = dict[str, Any] | None


class Spec(NamedTuple):
    kind: str  # conv | transpose | depthwise | separable | convlstm
    rank: int  # spatial dimensions
    cls: str  # the Keras class, for messages


_CLASSES = {  # Keras class -> (kind, rank); Convolution2D, Deconvolution2D, ... are aliases from Keras 1 and 2
    **{f"{p}{r}D": ("conv", r) for r in (1, 2, 3) for p in ("Conv", "Convolution")},
    **{f"{p}{r}DTranspose": ("transpose", r) for r in (1, 2, 3) for p in ("Conv", "Convolution")},
    **{f"Deconvolution{r}D": ("transpose", r) for r in (2, 3)},
    **{f"DepthwiseConv{r}D": ("depthwise", r) for r in (1, 2)},
    **{f"{p}{r}D": ("separable", r) for r in (1, 2) for p in ("SeparableConv", "SeparableConvolution")},
    **{f"ConvLSTM{r}D": ("convlstm", r) for r in (1, 2, 3)},
}
KINDS = {cls: Spec(kind, rank, cls) for cls, (kind, rank) in _CLASSES.items()}
# What a layer's kernels are called in a legacy file (Keras 3 numbers its variables: then they go by position), and
# the config entry that an axis of the first kernel must equal (times a factor: a ConvLSTM has four gates).
_ROLES = {
    "depthwise": (("depthwise_kernel", "kernel"),),
    "separable": (("depthwise_kernel",), ("pointwise_kernel",)),
    "convlstm": (("kernel",), ("recurrent_kernel",)),
}
_SIZES = {"conv": (-1, "filters", 1), "transpose": (-2, "filters", 1), "convlstm": (-1, "filters", 4)}
# A wrapper's config key of each layer it wraps -> the group that Keras 3 keeps that layer's variables in
WRAPPERS = {
    "TimeDistributed": (("layer", "layer"),),
    "Bidirectional": (("layer", "forward_layer"), ("backward_layer", "backward_layer")),
}
SLOTS = ("layer", "forward_layer", "backward_layer")


def snake_case(name: str) -> str:
    """Keras's to_snake_case: "Conv2DTranspose" -> "conv2d_transpose", "DepthwiseConv2D" -> "depthwise_conv2d"."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


SNAKE = {snake_case(cls): spec for cls, spec in KINDS.items()}


class Layer(NamedTuple):
    name: str
    cls: str
    config: dict[str, Any]
    children: list[Layer] | None  # a nested model's layers, or the layers a wrapper wraps
    slot: str | None = None  # a wrapped layer: its group in the wrapper's (Keras 3), "layer", "forward_layer", ...


def _layer(item: object, what: str, i: int, depth: int, slot: str | None = None) -> Layer:
    entry: dict[str, Any] = item if isinstance(item, dict) else {}
    cfg = entry.get("config")
    cfg, cls = (cfg, entry.get("class_name")) if isinstance(cfg, dict) else ({}, None)
    name = cfg.get("name", entry.get("name"))
    if not (isinstance(cls, str) and isinstance(name, str) and name):
        raise UserError(f"{what} is not a Keras model config (layer {i} has no class_name, config or name)")
    if "layers" in cfg:
        return Layer(name, cls, cfg, layers_of(cfg["layers"], what, depth + 1), slot)
    if cls in WRAPPERS and isinstance(cfg.get("layer"), dict) and depth < MAX_DEPTH:
        return Layer(name, cls, cfg, _wrapped(cfg, cls, what, i, depth + 1), slot)
    return Layer(name, cls, cfg, None, slot)


def _wrapped(cfg: dict[str, Any], cls: str, what: str, i: int, depth: int) -> list[Layer]:
    """The layers a wrapper wraps. A Bidirectional's are named as Keras 3 names them, "forward_<layer>" and
    "backward_<layer>"; a config without its backward layer (Keras 2 made it a copy of the forward one) gets one."""
    layers: list[Layer] = []
    for key, slot in WRAPPERS[cls]:
        item = cfg.get(key)
        if key == "backward_layer" and not isinstance(item, dict):
            forward = layers[0]
            layers.append(forward._replace(name="backward_" + forward.name.removeprefix("forward_"), slot=slot))
            continue
        layer = _layer(item, what, i, depth, slot)
        if slot == "forward_layer" and not layer.name.startswith("forward_"):
            layer = layer._replace(name=f"forward_{layer.name}")
        layers.append(layer)
    return layers


def layers_of(items: object, what: str, depth: int = 0) -> list[Layer]:
    """A config's layer list, checked: each a table with a class_name and a config holding a name."""
    if not isinstance(items, list) or depth > MAX_DEPTH:
        raise UserError(f"{what} is not a Keras model config (its layers are not a list)")
    return [_layer(item, what, i, depth) for i, item in enumerate(items)]


def model_layers(config: object, what: str) -> list[Layer] | None:
    """The layers of a model config ({"class_name": ..., "config": {"layers": [...]}}; in Keras 2.0 a Sequential's
    config is the list), or None when it lists none (a subclassed model)."""
    inner = config.get("config") if isinstance(config, dict) else None
    if isinstance(inner, list):
        return layers_of(inner, what)
    if not isinstance(inner, dict):
        raise UserError(f"{what} is not a Keras model config (no class_name and config)")
    return layers_of(inner["layers"], what) if "layers" in inner else None


def _fits(ctx: File, name: str, spec: Spec, kernel: np.ndarray, config: dict[str, Any]) -> None:
    """The kernel's shape against its layer's config (kernel_size, and filters or depth_multiplier), where it says."""
    axis, key, times = _SIZES.get(spec.kind, (-1, "depth_multiplier", 1))
    size, value = config.get("kernel_size"), config.get(key)
    wanted = {
        "kernel_size": (tuple(range(spec.rank)), [size] * spec.rank if type(size) is int else size),
        key: ((axis,), [value * times] if type(value) is int else None if value is None else [value]),
    }
    for what, (axes, values) in wanted.items():
        if values is not None and (not isinstance(values, list) or [kernel.shape[a] for a in axes] != values):
            shape, said = shape_text(kernel.shape), printable(json.dumps(values))
            raise ctx.error(f"layer {printable(name)} has a kernel of shape {shape}, not its config's {what} {said}")


def torch_layout(kind: str, rank: int, kernel: np.ndarray) -> np.ndarray:
    """A Keras kernel in PyTorch's layout (see the module's docstring)."""
    if kind == "depthwise":  # (k..., in, multiplier) -> (in * multiplier, 1, k...): channel c * multiplier + m
        flat = kernel.reshape(*kernel.shape[:rank], kernel.shape[rank] * kernel.shape[rank + 1])
        return np.moveaxis(flat, -1, 0)[:, None]
    return kernel.transpose(rank + 1, rank, *range(rank))  # (k..., a, b) -> (b, a, k...)


def torch_parts(name: str, spec: Spec, kernels: list[np.ndarray]) -> dict[str, np.ndarray]:
    """A layer's kernels in PyTorch's layout, by layer name (a file's layer, or a live one: cnnkreport.keras)."""
    if spec.kind == "separable":
        depthwise = torch_layout("depthwise", spec.rank, kernels[0])
        return {f"{name}.depthwise": depthwise, f"{name}.pointwise": torch_layout("conv", spec.rank, kernels[1])}
    if spec.kind == "convlstm":
        recurrent = torch_layout("conv", spec.rank, kernels[1])
        return {name: torch_layout("conv", spec.rank, kernels[0]), f"{name}.recurrent": recurrent}
    return {name: torch_layout(spec.kind, spec.rank, kernels[0])}


def add(ctx: File, name: str, spec: Spec, kernels: list[np.ndarray], config: Config) -> None:
    """A layer's kernels, checked against its type and config, as "<name>.weight" in PyTorch's layout."""
    for kernel in kernels:
        if kernel.ndim != spec.rank + 2:
            shape, want = shape_text(kernel.shape), spec.rank + 2
            raise ctx.error(f"layer {printable(name)} has a kernel of shape {shape}: a {spec.cls}'s has {want} axes")
    if config is not None:
        _fits(ctx, name, spec, kernels[0], config)
    for layer, a in torch_parts(name, spec, kernels).items():
        if f"{layer}.weight" in ctx.tensors:
            raise ctx.error(f"two layers are named {printable(layer)}")
        ctx.tensors[f"{layer}.weight"] = np.ascontiguousarray(a, dtype=np.float32)
        if config is not None:  # without a config the kind is a guess: layers.py guesses from the name instead
            ctx.kinds[layer] = f"ConvTranspose{spec.rank}d" if spec.kind == "transpose" else f"Conv{spec.rank}d"


def base(weight: str) -> str:
    """A variable's own name: "model/conv/kernel:0" -> "kernel"."""
    return weight.rsplit("/", 1)[-1].split(":", 1)[0]


def pick_kernels(spec: Spec, weights: list[str]) -> list[str | None]:
    """Which of a layer's variables (their names or paths, in order) are its kernels, in the order torch_parts
    takes them: each by its name, else by its position; None where the layer has none."""
    return [
        next((w for w in weights if base(w) in names), weights[i] if i < len(weights) else None)
        for i, names in enumerate(_ROLES.get(spec.kind, (("kernel",),)))
    ]


def read_layer(ctx: File, name: str, spec: Spec, group: Any, weights: list[str], config: Config) -> None:
    """A layer whose variables are `weights` (paths in `group`; none if it was never built): its kernels by their
    names, else by position."""
    if not weights:
        return
    kernels = []
    for hit in pick_kernels(spec, weights):
        ds = walk(ctx, group, hit) if hit is not None else None
        if not isinstance(ds, ctx.h5py.Dataset):
            raise ctx.error(f"layer {printable(name)} ({spec.cls}) has no kernel among its weights")
        kernels.append(array(ctx, ds))
    add(ctx, name, spec, kernels, config)


def infer(ctx: File, group: Any, weights: list[str]) -> Spec | None:
    """A layer's type from its variables' names alone (a legacy weights-only file): "kernel" of 3 to 5 dimensions
    a ConvND, "depthwise_kernel" a depthwise conv, separable with a "pointwise_kernel", "recurrent_kernel" beside a
    "kernel" of 3 to 5 dimensions a ConvLSTM."""
    by_name = {base(w): w for w in weights}
    kind = "separable" if "pointwise_kernel" in by_name else "depthwise"
    ds = walk(ctx, group, by_name.get("depthwise_kernel") or by_name.get("kernel") or "")
    rank = ds.ndim - 2 if isinstance(ds, ctx.h5py.Dataset) else 0
    if "depthwise_kernel" in by_name and rank in (1, 2):
        return Spec(kind, rank, f"{'Separable' if kind == 'separable' else 'Depthwise'}Conv{rank}D")
    if "kernel" in by_name and rank in (1, 2, 3):
        lstm = "recurrent_kernel" in by_name
        return Spec("convlstm", rank, f"ConvLSTM{rank}D") if lstm else Spec("conv", rank, f"Conv{rank}D")
    return None


def infer_saved(shapes: list[tuple[int, ...]], cell: bool) -> Spec | None:
    """A Keras 3 layer's type from its numbered variables' shapes alone (a wrapped layer of a weights file, whose
    group does not name its class): in a `cell` (an RNN), two kernels of 3 to 5 dimensions with the same outputs a
    ConvLSTM; else a kernel of 3 to 5 dimensions a conv, separable when a 1x1 kernel of its channels follows it (a
    depthwise or transposed conv reads as a conv: nothing tells them apart)."""
    if not shapes or len(shapes[0]) not in (3, 4, 5):
        return None
    first, rank = shapes[0], len(shapes[0]) - 2
    second = shapes[1] if len(shapes) > 1 else ()
    if cell:
        ok = len(second) == len(first) and second[-1] == first[-1]
        return Spec("convlstm", rank, f"ConvLSTM{rank}D") if ok else None
    pointwise = len(second) == len(first) and all(s == 1 for s in second[:rank]) and second[-2] == first[-2] * first[-1]
    if pointwise and rank in (1, 2):
        return Spec("separable", rank, f"SeparableConv{rank}D")
    return Spec("conv", rank, f"Conv{rank}D")
