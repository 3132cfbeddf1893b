"""Which tensors a TorchScript program passes to a convolution, read from its graphs (nothing is run through it).

Every method of the program (forward, the methods exported with `torch.jit.export`, in the root module and in its
submodules) is walked as its inlined graph, into the blocks of every node (both branches of a `prim::If` count: a
model with a 16 kHz and an 8 kHz branch uses both STFT bases). A convolution node's weight (its input 1) is traced
back, through ops that keep its values (contiguous, to, detach, ...), along its chain of `prim::GetAttr` nodes to the
module itself: the dotted path ("_model.stft.forward_basis_buffer") is its key, whether the tensor is a parameter, a
buffer or a plain attribute; a frozen program (`torch.jit.freeze`) holds it as a constant (named after that path
until it is saved, "constant.0", ... once loaded).
The node says whether the convolution is transposed. A weight that the graph computes (weight norm, a tensor made
in forward) is not a stored tensor: it is listed as not drawn, named after the stored tensors it is computed from.
A weight that a method takes as an argument (nn.Conv2d._conv_forward's) is what its callers pass: their graphs,
where it is inlined, say what it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from ..names import printable
from ..rundir import Unshown

# aten op -> transposed? (None: said by the op's `transposed` argument, input 6)
CONV_OPS: dict[str, bool | None] = {
    **{f"aten::conv{r}d": False for r in (1, 2, 3)},
    **{f"aten::conv_transpose{r}d": True for r in (1, 2, 3)},
    "aten::_convolution": None,
    "aten::convolution": None,
    "aten::_convolution_mode": False,
    "aten::cudnn_convolution": False,
    "aten::cudnn_convolution_relu": False,
    "aten::cudnn_convolution_add_relu": False,
    "aten::cudnn_convolution_transpose": True,
    "aten::miopen_convolution": False,
    "aten::miopen_depthwise_convolution": False,
    "aten::miopen_convolution_transpose": True,
    "aten::mkldnn_convolution": False,
    "aten::thnn_conv2d": False,
    "aten::slow_conv3d": False,
    "aten::_conv_depthwise2d": False,
    "aten::conv_depthwise3d": False,
    "aten::slow_conv_transpose2d": True,
    "aten::slow_conv_transpose3d": True,
}
# ops whose output holds the values of their first input (a weight passed through them is still that weight)
KEEPS_VALUES = frozenset(
    {"aten::contiguous", "aten::detach", "aten::to", "aten::clone", "aten::type_as", "aten::alias"}
    | {"prim::unchecked_cast", "aten::requires_grad_", "aten::detach_"}
)
MAX_CHAIN = 256  # GetAttr and value-keeping nodes followed back from one weight


@dataclass
class ScriptConvs:
    """What a program's graphs pass to its convolutions."""

    kinds: dict[str, str | None] = field(default_factory=dict)  # key -> "Conv1d", "ConvTranspose2d", ... (None:
    # the op does not say whether it is transposed)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # each key's tensor, as the program holds it
    unread: dict[str, Unshown] = field(default_factory=dict)  # computed weights, by name
    constants: dict[str, str] = field(default_factory=dict)  # a frozen program's unnamed constants: value -> key


def _nodes(block: Any) -> Iterator[Any]:
    """Every node of a graph or block, and of the blocks inside its nodes (If branches, Loop bodies)."""
    for node in block.nodes():
        yield node
        for inner in node.blocks():
            yield from _nodes(inner)


def _graphs(model: Any) -> Iterator[tuple[str, str, Any]]:
    """(module path, method name, inlined graph) of every method worth walking: the root module's, and the
    submodules' other than forward (a submodule's forward that the root uses is inlined in the root's)."""
    for prefix, module in model.named_modules():
        try:
            methods = list(module._c._method_names())
        except (AttributeError, RuntimeError):
            continue
        for name in methods:
            if name.startswith("__") or (prefix and name == "forward"):
                continue
            try:
                yield prefix, name, getattr(module, name).inlined_graph
            except Exception:  # a method that cannot be inlined: what the others use is still found
                continue


