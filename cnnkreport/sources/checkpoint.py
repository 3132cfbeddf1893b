"""Reading a user's model files safely: finding them (files, folders, globs, ordered by the step in their names),
reading one whatever its format (`load`) and several of one model as a training history (`history`).

The format is told from the content: safetensors (safetensors.py), a Keras .h5 file (HDF5's signature), .keras
archive (a zip of config.json and model.weights.h5) or sharded weights (a `*.weights.json` index; a folder holding
one is that one model, not its shards) (kerasfile.py), TorchScript or a torch.save file (pytorch.py); only ONNX, a
protobuf with no signature, is told by its extension (onnxfile.py). `--conv-tensors` names more tensors to read as
conv weights (layers.with_conv_tensors, applied here to every file read). Nothing runs code from a file
unless `trust_pickle` is set: plain files go through `torch.load(..., weights_only=True)`, safetensors through a
small reader of our own that checks every claimed size against the file before it reads anything; a TorchScript
archive is a program (its methods and `__setstate__` run
on load), so it needs `trust_pickle` like a pickled model. No claim in a file makes us allocate more than the file
holds: a tensor that claims more bytes than its storage (a broadcast view) is refused. Every failure is a one-line
`UserError` naming the file; no torch, pickle, zip or JSON exception gets out, and torch's warnings (deprecated
TorchScript, pickle protocol, ...) are silenced while a file is read. Names with characters that cannot be printed
(newline, NUL, bidi controls) are written out as Python escapes. Which weights are conv layers: layers.py.
"""

from __future__ import annotations

import glob
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..names import printable
from ..rundir import LayerInfo, Unshown
from . import pytorch, safetensors
from .layers import conv_layers, conv_weights, is_conv_weight, layer_label, layer_mismatch, with_conv_tensors
from .modelfile import Checkpoint, Parts, reason, shape_text, unreadable

EXTENSIONS = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".tar", ".onnx", ".h5", ".hdf5", ".keras")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_ZIP_MEMBERS = ("config.json", "model.weights.h5")
SHARDS_INDEX = ".weights.json"  # Keras 3 sharded weights: model.weights.json, then model_00000.weights.h5, ...
_SHARD = re.compile(r"(.+)_\d{5}\.weights\.h5")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DistributedDataParallel, torch.compile
_GLOB_CHARS = re.compile(r"[*?\[]")


# ---------------------------------------------------------------------------------------------- finding files


def step_of(path: Path) -> int | None:
    """The last integer in the file name's stem: "epoch_07.pth" -> 7, "model-000500.safetensors" -> 500."""
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else None


def _order(path: Path) -> tuple[int, int, str, str]:
    step = step_of(path)
    return (0, 0, path.name, str(path)) if step is None else (1, step, path.name, str(path))


def _folder_files(folder: Path) -> list[Path]:
    """The model files in a folder; a Keras 3 sharded save is its `.weights.json`, not its shards."""
    files = [
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and (p.suffix.lower() in EXTENSIONS or p.name.lower().endswith(SHARDS_INDEX))
    ]
    indexes = {p.name for p in files if p.name.lower().endswith(SHARDS_INDEX)}
    files = [p for p in files if not ((m := _SHARD.fullmatch(p.name)) and f"{m[1]}{SHARDS_INDEX}" in indexes)]
    if not files:
        raise UserError(f"no checkpoint files ({', '.join(EXTENSIONS)}, {SHARDS_INDEX}) in {folder}")
    return files


def _expand(arg: str | Path) -> list[Path]:
    path = Path(arg).expanduser()
    if path.is_dir():
        return _folder_files(path)
    if path.exists():
        return [path]
    if isinstance(arg, str) and _GLOB_CHARS.search(arg):
        matches = [Path(m) for m in glob.glob(str(Path(arg).expanduser()), recursive=True) if Path(m).is_file()]
        if not matches:
            raise UserError(f"no files match {arg}")
        return matches
    raise UserError(f"{arg}: no such file or folder")


