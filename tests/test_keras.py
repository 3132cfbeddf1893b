"""Keras files (issue 13): legacy HDF5 (.h5), Keras 3 archives (.keras), weights-only files, read as data with h5py.

The files are written here with h5py alone (no keras), in the layouts Keras writes: a legacy .h5 with the root
attribute model_config and model_weights/<layer>/<layer>/kernel:0 listed by weight_names; a .keras zip of
config.json, metadata.json and model.weights.h5 whose groups are layers/<snake_case class>[_N]/vars/<i>. Their
weights are a torch model's, converted to Keras's layouts, so reading them must give back the torch tensors exactly,
and `cnnkreport inspect` must report the same numbers for the Keras file as for the torch one."""

from __future__ import annotations

import io
import json
import os
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.errors import UserError
from cnnkreport.sources.checkpoint import find_checkpoints, load
from cnnkreport.sources.layers import CONV3D, TRANSPOSED, conv_layers

SNAKE = {
    "InputLayer": "input_layer",
    "Conv1D": "conv1d",
    "Conv2D": "conv2d",
    "Conv3D": "conv3d",
    "DepthwiseConv2D": "depthwise_conv2d",
    "SeparableConv2D": "separable_conv2d",
    "Conv2DTranspose": "conv2d_transpose",
    "Flatten": "flatten",
    "Dense": "dense",
    "Sequential": "sequential",
}


@dataclass
class KLayer:
    """A Keras layer as a file holds it: class, config, and its variables (name, array) in Keras's layouts."""

    name: str
    cls: str
    config: dict[str, Any] = field(default_factory=dict)
    weights: list[tuple[str, np.ndarray]] = field(default_factory=list)
    children: list[KLayer] | None = None  # a nested model's layers


class Separable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(4, 4, 5, groups=4, bias=False)
        self.pointwise = nn.Conv2d(4, 6, 1)


class Reference(nn.Module):
    """Every kind of layer the Keras files hold, as torch modules (state_dict order = the Keras config's order)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(2, 4, 7)
        self.c2 = nn.Conv2d(3, 6, (3, 5))
        self.grouped = nn.Conv2d(6, 8, 3, groups=2)
        self.dw = nn.Conv2d(4, 8, 3, groups=4)  # a DepthwiseConv2D with depth_multiplier 2
        self.sep = Separable()
        self.upconv = nn.ConvTranspose2d(6, 3, 4)  # named so that a state_dict's reader guesses it is transposed
        self.c3 = nn.Conv3d(1, 2, 3)
        self.fc = nn.Linear(10, 3)


def torch_model() -> Reference:
    torch.manual_seed(0)
    return Reference()


def bias(mod: nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.ConvTranspose2d | nn.Linear) -> np.ndarray:
    assert mod.bias is not None
    return mod.bias.detach().numpy()


def keras_kernel(w: torch.Tensor) -> np.ndarray:
    """A torch conv weight (a, b, k...) in Keras's layout (k..., b, a)."""
    a = w.detach().numpy()
    return np.ascontiguousarray(a.transpose(*range(2, a.ndim), 1, 0))


