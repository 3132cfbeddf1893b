"""A model handed over in Python (the API): an nn.Module (a TorchScript one read through its graphs, as its file
would be), a state_dict or one weight array, as the same checked Checkpoint that a file gives `cnnkreport inspect`
(inspect.read_model takes it from there, as it does a file's)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError
from .checkpoint import checked
from .modelfile import Checkpoint, Parts
from .pytorch import script_parts

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


def _arrays_of(model: Any) -> tuple[Parts, str] | None:
    """What a model held in memory holds, and its name; None for paths."""
    if isinstance(model, torch.jit.ScriptModule):
        parts = script_parts(IN_MEMORY, model)
        return Parts("in-memory", parts.tensors, parts.module_kinds, parts.conv_keys, parts.unread), str(
            getattr(model, "original_name", type(model).__name__)
        )
    if hasattr(model, "state_dict") and hasattr(model, "named_modules"):  # an nn.Module
        return Parts("in-memory", *_from_module(model)), type(model).__name__
    if isinstance(model, Mapping):
        tensors = {str(k): a for k, v in model.items() if (a := _array(str(k), v)) is not None}
        return Parts("in-memory", tensors), "state_dict"
    if hasattr(model, "detach") or isinstance(model, np.ndarray):
        a = _array("weight", model)
        if a is None or a.ndim not in (3, 4):
            shape = tuple(getattr(model, "shape", ()))
            raise UserError(f"one weight array must be (out, in, k) or (out, in, kh, kw), not {shape}")
        return Parts("in-memory", {"weight": a}), "weight"
    return None


def in_memory(model: Any, conv_tensors: re.Pattern[str] | None = None) -> tuple[Checkpoint, str] | None:
    """A model held in memory as the checked Checkpoint that a file of it would give (the tensors whose keys match
    `conv_tensors` read as conv weights too), and a name for it (its class, "state_dict" or "weight"); None for what
    is not held in memory (paths: inspect.read_model reads them)."""
    held = _arrays_of(model)
    if held is None:
        return None
    parts, name = held
    return checked(IN_MEMORY, None, parts, conv_tensors), name