def find_checkpoints(args: Sequence[str | Path]) -> list[Path]:
    """Checkpoint files from files, folders (their .pt/.pth/.bin/.ckpt/.safetensors/.tar files, not recursive,
    dotfiles skipped) and glob patterns; deduplicated; files without a number in the name first, then by that
    number (step2 before step10), ties by name."""
    seen: dict[Path, Path] = {}
    for arg in args:
        for p in _expand(arg):
            seen.setdefault(p.resolve(), p)
    return sorted(seen.values(), key=_order)


# ---------------------------------------------------------------------------------------------- loading


def _is_hdf5(path: Path, head: bytes, size: int) -> bool:
    """HDF5's signature, at the start or after a user block (at 512, 1024, 2048, ... bytes)."""
    if head.startswith(HDF5_MAGIC):
        return True
    offset = 512
    with path.open("rb") as fh:
        while offset + len(HDF5_MAGIC) <= min(size, 2**20):
            fh.seek(offset)
            if fh.read(len(HDF5_MAGIC)) == HDF5_MAGIC:
                return True
            offset *= 2
    return False


def _zip_holds(path: Path, members: tuple[str, ...]) -> bool:
    """Whether the file is a zip archive with all these members at its top level."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return all(m in names for m in members)


def _read(path: Path, trust_pickle: bool) -> Parts:
    try:
        if path.is_dir():
            raise unreadable(path, "a folder")
        if path.exists() and not path.is_file():
            raise unreadable(path, "not a regular file")
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(512)
    except FileNotFoundError as e:
        raise UserError(f"{path}: no such file") from e
    except OSError as e:
        raise unreadable(path, e.strerror or reason(e)) from e
    if size == 0:
        raise unreadable(path, "an empty file")
    header_length = safetensors.header_length(head, size)
    if header_length is not None:
        return Parts("safetensors", safetensors.read(path, header_length, size))
    if _is_hdf5(path, head, size):  # a Keras .h5 file
        from . import kerasfile

        if (m := _SHARD.fullmatch(path.name)) and (index := path.with_name(m[1] + SHARDS_INDEX)).is_file():
            raise UserError(f"{path}: one shard of the Keras weights {index.name}: inspect {index} instead")

        return Parts("keras-h5", *kerasfile.read_h5(path))
    if head.startswith(b"PK") and _zip_holds(path, KERAS_ZIP_MEMBERS):  # a Keras 3 .keras archive
        from . import kerasfile

        return Parts("keras", *kerasfile.read_keras(path))
    if path.name.lower().endswith(SHARDS_INDEX) and head.lstrip().startswith(b"{"):  # Keras 3 sharded weights
        from . import kerasfile

        return Parts("keras-sharded", *kerasfile.read_sharded(path, size))
    if path.suffix.lower() == ".onnx":  # protobuf has no magic number: told by the name
        from . import onnxfile

        return onnxfile.read(path)
    if pytorch.is_torchscript(path):
        return pytorch.read_torchscript(path, trust_pickle)
    return Parts(*pytorch.read(path, head, trust_pickle))


def _check(path: Path, ckpt: Checkpoint) -> None:
    for _key, name, a, _kind in conv_weights(ckpt):
        if a.size == 0:
            raise UserError(f"{path}: layer {layer_label(name)} has an empty weight {shape_text(a.shape)}")
        if not np.isfinite(a).all():
            raise UserError(f"{path}: layer {layer_label(name)} has NaN or infinite weights")


def _printable_names(path: Path, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tensors by printable() name; two names that become one are refused rather than merged."""
    out = {printable(k): v for k, v in tensors.items()}
    if len(out) < len(tensors):
        seen: dict[str, str] = {}
        for k in tensors:
            if printable(k) in seen:
                raise UserError(
                    f"{path}: tensors {seen[printable(k)]!r} and {k!r} have the same name once their control "
                    "characters are written out"
                )
            seen[printable(k)] = k
    return out


