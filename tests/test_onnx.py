"""ONNX model files (sources/onnxfile.py): the conv weights of models built with onnx.helper from the same numbers
as a PyTorch state_dict read exactly as the .pt does (initializers, Constant nodes in If subgraphs, a shared
initializer, external data, every float type, DequantizeLinear), and bad files as one-line UserErrors: external data
outside the model's folder is never opened, claimed sizes allocate nothing."""

from __future__ import annotations

import builtins
import io
import json
import os
import sys
import tracemalloc
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.errors import UserError
from cnnkreport.sources.checkpoint import load
from cnnkreport.sources.layers import conv_layers

from .test_checkpoint import user_error

# ----------------------------------------------------------------------------------------------- building models


def net() -> nn.Module:
    """A Conv1d, a Conv2d, a depthwise Conv2d and a transposed conv (named so that a state_dict gives it away)."""
    torch.manual_seed(3)
    return nn.Sequential(
        OrderedDict(
            [
                ("c1", nn.Conv1d(2, 4, 9)),
                ("c2", nn.Conv2d(3, 6, 3)),
                ("dw", nn.Conv2d(6, 6, 3, groups=6)),
                ("deconv", nn.ConvTranspose2d(6, 2, 4)),
            ]
        )
    )


def value(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def save(
    path: Path,
    nodes: list[onnx.NodeProto],
    initializers: list[onnx.TensorProto],
    inputs: tuple[str, ...] = ("x",),
    outputs: tuple[str, ...] = ("y",),
) -> Path:
    graph = helper.make_graph(nodes, "g", [value(i) for i in inputs], [value(o) for o in outputs], initializers)
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return path


def net_graph(model: nn.Module, named: bool = True) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """net() as an ONNX graph (a 1-D branch from x1, a 2-D one from x2) with its state_dict as initializers."""
    sd = model.state_dict()
    inits = [numpy_helper.from_array(t.numpy(), k) for k, t in sd.items()]

    def conv(op: str, name: str, x: str, y: str, **attrs: Any) -> onnx.NodeProto:
        return helper.make_node(op, [x, f"{name}.weight", f"{name}.bias"], [y], name=name if named else "", **attrs)

    nodes = [
        conv("Conv", "c1", "x1", "y1"),
        conv("Conv", "c2", "x2", "h1"),
        conv("Conv", "dw", "h1", "h2", group=6),
        conv("ConvTranspose", "deconv", "h2", "y2"),
    ]
    return nodes, inits


def with_external(path: Path) -> Path:
    """The model at `path` rewritten by onnx itself with every tensor in one side file, weights.bin."""
    model = onnx.load(str(path))
    onnx.save_model(model, str(path), save_as_external_data=True, location="weights.bin", size_threshold=0)
    return path


def weights(ckpt: Any) -> dict[str, np.ndarray]:
    return {k: v for k, v in ckpt.tensors.items() if k.endswith(".weight")}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype == np.float32 and np.array_equal(a[k], b[k]), k


KINDS = {"c1": "Conv1d", "c2": "Conv2d", "dw": "Conv2d", "deconv": "ConvTranspose2d"}


# ----------------------------------------------------------------------------------------------- same as PyTorch


@pytest.mark.parametrize("named", [True, False], ids=["node-names", "weight-names"])
@pytest.mark.parametrize("external", [False, True], ids=["inline", "external"])
def test_same_tensors_as_pytorch(tmp_path: Path, named: bool, external: bool) -> None:
    model = net()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    path = save(tmp_path / "model.onnx", *net_graph(model, named), inputs=("x1", "x2"), outputs=("y1", "y2"))
    if external:
        with_external(path)
        assert (tmp_path / "weights.bin").stat().st_size > 1000
    pt, ox = load(tmp_path / "model.pt"), load(path)
    assert ox.format == "onnx" and ox.module_kinds == KINDS
    assert_same(ox.tensors, weights(pt))
    (shown_pt, unshown_pt), (shown_ox, unshown_ox) = conv_layers(pt), conv_layers(ox)
    assert shown_ox == shown_pt and [u.name for u in unshown_ox] == [u.name for u in unshown_pt] == ["deconv"]


def test_torch_onnx_export(tmp_path: Path) -> None:
    """A model exported by torch.onnx.export (the TorchScript exporter: offline, no onnxscript): the same numbers,
    and the same layer names as its state_dict (its weights keep their PyTorch names)."""
    model = nn.Sequential(nn.Conv1d(1, 4, 9), nn.ReLU(), nn.Conv1d(4, 2, 5, groups=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (torch.zeros(1, 1, 32),), str(tmp_path / "m.onnx"), dynamo=False)
        except Exception as e:  # an exporter this torch does not have offline
            pytest.skip(f"torch.onnx.export: {type(e).__name__}: {e}")
    ox = load(tmp_path / "m.onnx")
    sd = model.state_dict()
    assert [a.tolist() for a in ox.tensors.values()] == [sd["0.weight"].tolist(), sd["2.weight"].tolist()]
    assert list(ox.module_kinds.values()) == ["Conv1d", "Conv1d"]
    assert list(ox.tensors) == list(k for k in sd if k.endswith("weight"))  # "0.weight", "2.weight"


def test_shared_initializer_is_one_layer(tmp_path: Path) -> None:
    w = np.random.default_rng(0).standard_normal((4, 1, 9)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], [y], name=n) for n, y in (("a", "y"), ("b", "z"))]
    ckpt = load(save(tmp_path / "m.onnx", nodes, [numpy_helper.from_array(w, "w")], outputs=("y", "z")))
    assert list(ckpt.tensors) == ["a.weight"] and np.array_equal(ckpt.tensors["a.weight"], w)