def keras_depthwise(w: torch.Tensor, multiplier: int) -> np.ndarray:
    """A torch depthwise weight (in*multiplier, 1, k...) as Keras's (k..., in, multiplier)."""
    a = w.detach().numpy()[:, 0]
    spatial = a.shape[1:]
    return np.ascontiguousarray(np.moveaxis(a, 0, -1).reshape(*spatial, a.shape[0] // multiplier, multiplier))


def keras_layers(m: Reference) -> list[KLayer]:
    """The torch model as Keras layers of the same names (an InputLayer, a Flatten and a Dense among them)."""

    def conv(name: str, cls: str, mod: nn.Conv1d | nn.Conv2d | nn.Conv3d, **cfg: Any) -> KLayer:
        ks = list(mod.kernel_size)
        config = {"filters": mod.out_channels, "kernel_size": ks, "padding": "valid", "use_bias": True, **cfg}
        return KLayer(name, cls, config, [("kernel", keras_kernel(mod.weight)), ("bias", bias(mod))])

    sep = m.sep
    return [
        KLayer("input_1", "InputLayer", {"batch_shape": [None, 32, 32, 3]}),
        conv("c1", "Conv1D", m.c1),
        conv("c2", "Conv2D", m.c2),
        conv("grouped", "Conv2D", m.grouped, groups=2),
        KLayer(
            "dw",
            "DepthwiseConv2D",
            {"kernel_size": [3, 3], "depth_multiplier": 2},
            [("depthwise_kernel", keras_depthwise(m.dw.weight, 2)), ("bias", bias(m.dw))],
        ),
        KLayer(
            "sep",
            "SeparableConv2D",
            {"filters": 6, "kernel_size": [5, 5], "depth_multiplier": 1},
            [
                ("depthwise_kernel", keras_depthwise(sep.depthwise.weight, 1)),
                ("pointwise_kernel", keras_kernel(sep.pointwise.weight)),
                ("bias", bias(sep.pointwise)),
            ],
        ),
        KLayer(
            "upconv",
            "Conv2DTranspose",
            {"filters": 3, "kernel_size": [4, 4]},
            [
                ("kernel", keras_kernel(m.upconv.weight)),
                ("bias", bias(m.upconv)),
            ],
        ),
        conv("c3", "Conv3D", m.c3),
        KLayer("flatten", "Flatten"),
        KLayer(
            "fc",
            "Dense",
            {"units": 3},
            [("kernel", m.fc.weight.detach().numpy().T.copy()), ("bias", bias(m.fc))],
        ),
    ]


def conv_weights(m: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in m.state_dict().items() if k.endswith(".weight") and v.ndim >= 3}


def layer_config(layer: KLayer) -> dict[str, Any]:
    config: dict[str, Any] = {"name": layer.name, "trainable": True, "dtype": "float32", **layer.config}
    if layer.children is not None:
        config["layers"] = [layer_config(c) for c in layer.children]
    return {"module": "keras.layers", "class_name": layer.cls, "config": config, "registered_name": None}


def model_config(layers: list[KLayer], cls: str = "Sequential") -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": cls,
        "config": {"name": "model", "layers": [layer_config(x) for x in layers]},
    }


def names_attr(names: list[str]) -> np.ndarray:
    return np.array([n.encode() for n in names])


# ----------------------------------------------------------------------------------------------- writers


def write_legacy_group(root: h5py.Group, layer: KLayer, weights: list[tuple[str, np.ndarray]]) -> None:
    """One top-level layer's group as Keras 2 writes it: datasets at "<layer>/<var>:0", listed by weight_names."""
    group = root.create_group(layer.name)
    group.attrs["weight_names"] = names_attr([n for n, _ in weights])
    for n, a in weights:
        group.create_dataset(n, data=a)


def legacy_weights(layer: KLayer) -> list[tuple[str, np.ndarray]]:
    """A layer's variables named as in Keras 2 ("conv/kernel:0"); a nested model's, all its layers'."""
    if layer.children is None:
        return [(f"{layer.name}/{v}:0", a) for v, a in layer.weights]
    return [w for child in layer.children for w in legacy_weights(child)]


def write_h5(path: Path, layers: list[KLayer], with_config: bool = True) -> Path:
    """A legacy Keras HDF5 file: model.save (with model_config) or model.save_weights (without)."""
    with h5py.File(path, "w") as f:
        if with_config:
            f.attrs["model_config"] = json.dumps(model_config(layers)).encode()
            f.attrs["keras_version"] = b"2.15.0"
        root = f.create_group("model_weights") if with_config else f
        root.attrs["layer_names"] = names_attr([x.name for x in layers])
        for layer in layers:
            write_legacy_group(root, layer, legacy_weights(layer))
    return path


def write_saved_layers(group: h5py.Group, layers: list[KLayer]) -> None:
    """Keras 3 saving_lib: layers/<snake_case class>[_N]/vars/<i>, numbered per class in config order."""
    used: dict[str, int] = {}
    for layer in layers:
        key = SNAKE[layer.cls]
        used[key] = used.get(key, -1) + 1
        path = f"layers/{key}_{used[key]}" if used[key] else f"layers/{key}"
        if layer.children is not None:
            write_saved_layers(group.create_group(path), layer.children)
        elif layer.weights:
            variables = group.create_group(f"{path}/vars")
            for i, (_, a) in enumerate(layer.weights):
                variables[str(i)] = a


def weights_h5(layers: list[KLayer]) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        write_saved_layers(f, layers)
        f.create_group("vars")
        f.create_group("optimizer/vars")
    return buf.getvalue()


def write_keras(path: Path, layers: list[KLayer], config: bytes | None = None, cls: str = "Sequential") -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}))
        zf.writestr("config.json", config if config is not None else json.dumps(model_config(layers, cls)))
        zf.writestr("model.weights.h5", weights_h5(layers))
    return path


# ----------------------------------------------------------------------------------------------- the same weights


SHOWN = ["c1", "c2", "grouped", "dw", "sep.depthwise", "sep.pointwise"]


@pytest.mark.parametrize("fmt", ["h5", "keras"])
def test_keras_files_hold_the_torch_weights(tmp_path: Path, fmt: str) -> None:
    model = torch_model()
    layers = keras_layers(model)
    path = write_h5(tmp_path / "m.h5", layers) if fmt == "h5" else write_keras(tmp_path / "m.keras", layers)
    ckpt = load(path)
    expected = conv_weights(model)
    assert list(ckpt.tensors) == list(expected)
    for key, a in expected.items():
        assert ckpt.tensors[key].dtype == np.float32 and ckpt.tensors[key].flags.c_contiguous
        assert np.array_equal(ckpt.tensors[key], a), key
    assert ckpt.format == ("keras-h5" if fmt == "h5" else "keras")
    assert ckpt.module_kinds["upconv"] == "ConvTranspose2d" and ckpt.module_kinds["c1"] == "Conv1d"
    shown, unshown = conv_layers(ckpt)
    assert [x.name for x in shown] == SHOWN
    assert [(u.name, u.reason) for u in unshown] == [("upconv", TRANSPOSED), ("c3", CONV3D)]


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
@pytest.mark.parametrize("fmt", ["h5", "keras"])
def test_other_float_types_become_float32(tmp_path: Path, fmt: str, dtype: type) -> None:
    model = torch_model()
    layers = keras_layers(model)[:3]
    for layer in layers:
        layer.weights = [(n, a.astype(dtype)) for n, a in layer.weights]
    path = write_h5(tmp_path / "m.h5", layers) if fmt == "h5" else write_keras(tmp_path / "m.keras", layers)
    tensors = load(path).tensors
    assert list(tensors) == ["c1.weight", "c2.weight"]
    for key, a in tensors.items():
        assert a.dtype == np.float32
        assert np.array_equal(a, conv_weights(model)[key].astype(dtype).astype(np.float32))


def test_a_weights_only_h5_infers_the_layer_types(tmp_path: Path) -> None:
    """model.save_weights("w.h5"): no architecture; types from variable names and ranks, no module kinds (a
    transposed conv is then drawn unless its name gives it away)."""
    model = torch_model()
    ckpt = load(write_h5(tmp_path / "w.h5", keras_layers(model), with_config=False))
    expected = conv_weights(model)
    assert list(ckpt.tensors) == list(expected) and ckpt.module_kinds == {}
    assert all(np.array_equal(ckpt.tensors[k], a) for k, a in expected.items())


