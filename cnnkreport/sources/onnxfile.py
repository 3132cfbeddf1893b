"""The ONNX reader: the conv weights of an ONNX model, read as data (the `onnx` package parses the protobuf with
`load_external_data=False`; nothing is run, no onnxruntime).

A weight is the W input of a Conv, ConvTranspose or QLinearConv node, in the main graph, in the subgraphs of
If/Loop/Scan nodes or in the model's local functions (`model.functions`, inlined where they are called: a weight
passed in is the caller's initializer, a Constant inside one is the function's), found among the initializers and
the `Constant` nodes of every graph, through Identity nodes and a DequantizeLinear (per-tensor or per-axis, as
onnxruntime computes it). One layer per distinct weight, named by its first conv node (else by the weight, less
".weight"), made unique with "_2", "_3"; its kind ("Conv2d", "ConvTranspose1d", ...) comes from the node. Conv W is
(out, in/groups, *k) like PyTorch's, so it is kept as it is. Float weights (FLOAT, FLOAT16, BFLOAT16, DOUBLE) become
float32; other types, and weights that another node computes or the graph takes as an input, are listed as not
drawn, with why (a file with no readable conv weight at all is refused). Every claimed
shape is checked against MAX_ELEMENTS and the bytes present before anything is converted. External data is read only
from a regular file inside the model's folder, reached through no symbolic link (each folder is opened without
following links, the file too), its offset and length checked against the file. Every failure is one line.
"""

from __future__ import annotations

import errno
import itertools
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import UserError
from ..names import printable
from ..rundir import Unshown
from .modelfile import MAX_ELEMENTS, Parts, one_line, open_inside, reason, shape_text, unreadable

_DOMAINS = ("", "ai.onnx")
MAX_CALLS = 16  # local functions that call local functions, this deep
_QUANT_DOMAINS = ("", "ai.onnx", "com.microsoft")
_EXTERNAL = 1  # TensorProto.EXTERNAL
# TensorProto data type -> (name, numpy dtype of raw_data, the repeated field that holds the values otherwise)
_TYPES: dict[int, tuple[str, str, str]] = {
    1: ("FLOAT", "<f4", "float_data"),
    10: ("FLOAT16", "<f2", "int32_data"),  # the 16 bits of each value, in an int32
    16: ("BFLOAT16", "<u2", "int32_data"),  # the top half of a float32: shifted into place in _decode
    11: ("DOUBLE", "<f8", "double_data"),
    2: ("UINT8", "u1", "int32_data"),
    3: ("INT8", "i1", "int32_data"),
    4: ("UINT16", "<u2", "int32_data"),
    5: ("INT16", "<i2", "int32_data"),
    6: ("INT32", "<i4", "int32_data"),
}
FLOATS = frozenset({1, 10, 16, 11})
INTS = frozenset({2, 3, 4, 5, 6})  # quantized weights: read only to dequantize them


class _Skip(Exception):
    """A conv weight that cannot be read (an integer type, computed by a node, ...): why, for the message."""


@dataclass(frozen=True)
class _Conv:
    op: str  # Conv | ConvTranspose | QLinearConv
    node: str  # the node's name, maybe ""
    weight: str  # the name of its W input
    quant: tuple[str, str, str] | None  # QLinearConv: (w, w_scale, w_zero_point)


@dataclass
class _Model:
    path: Path
    constants: dict[str, Any]  # name -> TensorProto: initializers and Constant nodes' values, every graph
    producers: dict[str, Any]  # name -> the NodeProto whose output it is (Constant nodes with a value excepted)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # name -> shape, where the graph declares it


# ---------------------------------------------------------------------------------------------- tensors


def _str(text: str | bytes) -> str:
    """A protobuf string: the parser hands over bytes when a name is not valid UTF-8 (written out as escapes)."""
    return text if isinstance(text, str) else bytes(text).decode("utf-8", "backslashreplace")


def _names(names: Any) -> tuple[str, ...]:
    return tuple(_str(n) for n in names)


