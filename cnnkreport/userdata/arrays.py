"""A data set as a NumPy `.npz`: the arrays `x` and `y`, and optionally `kind` ("signal" or "image").

`x` is (n, length) or (n, channels, length) for series, (n, C, H, W) for images, channels first. A 3-D `x` is series
unless `kind` is "image" (then greyscale images (n, H, W)); a 4-D `x` is images. `y` is one label per row of `x`:
integers, strings, or whole numbers stored as floats. Read with `np.load(..., allow_pickle=False)`, after every
member that is read has been checked from the zip's directory and its own .npy header: its declared size against
the memory one file may take, its dtype (no object arrays, no structured ones), and that its header's shape and
dtype make exactly the size the zip declares (so that a zip bomb or a lying header is refused before it is
unpacked). Image values: unsigned bytes / 255, uint16 / 65535, floats as they are in [0, 1] (or / 255 where they lie
in [0, 255])."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from . import checks
from .checks import Raw, bad

MAX_KIND_BYTES = 4096  # the `kind` member is one short string
_READABLE = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError, KeyError)
_X_KINDS, _Y_KINDS = "biuf", "biufU"


def _header(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a member's .npy header declares, checked against the size the zip declares for it."""
    member = info.filename[:-4]
    try:
        with zf.open(info) as fp:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ValueError(f".npy format version {version} is not read")
            offset = fp.tell()
    except _READABLE as e:
        raise bad(path, f"member {member}", f"not a readable .npy array ({e})") from None
    if dtype.hasobject:
        raise bad(path, f"member {member}", "an object array (pickled objects): not read, allow_pickle stays off")
    if dtype.names is not None or dtype.subdtype is not None:
        raise bad(path, f"member {member}", f"a structured array ({dtype}): store plain numbers or strings")
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset + size != info.file_size:
        raise bad(
            path,
            f"member {member}",
            f"its header declares {size:,} bytes of data, the zip "
            f"{info.file_size - offset:,}: a damaged or forged file",
        )
    return tuple(int(s) for s in shape), dtype