def constant(name: str, a: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(a, name))


def branch(name: str, nodes: list[onnx.NodeProto], out: str) -> onnx.GraphProto:
    return helper.make_graph(nodes, name, [], [value(out)])


def test_constants_in_if_subgraphs(tmp_path: Path) -> None:
    """Weights in Constant nodes, one in an If branch, one in an If inside the other branch; an Identity between."""
    torch.manual_seed(0)
    sd = {"inner.weight": torch.randn(3, 1, 5), "deep.weight": torch.randn(2, 1, 3, 3)}
    torch.save(sd, tmp_path / "m.pt")
    then = branch(
        "then",
        [constant("k", sd["inner.weight"].numpy()), helper.make_node("Conv", ["x", "k"], ["t"], name="inner")],
        "t",
    )
    deep = [constant("dk", sd["deep.weight"].numpy()), helper.make_node("Identity", ["dk"], ["dk2"])]
    deep.append(helper.make_node("Conv", ["x", "dk2"], ["d"], name="deep"))
    nested = helper.make_node(
        "If", ["c"], ["e"], then_branch=branch("t2", deep, "d"), else_branch=branch("e2", deep, "d")
    )
    outer = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=branch("else", [nested], "e"))
    ckpt = load(save(tmp_path / "m.onnx", [outer], [], inputs=("x", "c")))
    # subgraphs in the order of the node's attributes (onnx.helper sorts them: else_branch first)
    assert_same(dict(sorted(ckpt.tensors.items())), dict(sorted(load(tmp_path / "m.pt").tensors.items())))
    assert ckpt.module_kinds == {"inner": "Conv1d", "deep": "Conv2d"}