def _type_name(code: int) -> str:
    return _TYPES[code][0] if code in _TYPES else _onnx_type_name(code)


def _onnx_type_name(code: int) -> str:
    import onnx

    try:
        return str(onnx.TensorProto.DataType.Name(code))
    except ValueError:
        return f"data type {code}"


def _decode(code: int, values: Any, raw: bool, shape: tuple[int, ...]) -> np.ndarray:
    """Bytes (raw) or a repeated field's values, already checked to hold exactly prod(shape) values, as an array."""
    _, dtype, _ = _TYPES[code]
    if raw:
        a = np.frombuffer(values, dtype=dtype)
    elif code in (1, 11):
        a = np.fromiter(values, dtype=dtype, count=len(values))
    else:  # 8- and 16-bit types sit in int32_data: keep the low bits (FLOAT16's too, then seen as float16)
        a = np.fromiter(values, dtype=np.int64, count=len(values)).astype("<u2" if code == 10 else dtype)
        if code == 10:
            a = a.view("<f2")
    if code == 16:
        a = (a.astype("<u4") << 16).view("<f4")
    return (a.astype(np.float32) if code in FLOATS else a).reshape(shape)


def _tensor(model: _Model, t: Any, allowed: frozenset[int]) -> np.ndarray:
    """A TensorProto of a type in `allowed` (else _Skip) as an array (float32 for float types), every claim checked
    before anything is read or converted."""
    name = printable(_str(t.name))
    if t.data_type not in allowed:
        raise _Skip(f"its data type is {_type_name(t.data_type)}")
    shape = tuple(int(d) for d in t.dims)
    if any(d < 0 for d in shape):
        raise unreadable(model.path, f"tensor {name} has the shape {shape_text(shape)}")
    elements = math.prod(shape)
    if elements > MAX_ELEMENTS:
        raise unreadable(model.path, f"tensor {name} claims {elements} elements")
    if t.HasField("segment"):
        raise _Skip("it is stored in segments")
    kind, dtype, field = _TYPES[t.data_type]
    needed = elements * np.dtype(dtype).itemsize
    if t.data_location == _EXTERNAL:
        return _decode(t.data_type, _external(model.path, t, needed), True, shape)
    if t.HasField("raw_data"):
        values, raw, have, unit = t.raw_data, True, len(t.raw_data), needed
    else:
        values, raw = getattr(t, field), False
        have, unit = len(values), elements
    if have != unit:
        what = "bytes" if raw else f"values in {field}"
        raise unreadable(
            model.path, f"tensor {name}: {kind} {shape_text(shape)} needs {unit} {what}, the file has {have}"
        )
    return _decode(t.data_type, values, raw, shape)


# ---------------------------------------------------------------------------------------------- external data


def _location(location: str) -> tuple[str, ...] | None:
    """The parts of an external data location that stays inside the model's folder (relative, no ".."), or None."""
    if not location or "\x00" in location or "\\" in location:
        return None
    p = PurePosixPath(location)
    if p.is_absolute() or ".." in p.parts:
        return None
    return tuple(part for part in p.parts if part != ".") or None


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 20 else None


def _external(path: Path, t: Any, needed: int) -> bytes:
    """The `needed` bytes of a tensor stored in a file next to the model, or a one-line UserError."""
    info = {_str(e.key): _str(e.value) for e in t.external_data}
    location = info.get("location", "")
    where = f"{path}: tensor {printable(_str(t.name))} has its data in {printable(location)!r}"
    parts = _location(location)
    if parts is None:
        raise UserError(f"{where}, outside the model's folder: cnnkreport reads external data only from that folder")
    offset, length = _number(info.get("offset", "0")), _number(info.get("length", str(needed)))
    if offset is None or length is None:
        raise UserError(f"{where} at offset {info.get('offset')!r}, length {info.get('length')!r}: not numbers")
    if length != needed:
        raise UserError(f"{where}, {length} bytes long: its type and shape need {needed} bytes")
    try:
        fd = open_inside(path.parent, parts)
    except OSError as e:
        why = "a symbolic link" if e.errno == errno.ELOOP else (e.strerror or reason(e))
        raise UserError(f"{where}, which cannot be read ({why})") from e
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{where}, which is not a regular file")
        if offset + needed > st.st_size:
            raise UserError(f"{where}: {needed} bytes from offset {offset}, the file has {st.st_size}")
        fh.seek(offset)
        data = fh.read(needed)
    if len(data) != needed:  # the file shrank under us
        raise UserError(f"{where}: it ended before {needed} bytes")
    return data


