"""Keras model files, read as data with h5py, zipfile and json only (keras.models.load_model runs code from a file):
the layouts Keras writes (keraslayers.py knows the layer types and their kernels' layouts, kerash5.py reads safely).

A legacy HDF5 file (`model.save("m.h5")`) has its architecture as JSON in the root attribute `model_config` and each
layer's weights in `model_weights/<layer name>/`, listed by its `weight_names` ("conv/kernel:0"; a nested model's
group holds all its layers' weights, told apart by the layer name before the variable's; a wrapper's holds its
wrapped layers', "td/conv/kernel", "bi/forward_lstm/lstm_cell/kernel"). A Keras 3 `.keras` zip's `model.weights.h5`
names its groups by type and order, not by the user's names: saving_lib stores a model's layers, in config order, as
`layers/<snake_case class name>`, `_1`, `_2`, ... added for later layers of one class (`layers/conv2d/vars/0`,
`layers/conv2d_1/vars/0`, a nested model's `layers/sequential/layers/...`, a wrapped layer's
`layers/time_distributed/layer/vars/0` or `layers/bidirectional/forward_layer/cell/vars/0`): the names come from
`config.json`. Without an architecture the layer types are inferred: in a weights-only `.h5` (`save_weights`) from
the variables' names and ranks (keraslayers.infer; a transposed conv is then told by its name only, a Keras 3
DepthwiseConv2D, whose kernel is "kernel", reads as a Conv2D); in a Keras 3 `.weights.h5` (or a subclassed model's
`.keras`) from the groups' class names, each layer named as its `vars` group's `name` attribute says (Keras 3 writes
the layer's own name there) or else by its group ("conv2d_1"), in class order; a wrapped layer's type from its
variables' shapes (keraslayers.infer_saved). Keras 3 sharded weights (`model.save_weights("m.weights.json",
max_shard_size=...)`: an index whose `weight_map` names the shard files `m_00000.weights.h5`, ... beside it, each
holding part of the groups, a layer's variables maybe split over two) are read by merging the shards' conv-shaped
variables into one file in memory, read like a `.weights.h5`; a shard is opened only if it is a regular file in the
index's folder, reached through no symbolic link. Other layers are left out.
"""

from __future__ import annotations

import errno
import io
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..names import printable
from .kerash5 import (
    MAX_CONFIG,
    MAX_MEMBER,
    ZIP_ERRORS,
    File,
    array,
    attr,
    child,
    h5py_module,
    json_of,
    opened,
    strings,
    text,
    unzip,
)
from .keraslayers import (
    KINDS,
    MAX_DEPTH,
    SLOTS,
    SNAKE,
    WRAPPERS,
    Config,
    Layer,
    Spec,
    infer,
    infer_saved,
    model_layers,
    read_layer,
    snake_case,
)
from .modelfile import open_inside, reason

_SUFFIX = re.compile(r"(.+?)(?:_(\d+))?")
MAX_SHARDS = 10_000

# ---------------------------------------------------------------------------------------------- legacy HDF5


def _weight_names(ctx: File, group: Any) -> list[str]:
    """A layer group's weights: its weight_names attribute, else every dataset in it (alphabetical)."""
    names = strings(ctx, group, "weight_names")
    if names is None:
        names = []
        group.visititems(lambda n, obj: None if isinstance(obj, ctx.h5py.Group) else names.append(n))
    return names


def _wrapper(layer: Layer) -> bool:
    return bool(layer.children) and layer.children[0].slot is not None  # type: ignore[index]


def _holds(weight: str, layer: Layer) -> bool:
    """Whether a variable of a nested model's or a wrapper's group ("model/conv/kernel") is this layer's."""
    owners = weight.split("/")[:-1]
    if layer.slot is None:  # a nested model's layer: "<layer>/<variable>", or "<layer>/<cell>/<variable>"
        return owners[-1:] == [layer.name] or (owners[-2:-1] == [layer.name] and owners[-1].endswith("_cell"))
    if layer.slot == "layer":  # the one layer a TimeDistributed wraps
        return True
    direction = layer.slot.split("_")[0] + "_"  # Bidirectional: "forward_" or "backward_"
    return layer.name in owners or any(o.startswith(direction) for o in owners)