def test_layer_names_are_unique(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    names = ["c", "c", "c_2", "c", "", ""]
    ws = [numpy_helper.from_array(rng.standard_normal((2, 1, 3)).astype(np.float32), f"w{i}") for i in range(6)]
    ws[5].name = "conv9.weight"
    nodes = [
        helper.make_node("Conv", ["x", w.name], [f"y{i}"], name=n)
        for i, (n, w) in enumerate(zip(names, ws, strict=True))
    ]
    ckpt = load(save(tmp_path / "m.onnx", nodes, ws, outputs=tuple(f"y{i}" for i in range(6))))
    assert list(ckpt.module_kinds) == ["c", "c_3", "c_2", "c_4", "w4", "conv9"]
    assert [k.removesuffix(".weight") for k in ckpt.tensors] == list(ckpt.module_kinds)


# ----------------------------------------------------------------------------------------------- data types


def one_conv(path: Path, w: onnx.TensorProto, *extra: onnx.TensorProto) -> Path:
    return save(path, [helper.make_node("Conv", ["x", w.name], ["y"], name="conv")], [w, *extra])


def bf16(a: np.ndarray) -> np.ndarray:
    return a.astype(ml_dtypes.bfloat16)


FLOAT_TYPES: dict[str, tuple[Callable[[np.ndarray], onnx.TensorProto], Callable[[torch.Tensor], torch.Tensor]]] = {
    "float32-raw": (lambda a: numpy_helper.from_array(a, "w"), lambda t: t),
    "float32-float_data": (lambda a: helper.make_tensor("w", 1, a.shape, a.ravel().tolist()), lambda t: t),
    "float16-raw": (lambda a: numpy_helper.from_array(a.astype(np.float16), "w"), torch.Tensor.half),
    "float16-int32_data": (lambda a: helper.make_tensor("w", 10, a.shape, a.astype(np.float16)), torch.Tensor.half),
    "bfloat16-raw": (lambda a: numpy_helper.from_array(bf16(a), "w"), torch.Tensor.bfloat16),
    "bfloat16-int32_data": (lambda a: helper.make_tensor("w", 16, a.shape, a.ravel().tolist()), torch.Tensor.bfloat16),
    "float64-raw": (lambda a: numpy_helper.from_array(a.astype(np.float64), "w"), torch.Tensor.double),
}


@pytest.mark.parametrize("kind", list(FLOAT_TYPES))
def test_float_types_read_as_pytorch_does(tmp_path: Path, kind: str) -> None:
    make, cast = FLOAT_TYPES[kind]
    a = np.random.default_rng(2).standard_normal((4, 2, 3, 3)).astype(np.float32) * 3
    torch.save({"conv.weight": cast(torch.from_numpy(a.astype(np.float64) if "64" in kind else a))}, tmp_path / "m.pt")
    ox = load(one_conv(tmp_path / "m.onnx", make(a)))
    assert_same(ox.tensors, load(tmp_path / "m.pt").tensors)


def test_integer_weights_are_skipped(tmp_path: Path) -> None:
    ints = numpy_helper.from_array(np.ones((2, 1, 3), np.int8), "q")
    floats = numpy_helper.from_array(np.ones((2, 1, 5), np.float32), "f")
    nodes = [helper.make_node("Conv", ["x", "q"], ["y"], name="a"), helper.make_node("Conv", ["x", "f"], ["z"])]
    assert list(load(save(tmp_path / "m.onnx", nodes, [ints, floats], outputs=("y", "z"))).tensors) == ["f.weight"]
    user_error(lambda: load(one_conv(tmp_path / "i.onnx", ints)), "no conv weight", "'q'", "INT8")


def test_dequantize_linear(tmp_path: Path) -> None:
    """Per-channel DequantizeLinear before a Conv, and a per-tensor QLinearConv: (q - zero_point) * scale."""
    rng = np.random.default_rng(3)
    q = rng.integers(-128, 128, (4, 1, 9)).astype(np.int8)
    scale, zero = np.array([0.01, 0.02, 0.5, 3.0], np.float32), np.array([0, 1, -2, 3], np.int8)
    expect = (q.astype(np.float32) - zero.reshape(4, 1, 1)) * scale.reshape(4, 1, 1)
    arrays = {"q": q, "s": scale, "z": zero, "s1": np.float32(0.25), "z1": np.uint8(7), "u": q.view(np.uint8)}
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in arrays.items()]
    nodes = [
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["w"], axis=0),
        helper.make_node("Conv", ["x", "w"], ["y"], name="dq"),
        helper.make_node("QLinearConv", ["x", "s1", "z1", "u", "s1", "z1", "s1", "z1"], ["y2"], name="ql"),
    ]
    ckpt = load(save(tmp_path / "m.onnx", nodes, inits, outputs=("y", "y2")))
    assert np.array_equal(ckpt.tensors["dq.weight"], expect)
    assert np.array_equal(ckpt.tensors["ql.weight"], (q.view(np.uint8).astype(np.float32) - 7) * np.float32(0.25))
    assert ckpt.module_kinds == {"dq": "Conv1d", "ql": "Conv1d"}


