"""A user's model file once read: the `Checkpoint` record that every reader's result becomes, and the one-line
`UserError`s (naming the file, never a traceback) that the readers (safetensors.py, pytorch.py), the layer
classifier (layers.py) and the entry point (checkpoint.py) all raise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

MAX_ELEMENTS = 2**31  # no reader makes an array of more elements than this, whatever the file claims
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True, eq=False)
class Checkpoint:
    path: Path
    step: int | None  # the last integer in the file name's stem ("ckpt_step1200.pt" -> 1200), if any
    format: str  # "state_dict" | "checkpoint-dict" | "safetensors" | "torchscript" | "pickled-model" | "onnx" |
    # "keras-h5" | "keras" | "in-memory" (the Python API)
    tensors: dict[str, np.ndarray]  # float32 arrays by state_dict key ("features.0.weight", escaped: printable());
    # no integer buffers
    module_kinds: dict[str, str]  # module name -> class name ("Conv2d"), when the file says (TorchScript, pickled)


def one_line(text: str, limit: int = 160) -> str:
    """The first non-blank line of a message (terminal colours removed), cut to `limit` characters."""
    lines = [ln.strip() for ln in _ANSI.sub("", text).splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def reason(exc: BaseException) -> str:
    """An exception as "Type: first line of its message"."""
    message = one_line(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def unreadable(path: Path, why: str) -> UserError:
    return UserError(f"{path}: not a checkpoint cnnkreport can read ({why})")


def shape_text(shape: Sequence[int]) -> str:
    """A shape as Python writes a tuple: (3,), (8, 3, 3, 3)."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
