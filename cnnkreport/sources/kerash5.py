"""Keras files read safely as data: HDF5 through h5py, zip members and JSON, every claim checked before anything is
read (kerasfile.py reads the layouts, keraslayers.py the layer types).

Refused in one line naming the file: external and soft links, virtual datasets, external storage, filters that
need a plugin, arrays over MAX_ELEMENTS elements or claiming more bytes than the file can hold (checked before
reading), non-float kernels, JSON that does not parse, zip members over their limit or expanding over MAX_RATIO-fold,
damaged files. Nothing outside the file is opened.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import UserError
from ..names import printable
from .modelfile import MAX_ELEMENTS, reason, shape_text

MAX_MEMBER = 4 * 2**30  # bytes of model.weights.h5 once unzipped
MAX_RATIO = 1000  # how many times a zip member of over a MB may expand
MAX_CONFIG = 64 * 2**20  # bytes of config.json, and of one HDF5 attribute
DATA_FLOOR, MAX_EXPANSION = 64 * 2**20, 16  # the arrays read may claim DATA_FLOOR + MAX_EXPANSION x the file's bytes
_BUILTIN_FILTERS = {1, 2, 3, 4, 5, 6, 32000}  # deflate, shuffle, fletcher32, szip, nbit, scaleoffset, h5py's lzf
H5_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError, IndexError)
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, KeyError, RuntimeError)


@dataclass
class File:
    """An open HDF5 file being read, and what has been read from it."""

    h5py: Any
    label: str  # the file, for messages
    size: int  # its bytes
    claimed: int = 0  # bytes of the arrays read so far
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def error(self, text: str) -> UserError:
        return UserError(f"{self.label}: {text}")


def h5py_module(path: Path) -> Any:
    try:
        import h5py
    except ImportError as e:
        raise UserError(f'{path}: reading Keras files needs h5py: pip install "cnnkreport[keras]"') from e
    return h5py


@contextmanager
def opened(ctx: File, source: Path | IO[bytes]) -> Iterator[Any]:
    """The HDF5 file, read-only; an h5py error while it is read becomes one line."""
    try:
        with ctx.h5py.File(source, "r", locking=False) as f:
            yield f
    except H5_ERRORS as e:
        raise ctx.error(f"not a checkpoint cnnkreport can read (a truncated or damaged HDF5 file: {reason(e)})") from e


def child(ctx: File, group: Any, name: str) -> Any | None:
    """A group's member by a one-part name, or None; a link to anything but an object of this file is refused."""
    link = group.get(name, default=None, getlink=True) if name and name != "." and "/" not in name else None
    where = printable(f"{group.name.rstrip('/')}/{name}")
    if link is None or isinstance(link, ctx.h5py.HardLink):
        return None if link is None else group[name]
    if isinstance(link, ctx.h5py.ExternalLink):
        target = printable(link.filename)
        raise ctx.error(f"{where} is an HDF5 external link to another file ({target}): cnnkreport reads no other file")
    raise ctx.error(f"{where} is an HDF5 {type(link).__name__} (a Keras file has none): refused")


def walk(ctx: File, group: Any, path: str) -> Any | None:
    """The object at a relative path ("conv/kernel:0"), one checked link at a time; None if it is missing."""
    for part in path.split("/"):
        if part not in ("", "."):
            group = child(ctx, group, part) if isinstance(group, ctx.h5py.Group) else None
    return group


def attr(ctx: File, obj: Any, name: str) -> Any | None:
    """An attribute, or None; its size is checked before it is read."""
    if name not in obj.attrs:
        return None
    aid = obj.attrs.get_id(name)
    if math.prod(aid.shape or ()) * aid.dtype.itemsize > MAX_CONFIG:
        raise ctx.error(f"the attribute {printable(name)} of {printable(obj.name)} claims over {MAX_CONFIG:,} bytes")
    return obj.attrs[name]


