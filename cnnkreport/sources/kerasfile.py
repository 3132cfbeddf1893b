"""Keras model files, read as data with h5py, zipfile and json only (keras.models.load_model runs code from a file).

A legacy HDF5 file (`model.save("m.h5")`) has its architecture as JSON in the root attribute `model_config` and each
layer's weights in `model_weights/<layer name>/`, listed by its `weight_names` ("conv/kernel:0"; a nested model's
group holds all its layers' weights, told apart by the layer name before the variable's). A Keras 3 `.keras` zip's
`model.weights.h5` names its groups by type and order, not by the user's names: saving_lib stores a model's layers,
in config order, as `layers/<snake_case class name>`, `_1`, `_2`, ... added for later layers of one class
(`layers/conv2d/vars/0`, `layers/conv2d_1/vars/0`, a nested model's `layers/sequential/layers/...`): the names come
from `config.json`. Without an architecture the layer types are inferred: in a weights-only `.h5` (`save_weights`)
from the variables' names and ranks ("kernel" of 3 to 5 dimensions: a Conv1D to 3D; "depthwise_kernel": a depthwise
conv, separable with a "pointwise_kernel"; a transposed conv is then told by its name only, a Keras 3
DepthwiseConv2D, whose kernel is "kernel", reads as a Conv2D); in a Keras 3 `.weights.h5` (or a subclassed model's
`.keras`) from the groups' class names, each layer named by its group ("conv2d_1"), in class order.

Kernels take PyTorch's layout as float32 (no flip: both compute cross-correlation): ConvND (k..., in/groups, out) ->
(out, in/groups, k...); a transposed conv (k..., out, in) -> (in, out, k...), listed as not drawn; DepthwiseConvND
(k..., in, multiplier) -> (in*multiplier, 1, k...), channel c*multiplier+m; SeparableConvND -> layers
"<name>.depthwise" and "<name>.pointwise" (1x1). Other layers are left out. Refused in one line naming the file:
external and soft links, virtual datasets, external storage, filters that need a plugin, arrays over MAX_ELEMENTS
elements or claiming more bytes than the file can hold (checked before reading), non-float kernels, kernels whose
rank or size does not fit their layer, a config that is not JSON or not a model's, zip members over MAX_MEMBER bytes
or expanding over MAX_RATIO-fold, damaged files. Nothing outside the file is opened.
"""

from __future__ import annotations

import io
import json
import math
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from ..errors import UserError
from ..names import printable
from .modelfile import MAX_ELEMENTS, reason, shape_text

MAX_MEMBER = 4 * 2**30  # bytes of model.weights.h5 once unzipped
MAX_RATIO = 1000  # how many times a zip member of over a MB may expand
MAX_CONFIG = 64 * 2**20  # bytes of config.json, and of one HDF5 attribute
MAX_DEPTH = 32  # models nested in models
DATA_FLOOR, MAX_EXPANSION = 64 * 2**20, 16  # the arrays read may claim DATA_FLOOR + MAX_EXPANSION x the file's bytes
_BUILTIN_FILTERS = {1, 2, 3, 4, 5, 6, 32000}  # deflate, shuffle, fletcher32, szip, nbit, scaleoffset, h5py's lzf
_H5_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError, IndexError)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, KeyError, RuntimeError)
_SUFFIX = re.compile(r"(.+?)(?:_(\d+))?")
Config = dict[str, Any] | None


class _Spec(NamedTuple):
    kind: str  # conv | transpose | depthwise | separable
    rank: int  # spatial dimensions
    cls: str  # the Keras class, for messages


_CLASSES = {  # Keras class -> (kind, rank); Convolution2D, Deconvolution2D, ... are aliases from Keras 1 and 2
    **{f"{p}{r}D": ("conv", r) for r in (1, 2, 3) for p in ("Conv", "Convolution")},
    **{f"{p}{r}DTranspose": ("transpose", r) for r in (1, 2, 3) for p in ("Conv", "Convolution")},
    **{f"Deconvolution{r}D": ("transpose", r) for r in (2, 3)},
    **{f"DepthwiseConv{r}D": ("depthwise", r) for r in (1, 2)},
    **{f"{p}{r}D": ("separable", r) for r in (1, 2) for p in ("SeparableConv", "SeparableConvolution")},
}
KINDS = {cls: _Spec(kind, rank, cls) for cls, (kind, rank) in _CLASSES.items()}
# What a layer's kernels are called in a legacy file (Keras 3 numbers its variables: then they go by position), and
# the config entry that an axis of the first kernel must equal.
_ROLES = {"depthwise": (("depthwise_kernel", "kernel"),), "separable": (("depthwise_kernel",), ("pointwise_kernel",))}
_SIZES = {"conv": (-1, "filters"), "transpose": (-2, "filters")}