def test_a_keras3_weights_file_without_config_is_read_by_group_names(tmp_path: Path) -> None:
    """model.save_weights("w.weights.h5") in Keras 3: the groups name the layer types; layers are named by group."""
    model = torch_model()
    path = tmp_path / "w.weights.h5"
    path.write_bytes(weights_h5(keras_layers(model)))
    tensors = load(path).tensors
    names = {"c1": "conv1d", "c2": "conv2d", "grouped": "conv2d_1", "dw": "depthwise_conv2d"}
    names |= {"sep": "separable_conv2d", "upconv": "conv2d_transpose", "c3": "conv3d"}
    expected = {}
    for key, a in conv_weights(model).items():
        layer, _, rest = key.partition(".")
        expected[f"{names[layer]}.{rest}"] = a
    assert sorted(tensors) == sorted(expected)
    assert all(np.array_equal(tensors[k], a) for k, a in expected.items())
    assert list(tensors)[:3] == ["conv1d.weight", "conv2d.weight", "conv2d_1.weight"]  # by class, then number


@pytest.mark.parametrize("fmt", ["h5", "keras"])
def test_a_nested_model(tmp_path: Path, fmt: str) -> None:
    """A Sequential inside a Functional model: its layers are "<model>.<layer>"."""
    rng = np.random.default_rng(0)
    k1, k2, top = (rng.standard_normal(s).astype(np.float32) for s in ((3, 3, 1, 2), (5, 5, 2, 4), (3, 3, 4, 1)))
    inner = [KLayer("a", "Conv2D", {"filters": 2}, [("kernel", k1)]), KLayer("b", "Conv2D", {}, [("kernel", k2)])]
    layers = [KLayer("block", "Sequential", {}, children=inner), KLayer("head", "Conv2D", {}, [("kernel", top)])]
    path = (
        write_h5(tmp_path / "m.h5", layers)
        if fmt == "h5"
        else write_keras(tmp_path / "m.keras", layers, None, "Functional")
    )
    tensors = load(path).tensors
    assert list(tensors) == ["block.a.weight", "block.b.weight", "head.weight"]
    for key, k in zip(tensors, (k1, k2, top), strict=True):
        assert np.array_equal(tensors[key], k.transpose(3, 2, 0, 1))


@pytest.mark.slow  # three sites (about 30 s each here); the tests above read the same files quickly
def test_inspect_reports_the_same_numbers_as_for_the_torch_file(tmp_path: Path, runner: CliRunner) -> None:
    model = torch_model()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    write_h5(tmp_path / "model.h5", keras_layers(model))
    write_keras(tmp_path / "model.keras", keras_layers(model))
    runs = {}
    for name in ("model.pt", "model.h5", "model.keras"):
        result = runner.invoke(app, ["inspect", str(tmp_path / name), "--out", str(tmp_path / f"site-{name}")])
        assert result.exit_code == 0, result.output
        (run,) = json.loads((tmp_path / f"site-{name}" / "summary.json").read_text())["runs"]
        runs[name] = run["layers"]
    assert [x["name"] for x in runs["model.pt"]] == SHOWN  # the 1x1 one too, with null pattern fields
    assert runs["model.h5"] == runs["model.pt"] == runs["model.keras"]


# ----------------------------------------------------------------------------------------------- refused


def one_line_error(call: Callable[[], object], *needles: str) -> str:
    with pytest.raises(UserError) as info:
        call()
    message = str(info.value)
    assert message and "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


def small_layers() -> list[KLayer]:
    k = np.arange(18, dtype=np.float32).reshape(3, 3, 1, 2)
    return [KLayer("conv", "Conv2D", {"filters": 2, "kernel_size": [3, 3]}, [("kernel", k)])]