def _kept(value: Any) -> Any:
    """The value a weight's values come from, past the ops that keep them."""
    for _ in range(MAX_CHAIN):
        node = value.node()
        if node.kind() not in KEEPS_VALUES or not list(node.inputs()):
            return value
        value = node.inputsAt(0)
    return value


def _attr_path(value: Any) -> str | None:
    """The dotted attribute path of a value read from the module (self.a.b -> "a.b"), or None."""
    parts: list[str] = []
    value = _kept(value)
    for _ in range(MAX_CHAIN):
        node = value.node()
        if node.kind() != "prim::GetAttr":
            break
        parts.append(node.s("name"))
        value = node.inputsAt(0)
    is_self = value.node().kind() == "prim::Param" and value.offset() == 0
    return ".".join(reversed(parts)) if parts and is_self else None


def _joined(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix else path


def _fetch(model: Any, key: str) -> torch.Tensor | None:
    obj = model
    for part in key.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, torch.Tensor) else None


def _transposed(node: Any) -> bool | None:
    said = CONV_OPS[node.kind()]
    if said is not None or node.inputsSize() < 7:
        return said
    flag = node.inputsAt(6)
    value = flag.toIValue() if flag.node().kind() == "prim::Constant" else None
    return value if isinstance(value, bool) else None


def _kind(transposed: bool | None, ndim: int) -> str | None:
    if transposed is None or ndim not in (3, 4, 5):
        return None
    return f"{'ConvTranspose' if transposed else 'Conv'}{ndim - 2}d"


def _computed(model: Any, prefix: str, method: str, value: Any, found: ScriptConvs) -> None:
    """A weight that is not a stored tensor: listed under the first stored tensor it is computed from."""
    value = _kept(value)
    node = value.node()
    if node.kind() == "prim::Param":  # a method's argument (nn.Conv2d._conv_forward's): its callers say what it is
        return
    sources = [p for v in node.inputs() if (p := _attr_path(v)) is not None]
    keys = [_joined(prefix, p) for p in sources]
    tensor = _fetch(model, keys[0]) if keys else None
    name = keys[0] if keys else f"<{node.kind()} in {_joined(prefix, method)}>"
    shape = tuple(int(s) for s in tensor.shape) if tensor is not None else ()
    made_of = f" from {', '.join(keys)}" if keys else ""
    why = f"a conv weight computed in the model's graph (by {node.kind()}{made_of}), not stored: not drawn"
    found.unread.setdefault(name, Unshown(printable(name), shape, why))


def _constant_key(value: Any, found: ScriptConvs) -> str:
    """A frozen program's weight: named by its path while the program is the one frozen here ("self.conv.weight"),
    else (the names are not saved) "constant.0", "constant.1", ... in the order the graph uses them."""
    name = value.debugName()
    if name.startswith("self."):
        return name.removeprefix("self.")
    return found.constants.setdefault(name, f"constant.{len(found.constants)}")


def _weight(model: Any, prefix: str, method: str, node: Any, found: ScriptConvs) -> None:
    value = node.inputsAt(1)
    kept = _kept(value)
    path = _attr_path(value)
    key, tensor = None, None
    if path is not None:
        key = _joined(prefix, path)
        tensor = _fetch(model, key)
    elif kept.node().kind() == "prim::Constant" and kept.type().kind() == "TensorType":  # a frozen program
        key, tensor = _constant_key(kept, found), kept.toIValue()
    if key is None or not isinstance(tensor, torch.Tensor):
        _computed(model, prefix, method, value, found)
        return
    if key not in found.kinds or found.kinds[key] is None:
        found.kinds[key] = _kind(_transposed(node), tensor.dim())
    found.tensors[key] = tensor


def script_convs(model: Any) -> ScriptConvs:
    """The tensors that the program's convolutions take as weights, by key, and the computed ones, listed."""
    found = ScriptConvs()
    for prefix, method, graph in _graphs(model):
        for node in _nodes(graph):
            if node.kind() in CONV_OPS and node.inputsSize() > 1:
                _weight(model, prefix, method, node, found)
    return found
