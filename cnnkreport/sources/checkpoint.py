"""Reading a user's model files safely: PyTorch state_dicts and checkpoint dicts, safetensors, and (only when the
user says they trust them) whole pickled models and TorchScript programs.

The format is told from the content, never from the extension. Nothing here runs code from a file unless
`trust_pickle` is set: plain files go through `torch.load(..., weights_only=True)`, safetensors through a small
reader of our own that checks every claimed size against the file before it reads anything; a TorchScript archive
is a program (its methods and `__setstate__` run on load), so it needs `trust_pickle` like a pickled model. No claim
in a file makes us allocate more than the file holds: a tensor that claims more bytes than its storage (a broadcast
view) is refused. Every failure is a one-line `UserError` naming the file; no torch, pickle, zip or JSON exception
gets out, and torch's warnings (deprecated TorchScript, pickle protocol, ...) are silenced while a file is read.
Names with characters that cannot be printed (newline, NUL, bidi controls) are written out as Python escapes.
"""

from __future__ import annotations

import glob
import io
import json
import math
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..names import printable

EXTENSIONS = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".tar")
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net", "network", "weights")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DistributedDataParallel, torch.compile
MAX_ELEMENTS = 2**31
MAX_HEADER = 100_000_000  # the safetensors reference implementation refuses larger headers too
# Kernels up to this many taps (1-D) or pixels per side (2-D) are analysed: what `train` allows (model.kernel_size),
# and what the detector bank is built for in bounded memory (a 1-D bank holds O(k^2) templates: 64 taps take 2.5 GB).
MAX_KERNEL_SIDE = 64
TRANSPOSED = "a transposed convolution: its weight is (in, out, k...), which this report does not draw"
CONV3D = "a Conv3d (5-D weight): only 1-D and 2-D kernels are shown"
_NAME_GUESS = re.compile(r"transpose|deconv|upconv", re.IGNORECASE)
_GLOB_CHARS = re.compile(r"[*?\[]")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_GLOBAL_IN_MESSAGE = re.compile(r"GLOBAL ([\w.]+)")
_PRINTF = re.compile(r"%l*[dus]")  # an unformatted placeholder: torch's message says nothing then
_TORCH_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
# safetensors dtype -> (bytes per element, numpy dtype to read it as, or None: not a weight, checked but skipped)
_ST_DTYPES: dict[str, tuple[int, str | None]] = {
    "F64": (8, "<f8"),
    "F32": (4, "<f4"),
    "F16": (2, "<f2"),
    "BF16": (2, "<u2"),  # the top half of a float32: shifted into place in _st_array
    "I64": (8, None),
    "U64": (8, None),
    "I32": (4, None),
    "U32": (4, None),
    "I16": (2, None),
    "U16": (2, None),
    "I8": (1, None),
    "U8": (1, None),
    "BOOL": (1, None),
    "F8_E4M3": (1, None),
    "F8_E5M2": (1, None),
    "C64": (8, None),
}


@dataclass(frozen=True, eq=False)
class Checkpoint:
    path: Path
    step: int | None  # the last integer in the file name's stem ("ckpt_step1200.pt" -> 1200), if any
    format: str  # "state_dict" | "checkpoint-dict" | "safetensors" | "torchscript" | "pickled-model"
    tensors: dict[str, np.ndarray]  # float32 arrays by state_dict key ("features.0.weight", escaped: printable());
    # no integer buffers
    module_kinds: dict[str, str]  # module name -> class name ("Conv2d"), when the file says (TorchScript, pickled)


@dataclass(frozen=True)
class ConvLayer:
    name: str  # module name: the key without ".weight" ("features.0"); "" for a bare "weight" key (the root module)
    kind: str  # "conv1d" | "conv2d"
    shape: tuple[int, ...]  # (out, in_per_group, *k)


@dataclass(frozen=True)
class Unshown:
    name: str
    shape: tuple[int, ...]
    reason: str


# ---------------------------------------------------------------------------------------------- finding files


def step_of(path: Path) -> int | None:
    """The last integer in the file name's stem: "epoch_07.pth" -> 7, "model-000500.safetensors" -> 500."""
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else None