# ---------------------------------------------------------------------------------------------- the graph


def _graphs(graph: Any) -> list[Any]:
    """The graph and every subgraph in it (If branches, Loop and Scan bodies), depth first, in node order. Protobuf
    refuses messages nested deeper than 100, which bounds the recursion."""
    out = [graph]
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                out += _graphs(attr.g)
            for g in attr.graphs:
                out += _graphs(g)
    return out


def _conv(node: Any) -> _Conv | None:
    if node.op_type in ("Conv", "ConvTranspose") and node.domain in _DOMAINS:
        return _Conv(node.op_type, _str(node.name), (_names(node.input) + ("", ""))[1], None)
    if node.op_type == "QLinearConv" and node.domain in _QUANT_DOMAINS:
        w = (_names(node.input)[3:6] + ("", "", ""))[:3]
        return _Conv("QLinearConv", _str(node.name), w[0], (w[0], w[1], w[2]))
    return None


def _call(node: Any) -> tuple[str, str, str]:
    return _str(node.domain), _str(node.op_type), _str(getattr(node, "overload", ""))


def _nodes(
    nodes: Any, functions: dict[tuple[str, str, str], Any], calls: Iterator[int], depth: int = 0
) -> Iterator[Any]:
    """The nodes in order, each call of one of the model's local functions replaced by the function's nodes, renamed
    for that call (_inlined); functions that call functions too, MAX_CALLS deep."""
    for node in nodes:
        fn = functions.get(_call(node)) if depth < MAX_CALLS and _conv(node) is None else None
        if fn is None:
            yield node
        else:
            yield from _nodes(_inlined(node, fn, next(calls)), functions, calls, depth + 1)


def _inlined(node: Any, fn: Any, call: int) -> list[Any]:
    """A local function's nodes for one call: its inputs and outputs named as the call site names them (so that a
    weight passed in is the caller's initializer), its Constant nodes' outputs named once per function (one layer
    however often it is called), its other values once per call, its nodes after it ("Block.conv")."""
    import onnx

    where, scope = f"{_str(fn.domain)}:{_str(fn.name)}", f"{_str(fn.name)}#{call}"
    rename = dict(zip(_names(fn.input), _names(node.input) + ("",) * len(fn.input), strict=False))
    outputs = dict(zip(_names(fn.output), _names(node.output), strict=False))
    for inner in fn.node:
        shared = inner.op_type == "Constant" and inner.domain in _DOMAINS
        rename |= {o: outputs.get(o) or f"{where if shared else scope}/{o}" for o in _names(inner.output)}
    body = []
    for inner in fn.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        del copy.input[:], copy.output[:]
        copy.input.extend(rename.get(n, n) for n in _names(inner.input))
        copy.output.extend(rename.get(n, n) for n in _names(inner.output))
        copy.name = f"{_str(fn.name)}.{_str(inner.name)}" if inner.name else ""
        body.append(copy)
    return body


def _declared(graph: Any, shapes: dict[str, tuple[int, ...]]) -> None:
    """The shapes a graph declares for its inputs, outputs and values (where every dimension is a number)."""
    for info in [*graph.input, *graph.output, *graph.value_info]:
        dims = info.type.tensor_type.shape.dim if info.type.HasField("tensor_type") else ()
        shape = tuple(int(d.dim_value) if d.HasField("dim_value") else 0 for d in dims)
        if shape and all(d > 0 for d in shape):
            shapes.setdefault(_str(info.name), shape)