def _members(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The members `x`, `y` and (where present) `kind`, each checked (_header) before any is loaded."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise bad(path, None, "a zip with two members of one name: a damaged or forged file")
            found = {i.filename[:-4]: i for i in infos if i.filename in ("x.npy", "y.npy", "kind.npy")}
            for need in ("x", "y"):
                if need not in found:
                    have = ", ".join(n.removesuffix(".npy") for n in names[:8]) or "none"
                    raise bad(path, None, f"no array {need!r} (an .npz data set holds x and y; it has: {have})")
            if "kind" in found and found["kind"].file_size > MAX_KIND_BYTES:
                raise bad(path, "member kind", "longer than one short string ('signal' or 'image')")
            checks.check_memory(path, sum(i.file_size for i in found.values()), "x and y, unpacked,")
            return {name: _header(path, zf, info) for name, info in found.items()}
    except zipfile.BadZipFile as e:
        raise bad(path, None, f"not an .npz file (a zip of .npy arrays): {e}") from None
    except OSError as e:
        raise bad(path, None, f"cannot be read ({e.strerror or e})") from None


def _kind(path: Path, value: np.ndarray | None, ndim: int) -> str:
    """What `x` holds: the `kind` member's word, else by its number of dimensions."""
    if value is not None:
        if value.dtype.kind != "U" or value.size != 1 or str(value.reshape(-1)[0]) not in ("signal", "image"):
            raise bad(path, "member kind", "must be one string, 'signal' or 'image'")
        kind = str(value.reshape(-1)[0])
    else:
        kind = "image" if ndim == 4 else "signal"
    allowed = (2, 3) if kind == "signal" else (3, 4)
    if ndim not in allowed:
        shapes = "(n, length) or (n, channels, length)" if kind == "signal" else "(n, H, W) or (n, C, H, W)"
        raise bad(path, "member x", f"{ndim}-D, where {kind}s are {shapes}")
    return kind


def _first_nonfinite(x: np.ndarray) -> str:
    at = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
    value = x[at]
    word = "NaN: missing values are not read" if np.isnan(value) else "infinite"
    return f"x[{', '.join(map(str, at))}] is {word}"


def _images(path: Path, x: np.ndarray) -> np.ndarray:
    """Image values scaled to [0, 1] as float32, channels checked."""
    if x.shape[1] > 4:
        hint = " (they look channels-last: np.moveaxis(x, -1, 1))" if x.shape[-1] in (1, 3, 4) else ""
        raise bad(path, "member x", f"images with {x.shape[1]} channels{hint}: images are (n, C, H, W), C 1 to 4")
    if x.dtype.kind == "b" or x.dtype == np.uint8:
        scale = 1.0 if x.dtype.kind == "b" else 255.0
    elif x.dtype == np.uint16:
        scale = 65535.0
    elif x.dtype.kind in "iu":
        if x.min() < 0 or x.max() > 255:
            raise bad(path, "member x", f"{x.dtype} images beyond 0..255: store uint8, uint16, or floats in [0, 1]")
        scale = 255.0
    else:
        if not np.isfinite(x).all():
            raise bad(path, "member x", _first_nonfinite(x))
        low, high = float(x.min()), float(x.max())
        if low < 0 or high > 255:
            raise bad(path, "member x", f"float images from {low:g} to {high:g}: store them in [0, 1] or [0, 255]")
        scale = 255.0 if high > 1 else 1.0
    return (x.astype(np.float32) / np.float32(scale)).astype(np.float32)


def _labels(path: Path, y: np.ndarray, n: int) -> tuple[str, ...]:
    if y.ndim != 1 or y.shape[0] != n:
        raise bad(path, "member y", f"shaped {y.shape}, where x holds {n} rows: y is one label per row, (n,)")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise bad(path, "member y", "floats that are not whole numbers: y holds class labels (no regression)")
        y = y.astype(np.int64)
    return tuple(checks.check_label(path, f"member y, row {i}", str(v)) for i, v in enumerate(y.tolist()))


def read_npz(path: Path) -> Raw:
    """An `.npz` data set, checked as the module says."""
    checks.check_memory(path, checks.size_of(path))
    members = _members(path)
    (x_shape, x_dtype), (_, y_dtype) = members["x"], members["y"]
    if x_dtype.kind not in _X_KINDS:
        raise bad(path, "member x", f"of dtype {x_dtype}: x holds numbers")
    if y_dtype.kind not in _Y_KINDS:
        raise bad(path, "member y", f"of dtype {y_dtype}: y holds integers or strings")
    if not x_shape or x_shape[0] < 1:
        raise bad(path, "member x", f"shaped {x_shape}: no samples")
    checks.check_values(path, "member x", int(np.prod(x_shape, dtype=np.int64)), x_shape[0])
    try:
        with np.load(path, allow_pickle=False) as npz:
            kind = _kind(path, npz["kind"] if "kind" in members else None, len(x_shape))
            x, y = npz["x"], npz["y"]
    except _READABLE as e:
        raise bad(path, None, f"a damaged .npz file ({e})") from None
    labels = _labels(path, y, x.shape[0])
    if kind == "image":
        data = _images(path, x if x.ndim == 4 else x[:, None])
        lengths = None
    else:
        data = x.astype(np.float64).reshape(x.shape[0], -1, x.shape[-1])
        if not np.isfinite(data).all():
            raise bad(path, "member x", _first_nonfinite(x))
        lengths = np.full(data.shape[0], data.shape[2], dtype=np.int64)
    return Raw(
        file=path,
        format="npz",
        kind=kind,
        x=data,
        lengths=lengths,
        labels=labels,
        declared=None,
        name=checks.dataset_name(path.stem),
    )