def _order(path: Path) -> tuple[int, int, str, str]:
    step = step_of(path)
    return (0, 0, path.name, str(path)) if step is None else (1, step, path.name, str(path))


def _folder_files(folder: Path) -> list[Path]:
    files = [
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in EXTENSIONS
    ]
    if not files:
        raise UserError(f"no checkpoint files ({', '.join(EXTENSIONS)}) in {folder}")
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


# ---------------------------------------------------------------------------------------------- small helpers


def _one_line(text: str, limit: int = 160) -> str:
    lines = [ln.strip() for ln in _ANSI.sub("", text).splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _reason(exc: BaseException) -> str:
    message = _one_line(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _unreadable(path: Path, reason: str) -> UserError:
    return UserError(f"{path}: not a checkpoint cnnkreport can read ({reason})")


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _natural(key: str) -> list[tuple[int, int | str]]:
    """Sort key that puts features.2 before features.10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", key) if part]


def _zip_members(path: Path) -> list[str] | None:
    """The names in a zip archive, or None when the file is not a readable one."""
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def _describe(path: Path, head: bytes) -> str:
    """What a file that none of the readers accepted looks like, from its first bytes."""
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the file itself: run `git lfs pull`"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (Keras?), not a PyTorch file"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file, not a PyTorch file"
    if head.startswith(b"GGUF"):
        return "a GGUF file, not a PyTorch file"
    if head.startswith(b"PK"):
        members = _zip_members(path)
        if members is None:
            return "a truncated or damaged zip archive, the format torch.save writes"
        if any(n.endswith("data.pkl") for n in members):
            return "a damaged torch.save archive"
        shown = ", ".join(printable(m) for m in members[:3]) + (", ..." if len(members) > 3 else "")
        return f"a zip archive that torch.save did not write: it holds {shown or 'nothing'}"
    if head.startswith(b"\x80"):
        return "a truncated or damaged PyTorch/pickle file"
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if text.strip():
            return f"a text file, starting {_one_line(text, 40)!r}"
    return "not a PyTorch, TorchScript or safetensors file"


# ---------------------------------------------------------------------------------------------- safetensors


def _st_header_length(head: bytes, size: int) -> int | None:
    """The header length when the file looks like safetensors (8-byte length, then "{"), else None. A length beyond
    MAX_HEADER counts only when the JSON goes on like a header ('{"'): random bytes have a "{" there 1 time in 256."""
    if len(head) < 9 or head[8:9] != b"{":
        return None
    n = int.from_bytes(head[:8], "little")
    return n if 2 <= n <= MAX_HEADER or (n > MAX_HEADER and head[9:10] == b'"') else None


@dataclass(frozen=True)
class _StEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _st_entries(path: Path, header: object, buffer: int, start: int) -> list[_StEntry]:
    """Every entry of a safetensors header, checked against the buffer (`buffer` bytes from offset `start`)."""
    corrupt = f"{path} is truncated or corrupt"
    if not isinstance(header, dict):
        raise UserError(f"{corrupt} (its safetensors header is not a JSON object)")
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        label = printable(name)
        ok = isinstance(info, dict) and isinstance(info.get("dtype"), str)
        shape, offsets = (info.get("shape"), info.get("data_offsets")) if ok else (None, None)
        ok = ok and isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)
        ok = ok and isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
        if not ok:
            raise UserError(f"{corrupt} (bad safetensors header entry for tensor {label})")
        assert isinstance(shape, list) and isinstance(offsets, list)
        begin, end = offsets
        if not 0 <= begin <= end:
            raise UserError(f"{corrupt} (tensor {label} has data_offsets {offsets})")
        if end > buffer:
            raise UserError(f"{corrupt} (tensor {label} needs {start + end} bytes, the file has {start + buffer})")
        elements = math.prod(shape)
        if elements > MAX_ELEMENTS:
            raise UserError(f"{corrupt} (tensor {label} claims {elements} elements)")
        itemsize = _ST_DTYPES.get(info["dtype"], (0, None))[0]
        if itemsize and end - begin != elements * itemsize:
            raise UserError(
                f"{corrupt} (tensor {label}: {info['dtype']} {_shape_text(shape)} needs {elements * itemsize} "
                f"bytes, its data_offsets span {end - begin})"
            )
        entries.append(_StEntry(name, info["dtype"], tuple(shape), begin, end))
    stored = sorted((e for e in entries if e.end > e.begin), key=lambda e: e.begin)
    for a, b in zip(stored, stored[1:], strict=False):
        if b.begin < a.end:
            raise UserError(
                f"{corrupt} (the data of tensors {printable(a.name)} and {printable(b.name)} overlap: data_offsets "
                f"{[a.begin, a.end]} and {[b.begin, b.end]})"
            )
    return entries


def _st_array(fh: BinaryIO, start: int, entry: _StEntry) -> np.ndarray:
    fh.seek(start + entry.begin)
    data = fh.read(entry.end - entry.begin)
    if len(data) != entry.end - entry.begin:  # the file shrank under us
        raise OSError(f"short read of tensor {entry.name}")
    raw = np.frombuffer(data, dtype=_ST_DTYPES[entry.dtype][1])
    if entry.dtype == "BF16":
        raw = (raw.astype("<u4") << 16).view("<f4")
    return raw.astype(np.float32).reshape(entry.shape)


def _st_order(entries: list[_StEntry]) -> list[_StEntry]:
    """The reference writer (safetensors.torch.save_file) loses the module order: it sorts tensors by dtype, then by
    name as a string, so features.10 comes before features.2. Such files are put in natural name order; a header
    in any other order was written in an order someone chose, and is kept."""
    by_dtype: dict[str, list[str]] = {}
    for e in entries:
        by_dtype.setdefault(e.dtype, []).append(e.name)
    if all(names == sorted(names) for names in by_dtype.values()):
        return sorted(entries, key=lambda e: _natural(e.name))
    return entries


def _read_safetensors(path: Path, header_length: int, size: int) -> dict[str, np.ndarray]:
    start = 8 + header_length
    if start > size:
        raise UserError(
            f"{path} is truncated or corrupt (its safetensors header needs {start} bytes, the file has {size})"
        )
    if header_length > MAX_HEADER:
        raise UserError(f"{path}: its safetensors header of {header_length} bytes is larger than the format allows")
    with path.open("rb") as fh:
        fh.seek(8)
        try:
            header = json.loads(fh.read(header_length).decode("utf-8"))
        except (ValueError, RecursionError) as e:
            raise UserError(f"{path} is truncated or corrupt (bad safetensors header: {_reason(e)})") from e
        entries = _st_entries(path, header, size - start, start)
        tensors = {}
        for entry in _st_order(entries):
            if _ST_DTYPES.get(entry.dtype, (0, None))[1] is not None:  # zero-size ones too: load() says so
                tensors[entry.name] = _st_array(fh, start, entry)
    return tensors


# ---------------------------------------------------------------------------------------------- torch files


def _to_numpy(path: Path, tensors: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Float tensors as float32 arrays; integer/bool buffers (num_batches_tracked) and non-tensors are dropped.
    Quantized tensors are dequantized; anything that cannot be converted is dropped. A tensor that claims more bytes
    than its storage holds (a broadcast view: one stored float "expanded" to gigabytes) is refused if it could be a
    conv weight, and dropped otherwise: its size is a claim, not data in the file."""
    out = {}
    for key, t in tensors.items():
        if not isinstance(key, str) or not isinstance(t, torch.Tensor):
            continue
        if t.numel() > MAX_ELEMENTS:
            raise UserError(f"{path}: tensor {printable(key)} has {t.numel()} elements, more than cnnkreport reads")
        try:
            if t.layout != torch.strided or t.is_meta or not (t.is_floating_point() or t.is_quantized):
                continue
            needed, stored = t.numel() * t.element_size(), t.untyped_storage().nbytes()
            if needed > stored:
                if not _conv_candidate(key, t.dim()):
                    continue
                raise UserError(
                    f"{path}: tensor {printable(key)} {_shape_text(t.shape)} claims {needed} bytes, but the file "
                    f"stores {stored} for it (a broadcast view, not weights); save the model's own state_dict"
                )
            t = t.dequantize() if t.is_quantized else t
            out[key] = t.detach().to(device="cpu", dtype=torch.float32).numpy()
        except (RuntimeError, TypeError, ValueError):
            continue
    return out


def _strip_wrapper(
    tensors: dict[str, np.ndarray], kinds: dict[str, str]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Drop a prefix that every key shares because the model was wrapped (DataParallel "module.", torch.compile
    "_orig_mod."); module names lose it too."""
    while tensors:
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in tensors)), None)
        if prefix is None:
            break
        tensors = {k[len(prefix) :]: v for k, v in tensors.items()}
        kinds = {k[len(prefix) :]: v for k, v in kinds.items() if k.startswith(prefix)}
    return tensors, kinds


def _module_parts(path: Path, model: nn.Module, script: bool) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    kinds = {
        name: (str(getattr(m, "original_name", type(m).__name__)) if script else type(m).__name__)
        for name, m in model.named_modules()
    }
    return _to_numpy(path, model.state_dict()), kinds


def _has_tensors(obj: object) -> bool:
    return isinstance(obj, Mapping) and any(isinstance(v, torch.Tensor) for v in obj.values())


def _from_object(path: Path, obj: object) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """(format, tensors, module kinds) from whatever torch.load returned."""
    if isinstance(obj, nn.Module):
        return ("pickled-model", *_module_parts(path, obj, script=False))
    if not isinstance(obj, Mapping):
        raise _unreadable(path, f"it holds a {type(obj).__name__}, not a state_dict")
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return "state_dict", _to_numpy(path, obj), {}
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, nn.Module):
            return ("checkpoint-dict", *_module_parts(path, inner, script=False))
        if _has_tensors(inner):
            assert isinstance(inner, Mapping)
            return "checkpoint-dict", _to_numpy(path, inner), {}
    if _has_tensors(obj):
        return "state_dict", _to_numpy(path, obj), {}
    empty = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping) and obj[k]), None)
    if empty is not None:
        kinds = ", ".join(sorted({type(v).__name__ for v in obj[empty].values()}))
        raise _unreadable(path, f"its {empty!r} holds no tensors, only {kinds}")
    keys = ", ".join(repr(k) for k in list(obj)[:6]) + (", ..." if len(obj) > 6 else "")
    wanted = ", ".join(repr(k) for k in WRAPPER_KEYS)
    raise _unreadable(
        path, f"a dict with keys {keys or 'none'} but no weights; expected a state_dict or one under {wanted}"
    )


class _Bounded:
    """A binary stream that never reads past `size` bytes: an unpickler (or pickletools) asks for as many bytes as a
    length in the file says (a 5-byte file can claim a 4 GB string), and a file object allocates what it is asked
    for."""

    def __init__(self, fh: Any, size: int) -> None:
        self.fh, self.left = fh, size

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return bytes(data)

    def readline(self) -> bytes:
        data = self.fh.readline(self.left)
        self.left -= len(data)
        return bytes(data)


class _CappedFile(io.FileIO):
    """A file (with a file descriptor, as torch's legacy reader wants) whose read() is bounded like _Bounded's."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self.size = os.fstat(self.fileno()).st_size

    def read(self, size: int | None = -1, /) -> bytes:
        left = max(self.size - self.tell(), 0)
        return super().read(left if size is None or size < 0 else min(size, left))


def _pickle_globals(fh: Any, max_pickles: int = 6) -> list[str]:
    """The classes/functions that the pickles at the start of a stream refer to, without running anything.
    Only complete pickles count (a legacy torch file is several pickles, then raw storage bytes)."""
    found: list[str] = []
    for _ in range(max_pickles):
        strings: list[str] = []
        memo: dict[int, str] = {}
        names: list[str] = []
        try:
            for op, arg, _pos in pickletools.genops(fh):
                if op.name in ("GLOBAL", "INST"):
                    names.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL":
                    names.append(".".join(strings[-2:]) if len(strings) >= 2 else "?")
                elif isinstance(arg, str) and ("UNICODE" in op.name or "STRING" in op.name):
                    strings.append(str(arg))
                elif op.name == "MEMOIZE" and strings:
                    memo[len(memo)] = strings[-1]
                elif op.name in ("BINGET", "LONG_BINGET", "GET") and isinstance(arg, int) and arg in memo:
                    strings.append(memo[arg])
        except Exception:  # not (or no longer) a pickle: what was complete before it is all we know
            return found
        found += names
    return found


def _plain_global(name: str) -> bool:
    """A global that every torch.save'd state_dict refers to (tensor rebuilding, storages, dtypes, OrderedDict)."""
    plain = name.startswith(("torch._utils.", "torch._tensor.")) or name == "collections.OrderedDict"
    return plain or (name.startswith("torch.") and name.count(".") == 1)


def _unsafe_global(path: Path, exc: BaseException) -> str | None:
    """When weights_only loading failed because the file needs code to unpickle: what it needs, else None."""
    if not isinstance(exc, pickle.UnpicklingError):
        return None
    named = _GLOBAL_IN_MESSAGE.search(str(exc))
    if named:
        return named.group(1)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                member = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                if member is None:
                    return None
                size = min(zf.getinfo(member).file_size, path.stat().st_size)  # torch.save stores, never deflates
                with zf.open(member) as fh:
                    found = _pickle_globals(_Bounded(fh, size))
        else:
            with _CappedFile(path) as fh:
                found = _pickle_globals(fh)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError):
        return None
    return next((g for g in found if not _plain_global(g)), None)


def _pickle_refused(path: Path, needs: str) -> UserError:
    return UserError(
        f"{path} holds a pickled Python object (it needs {needs}; e.g. a whole model saved with torch.save(model)); "
        "loading it runs code from the file. Re-run with --trust-pickle if you trust it, "
        "or save model.state_dict() instead."
    )


def _load_torch(path: Path, head: bytes, trust_pickle: bool) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    try:
        if head.startswith(b"PK\x03\x04"):  # torch's own zip reader checks every record's size against the archive
            obj = torch.load(path, map_location="cpu", weights_only=True)
        else:  # a legacy torch file or a bare pickle: read by a Python unpickler that trusts lengths in the file
            with _CappedFile(path) as fh:
                obj = torch.load(fh, map_location="cpu", weights_only=True)
    except Exception as e:
        needs = _unsafe_global(path, e)
        if needs is None:
            what = _describe(path, head)
            torch_file = head.startswith(b"\x80") or what.startswith("a damaged torch.save")
            said = _one_line(str(e), 100)
            detail = f": {said}" if torch_file and said and not _PRINTF.search(said) else ""  # not torch's "%ld"
            raise _unreadable(path, what + detail) from e
        if not trust_pickle:
            raise _pickle_refused(path, needs) from e
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e2:
            raise UserError(
                f"{path}: cannot unpickle it even with --trust-pickle ({_reason(e2)}); the code that defined the "
                "model must be importable here, or save model.state_dict() instead"
            ) from e2
    return _from_object(path, obj)


def _is_torchscript(path: Path) -> bool:
    members = _zip_members(path) or []
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in members)


def _load_torchscript(path: Path, trust_pickle: bool) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if not trust_pickle:
        raise UserError(
            f"{path} is a TorchScript program: loading it runs the code saved in it. Re-run with --trust-pickle if you "
            "trust it, or save the weights instead: torch.save(model.state_dict(), path)"
        )
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise _unreadable(path, f"a damaged TorchScript archive: {_reason(e)}") from e
    return _module_parts(path, model, script=True)


# ---------------------------------------------------------------------------------------------- loading


def _read(path: Path, trust_pickle: bool) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    try:
        if path.is_dir():
            raise _unreadable(path, "a folder")
        if path.exists() and not path.is_file():
            raise _unreadable(path, "not a regular file")
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(512)
    except FileNotFoundError as e:
        raise UserError(f"{path}: no such file") from e
    except OSError as e:
        raise _unreadable(path, e.strerror or _reason(e)) from e
    if size == 0:
        raise _unreadable(path, "an empty file")
    header_length = _st_header_length(head, size)
    if header_length is not None:
        return "safetensors", _read_safetensors(path, header_length, size), {}
    if _is_torchscript(path):
        return ("torchscript", *_load_torchscript(path, trust_pickle))
    return _load_torch(path, head, trust_pickle)


def _check(path: Path, ckpt: Checkpoint) -> None:
    for _key, name, a, _kind in _candidates(ckpt):
        if a.size == 0:
            raise UserError(f"{path}: layer {_label(name)} has an empty weight {_shape_text(a.shape)}")
        if not np.isfinite(a).all():
            raise UserError(f"{path}: layer {_label(name)} has NaN or infinite weights")


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


def load(path: Path, trust_pickle: bool = False) -> Checkpoint:
    """One model file, whatever its format (told by content). Raises UserError (one line) for anything else."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fmt, tensors, kinds = _read(path, trust_pickle)
    except UserError:
        raise
    except Exception as e:  # the last guard: MemoryError, an exception type we did not foresee
        raise _unreadable(path, _reason(e)) from e
    tensors, kinds = _strip_wrapper(tensors, kinds)
    tensors = {k: v for k, v in tensors.items() if v.size > 0 or _conv_candidate(k, v.ndim)}
    tensors, kinds = _printable_names(path, tensors), {printable(k): v for k, v in kinds.items()}
    ckpt = Checkpoint(path=path, step=step_of(path), format=fmt, tensors=tensors, module_kinds=kinds)
    _check(path, ckpt)
    return ckpt


# ---------------------------------------------------------------------------------------------- conv layers


def _conv_candidate(key: str, ndim: int) -> bool:
    return (key == "weight" or key.endswith(".weight")) and ndim in (3, 4, 5)


def _layer_name(key: str) -> str:
    """The module name of a weight key: "features.0.weight" -> "features.0", "weight" -> "" (the root module)."""
    return key[: -len(".weight")] if key.endswith(".weight") else ""


def _label(name: str) -> str:
    """A layer name for messages: the root module (name "") is called by its key, "weight"."""
    return name or "weight"


def _torch_non_conv(kind: str) -> bool:
    """A built-in torch module that is known not to be a convolution (nn.Bilinear has a 3-D weight)."""
    cls = getattr(nn, kind, None)
    return isinstance(cls, type) and issubclass(cls, nn.Module) and not issubclass(cls, _TORCH_CONVS)


def _candidates(ckpt: Checkpoint) -> Iterator[tuple[str, str, np.ndarray, str | None]]:
    """(key, layer name, weight, module class name if known) of every convolution-like weight, in order."""
    for key, a in ckpt.tensors.items():
        if _conv_candidate(key, a.ndim):
            kind = ckpt.module_kinds.get(_layer_name(key))
            if kind is None or not _torch_non_conv(kind):
                yield key, _layer_name(key), a, kind


def _too_large(spatial: tuple[int, ...]) -> str:
    if len(spatial) == 1 or min(spatial) == 1:  # a Conv2d kernel of (k, 1) or (1, k) is a 1-D filter
        return f"a filter of {max(spatial)} taps: more than the {MAX_KERNEL_SIDE} that cnnkreport analyses"
    return (
        f"kernels of {' x '.join(map(str, spatial))}: larger than the {MAX_KERNEL_SIDE} x {MAX_KERNEL_SIDE} "
        "that cnnkreport analyses"
    )


def _classify(ckpt: Checkpoint) -> tuple[list[ConvLayer], list[Unshown]]:
    shown: list[ConvLayer] = []
    unshown: list[Unshown] = []
    for _key, name, a, kind in _candidates(ckpt):
        shape = tuple(int(s) for s in a.shape)
        if kind is not None and ("transpose" in kind.lower() or "deconv" in kind.lower()):
            unshown.append(Unshown(name, shape, TRANSPOSED))
        elif kind is None and _NAME_GUESS.search(name):
            unshown.append(Unshown(name, shape, TRANSPOSED + " (guessed from its name)"))
        elif a.ndim == 5:
            unshown.append(Unshown(name, shape, CONV3D))
        elif max(shape[2:]) > MAX_KERNEL_SIDE:
            unshown.append(Unshown(name, shape, _too_large(shape[2:])))
        else:
            shown.append(ConvLayer(name, "conv1d" if a.ndim == 3 else "conv2d", shape))
    return shown, unshown


def conv_layers(ckpt: Checkpoint) -> tuple[list[ConvLayer], list[Unshown]]:
    """The Conv1d/Conv2d layers to draw (by weight key and shape, in state_dict order) and the convolution-like
    weights that are not drawn, with why (transposed, Conv3d, kernels larger than MAX_KERNEL_SIDE). Without module
    kinds (state_dicts, safetensors) a transposed convolution can only be told from its name; otherwise it is drawn
    as an ordinary conv of its weight. A checkpoint with nothing to draw is a UserError."""
    shown, unshown = _classify(ckpt)
    if not shown and not unshown:
        examples = ", ".join(f"{k} {_shape_text(a.shape)}" for k, a in list(ckpt.tensors.items())[:3])
        more = f"; shapes like {examples}" if examples else ""
        n = len(ckpt.tensors)
        raise UserError(f"{ckpt.path}: no Conv1d or Conv2d layer found ({n} tensor{'s' if n != 1 else ''}{more})")
    if not shown:
        u = unshown[0]
        others = f" (and {len(unshown) - 1} more that cannot be drawn)" if len(unshown) > 1 else ""
        raise UserError(
            f"{ckpt.path}: no conv layer that cnnkreport can draw: layer {_label(u.name)} "
            f"{_shape_text(u.shape)} is {u.reason}{others}"
        )
    return shown, unshown


def _mismatch(
    a: Checkpoint, la: list[ConvLayer], b: Checkpoint, lb: list[ConvLayer], label: dict[Path, str]
) -> str | None:
    """The first difference between two checkpoints' conv layers (b against the reference a), or None."""
    shapes_a = {layer.name: layer.shape for layer in la}
    shapes_b = {layer.name: layer.shape for layer in lb}
    for layer in la:
        if layer.name not in shapes_b:
            return (
                f"{label[b.path]}: has no layer {_label(layer.name)} "
                f"({label[a.path]} has it, shape {_shape_text(layer.shape)})"
            )
        if shapes_b[layer.name] != layer.shape:
            return (
                f"{label[b.path]}: layer {_label(layer.name)} has shape {_shape_text(shapes_b[layer.name])}, "
                f"{label[a.path]} has {_shape_text(layer.shape)}"
            )
    extra = next((layer for layer in lb if layer.name not in shapes_a), None)
    if extra is not None:
        return f"{label[b.path]}: layer {_label(extra.name)} is not in {label[a.path]}"
    return None


def history(paths: list[Path], trust_pickle: bool = False) -> tuple[list[Checkpoint], list[ConvLayer], list[Unshown]]:
    """Several checkpoints of one model, in the given order, checked to have the same conv layers and shapes.
    Steps come from the file names when every file has a number and the numbers are distinct; otherwise the
    checkpoints are numbered 0, 1, 2, ... in the given order. Returns the checkpoints (with those steps) and the
    first one's conv layers."""
    if not paths:
        raise UserError("no checkpoint files given")
    ckpts = [load(Path(p), trust_pickle) for p in paths]
    layers = [conv_layers(c) for c in ckpts]
    names = [c.path.name for c in ckpts]
    label = {c.path: (c.path.name if len(set(names)) == len(names) else str(c.path)) for c in ckpts}
    for c, (shown, _) in zip(ckpts[1:], layers[1:], strict=True):
        problem = _mismatch(ckpts[0], layers[0][0], c, shown, label)
        if problem:
            raise UserError(problem)
    steps = [c.step for c in ckpts]
    if any(s is None for s in steps) or len(set(steps)) != len(steps):
        ckpts = [replace(c, step=i) for i, c in enumerate(ckpts)]
    return ckpts, layers[0][0], layers[0][1]


__all__ = [
    "Checkpoint",
    "ConvLayer",
    "Unshown",
    "conv_layers",
    "find_checkpoints",
    "history",
    "load",
    "printable",
    "step_of",
]