def snake_case(name: str) -> str:
    """Keras's to_snake_case: "Conv2DTranspose" -> "conv2d_transpose", "DepthwiseConv2D" -> "depthwise_conv2d"."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


_SNAKE = {snake_case(cls): spec for cls, spec in KINDS.items()}


@dataclass
class _File:
    """An open HDF5 file being read, and what has been read from it."""

    h5py: Any
    label: str  # the file, for messages
    size: int  # its bytes
    claimed: int = 0  # bytes of the arrays read so far
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def error(self, text: str) -> UserError:
        return UserError(f"{self.label}: {text}")


class _Layer(NamedTuple):
    name: str
    cls: str
    config: dict[str, Any]
    children: list[_Layer] | None  # a nested model's layers


def _h5py(path: Path) -> Any:
    try:
        import h5py
    except ImportError as e:
        raise UserError(f'{path}: reading Keras files needs h5py: pip install "cnnkreport[keras]"') from e
    return h5py


@contextmanager
def _opened(ctx: _File, source: Path | IO[bytes]) -> Iterator[Any]:
    """The HDF5 file, read-only; an h5py error while it is read becomes one line."""
    try:
        with ctx.h5py.File(source, "r", locking=False) as f:
            yield f
    except _H5_ERRORS as e:
        raise ctx.error(f"not a checkpoint cnnkreport can read (a truncated or damaged HDF5 file: {reason(e)})") from e


def _child(ctx: _File, group: Any, name: str) -> Any | None:
    """A group's member by a one-part name, or None; a link to anything but an object of this file is refused."""
    link = group.get(name, default=None, getlink=True) if name and name != "." and "/" not in name else None
    where = printable(f"{group.name.rstrip('/')}/{name}")
    if link is None or isinstance(link, ctx.h5py.HardLink):
        return None if link is None else group[name]
    if isinstance(link, ctx.h5py.ExternalLink):
        target = printable(link.filename)
        raise ctx.error(f"{where} is an HDF5 external link to another file ({target}): cnnkreport reads no other file")
    raise ctx.error(f"{where} is an HDF5 {type(link).__name__} (a Keras file has none): refused")


def _walk(ctx: _File, group: Any, path: str) -> Any | None:
    """The object at a relative path ("conv/kernel:0"), one checked link at a time; None if it is missing."""
    for part in path.split("/"):
        if part not in ("", "."):
            group = _child(ctx, group, part) if isinstance(group, ctx.h5py.Group) else None
    return group


def _attr(ctx: _File, obj: Any, name: str) -> Any | None:
    """An attribute, or None; its size is checked before it is read."""
    if name not in obj.attrs:
        return None
    aid = obj.attrs.get_id(name)
    if math.prod(aid.shape or ()) * aid.dtype.itemsize > MAX_CONFIG:
        raise ctx.error(f"the attribute {printable(name)} of {printable(obj.name)} claims over {MAX_CONFIG:,} bytes")
    return obj.attrs[name]


def _text(value: object) -> str | None:
    value = value[()] if isinstance(value, np.ndarray) and value.shape == () else value
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _strings(ctx: _File, obj: Any, name: str) -> list[str] | None:
    """A list-of-strings attribute (weight_names, layer_names), also when Keras split it in chunks (name0, ...)."""
    value = _attr(ctx, obj, name)
    chunks = [value] if value is not None else []
    while value is None and (part := _attr(ctx, obj, f"{name}{len(chunks)}")) is not None:
        chunks.append(part)
    texts = [_text(v) for c in chunks for v in np.asarray(c, dtype=object).ravel()]
    if any(t is None for t in texts):
        raise ctx.error(f"the attribute {name} of {printable(obj.name)} is not a list of strings")
    return [t for t in texts if t is not None] if chunks else None


def _check_storage(ctx: _File, ds: Any, where: str) -> None:
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


