"""A model handed over in Python (the API): an nn.Module, a state_dict, paths, or one weight array, as the same
checked Checkpoints and conv layers that a file gives `cnnkreport inspect`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..rundir import LayerInfo, Unshown
from .checkpoint import checked, find_checkpoints, history
from .inspect import layer_pattern, model_name, select_layers
from .layers import conv_layers
from .modelfile import Checkpoint

IN_MEMORY = Path("<in memory>")


def _array(name: str, value: Any) -> np.ndarray | None:
    """A tensor or array as float32 numpy (None for what is not a floating-point array: integer buffers, ...)."""
    if hasattr(value, "detach"):  # a torch tensor, on any device
        if not value.is_floating_point():
            return None
        return value.detach().to("cpu").float().numpy().copy()
    a = np.asarray(value)
    return a.astype(np.float32) if a.dtype.kind == "f" else None


def _from_module(module: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    tensors = {k: a for k, v in module.state_dict().items() if (a := _array(k, v)) is not None}
    kinds = {name: type(m).__name__ for name, m in module.named_modules()}
    return tensors, kinds


def _in_memory(model: Any) -> tuple[dict[str, np.ndarray], dict[str, str], str] | None:
    """(tensors, module kinds, name) of a model held in memory; None for paths."""
    if hasattr(model, "state_dict") and hasattr(model, "named_modules"):  # an nn.Module
        return (*_from_module(model), type(model).__name__)
    if isinstance(model, Mapping):
        tensors = {str(k): a for k, v in model.items() if (a := _array(str(k), v)) is not None}
        return tensors, {}, "state_dict"
    if hasattr(model, "detach") or isinstance(model, np.ndarray):
        a = _array("weight", model)
        if a is None or a.ndim not in (3, 4):
            shape = tuple(getattr(model, "shape", ()))
            raise UserError(f"one weight array must be (out, in, k) or (out, in, kh, kw), not {shape}")
        return {"weight": a}, {}, "weight"
    return None


def checkpoints_of(
    model: Any, layers: str | None = None, trust_pickle: bool = False
) -> tuple[list[Checkpoint], list[LayerInfo], list[Unshown], str]:
    """(checkpoints, conv layers to analyse, layers not drawn with why, a name for the model)."""
    pattern = layer_pattern(layers, "layers")
    held = _in_memory(model)
    if held is None:
        if not isinstance(model, str | Path | Sequence) or isinstance(model, bytes):
            raise UserError(
                f"cannot inspect a {type(model).__name__}: give an nn.Module, a state_dict, paths or an array"
            )
        args = [model] if isinstance(model, str | Path) else list(model)
        paths = find_checkpoints(args)
        checkpoints, convs, unshown = history(paths, trust_pickle)
        name = model_name(paths)
    else:
        tensors, kinds, name = held
        ckpt = checked(IN_MEMORY, None, "in-memory", tensors, kinds)
        checkpoints = [ckpt]
        convs, unshown = conv_layers(ckpt)
    convs, unshown = select_layers(pattern, list(convs), list(unshown), repr(layers))
    return checkpoints, convs, unshown, name