@pytest.mark.parametrize("source", ["graph-input", "computed"])
def test_weights_that_are_not_stored(tmp_path: Path, source: str) -> None:
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")]
    inputs: tuple[str, ...] = ("x", "w")
    if source == "computed":
        nodes.insert(0, helper.make_node("Mul", ["a", "a"], ["w"]))
        inputs = ("x", "a")
    needle = "an input of the graph" if source == "graph-input" else "computed by a Mul node"
    user_error(lambda: load(save(tmp_path / "m.onnx", nodes, [], inputs=inputs)), "no conv weight", needle)


def test_weights_that_cannot_be_read_are_listed(tmp_path: Path) -> None:
    """Beside a weight that is read, an integer one and a computed one are layers not drawn, with why and shape."""
    rng = np.random.default_rng(4)
    good = numpy_helper.from_array(rng.standard_normal((2, 1, 5)).astype(np.float32), "good.weight")
    ints = numpy_helper.from_array(np.ones((3, 1, 7), np.int8), "q")
    nodes = [
        helper.make_node("Conv", ["x", "good.weight"], ["y"], name="good"),
        helper.make_node("Conv", ["x", "q"], ["z"], name="ints"),
        helper.make_node("Mul", ["a", "a"], ["w"]),
        helper.make_node("Conv", ["x", "w"], ["v"], name="made"),
    ]
    ckpt = load(save(tmp_path / "m.onnx", nodes, [good, ints], inputs=("x", "a"), outputs=("y", "z", "v")))
    shown, unshown = conv_layers(ckpt)
    assert [layer.name for layer in shown] == ["good"]
    assert [(u.name, u.shape) for u in unshown] == [("ints", (3, 1, 7)), ("made", ())]
    assert "INT8" in unshown[0].reason and "computed by a Mul node" in unshown[1].reason


# ----------------------------------------------------------------------------------------------- local functions


def conv_block() -> onnx.FunctionProto:
    """A local function: a Conv of its input W (the caller's weight), then a Conv of a Constant inside it, through
    an Identity, and one of a weight it computes."""
    k = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3) / 10
    nodes = [
        helper.make_node("Conv", ["X", "W"], ["T"], name="outer"),
        constant("k", k),
        helper.make_node("Identity", ["k"], ["k2"]),
        helper.make_node("Conv", ["T", "k2"], ["U"], name="inner"),
        helper.make_node("Mul", ["k", "k"], ["kk"]),
        helper.make_node("Conv", ["T", "kk"], ["Y"], name="squared"),
    ]
    opsets = [helper.make_opsetid("", 17)]
    return helper.make_function("local", "ConvBlock", ["X", "W"], ["Y", "U"], nodes, opsets)


def twice() -> onnx.FunctionProto:
    """A local function that calls the other one."""
    nodes = [helper.make_node("ConvBlock", ["X", "W"], ["Y", "U"], domain="local")]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    return helper.make_function("local", "Nested", ["X", "W"], ["Y"], nodes, opsets)


