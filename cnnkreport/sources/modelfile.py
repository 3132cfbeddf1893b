"""A user's model file once read: the `Checkpoint` record that every reader's result becomes (a reader hands over
its `Parts`), the one-line `UserError`s (naming the file, never a traceback) that the readers (safetensors.py,
pytorch.py, ...), the layer classifier (layers.py) and the entry point (checkpoint.py) all raise, and `open_inside`,
which opens a file that a model file names (ONNX external data, Keras shards) without leaving the model's folder.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..rundir import Unshown

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
    conv_keys: Mapping[str, str | None] | None = None  # the tensors known to be conv weights (a TorchScript graph
    # passes them to a convolution; --conv-tensors names them), by key, with the class the graph applies them as
    # ("Conv1d", "ConvTranspose2d"; None: not said). None: nothing says, and layers.py goes by key and rank.
    unread: tuple[Unshown, ...] = ()  # conv weights the model uses that are not stored tensors (computed in its
    # graph, of an integer type, ...): listed, with why, never drawn


@dataclass(frozen=True)
class Parts:
    """What a reader found in a file, before checkpoint.checked makes it a Checkpoint (the fields of that name)."""

    format: str
    tensors: dict[str, np.ndarray]
    module_kinds: dict[str, str] = field(default_factory=dict)
    conv_keys: Mapping[str, str | None] | None = None
    unread: tuple[Unshown, ...] = ()


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


# Opening each part of a path from the folder before it (openat), never following a link, is possible here
_OPENAT = hasattr(os, "O_NOFOLLOW") and os.open in os.supports_dir_fd and os.stat in os.supports_dir_fd


def _check_part(mode: int, part: str, last: bool) -> None:
    """A folder on the way, or the file at its end; OSError (errno ELOOP for a symbolic link) otherwise."""
    if stat.S_ISLNK(mode):
        raise OSError(errno.ELOOP, "a symbolic link", part)
    if not (stat.S_ISREG(mode) if last else stat.S_ISDIR(mode)):
        raise OSError(errno.EINVAL, "not a regular file" if last else "not a folder", part)


def open_inside(folder: Path, parts: tuple[str, ...]) -> int:
    """A file descriptor of folder/parts, each part checked (_check_part) and opened from the one before without
    following a symbolic link, so that nothing outside the folder is opened. A FIFO or a device is not opened."""
    if not _OPENAT:  # no openat (Windows): check each part, then open the whole path
        p = folder
        for i, part in enumerate(parts):
            p = p / part
            _check_part(os.lstat(p).st_mode, part, i == len(parts) - 1)
        return os.open(p, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0) | os.O_NOFOLLOW
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            _check_part(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode, part, last)
            inner = os.open(part, flags | (0 if last else getattr(os, "O_DIRECTORY", 0)), dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd
