"""The PyTorch reader: files written by torch.save (a state_dict, a checkpoint dict holding one, or, trusted only,
a whole pickled model) and TorchScript archives (trusted only).

A torch.save file is a pickle, and unpickling can run any code the file names. So it is read with
`torch.load(..., weights_only=True)`, whose unpickler builds only tensors and plain containers; a legacy (non-zip)
file is read through a file object that never hands the unpickler more bytes than the file holds. When that refuses
the file because it names a class or function, the pickle opcodes are scanned (pickletools, never executed) to say
which, and the file is loaded with `weights_only=False` only if the user passed `trust_pickle`. A TorchScript
archive is a program (its methods and `__setstate__` run on load), so it needs `trust_pickle` too; what its graphs
pass to a convolution is read by scriptgraph.py. Tensors become
float32 arrays; one that claims more bytes than its storage holds (a broadcast view) is refused. Every failure is
a one-line `UserError` naming the file.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..names import printable
from .layers import is_conv_weight
from .modelfile import MAX_ELEMENTS, Parts, one_line, reason, shape_text, unreadable
from .scriptgraph import script_convs

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net", "network", "weights")
_GLOBAL_IN_MESSAGE = re.compile(r"GLOBAL ([\w.]+)")
_PRINTF = re.compile(r"%l*[dus]")  # an unformatted placeholder: torch's message says nothing then

# ---------------------------------------------------------------------------------------------- torch.load's result


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
                if not is_conv_weight(key, t.dim()):
                    continue
                raise UserError(
                    f"{path}: tensor {printable(key)} {shape_text(t.shape)} claims {needed} bytes, but the file "
                    f"stores {stored} for it (a broadcast view, not weights); save the model's own state_dict"
                )
            t = t.dequantize() if t.is_quantized else t
            out[key] = t.detach().to(device="cpu", dtype=torch.float32).numpy()
        except (RuntimeError, TypeError, ValueError):
            continue
    return out


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
        raise unreadable(path, f"it holds a {type(obj).__name__}, not a state_dict")
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
        raise unreadable(path, f"its {empty!r} holds no tensors, only {kinds}")
    keys = ", ".join(repr(k) for k in list(obj)[:6]) + (", ..." if len(obj) > 6 else "")
    wanted = ", ".join(repr(k) for k in WRAPPER_KEYS)
    raise unreadable(
        path, f"a dict with keys {keys or 'none'} but no weights; expected a state_dict or one under {wanted}"
    )


# ---------------------------------------------------------------------------------------------- the pickle probe


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


# ---------------------------------------------------------------------------------------------- reading


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
            return f"a text file, starting {one_line(text, 40)!r}"
    return "not a PyTorch, TorchScript or safetensors file"


def read(path: Path, head: bytes, trust_pickle: bool) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """(format, tensors, module kinds) of a torch.save file whose first bytes are `head`; a file that is not one
    is refused with what it looks like (_describe)."""
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
            said = one_line(str(e), 100)
            detail = f": {said}" if torch_file and said and not _PRINTF.search(said) else ""  # not torch's "%ld"
            raise unreadable(path, what + detail) from e
        if not trust_pickle:
            raise _pickle_refused(path, needs) from e
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e2:
            raise UserError(
                f"{path}: cannot unpickle it even with --trust-pickle ({reason(e2)}); the code that defined the "
                "model must be importable here, or save model.state_dict() instead"
            ) from e2
    return _from_object(path, obj)


def is_torchscript(path: Path) -> bool:
    """A zip archive laid out as torch.jit.save writes it (code/ and constants.pkl beside the data)."""
    members = _zip_members(path) or []
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in members)


def read_torchscript(path: Path, trust_pickle: bool) -> Parts:
    """The tensors, module kinds and conv weights (scriptgraph.py: what its graphs pass to a convolution) of a
    TorchScript archive: refused unless `trust_pickle`, since loading runs it."""
    if not trust_pickle:
        raise UserError(
            f"{path} is a TorchScript program: loading it runs the code saved in it. Re-run with --trust-pickle if you "
            "trust it, or save the weights instead: torch.save(model.state_dict(), path)"
        )
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise unreadable(path, f"a damaged TorchScript archive: {reason(e)}") from e
    return script_parts(path, model)


def script_parts(path: Path, model: Any) -> Parts:
    """A loaded TorchScript module's tensors (its state_dict, and the plain attributes and constants its
    convolutions take), module kinds, and the keys its graphs pass to a convolution. A graph that cannot be walked
    leaves the keys unsaid (layers.py then goes by key and rank)."""
    tensors, kinds = _module_parts(path, model, script=True)
    try:
        found = script_convs(model)
    except Exception:  # a program this walk does not understand: its weights are still read by key and rank
        return Parts("torchscript", tensors, kinds)
    extra = _to_numpy(path, {k: t for k, t in found.tensors.items() if k not in tensors})
    keys = {k: kind for k, kind in found.kinds.items() if k in tensors or k in extra}
    return Parts("torchscript", {**tensors, **extra}, kinds, keys, tuple(found.unread.values()))