def test_conv_nodes_inside_local_functions(tmp_path: Path) -> None:
    """Two calls of one function with the caller's initializers as W, and a call through another function: a layer
    per initializer, named after it; the function's own Constant is one layer however often it is called; the weight
    it computes is listed as not drawn."""
    rng = np.random.default_rng(5)
    ws = {f"block{i}.weight": rng.standard_normal((4, 1, 5)).astype(np.float32) for i in (1, 2, 3)}
    nodes = [
        helper.make_node("ConvBlock", ["x", "block1.weight"], ["y1", "u1"], domain="local"),
        helper.make_node("ConvBlock", ["x", "block2.weight"], ["y2", "u2"], domain="local"),
        helper.make_node("Nested", ["x", "block3.weight"], ["y3"], domain="local"),
    ]
    inits = [numpy_helper.from_array(a, k) for k, a in ws.items()]
    graph = helper.make_graph(nodes, "g", [value("x")], [value(o) for o in ("y1", "y2", "y3")], inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    model = helper.make_model(graph, opset_imports=opsets, functions=[conv_block(), twice()])
    path = tmp_path / "f.onnx"
    path.write_bytes(model.SerializeToString())
    ckpt = load(path)
    assert list(ckpt.tensors) == ["block1.weight", "ConvBlock.inner.weight", "block2.weight", "block3.weight"]
    for key, a in ws.items():
        assert np.array_equal(ckpt.tensors[key], a)
    k = np.arange(24, dtype=np.float32).reshape(2, 4, 3) / 10
    assert np.array_equal(ckpt.tensors["ConvBlock.inner.weight"], k)
    assert set(ckpt.module_kinds.values()) == {"Conv1d"}
    shown, unshown = conv_layers(ckpt)
    assert [layer.name for layer in shown] == ["block1", "ConvBlock.inner", "block2", "block3"]
    assert {u.name.split("_")[0] for u in unshown} == {"ConvBlock.squared"}
    assert all("computed by a Mul node" in u.reason for u in unshown)


def test_no_conv_node(tmp_path: Path) -> None:
    path = save(tmp_path / "m.onnx", [helper.make_node("Relu", ["x"], ["y"])], [])
    user_error(lambda: load(path), "no Conv or ConvTranspose node", "Relu")


def test_without_the_onnx_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = one_conv(tmp_path / "m.onnx", numpy_helper.from_array(np.ones((1, 1, 3), np.float32), "w"))
    monkeypatch.setitem(sys.modules, "onnx", None)
    user_error(lambda: load(path), "needs the onnx package", 'pip install "cnnkreport[onnx]"')


# ----------------------------------------------------------------------------------------------- external data


def external(name: str, shape: tuple[int, ...], location: str, **extra: str) -> onnx.TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape)
    t.data_location = TensorProto.EXTERNAL
    for key, v in {"location": location, **extra}.items():
        entry = t.external_data.add()
        entry.key, entry.value = key, v
    return t


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[tuple[int, int]]]:
    """The (device, inode) of every file that os.open or open() opens while the test runs."""
    seen: set[tuple[int, int]] = set()

    def note(fd: int) -> None:
        st = os.fstat(fd)
        seen.add((st.st_dev, st.st_ino))

    real_os_open, real_open = os.open, builtins.open

    def os_open(*args: Any, **kwargs: Any) -> int:
        fd = real_os_open(*args, **kwargs)
        note(fd)
        return fd

    def spy_open(*args: Any, **kwargs: Any) -> Any:
        fh = real_open(*args, **kwargs)
        note(fh.fileno())
        return fh

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    yield seen


def test_external_data_with_offset(tmp_path: Path) -> None:
    a = np.arange(18, dtype=np.float32).reshape(2, 1, 9)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "w.bin").write_bytes(b"x" * 12 + a.tobytes() + b"tail")
    w = external("w", a.shape, "./sub/w.bin", offset="12", length=str(a.nbytes))
    assert np.array_equal(load(one_conv(tmp_path / "m.onnx", w)).tensors["conv.weight"], a)


SECRET = np.full((2, 1, 9), 7.0, np.float32).tobytes()