def _legacy(ctx: File, root: Any, layers: list[Layer], prefix: str = "", nested: Any = None) -> None:
    """The conv layers of a legacy file's model_weights group, by layer name; `nested`: (group, weights) of the
    top-level model or wrapper that these layers are in."""
    for layer in layers:
        if layer.children is None and layer.cls not in KINDS:
            continue
        if nested is None:
            group = child(ctx, root, layer.name)
            found = (group, _weight_names(ctx, group)) if isinstance(group, ctx.h5py.Group) else None
        elif layer.children is None:
            found = (nested[0], [w for w in nested[1] if _holds(w, layer)])
        elif _wrapper(layer):
            found = (nested[0], [w for w in nested[1] if layer.name in w.split("/")[:-1]])
        else:
            found = nested
        if found is not None and layer.children is not None:
            _legacy(ctx, root, layer.children, f"{prefix}{layer.name}.", found)
        elif found is not None:
            read_layer(ctx, prefix + layer.name, KINDS[layer.cls], found[0], found[1], layer.config)


def _owners(weights: list[str]) -> dict[str, list[str]]:
    """A weights-only group's variables by the layer that holds them: "bi/forward_cl/conv_lstm_cell/kernel" ->
    "bi/forward_cl" (an RNN's cell is its layer's)."""
    out: dict[str, list[str]] = {}
    for w in weights:
        owner = w.split("/")[:-1]
        if owner and owner[-1].endswith("_cell"):
            owner = owner[:-1]
        out.setdefault("/".join(owner), []).append(w)
    return out


def _weights_only(ctx: File, root: Any) -> None:
    """A file with weights but no architecture: layers by the root's layer_names (else its groups); a group whose
    variables belong to several layers (a Bidirectional's) gives "<group>.<layer>" for each."""
    names = strings(ctx, root, "layer_names")
    for name in names if names is not None else sorted(root.keys()):
        group = child(ctx, root, name)
        weights = _weight_names(ctx, group) if isinstance(group, ctx.h5py.Group) else []
        owners = _owners(weights)
        for owner, held in owners.items():
            spec = infer(ctx, group, held)
            if spec is not None:
                layer = name if len(owners) == 1 else f"{name}.{owner.rsplit('/', 1)[-1]}"
                read_layer(ctx, layer, spec, group, held, None)


# ---------------------------------------------------------------------------------------------- Keras 3 saving_lib


def _container(ctx: File, group: Any) -> Any | None:
    """A model's group of layers ("layers"; Keras 2.13 wrote "_layer_checkpoint_dependencies")."""
    found = [child(ctx, group, name) for name in ("layers", "_layer_checkpoint_dependencies")]
    return next((g for g in found if isinstance(g, ctx.h5py.Group)), None)


def _numbered(ctx: File, group: Any) -> tuple[Any, list[str]] | None:
    """A layer's `vars` group (in its `cell` group for an RNN) and its numbered variables, in order."""
    variables = child(ctx, group, "vars")
    if not isinstance(variables, ctx.h5py.Group):
        return None
    return variables, sorted((k for k in variables.keys() if k.isdigit()), key=int)


def _read_vars(ctx: File, name: str, spec: Spec, group: Any, config: Config) -> None:
    if spec.kind == "convlstm" and not isinstance(group := child(ctx, group, "cell"), ctx.h5py.Group):
        return
    if (found := _numbered(ctx, group)) is not None:
        read_layer(ctx, name, spec, found[0], found[1], config)


def _saved(ctx: File, group: Any, layers: list[Layer], prefix: str = "") -> None:
    """The conv layers of a saving_lib weights file, through the config's layer list (the module's docstring says
    how Keras names their groups)."""
    container = _container(ctx, group)
    used: dict[str, int] = {}
    for layer in layers if container is not None else []:
        key = snake_case(layer.cls)
        used[key] = used.get(key, -1) + 1
        sub = child(ctx, container, f"{key}_{used[key]}" if used[key] else key)
        if isinstance(sub, ctx.h5py.Group):
            _saved_layer(ctx, sub, layer, prefix + layer.name)