BAD_LAYERS: dict[str, tuple[Callable[[KLayer], None], str]] = {
    "int kernel": (lambda x: setattr(x, "weights", [("kernel", np.ones((3, 3, 1, 2), np.int8))]), "not floats"),
    "wrong rank": (lambda x: setattr(x, "weights", [("kernel", np.ones((3, 1, 2), np.float32))]), "has 4 axes"),
    "kernel_size": (lambda x: x.config.update(kernel_size=[5, 5]), "not its config's kernel_size [5, 5]"),
    "filters": (lambda x: x.config.update(filters=7), "not its config's filters [7]"),
    "filters type": (lambda x: x.config.update(filters="two"), 'filters ["two"]'),
}


@pytest.mark.parametrize("fmt", ["h5", "keras"])
@pytest.mark.parametrize("bad", sorted(BAD_LAYERS))
def test_kernels_that_do_not_fit_are_refused(tmp_path: Path, fmt: str, bad: str) -> None:
    layers = small_layers()
    spoil, needle = BAD_LAYERS[bad]
    spoil(layers[0])
    path = write_h5(tmp_path / "m.h5", layers) if fmt == "h5" else write_keras(tmp_path / "m.keras", layers)
    one_line_error(lambda: load(path), str(path), needle)


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        (b"[1, 2", "config.json is not JSON"),
        (b"\xff\xfe", "config.json is not JSON"),
        (b"[]", "not a Keras model config"),
        (b'{"class_name": "Sequential", "config": {"layers": 3}}', "its layers are not a list"),
        (b'{"class_name": "Sequential", "config": {"layers": [{"class_name": 3, "config": {}}]}}', "layer 0"),
        (
            b'{"class_name": "Sequential", "config": {"layers": [{"class_name": "Conv2D", "config": {"name": 5}}]}}',
            "layer 0",
        ),
    ],
)
def test_bad_configs_are_refused(tmp_path: Path, config: bytes, needle: str) -> None:
    path = write_keras(tmp_path / "m.keras", small_layers(), config)
    one_line_error(lambda: load(path), str(path), needle)


def test_bad_model_config_attribute(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "m.h5", small_layers())
    with h5py.File(path, "a") as f:
        f.attrs["model_config"] = b"{nope"
    one_line_error(lambda: load(path), "its model_config is not JSON")


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps(model_config(small_layers())))
        zf.writestr("model.weights.h5", bytes(50 * 2**20))  # 50 MB of zeros: about 50 KB deflated
    one_line_error(lambda: load(path), "compression ratio over 1000")


def test_damaged_archive_and_weights(tmp_path: Path) -> None:
    path = write_keras(tmp_path / "m.keras", small_layers())
    data = bytearray(path.read_bytes())
    at = data.find(b"model.weights.h5") + 40  # inside that member's compressed data
    data[at : at + 16] = bytes(16)
    path.write_bytes(bytes(data))
    one_line_error(lambda: load(path), str(path), "not a checkpoint cnnkreport can read")
    h5 = tmp_path / "cut.h5"
    h5.write_bytes(write_h5(tmp_path / "m.h5", small_layers()).read_bytes()[:1500])
    one_line_error(lambda: load(h5), "a truncated or damaged HDF5 file")