def escape(tmp_path: Path, how: str) -> str:
    """Make the model folder tmp_path/model, a secret file outside it, and the location that points at it `how`."""
    folder, outside = tmp_path / "model", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (tmp_path / "secret.bin").write_bytes(SECRET)
    (outside / "secret.bin").write_bytes(SECRET)
    (folder / "short.bin").write_bytes(SECRET[:40])
    (folder / "w.bin").write_bytes(SECRET)
    if how == "symlink":
        (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
        return "link.bin"
    if how == "symlinked-folder":
        (folder / "sub").symlink_to(outside)
        return "sub/secret.bin"
    if how == "fifo":
        os.mkfifo(folder / "pipe.bin")
        return "pipe.bin"
    return {
        "parent": "../secret.bin",
        "absolute": str(tmp_path / "secret.bin"),
        "dotdot-inside": "x/../../secret.bin",
    }.get(how, how)


@pytest.mark.parametrize(
    ("how", "extra", "needle"),
    [
        ("parent", {}, "outside the model's folder"),
        ("absolute", {}, "outside the model's folder"),
        ("/etc/passwd", {}, "outside the model's folder"),
        ("dotdot-inside", {}, "outside the model's folder"),
        ("symlink", {}, "a symbolic link"),
        ("symlinked-folder", {}, "a symbolic link"),
        ("fifo", {}, "not a regular file"),
        ("missing.bin", {}, "cannot be read (No such file"),
        ("short.bin", {}, "72 bytes from offset 0, the file has 40"),
        ("w.bin", {"length": "8"}, "8 bytes long: its type and shape need 72 bytes"),
        ("w.bin", {"offset": "8"}, "72 bytes from offset 8, the file has 72"),
        ("w.bin", {"offset": "-8"}, "not numbers"),
        ("", {}, "outside the model's folder"),
    ],
)
def test_external_data_outside_the_folder_is_never_opened(
    tmp_path: Path, opened: set[tuple[int, int]], how: str, extra: dict[str, str], needle: str
) -> None:
    location = escape(tmp_path, how)
    path = one_conv(tmp_path / "model" / "m.onnx", external("w", (2, 1, 9), location, **extra))
    opened.clear()  # the files written above
    user_error(lambda: load(path), "tensor w has its data in", needle)
    secrets = [tmp_path / "secret.bin", tmp_path / "outside" / "secret.bin", Path("/etc/passwd")]
    for p in secrets:
        if p.exists():
            assert (p.stat().st_dev, p.stat().st_ino) not in opened, p


# ----------------------------------------------------------------------------------------------- hostile files


def raw_tensor(dims: list[int], raw: bytes, data_type: int = TensorProto.FLOAT) -> onnx.TensorProto:
    t = TensorProto(name="w", data_type=data_type, dims=dims)
    t.raw_data = raw
    return t


def good_bytes(tmp_path: Path) -> bytes:
    a = np.ones((4, 1, 9), np.float32)
    return one_conv(tmp_path / "good.onnx", numpy_helper.from_array(a, "w")).read_bytes()


def torch_zip(folder: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"a": torch.ones(2)}, buf)
    return buf.getvalue()


BAD: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "truncated": (lambda p: good_bytes(p)[:-60], "not an ONNX model, or a truncated one"),
    "random": (lambda p: np.random.default_rng(0).bytes(3000), "not an ONNX model, or a truncated one"),
    "text": (lambda p: b"epoch,loss\n1,0.5\n", "not an ONNX model"),
    "empty-message": (lambda p: b"\x08\x07", "not an ONNX model: it has no graph"),
    "torch-zip": (torch_zip, "ONNX"),
    "huge-shape": (
        lambda p: one_conv(p / "h.onnx", raw_tensor([10**6, 10**6, 3], b"")).read_bytes(),
        "tensor w claims 3000000000000 elements",
    ),
    "negative-dims": (
        lambda p: one_conv(p / "h.onnx", raw_tensor([-4, 1, 3], b"")).read_bytes(),
        "tensor w has the shape (-4, 1, 3)",
    ),
    "raw-too-short": (
        lambda p: one_conv(p / "h.onnx", raw_tensor([4, 1, 9], bytes(8))).read_bytes(),
        "FLOAT (4, 1, 9) needs 144 bytes, the file has 8",
    ),
    "float_data-too-short": (
        lambda p: one_conv(
            p / "h.onnx", TensorProto(name="w", data_type=1, dims=(4, 1, 9), float_data=[1, 2])
        ).read_bytes(),
        "needs 36 values in float_data, the file has 2",
    ),
    "unknown-type": (
        lambda p: one_conv(p / "h.onnx", raw_tensor([1, 1, 2], bytes(8), 999)).read_bytes(),
        "its data type is data type 999",
    ),
    "string-type": (
        lambda p: one_conv(
            p / "h.onnx", TensorProto(name="w", data_type=8, dims=(1, 1, 1), string_data=[b"a"])
        ).read_bytes(),
        "its data type is STRING",
    ),
    "no-weight-input": (
        lambda p: save(p / "h.onnx", [helper.make_node("Conv", ["x"], ["y"], name="c")], []).read_bytes(),
        "it has no W input",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_hostile_files_are_one_line(tmp_path: Path, case: str) -> None:
    make, needle = BAD[case]
    path = tmp_path / "bad.onnx"
    path.write_bytes(make(tmp_path))
    tracemalloc.start()
    try:
        user_error(lambda: load(path), str(path), needle)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, f"{case}: {peak} bytes"


def test_names_with_control_characters_or_not_utf8(tmp_path: Path) -> None:
    """Names are escaped (checkpoint.load), and bytes that are not UTF-8 (handed over as bytes) written as escapes."""
    w = numpy_helper.from_array(np.ones((1, 1, 3), np.float32), "wwwwQ")
    nodes = [
        helper.make_node("Conv", ["x", "wwwwQ"], ["y"], name="a\nb\x00"),
        helper.make_node("Conv", ["x", "wwwwQ"], ["z"]),
    ]
    path = save(tmp_path / "m.onnx", nodes, [w])
    assert list(load(path).tensors) == ["a\\nb\\x00.weight"]
    path = save(tmp_path / "m.onnx", nodes[1:], [w], outputs=("z",))
    path.write_bytes(path.read_bytes().replace(b"wwwwQ", b"w\xff\xc3(Q"))
    assert list(load(path).tensors) == ["w\\xff\\xc3(Q.weight"]


def test_read_raises_only_user_errors(tmp_path: Path) -> None:
    """Every prefix of a model with an If subgraph: a UserError or a checkpoint, never anything else."""
    then = branch(
        "t", [constant("k", np.ones((2, 1, 3), np.float32)), helper.make_node("Conv", ["x", "k"], ["t"])], "t"
    )
    data = save(tmp_path / "m.onnx", [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=then)], [])
    whole = data.read_bytes()
    for n in range(0, len(whole), 7):
        data.write_bytes(whole[:n] if n else b"\x00")
        try:
            load(data)
        except UserError as e:
            assert "\n" not in str(e)


# ----------------------------------------------------------------------------------------------- the command


@pytest.mark.slow  # builds two sites
def test_inspect_onnx_gives_the_pytorch_numbers(tmp_path: Path, runner: CliRunner) -> None:
    model = net()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    save(tmp_path / "model.onnx", *net_graph(model), inputs=("x1", "x2"), outputs=("y1", "y2"))
    runs = []
    for name in ("model.pt", "model.onnx"):
        out = tmp_path / f"site-{name}"
        result = runner.invoke(app, ["inspect", str(tmp_path / name), "--out", str(out)])
        assert result.exit_code == 0, result.output
        run = json.loads((out / "summary.json").read_text())["runs"][0]
        run.pop("name")
        runs.append(run)
    assert [layer["name"] for layer in runs[0]["layers"]] == ["c1", "c2", "dw"]  # deconv: transposed, not drawn
    assert runs[0]["layers"] == runs[1]["layers"]  # every layer's numbers
    assert [u["name"] for u in runs[0]["not_shown"]] == [u["name"] for u in runs[1]["not_shown"]] == ["deconv"]