def _saved_layer(ctx: File, group: Any, layer: Layer, name: str) -> None:
    """One layer of the config in its group: a wrapper's layers in their slots, a nested model's in its container."""
    if _wrapper(layer):
        for inner in layer.children or []:
            if isinstance(sub := child(ctx, group, inner.slot or ""), ctx.h5py.Group):
                _saved_layer(ctx, sub, inner, f"{name}.{inner.name}")
    elif layer.children is not None:
        _saved(ctx, group, layer.children, f"{name}.")
    elif layer.cls in KINDS:
        _read_vars(ctx, name, KINDS[layer.cls], group, layer.config)


def _label(ctx: File, group: Any, fallback: str) -> str:
    """A layer's own name, as Keras 3 writes it on its `vars` group, else `fallback` (its group's)."""
    variables = child(ctx, group, "vars")
    said = text(attr(ctx, variables, "name")) if isinstance(variables, ctx.h5py.Group) else None
    return said if said and "." not in said else fallback


def _discover(ctx: File, group: Any, prefix: str = "", depth: int = 0) -> None:
    """A saving_lib weights file without a layer list: layers by their groups' class names, named by _label."""
    container = _container(ctx, group) if depth <= MAX_DEPTH else None
    names = list(container.keys()) if container is not None else []
    for snake, _n, key in sorted((m[1], int(m[2] or 0), m[0]) for m in map(_SUFFIX.fullmatch, names) if m):
        if not isinstance(sub := child(ctx, container, key), ctx.h5py.Group):
            continue
        name = prefix + _label(ctx, sub, key)
        if snake in SNAKE:
            _read_vars(ctx, name, SNAKE[snake], sub, None)
            continue
        _discover(ctx, sub, f"{name}.", depth + 1)  # a nested model
        for slot in SLOTS if snake in map(snake_case, WRAPPERS) else ():
            if isinstance(inner := child(ctx, sub, slot), ctx.h5py.Group):
                _discover_wrapped(ctx, inner, f"{name}.{_label(ctx, inner, slot)}", depth + 1)


def _discover_wrapped(ctx: File, group: Any, name: str, depth: int) -> None:
    """A wrapped layer without a config: a nested model, or a layer typed by its variables' shapes."""
    if _container(ctx, group) is not None:
        _discover(ctx, group, f"{name}.", depth)
        return
    cell = child(ctx, group, "cell")
    found = _numbered(ctx, cell if isinstance(cell, ctx.h5py.Group) else group)
    if found is None:
        return
    variables, weights = found
    shapes = [tuple(ds.shape or ()) for w in weights if isinstance(ds := child(ctx, variables, w), ctx.h5py.Dataset)]
    spec = infer_saved(shapes, isinstance(cell, ctx.h5py.Group))
    if spec is not None:
        read_layer(ctx, name, spec, variables, weights, None)


# ---------------------------------------------------------------------------------------------- the files


def _from_h5(ctx: File, f: Any) -> None:
    """Whichever Keras layout an HDF5 file holds."""
    config = attr(ctx, f, "model_config")
    if config is not None:
        what = f"{ctx.label}: its model_config"
        layers = model_layers(json_of(text(config) or "", what), what)
        if not isinstance(root := child(ctx, f, "model_weights"), ctx.h5py.Group):
            raise ctx.error("a Keras model file without weights (no model_weights group)")
        _weights_only(ctx, root) if layers is None else _legacy(ctx, root, layers)
    elif _container(ctx, f) is not None:
        _discover(ctx, f)
    elif "layer_names" in f.attrs or "layer_names0" in f.attrs:
        _weights_only(ctx, f)
    elif isinstance(root := child(ctx, f, "model_weights"), ctx.h5py.Group):
        _weights_only(ctx, root)
    else:
        raise ctx.error("an HDF5 file, but not a Keras model (no model_config, model_weights or layers)")