def test_an_hdf5_file_that_keras_did_not_write(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"] = np.ones(3)
    one_line_error(lambda: load(tmp_path / "data.h5"), "not a Keras model")


def test_without_h5py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h5 = write_h5(tmp_path / "m.h5", small_layers())
    keras = write_keras(tmp_path / "m.keras", small_layers())
    monkeypatch.setitem(sys.modules, "h5py", None)
    for path in (h5, keras):
        with pytest.raises(UserError) as info:
            load(path)
        assert str(info.value) == f'{path}: reading Keras files needs h5py: pip install "cnnkreport[keras]"'


def test_bfloat16_as_keras3_stores_it(tmp_path: Path) -> None:
    """Keras 3 writes a bfloat16 variable as 2 opaque bytes with the attribute dtype="bfloat16"."""
    w = torch.randn(3, 1, 2, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    path = tmp_path / "bf.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("layers/conv1d/vars/0", data=w.view(torch.int16).numpy().view("V2"))
        f["layers/conv1d/vars/0"].attrs["dtype"] = "bfloat16"
    assert np.array_equal(load(path).tensors["conv1d.weight"], w.float().numpy().transpose(2, 1, 0))


def test_a_soft_link_is_refused(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "m.h5", small_layers())
    with h5py.File(path, "a") as f:
        f["model_weights/conv/conv/other"] = f["model_weights/conv/conv/kernel:0"][()]
        del f["model_weights/conv/conv/kernel:0"]
        f["model_weights/conv/conv/kernel:0"] = h5py.SoftLink("/model_weights/conv/conv/other")
    one_line_error(lambda: load(path), "kernel:0 is an HDF5 SoftLink")


def test_an_hdf5_file_with_a_user_block_is_still_told_by_its_signature(tmp_path: Path) -> None:
    """HDF5 allows a user block before the superblock: the signature then sits at byte 512 (or 1024, 2048, ...)."""
    with h5py.File(tmp_path / "ub.h5", "w", userblock_size=512) as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(UserError, match="an HDF5 file, but not a Keras model"):
        load(tmp_path / "ub.h5")


# ----------------------------------------------------------------------------------------------- Keras's own writer

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported (by the fixture below): no TensorFlow here
KERAS_FORMATS = ["keras", "h5", "weights.h5", "weights.json"]


def torch_layout(kernel: np.ndarray) -> np.ndarray:
    """A Keras ConvND kernel (k..., in, out) as PyTorch's (out, in, k...)."""
    return np.moveaxis(np.moveaxis(kernel, -1, 0), -1, 1)


def expected_kernels(model: Any) -> dict[str, np.ndarray]:
    """Every conv kernel of the model below, from layer.get_weights(), in PyTorch's layout, by key."""
    sep, short, dw, td, bi = (model.get_layer(n) for n in ("sep", "short", "dw", "td", "bi"))
    sep_dw, sep_pw, _ = sep.get_weights()
    dw_k = dw.get_weights()[0]  # (kh, kw, in, multiplier) -> (in * multiplier, 1, kh, kw)
    fk, frk, _, bk, brk, _ = bi.get_weights()
    return {
        "sep.depthwise.weight": np.moveaxis(sep_dw.reshape(3, 3, -1), -1, 0)[:, None],
        "sep.pointwise.weight": torch_layout(sep_pw),
        "short.weight": torch_layout(short.get_weights()[0]),
        "dw.weight": np.moveaxis(dw_k.reshape(3, 3, -1), -1, 0)[:, None],
        "td.tconv.weight": torch_layout(td.get_weights()[0]),
        "bi.forward_cl.weight": torch_layout(fk),
        "bi.forward_cl.recurrent.weight": torch_layout(frk),
        "bi.backward_cl.weight": torch_layout(bk),
        "bi.backward_cl.recurrent.weight": torch_layout(brk),
    }


@pytest.fixture(scope="module")
def keras_saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A Keras 3 model (a SeparableConv2D beside a 1x1 Conv2D shortcut, a DepthwiseConv2D, a TimeDistributed
    Conv1D, a Bidirectional ConvLSTM2D, a Dense) saved by Keras itself as .keras, legacy .h5, .weights.h5 and
    sharded weights; and its conv kernels in PyTorch's layout."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's own deprecation warnings (numpy's copy keyword, legacy HDF5)
        return _save_keras_model(tmp_path_factory.mktemp("keras"))


def _save_keras_model(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    keras = pytest.importorskip("keras")
    from keras import layers

    keras.utils.set_random_seed(0)
    image, clip, video = keras.Input((16, 16, 3)), keras.Input((5, 40, 2)), keras.Input((4, 8, 8, 2))
    x = layers.Add()(
        [layers.SeparableConv2D(6, 3, padding="same", name="sep")(image), layers.Conv2D(6, 1, name="short")(image)]
    )
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(layers.Activation("relu")(x))
    t = layers.TimeDistributed(layers.Conv1D(4, 5, name="tconv"), name="td")(clip)
    v = layers.Bidirectional(layers.ConvLSTM2D(3, 3, name="cl"), name="bi")(video)
    head = layers.Dense(2, name="head")(layers.GlobalAveragePooling2D()(x))
    model = keras.Model([image, clip, video], [head, t, v])
    model.save(folder / "m.keras")
    model.save(folder / "m.h5")
    model.save_weights(folder / "m.weights.h5")
    (folder / "sharded").mkdir()
    model.save_weights(folder / "sharded" / "m.weights.json", max_shard_size=2e-6)  # GB: a few kB a shard
    return folder, expected_kernels(model)


def keras_path(folder: Path, fmt: str) -> Path:
    return folder / "sharded" / "m.weights.json" if fmt == "weights.json" else folder / f"m.{fmt}"


@pytest.mark.parametrize("fmt", KERAS_FORMATS)
def test_keras_own_files_give_every_conv_kernel(keras_saved: tuple[Path, dict[str, np.ndarray]], fmt: str) -> None:
    """Every conv kernel of a model saved by Keras, in every format it writes, in PyTorch's layout: the separable
    conv's two parts, the 1x1 shortcut, the depthwise conv, the conv inside TimeDistributed and both directions
    (input and recurrent kernels) of the ConvLSTM inside Bidirectional; weights-only files name the layers as the
    model does (Keras 3 writes each layer's name beside its variables)."""
    folder, expected = keras_saved
    ckpt = load(keras_path(folder, fmt))
    assert sorted(ckpt.tensors) == sorted(expected)
    for key, kernel in expected.items():
        assert np.array_equal(ckpt.tensors[key], kernel), key
    if fmt in ("keras", "h5"):
        assert ckpt.module_kinds["td.tconv"] == "Conv1d" and ckpt.module_kinds["bi.forward_cl"] == "Conv2d"
    shown, unshown = conv_layers(ckpt)
    assert {layer.name for layer in shown} == {k.removesuffix(".weight") for k in expected} and not unshown
    assert next(layer for layer in shown if layer.name == "short").shape == (6, 3, 1, 1)
    assert next(layer for layer in shown if layer.name == "dw").shape == (12, 1, 3, 3)


def test_a_sharded_save_is_one_checkpoint(keras_saved: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    """A folder holding a sharded save is one model, its index; a shard handed over alone says to use the index;
    an index naming a file outside its folder, or a shard that is a symbolic link, is refused."""
    folder, _ = keras_saved
    shards = sorted(p.name for p in (folder / "sharded").glob("m_*.weights.h5"))
    assert len(shards) > 2
    assert find_checkpoints([folder / "sharded"]) == [folder / "sharded" / "m.weights.json"]
    one_line_error(lambda: load(folder / "sharded" / shards[0]), "one shard of the Keras weights m.weights.json")
    index = json.loads((folder / "sharded" / "m.weights.json").read_text())
    assert any(len(shards) > 1 for shards in index["weight_map"].values())  # a layer's variables over two shards
    for bad, needle in (("../m.weights.h5", "not a file beside it"), ("missing.weights.h5", "cannot be read")):
        index["weight_map"] = {"/layers/conv2d/vars": bad}
        (tmp_path / "bad.weights.json").write_text(json.dumps(index))
        one_line_error(lambda: load(tmp_path / "bad.weights.json"), needle)
    (tmp_path / "link.weights.h5").symlink_to(folder / "sharded" / shards[0])
    index["weight_map"] = {"/layers/conv2d/vars": "link.weights.h5"}
    (tmp_path / "bad.weights.json").write_text(json.dumps(index))
    one_line_error(lambda: load(tmp_path / "bad.weights.json"), "a symbolic link")
    (tmp_path / "text.weights.json").write_text('{"metadata": {}}')
    one_line_error(lambda: load(tmp_path / "text.weights.json"), "without a weight_map")
