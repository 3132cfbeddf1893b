"""The safetensors reader: a small one of our own (not the `safetensors` package), reading the file as data.

A safetensors file is an 8-byte header length, a JSON header (name -> dtype, shape, data_offsets) and one buffer.
Every claim in the header is checked against the file before anything is read: offsets inside the buffer, a byte
span that matches dtype x shape, no two tensors overlapping, at most MAX_ELEMENTS elements. So no claim makes us
allocate more than the file holds. Float tensors (F64, F32, F16, BF16) become float32 arrays; other dtypes are
checked and skipped. A bad file is a one-line `UserError` ("... is truncated or corrupt (...)").
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import UserError
from ..names import printable
from .modelfile import MAX_ELEMENTS, reason, shape_text

MAX_HEADER = 100_000_000  # the safetensors reference implementation refuses larger headers too
# safetensors dtype -> (bytes per element, numpy dtype to read it as, or None: not a weight, checked but skipped)
_DTYPES: dict[str, tuple[int, str | None]] = {
    "F64": (8, "<f8"),
    "F32": (4, "<f4"),
    "F16": (2, "<f2"),
    "BF16": (2, "<u2"),  # the top half of a float32: shifted into place in _array
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


def _natural(key: str) -> list[tuple[int, int | str]]:
    """Sort key that puts features.2 before features.10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", key) if part]


def header_length(head: bytes, size: int) -> int | None:
    """The header length when the file looks like safetensors (8-byte length, then "{"), else None. A length beyond
    MAX_HEADER counts only when the JSON goes on like a header ('{"'): random bytes have a "{" there 1 time in 256."""
    if len(head) < 9 or head[8:9] != b"{":
        return None
    n = int.from_bytes(head[:8], "little")
    return n if 2 <= n <= MAX_HEADER or (n > MAX_HEADER and head[9:10] == b'"') else None


@dataclass(frozen=True)
class _Entry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _entries(path: Path, header: object, buffer: int, start: int) -> list[_Entry]:
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
        itemsize = _DTYPES.get(info["dtype"], (0, None))[0]
        if itemsize and end - begin != elements * itemsize:
            raise UserError(
                f"{corrupt} (tensor {label}: {info['dtype']} {shape_text(shape)} needs {elements * itemsize} "
                f"bytes, its data_offsets span {end - begin})"
            )
        entries.append(_Entry(name, info["dtype"], tuple(shape), begin, end))
    stored = sorted((e for e in entries if e.end > e.begin), key=lambda e: e.begin)
    for a, b in zip(stored, stored[1:], strict=False):
        if b.begin < a.end:
            raise UserError(
                f"{corrupt} (the data of tensors {printable(a.name)} and {printable(b.name)} overlap: data_offsets "
                f"{[a.begin, a.end]} and {[b.begin, b.end]})"
            )
    return entries


def _array(fh: BinaryIO, start: int, entry: _Entry) -> np.ndarray:
    fh.seek(start + entry.begin)
    data = fh.read(entry.end - entry.begin)
    if len(data) != entry.end - entry.begin:  # the file shrank under us
        raise OSError(f"short read of tensor {entry.name}")
    raw = np.frombuffer(data, dtype=_DTYPES[entry.dtype][1])
    if entry.dtype == "BF16":
        raw = (raw.astype("<u4") << 16).view("<f4")
    return raw.astype(np.float32).reshape(entry.shape)


def _order(entries: list[_Entry]) -> list[_Entry]:
    """The reference writer (safetensors.torch.save_file) loses the module order: it sorts tensors by dtype, then by
    name as a string, so features.10 comes before features.2. Such files are put in natural name order; a header
    in any other order was written in an order someone chose, and is kept."""
    by_dtype: dict[str, list[str]] = {}
    for e in entries:
        by_dtype.setdefault(e.dtype, []).append(e.name)
    if all(names == sorted(names) for names in by_dtype.values()):
        return sorted(entries, key=lambda e: _natural(e.name))
    return entries


def read(path: Path, length: int, size: int) -> dict[str, np.ndarray]:
    """The float tensors of a safetensors file of `size` bytes whose header is `length` bytes (header_length()),
    by name, in module order (_order)."""
    start = 8 + length
    if start > size:
        raise UserError(
            f"{path} is truncated or corrupt (its safetensors header needs {start} bytes, the file has {size})"
        )
    if length > MAX_HEADER:
        raise UserError(f"{path}: its safetensors header of {length} bytes is larger than the format allows")
    with path.open("rb") as fh:
        fh.seek(8)
        try:
            header = json.loads(fh.read(length).decode("utf-8"))
        except (ValueError, RecursionError) as e:
            raise UserError(f"{path} is truncated or corrupt (bad safetensors header: {reason(e)})") from e
        entries = _entries(path, header, size - start, start)
        tensors = {}
        for entry in _order(entries):
            if _DTYPES.get(entry.dtype, (0, None))[1] is not None:  # zero-size ones too: load() says so
                tensors[entry.name] = _array(fh, start, entry)
    return tensors