def _scan(model: Any, path: Path) -> tuple[list[_Conv], _Model, list[str]]:
    """The conv nodes (the first one of each weight), the constants and producers, the other op types; the model's
    local functions inlined where they are called."""
    convs: dict[str, _Conv] = {}
    unnamed: list[_Conv] = []  # conv nodes without a W input
    m = _Model(path, {}, {})
    ops: list[str] = []
    functions = {(_str(f.domain), _str(f.name), _str(getattr(f, "overload", ""))): f for f in model.functions}
    calls = itertools.count()
    for graph in _graphs(model.graph):
        _declared(graph, m.shapes)
        for t in graph.initializer:
            m.constants.setdefault(_str(t.name), t)
        for node in _nodes(graph.node, functions, calls):
            value = next((a.t for a in node.attribute if a.name == "value" and a.HasField("t")), None)
            if node.op_type == "Constant" and node.domain in _DOMAINS and value is not None and node.output:
                m.constants.setdefault(_str(node.output[0]), value)
                continue
            for out in _names(node.output):
                m.producers.setdefault(out, node)
            conv = _conv(node)
            if conv is None:
                ops.append(_str(node.op_type))
            elif conv.weight:
                convs.setdefault(conv.weight, conv)
            else:
                unnamed.append(conv)
    return list(convs.values()) + unnamed, m, ops


def _dequantize(model: _Model, x: str, scale: str, zero: str, axis: int) -> np.ndarray:
    """(x - zero_point) * scale in float32, per tensor or along `axis`, as onnxruntime computes DequantizeLinear."""
    q = _tensor(model, _constant(model, x), INTS)
    s = _tensor(model, _constant(model, scale), FLOATS)
    z = _tensor(model, _constant(model, zero), INTS) if zero else np.zeros((), q.dtype)
    if s.size == 1 and z.size == 1:
        s, z = s.reshape(()), z.reshape(())
    else:
        if s.ndim != 1 or not -q.ndim <= axis < q.ndim or s.shape[0] != q.shape[axis] or z.size not in (1, s.size):
            raise _Skip(f"a DequantizeLinear scale of shape {shape_text(s.shape)} for {shape_text(q.shape)}")
        where = [1] * q.ndim
        where[axis] = -1
        s, z = s.reshape(where), z.reshape(where if z.size > 1 else ())
    return (q.astype(np.float32) - z.astype(np.float32)) * s


def _constant(model: _Model, name: str) -> Any:
    """The TensorProto of a constant by name, or _Skip saying where the value comes from instead."""
    if name in model.constants:
        return model.constants[name]
    node = model.producers.get(name)
    if node is None:
        raise _Skip("it is an input of the graph, not stored in the file")
    if node.op_type == "Constant":
        raise _Skip("it is a Constant node without a dense tensor value")
    raise _Skip(f"it is computed by a {printable(_str(node.op_type))} node")


def _weight(model: _Model, conv: _Conv) -> tuple[str, np.ndarray]:
    """The float32 weight of a conv node, and the constant it is read from: a constant, through Identity nodes and a
    DequantizeLinear; or _Skip."""
    if conv.quant is not None:
        x, scale, zero = conv.quant
        return x, _dequantize(model, x, scale, zero, axis=0)
    name = conv.weight
    for _ in range(64):
        if name in model.constants:
            return name, _tensor(model, model.constants[name], FLOATS)
        node = model.producers.get(name)
        if node is not None and node.op_type == "Identity" and node.domain in _DOMAINS and node.input:
            name = _str(node.input[0])
        elif node is not None and node.op_type == "DequantizeLinear" and node.domain in _QUANT_DOMAINS:
            attrs = {a.name: a.i for a in node.attribute}
            if attrs.get("block_size", 0):
                raise _Skip("it is dequantized by blocks")
            x, scale, zero = (_names(node.input) + ("", "", ""))[:3]
            return x, _dequantize(model, x, scale, zero, axis=attrs.get("axis", 1))
        else:
            _constant(model, name)  # not a constant: raises _Skip, saying what it is
    raise _Skip("it comes through more than 64 Identity nodes")