def _strip_wrapper(
    tensors: dict[str, np.ndarray], kinds: dict[str, str]
) -> tuple[dict[str, np.ndarray], dict[str, str], str]:
    """Drop a prefix that every key shares because the model was wrapped (DataParallel "module.", torch.compile
    "_orig_mod."); module names lose it too. Returns the prefix dropped as well ("" for none)."""
    dropped = ""
    while tensors:
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in tensors)), None)
        if prefix is None:
            break
        dropped += prefix
        tensors = {k[len(prefix) :]: v for k, v in tensors.items()}
        kinds = {k[len(prefix) :]: v for k, v in kinds.items() if k.startswith(prefix)}
    return tensors, kinds, dropped


def load(path: Path, trust_pickle: bool = False, conv_tensors: re.Pattern[str] | None = None) -> Checkpoint:
    """One model file, whatever its format (told by content); the tensors whose keys match `conv_tensors` are
    read as conv weights too. Raises UserError (one line) for anything else."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts = _read(path, trust_pickle)
    except UserError:
        raise
    except Exception as e:  # the last guard: MemoryError, an exception type we did not foresee
        raise unreadable(path, reason(e)) from e
    return checked(path, step_of(path), parts, conv_tensors)


def checked(path: Path, step: int | None, parts: Parts, conv_tensors: re.Pattern[str] | None = None) -> Checkpoint:
    """Weights read from a file (or held in memory: the Python API) as a Checkpoint, as every reader's result
    becomes one: a wrapper's prefix dropped, names made printable, the tensors matching `conv_tensors` read as conv
    weights (layers.with_conv_tensors), conv weights checked (empty, NaN, infinite)."""
    tensors, kinds, prefix = _strip_wrapper(parts.tensors, parts.module_kinds)
    keys = parts.conv_keys
    if keys is not None:
        keys = {printable(k[len(prefix) :]): v for k, v in keys.items() if k.startswith(prefix)}
    tensors = {k: v for k, v in tensors.items() if v.size > 0 or is_conv_weight(k, v.ndim) or (keys and k in keys)}
    tensors, kinds = _printable_names(path, tensors), {printable(k): v for k, v in kinds.items()}
    ckpt = Checkpoint(path, step, parts.format, tensors, kinds, keys, parts.unread)
    ckpt = with_conv_tensors(ckpt, conv_tensors)
    _check(path, ckpt)
    return ckpt


def history(
    paths: list[Path], trust_pickle: bool = False, conv_tensors: re.Pattern[str] | None = None
) -> tuple[list[Checkpoint], list[LayerInfo], list[Unshown]]:
    """Several checkpoints of one model, in the given order, checked to have the same conv layers and shapes.
    Steps come from the file names when every file has a number and the numbers are distinct; otherwise the
    checkpoints are numbered 0, 1, 2, ... in the given order. Returns the checkpoints (with those steps) and the
    first one's conv layers."""
    if not paths:
        raise UserError("no checkpoint files given")
    ckpts = [load(Path(p), trust_pickle, conv_tensors) for p in paths]
    layers = [conv_layers(c) for c in ckpts]
    names = [c.path.name for c in ckpts]
    label = {c.path: (c.path.name if len(set(names)) == len(names) else str(c.path)) for c in ckpts}
    for c, (shown, _) in zip(ckpts[1:], layers[1:], strict=True):
        problem = layer_mismatch(ckpts[0], layers[0][0], c, shown, label)
        if problem:
            raise UserError(problem)
    steps = [c.step for c in ckpts]
    if any(s is None for s in steps) or len(set(steps)) != len(steps):
        ckpts = [replace(c, step=i) for i, c in enumerate(ckpts)]
    return ckpts, layers[0][0], layers[0][1]


__all__ = [
    "Checkpoint",
    "Unshown",
    "conv_layers",
    "find_checkpoints",
    "history",
    "load",
    "printable",
    "step_of",
]