def read_h5(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors by "<layer>.weight" in PyTorch's layout, module kinds by layer name) of a legacy Keras HDF5 file
    (model.save or model.save_weights), or of a Keras 3 .weights.h5."""
    ctx = File(h5py_module(path), str(path), path.stat().st_size)
    with opened(ctx, path) as f:
        _from_h5(ctx, f)
    return ctx.tensors, ctx.kinds


def read_keras(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The same for a Keras 3 .keras archive (a zip of config.json and model.weights.h5)."""
    h5py = h5py_module(path)
    try:
        with zipfile.ZipFile(path) as zf, tempfile.TemporaryFile() as weights:
            unzip(zf, "config.json", raw := io.BytesIO(), MAX_CONFIG, path)
            layers = model_layers(json_of(raw.getvalue(), f"{path}: its config.json"), f"{path}: its config.json")
            size = unzip(zf, "model.weights.h5", weights, MAX_MEMBER, path)
            ctx = File(h5py, f"{path} (its model.weights.h5)", size)
            weights.seek(0)
            with opened(ctx, weights) as f:
                _saved(ctx, f, layers) if layers is not None else _discover(ctx, f)
    except ZIP_ERRORS as e:  # RuntimeError: an encrypted member
        raise UserError(f"{path}: not a checkpoint cnnkreport can read (a damaged .keras archive: {reason(e)})") from e
    return ctx.tensors, ctx.kinds


def _shard_names(path: Path, index: object) -> list[str]:
    """The shard files that a sharded save's index names (its weight_map's values), each a plain file name."""
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise UserError(f"{path}: not Keras sharded weights (a JSON file without a weight_map)")
    names: dict[str, None] = {}
    for value in weight_map.values():
        for name in value if isinstance(value, list) else [value]:
            plain = isinstance(name, str) and name not in ("", ".", "..") and not set(name) & set("/\\\x00")
            if not plain:
                raise UserError(f"{path}: its weight_map names {printable(str(name))!r}, not a file beside it")
            names[name] = None
    if not names or len(names) > MAX_SHARDS:
        raise UserError(f"{path}: its weight_map names {len(names)} shard files")
    return list(names)


def _merge(ctx: File, source: Any, merged: Any, depth: int = 0) -> None:
    """A shard's groups, the `name` of each `vars` group, and its variables of 3 to 5 dimensions (each read and
    checked), into the merged file; a variable that two shards hold is refused."""
    for key in list(source.keys()) if depth <= 3 * MAX_DEPTH else []:
        obj = child(ctx, source, key)
        if isinstance(obj, ctx.h5py.Group):
            inner = merged.require_group(key)
            if key == "vars" and (said := text(attr(ctx, obj, "name"))) is not None:
                inner.attrs["name"] = said
            _merge(ctx, obj, inner, depth + 1)
        elif isinstance(obj, ctx.h5py.Dataset) and key.isdigit() and source.name.endswith("/vars"):
            if obj.ndim not in (3, 4, 5):
                continue
            if key in merged:
                raise ctx.error(f"{printable(obj.name)} is in two shards")
            merged.create_dataset(key, data=array(ctx, obj))


def read_sharded(path: Path, size: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The same for Keras 3 sharded weights: the index `path` (`*.weights.json`) and the shards it names."""
    h5py = h5py_module(path)
    if size > MAX_CONFIG:
        raise UserError(f"{path}: {size:,} bytes, over the {MAX_CONFIG:,} of a sharded weights index")
    index = json_of(path.read_bytes(), str(path))
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as merged:
        for name in _shard_names(path, index):
            try:
                fh = os.fdopen(open_inside(path.parent, (name,)), "rb")
            except OSError as e:
                why = "a symbolic link" if e.errno == errno.ELOOP else (e.strerror or reason(e))
                raise UserError(f"{path}: its shard {printable(name)} cannot be read ({why})") from e
            with fh:
                shard = File(h5py, f"{path}: its shard {printable(name)}", os.fstat(fh.fileno()).st_size)
                with opened(shard, fh) as f:
                    _merge(shard, f, merged)
    ctx = File(h5py, str(path), len(buffer.getbuffer()))
    with opened(ctx, buffer) as f:
        _discover(ctx, f)
    return ctx.tensors, ctx.kinds