def text(value: object) -> str | None:
    value = value[()] if isinstance(value, np.ndarray) and value.shape == () else value
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def strings(ctx: File, obj: Any, name: str) -> list[str] | None:
    """A list-of-strings attribute (weight_names, layer_names), also when Keras split it in chunks (name0, ...)."""
    value = attr(ctx, obj, name)
    chunks = [value] if value is not None else []
    while value is None and (part := attr(ctx, obj, f"{name}{len(chunks)}")) is not None:
        chunks.append(part)
    texts = [text(v) for c in chunks for v in np.asarray(c, dtype=object).ravel()]
    if any(t is None for t in texts):
        raise ctx.error(f"the attribute {name} of {printable(obj.name)} is not a list of strings")
    return [t for t in texts if t is not None] if chunks else None


def _check_storage(ctx: File, ds: Any, where: str) -> None:
    """No filter that needs a plugin, no data past the file's end, no more bytes claimed than the file can hold."""
    plist = ds.id.get_create_plist()
    for code in (plist.get_filter(i)[0] for i in range(plist.get_nfilters())):
        if code not in _BUILTIN_FILTERS:
            raise ctx.error(f"{where} is compressed with HDF5 filter {code}, which needs a plugin: refused")
    stored = ds.id.get_storage_size()
    if stored + (ds.id.get_offset() or 0) > ctx.size:
        raise ctx.error(f"not a checkpoint cnnkreport can read (a truncated HDF5 file: {where} ends past its end)")
    declared = math.prod(ds.shape) * ds.dtype.itemsize
    ctx.claimed += declared
    if ctx.claimed > DATA_FLOOR + MAX_EXPANSION * ctx.size:
        raise ctx.error(f"{where} claims {declared:,} bytes (it stores {stored:,}): more than this file can hold")


def array(ctx: File, ds: Any) -> np.ndarray:
    """A dataset as float32, after every check that needs no data."""
    where = printable(ds.name or "a dataset")
    if ds.is_virtual:
        raise ctx.error(f"{where} is an HDF5 virtual dataset, whose data lies in other files: refused")
    if ds.external:
        files = ", ".join(printable(str(e[0])) for e in ds.external)
        raise ctx.error(f"{where} keeps its data in external files ({files}): refused")
    if ds.shape is None or math.prod(ds.shape) > MAX_ELEMENTS:
        shape = "no shape" if ds.shape is None else f"shape {shape_text(ds.shape)}"
        raise ctx.error(f"{where} claims {shape}: cnnkreport reads arrays of up to {MAX_ELEMENTS:,} elements")
    bf16 = ds.dtype.kind == "V" and ds.dtype.itemsize == 2 and text(attr(ctx, ds, "dtype")) == "bfloat16"
    if not bf16 and (ds.dtype.kind != "f" or ds.dtype.itemsize not in (2, 4, 8)):
        raise ctx.error(f"{where} holds {ds.dtype} values, not floats: cnnkreport reads float kernels only")
    _check_storage(ctx, ds, where)
    data = np.asarray(ds[()])
    if bf16:  # Keras 3 stores bfloat16 as 2 opaque bytes: the top half of a float32
        data = (data.view("<u2").astype("<u4") << 16).view("<f4")
    return np.asarray(data, dtype=np.float32)


def json_of(raw: str | bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise UserError(f"{what} is not JSON ({reason(e)})") from e


def unzip(zf: zipfile.ZipFile, name: str, sink: IO[bytes], limit: int, path: Path) -> int:
    """Copy one member into `sink`; one that claims more than `limit` bytes or expands like a zip bomb is refused."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise UserError(f"{path}: its {name} claims {info.file_size:,} bytes, over the {limit:,} cnnkreport reads")
    if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = f"{info.compress_size:,} to {info.file_size:,} bytes"
        raise UserError(f"{path}: its {name} would expand from {ratio}, a compression ratio over {MAX_RATIO}: refused")
    copied = 0
    with zf.open(info) as member:  # reads no more than the declared size, and checks the CRC at the end
        while chunk := member.read(2**20):
            copied += sink.write(chunk)
    return copied