def _array(ctx: _File, ds: Any) -> np.ndarray:
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
    bf16 = ds.dtype.kind == "V" and ds.dtype.itemsize == 2 and _text(_attr(ctx, ds, "dtype")) == "bfloat16"
    if not bf16 and (ds.dtype.kind != "f" or ds.dtype.itemsize not in (2, 4, 8)):
        raise ctx.error(f"{where} holds {ds.dtype} values, not floats: cnnkreport reads float kernels only")
    _check_storage(ctx, ds, where)
    data = np.asarray(ds[()])
    if bf16:  # Keras 3 stores bfloat16 as 2 opaque bytes: the top half of a float32
        data = (data.view("<u2").astype("<u4") << 16).view("<f4")
    return np.asarray(data, dtype=np.float32)


def _json(raw: str | bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise UserError(f"{what} is not JSON ({reason(e)})") from e


def _layers(items: object, what: str, depth: int = 0) -> list[_Layer]:
    """A config's layer list, checked: each a table with a class_name and a config holding a name."""
    if not isinstance(items, list) or depth > MAX_DEPTH:
        raise UserError(f"{what} is not a Keras model config (its layers are not a list)")
    out = []
    for i, item in enumerate(items):
        ok = isinstance(item, dict) and isinstance(item.get("config"), dict)
        cfg, cls = (item["config"], item.get("class_name")) if ok else ({}, None)
        name = cfg.get("name", item.get("name") if ok else None)
        if not (isinstance(cls, str) and isinstance(name, str) and name):
            raise UserError(f"{what} is not a Keras model config (layer {i} has no class_name, config or name)")
        out.append(_Layer(name, cls, cfg, _layers(cfg["layers"], what, depth + 1) if "layers" in cfg else None))
    return out


def model_layers(config: object, what: str) -> list[_Layer] | None:
    """The layers of a model config ({"class_name": ..., "config": {"layers": [...]}}; in Keras 2.0 a Sequential's
    config is the list), or None when it lists none (a subclassed model)."""
    inner = config.get("config") if isinstance(config, dict) else None
    if isinstance(inner, list):
        return _layers(inner, what)
    if not isinstance(inner, dict):
        raise UserError(f"{what} is not a Keras model config (no class_name and config)")
    return _layers(inner["layers"], what) if "layers" in inner else None


def _fits(ctx: _File, name: str, spec: _Spec, kernel: np.ndarray, config: dict[str, Any]) -> None:
    """The kernel's shape against its layer's config (kernel_size, and filters or depth_multiplier), where it says."""
    axis, key = _SIZES.get(spec.kind, (-1, "depth_multiplier"))
    size = config.get("kernel_size")
    wanted = {"kernel_size": (tuple(range(spec.rank)), [size] * spec.rank if type(size) is int else size)}
    wanted[key] = ((axis,), [config.get(key)] if config.get(key) is not None else None)
    for what, (axes, values) in wanted.items():
        if values is not None and (not isinstance(values, list) or [kernel.shape[a] for a in axes] != values):
            shape, said = shape_text(kernel.shape), printable(json.dumps(values))
            raise ctx.error(f"layer {printable(name)} has a kernel of shape {shape}, not its config's {what} {said}")


def _torch_layout(kind: str, rank: int, kernel: np.ndarray) -> np.ndarray:
    """A Keras kernel in PyTorch's layout (see the module's docstring)."""
    if kind == "depthwise":  # (k..., in, multiplier) -> (in * multiplier, 1, k...): channel c * multiplier + m
        flat = kernel.reshape(*kernel.shape[:rank], kernel.shape[rank] * kernel.shape[rank + 1])
        return np.moveaxis(flat, -1, 0)[:, None]
    return kernel.transpose(rank + 1, rank, *range(rank))  # (k..., a, b) -> (b, a, k...)


def _add(ctx: _File, name: str, spec: _Spec, kernels: list[np.ndarray], config: Config) -> None:
    """A layer's kernels, checked against its type and config, as "<name>.weight" in PyTorch's layout."""
    for kernel in kernels:
        if kernel.ndim != spec.rank + 2:
            shape, want = shape_text(kernel.shape), spec.rank + 2
            raise ctx.error(f"layer {printable(name)} has a kernel of shape {shape}: a {spec.cls}'s has {want} axes")
    if config is not None:
        _fits(ctx, name, spec, kernels[0], config)
    parts = {name: _torch_layout("depthwise" if spec.kind == "separable" else spec.kind, spec.rank, kernels[0])}
    if spec.kind == "separable":
        parts = {f"{name}.depthwise": parts[name], f"{name}.pointwise": _torch_layout("conv", spec.rank, kernels[1])}
    for layer, array in parts.items():
        if f"{layer}.weight" in ctx.tensors:
            raise ctx.error(f"two layers are named {printable(layer)}")
        ctx.tensors[f"{layer}.weight"] = np.ascontiguousarray(array, dtype=np.float32)
        if config is not None:  # without a config the kind is a guess: layers.py guesses from the name instead
            ctx.kinds[layer] = f"ConvTranspose{spec.rank}d" if spec.kind == "transpose" else f"Conv{spec.rank}d"


def _base(weight: str) -> str:
    """A variable's own name: "model/conv/kernel:0" -> "kernel"."""
    return weight.rsplit("/", 1)[-1].split(":", 1)[0]


def _read_layer(ctx: _File, name: str, spec: _Spec, group: Any, weights: list[str], config: Config) -> None:
    """A layer whose variables are `weights` (paths in `group`; none if it was never built): its kernels by their
    names, else by position."""
    if not weights:
        return
    kernels = []
    for i, names in enumerate(_ROLES.get(spec.kind, (("kernel",),))):
        hit = next((w for w in weights if _base(w) in names), weights[i] if i < len(weights) else None)
        ds = _walk(ctx, group, hit) if hit is not None else None
        if not isinstance(ds, ctx.h5py.Dataset):
            raise ctx.error(f"layer {printable(name)} ({spec.cls}) has no kernel among its weights")
        kernels.append(_array(ctx, ds))
    _add(ctx, name, spec, kernels, config)


def _weight_names(ctx: _File, group: Any) -> list[str]:
    """A layer group's weights: its weight_names attribute, else every dataset in it (alphabetical)."""
    names = _strings(ctx, group, "weight_names")
    if names is None:
        names = []
        group.visititems(lambda n, obj: None if isinstance(obj, ctx.h5py.Group) else names.append(n))
    return names


def _legacy(ctx: _File, root: Any, layers: list[_Layer], prefix: str = "", nested: Any = None) -> None:
    """The conv layers of a legacy file's model_weights group, by layer name; `nested`: (group, weights) of the
    top-level model that a nested model's layers are in."""
    for layer in layers:
        if layer.children is None and layer.cls not in KINDS:
            continue
        group = _child(ctx, root, layer.name) if nested is None else None
        found = (group, _weight_names(ctx, group)) if isinstance(group, ctx.h5py.Group) else nested
        if nested is not None and layer.children is None:  # a nested model's layer: its weights "<layer>/<variable>"
            found = (nested[0], [w for w in nested[1] if w.split("/")[-2:-1] == [layer.name]])
        if found is not None and layer.children is not None:
            _legacy(ctx, root, layer.children, f"{prefix}{layer.name}.", found)
        elif found is not None:
            _read_layer(ctx, prefix + layer.name, KINDS[layer.cls], found[0], found[1], layer.config)


def _infer(ctx: _File, group: Any, weights: list[str]) -> _Spec | None:
    """A layer's type from its variables alone (a weights-only file): see the module's docstring."""
    by_name = {_base(w): w for w in weights}
    kind = "separable" if "pointwise_kernel" in by_name else "depthwise"
    ds = _walk(ctx, group, by_name.get("depthwise_kernel") or by_name.get("kernel") or "")
    rank = ds.ndim - 2 if isinstance(ds, ctx.h5py.Dataset) else 0
    if "depthwise_kernel" in by_name and rank in (1, 2):
        return _Spec(kind, rank, f"{'Separable' if kind == 'separable' else 'Depthwise'}Conv{rank}D")
    return _Spec("conv", rank, f"Conv{rank}D") if "kernel" in by_name and rank in (1, 2, 3) else None


def _weights_only(ctx: _File, root: Any) -> None:
    """A file with weights but no architecture: layers by the root's layer_names (else its groups)."""
    names = _strings(ctx, root, "layer_names")
    for name in names if names is not None else sorted(root.keys()):
        group = _child(ctx, root, name)
        weights = _weight_names(ctx, group) if isinstance(group, ctx.h5py.Group) else []
        spec = _infer(ctx, group, weights) if weights else None
        if spec is not None:
            _read_layer(ctx, name, spec, group, weights, None)


def _container(ctx: _File, group: Any) -> Any | None:
    """A model's group of layers ("layers"; Keras 2.13 wrote "_layer_checkpoint_dependencies")."""
    found = [_child(ctx, group, name) for name in ("layers", "_layer_checkpoint_dependencies")]
    return next((g for g in found if isinstance(g, ctx.h5py.Group)), None)


def _read_vars(ctx: _File, name: str, spec: _Spec, group: Any, config: Config) -> None:
    if isinstance(variables := _child(ctx, group, "vars"), ctx.h5py.Group):
        weights = sorted((k for k in variables.keys() if k.isdigit()), key=int)
        _read_layer(ctx, name, spec, variables, weights, config)


def _saved(ctx: _File, group: Any, layers: list[_Layer], prefix: str = "") -> None:
    """The conv layers of a saving_lib weights file, through the config's layer list (the module's docstring says
    how Keras names their groups)."""
    container = _container(ctx, group)
    used: dict[str, int] = {}
    for layer in layers if container is not None else []:
        key = snake_case(layer.cls)
        used[key] = used.get(key, -1) + 1
        sub = _child(ctx, container, f"{key}_{used[key]}" if used[key] else key)
        if isinstance(sub, ctx.h5py.Group) and layer.children is not None:
            _saved(ctx, sub, layer.children, f"{prefix}{layer.name}.")
        elif isinstance(sub, ctx.h5py.Group) and layer.cls in KINDS:
            _read_vars(ctx, prefix + layer.name, KINDS[layer.cls], sub, layer.config)


def _discover(ctx: _File, group: Any, prefix: str = "", depth: int = 0) -> None:
    """A saving_lib weights file without a layer list: layers by their groups' class names, named by the group."""
    container = _container(ctx, group) if depth <= MAX_DEPTH else None
    names = list(container.keys()) if container is not None else []
    for snake, _n, key in sorted((m[1], int(m[2] or 0), m[0]) for m in map(_SUFFIX.fullmatch, names) if m):
        if not isinstance(sub := _child(ctx, container, key), ctx.h5py.Group):
            continue
        if snake in _SNAKE:
            _read_vars(ctx, prefix + key, _SNAKE[snake], sub, None)
        else:
            _discover(ctx, sub, f"{prefix}{key}.", depth + 1)


def _from_h5(ctx: _File, f: Any) -> None:
    """Whichever Keras layout an HDF5 file holds."""
    config = _attr(ctx, f, "model_config")
    if config is not None:
        what = f"{ctx.label}: its model_config"
        layers = model_layers(_json(_text(config) or "", what), what)
        if not isinstance(root := _child(ctx, f, "model_weights"), ctx.h5py.Group):
            raise ctx.error("a Keras model file without weights (no model_weights group)")
        _weights_only(ctx, root) if layers is None else _legacy(ctx, root, layers)
    elif _container(ctx, f) is not None:
        _discover(ctx, f)
    elif "layer_names" in f.attrs or "layer_names0" in f.attrs:
        _weights_only(ctx, f)
    elif isinstance(root := _child(ctx, f, "model_weights"), ctx.h5py.Group):
        _weights_only(ctx, root)
    else:
        raise ctx.error("an HDF5 file, but not a Keras model (no model_config, model_weights or layers)")


def read_h5(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors by "<layer>.weight" in PyTorch's layout, module kinds by layer name) of a legacy Keras HDF5 file
    (model.save or model.save_weights), or of a Keras 3 .weights.h5."""
    ctx = _File(_h5py(path), str(path), path.stat().st_size)
    with _opened(ctx, path) as f:
        _from_h5(ctx, f)
    return ctx.tensors, ctx.kinds


def _unzip(zf: zipfile.ZipFile, name: str, sink: IO[bytes], limit: int, path: Path) -> int:
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


def read_keras(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The same for a Keras 3 .keras archive (a zip of config.json and model.weights.h5)."""
    h5py = _h5py(path)
    try:
        with zipfile.ZipFile(path) as zf, tempfile.TemporaryFile() as weights:
            _unzip(zf, "config.json", raw := io.BytesIO(), MAX_CONFIG, path)
            layers = model_layers(_json(raw.getvalue(), f"{path}: its config.json"), f"{path}: its config.json")
            size = _unzip(zf, "model.weights.h5", weights, MAX_MEMBER, path)
            ctx = _File(h5py, f"{path} (its model.weights.h5)", size)
            weights.seek(0)
            with _opened(ctx, weights) as f:
                _saved(ctx, f, layers) if layers is not None else _discover(ctx, f)
    except _ZIP_ERRORS as e:  # RuntimeError: an encrypted member
        raise UserError(f"{path}: not a checkpoint cnnkreport can read (a damaged .keras archive: {reason(e)})") from e
    return ctx.tensors, ctx.kinds