# ---------------------------------------------------------------------------------------------- the model


def _layer_names(convs: list[_Conv]) -> list[str]:
    """A layer name per conv: its weight's less ".weight" when the weight is named like a PyTorch parameter (as
    torch.onnx.export names them: "features.0.weight", so that an export and its .pt file have the same layers),
    else its node's name, else its weight's, else "conv"; names given twice get "_2", "_3", ... (not any other
    layer's name), in graph order."""
    bases = [
        c.weight.removesuffix(".weight")
        if c.weight.endswith(".weight") and c.weight != ".weight"
        else c.node or c.weight or "conv"
        for c in convs
    ]
    taken, seen, names = set(bases), set(), []
    for base in bases:
        name, i = base, 2
        while name in seen or (name != base and name in taken):
            name, i = f"{base}_{i}", i + 1
        seen.add(name)
        taken.add(name)
        names.append(name)
    return names


def _kind(op: str, ndim: int) -> str:
    """The PyTorch class name for a conv of this op and weight rank: "Conv2d", "ConvTranspose1d", ..."""
    base = "ConvTranspose" if op == "ConvTranspose" else "Conv"
    return f"{base}{ndim - 2}d" if 3 <= ndim <= 5 else base


def _load(path: Path) -> Any:
    try:
        import onnx
    except ImportError as e:
        raise UserError(f'{path}: reading ONNX files needs the onnx package: pip install "cnnkreport[onnx]"') from e
    try:
        model = onnx.load(str(path), format="protobuf", load_external_data=False)
    except Exception as e:  # DecodeError for anything that is not a whole protobuf message
        raise unreadable(path, f"not an ONNX model, or a truncated one: {reason(e)}") from e
    if not model.HasField("graph") or model.ir_version <= 0:
        raise unreadable(path, "not an ONNX model: it has no graph")
    return model


def _shape(model: _Model, name: str) -> tuple[int, ...]:
    """A value's shape where the file says it (a constant's dims, a declared shape), else ()."""
    if name in model.constants:
        return tuple(int(d) for d in model.constants[name].dims)
    return model.shapes.get(name, ())


def read(path: Path) -> Parts:
    """The tensors by "<layer>.weight" in PyTorch's layout, and module kinds by layer name, of an ONNX file: the
    weights of its conv nodes, in graph order, one layer per constant read; those that cannot be read (computed,
    an input of the graph, an integer type, ...) listed with why."""
    convs, model, ops = _scan(_load(path), path)
    if not convs:
        others = ", ".join(printable(op) for op in dict.fromkeys(ops)) or "none"
        raise UserError(f"{path}: no Conv or ConvTranspose node in this ONNX model (its ops: {one_line(others)})")
    tensors, kinds, skipped, unread, read_from = {}, {}, [], [], set()
    for conv, layer in zip(convs, _layer_names(convs), strict=True):
        try:
            if not conv.weight:
                raise _Skip("it has no W input")
            source, w = _weight(model, conv)
        except _Skip as e:
            skipped.append(f"the weight {printable(conv.weight)!r} of {conv.op} node {printable(layer)!r}: {e}")
            why = f"its weight {printable(conv.weight)!r} cannot be read: {e}"
            unread.append(Unshown(printable(layer), _shape(model, conv.weight), f"an ONNX {conv.op}; {why}"))
            continue
        if source not in read_from:
            read_from.add(source)
            tensors[f"{layer}.weight"] = w
            kinds[layer] = _kind(conv.op, w.ndim)
    if not tensors:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise UserError(f"{path}: no conv weight in this ONNX model can be read: {skipped[0]}{more}")
    return Parts("onnx", tensors, kinds, None, tuple(unread))
