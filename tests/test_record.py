"""The record holds what the site shows: for a model of each format (written by that format's own writer), every
conv layer drawn on the site is in summary.json and in the API's `report.layers`, and the reverse; the layers that
cannot be drawn are exactly summary.json's `not_shown` (and `report.unshown`). 1x1, pointwise and 1-tap layers are
drawn and recorded, with `not_scored` saying what they are and null pattern fields. The same holds for the site of
`cnnkreport build --quick`, whose trained runs list nothing as not shown."""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper
from torch import nn
from typer.testing import CliRunner

import cnnkreport as ck
from cnnkreport.cli import app
from cnnkreport.rundir import Run

from .test_checkpoint import st_bytes
from .test_keras import SHOWN as KERAS_SHOWN
from .test_keras import keras_layers, write_h5, write_keras
from .test_keras import torch_model as keras_reference

# ----------------------------------------------------------------------------------------------- the site, read


def _title(page: Path, pattern: str) -> str:
    found = re.search(pattern, page.read_text(encoding="utf-8"), re.S)
    assert found, f"{page}: no title like {pattern!r}"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def site_layers(site: Path) -> dict[str, list[str]]:
    """Per run (by the title of its page), the layers drawn on the site: each layer page its run page links to (a
    folder beside the run page with the layer's page and mosaic in it), named by that page's own title. Every such
    folder is linked, and every link is such a folder."""
    runs: dict[str, list[str]] = {}
    for run_page in sorted((site / "runs").glob("*/index.html")):
        name = _title(run_page, r"<h1>(.*?)</h1>")
        links = re.findall(r'href="([^"/#]+)/index\.html"', run_page.read_text(encoding="utf-8"))
        linked = list(dict.fromkeys(links))
        folders = sorted(p.parent.name for p in run_page.parent.glob("*/index.html"))
        assert sorted(linked) == folders, (run_page, linked, folders)
        layers = []
        for folder in linked:
            page = run_page.parent / folder / "index.html"
            assert (page.parent / "mosaic.png").is_file(), f"{page.parent}: no kernels drawn"
            layer, _, of = _title(page, r"<h1>Layer (.*?)</h1>").rpartition(" of ")
            assert of == name, page
            layers.append(layer)
        runs[name] = layers
    return runs


def inspected(path: Path, tmp_path: Path) -> tuple[list[str], dict[str, Any]]:
    """`cnnkreport inspect PATH`: the layers its site draws and its run's entry of summary.json."""
    site = tmp_path / "site"
    result = CliRunner().invoke(app, ["inspect", str(path), "--out", str(site)])
    assert result.exit_code == 0, result.output
    (run,) = json.loads((site / "summary.json").read_text(encoding="utf-8"))["runs"]
    drawn = site_layers(site)
    assert list(drawn) == [run["name"]]
    return drawn[run["name"]], run


def unscored(layer: dict[str, Any]) -> bool:
    """A layer record with null pattern fields and `not_scored` saying what it is."""
    nulls = ("null_threshold", "hit_rate", "hit_rate_at_init", "median_score", "median_score_at_init", "kappa")
    kernels = layer["kernels"]
    return (
        isinstance(layer["not_scored"], str)
        and all(layer[k] is None for k in nulls)
        and layer["match_claims_possible"] is False
        and [k["index"] for k in kernels] == list(range(layer["shape"][0]))
        and all(v is None for k in kernels for f, v in k.items() if f != "index")
    )


# ----------------------------------------------------------------------------------------------- the models


class Net(nn.Module):
    """Every kind of conv layer a user's PyTorch model holds: 1-D, 2-D, 1x1, depthwise, grouped, (k, 1), 1-tap, and
    a transposed conv (named so that a state_dict gives it away: not drawn)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1d = nn.Conv1d(2, 4, 9)
        self.c2d = nn.Conv2d(3, 4, 5)
        self.pointwise = nn.Conv2d(4, 6, 1)
        self.depthwise = nn.Conv2d(4, 4, 3, groups=4)
        self.grouped = nn.Conv2d(4, 6, 3, groups=2)
        self.column = nn.Conv2d(2, 3, (7, 1))
        self.tap = nn.Conv1d(4, 2, 1)
        self.upconv = nn.ConvTranspose2d(4, 2, 3)
        self.fc = nn.Linear(4, 2)


NET_DRAWN = ["c1d", "c2d", "pointwise", "depthwise", "grouped", "column", "tap"]
NET_UNSCORED = {"pointwise", "tap"}


def net() -> Net:
    torch.manual_seed(0)
    return Net()


def write_pt(tmp_path: Path) -> Path:
    torch.save(net().state_dict(), tmp_path / "net.pt")
    return tmp_path / "net.pt"


def write_safetensors(tmp_path: Path) -> Path:
    """With the safetensors package where it is installed, else as the format describes it (tests/test_checkpoint)."""
    path = tmp_path / "net.safetensors"
    tensors = {k: v.contiguous() for k, v in net().state_dict().items()}
    try:
        from safetensors.torch import save_file
    except ImportError:
        path.write_bytes(st_bytes(tensors))
    else:
        save_file(tensors, str(path))
    return path


def write_onnx(tmp_path: Path) -> Path:
    """net() as an ONNX graph built with onnx.helper: a Conv node per conv (groups as attributes), a ConvTranspose
    for the transposed one, a Gemm for the linear layer; the state_dict as initializers."""
    m = net()
    sd = m.state_dict()
    nodes = []
    for name, mod in m.named_children():
        op = {nn.ConvTranspose2d: "ConvTranspose", nn.Linear: "Gemm"}.get(type(mod), "Conv")
        attrs = {"group": mod.groups} if op == "Conv" else {}
        nodes.append(
            helper.make_node(op, [f"in_{name}", f"{name}.weight", f"{name}.bias"], [f"out_{name}"], name=name, **attrs)
        )
    inputs = [helper.make_tensor_value_info(f"in_{n}", onnx.TensorProto.FLOAT, None) for n, _ in m.named_children()]
    outputs = [helper.make_tensor_value_info(f"out_{n}", onnx.TensorProto.FLOAT, None) for n, _ in m.named_children()]
    inits = [numpy_helper.from_array(t.numpy(), k) for k, t in sd.items()]
    graph = helper.make_graph(nodes, "net", inputs, outputs, inits)
    path = tmp_path / "net.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return path


def write_keras_h5py(suffix: str) -> Callable[[Path], Path]:
    """tests/test_keras's reference model (SeparableConv2D: depthwise and 1x1 pointwise; a Conv2DTranspose and a
    Conv3D, not drawn), written with h5py in Keras's layouts: legacy HDF5 (.h5) or a Keras 3 archive (.keras)."""

    def write(tmp_path: Path) -> Path:
        layers = keras_layers(keras_reference())
        return write_h5(tmp_path / "m.h5", layers) if suffix == "h5" else write_keras(tmp_path / "m.keras", layers)

    return write


# format: (writer, the layers drawn, those of them with no pattern score, those not drawn)
FORMATS: dict[str, tuple[Callable[[Path], Path], list[str], set[str], set[str]]] = {
    "pytorch": (write_pt, NET_DRAWN, NET_UNSCORED, {"upconv"}),
    "safetensors": (write_safetensors, NET_DRAWN, NET_UNSCORED, {"upconv"}),
    "onnx": (write_onnx, NET_DRAWN, NET_UNSCORED, {"upconv"}),
    "keras-h5": (write_keras_h5py("h5"), KERAS_SHOWN, {"sep.pointwise"}, {"upconv", "c3"}),
    "keras-archive": (write_keras_h5py("keras"), KERAS_SHOWN, {"sep.pointwise"}, {"upconv", "c3"}),
}


def assert_record_is_the_site(path: Path, tmp_path: Path, drawn: list[str], scoreless: set[str], not_drawn: set[str]):
    """The site, summary.json and the API hold the same layers (`drawn`, in the model's order), and list the same
    layers not drawn (`not_drawn`); the layers in `scoreless` have null pattern fields, and only they."""
    site, run = inspected(path, tmp_path)
    recorded = [layer["name"] for layer in run["layers"]]
    report = ck.inspect(path)
    assert site == recorded == list(report.layers)
    assert sorted(site) == sorted(drawn)
    assert report.as_dict() == run  # every number, not_shown and other_tensors alike
    assert {u["name"] for u in run["not_shown"]} == not_drawn
    assert all(set(u) == {"name", "shape", "reason"} and u["reason"] for u in run["not_shown"])
    assert [u.name for u in report.unshown] == [u["name"] for u in run["not_shown"]]
    assert isinstance(run["other_tensors"], list) and all(set(t) == {"name", "shape"} for t in run["other_tensors"])
    assert not {t["name"] for t in run["other_tensors"]} & {*recorded, *not_drawn}
    assert [t.name for t in report.other_tensors] == [t["name"] for t in run["other_tensors"]]
    assert all(set(layer) == set(run["layers"][0]) for layer in run["layers"])  # no field missing anywhere
    assert {layer["name"] for layer in run["layers"] if unscored(layer)} == scoreless
    assert all(layer["not_scored"] is None for layer in run["layers"] if layer["name"] not in scoreless)


@pytest.mark.slow  # a site per format (about 15 s each)
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_layer_drawn_is_in_summary_json_and_the_api_and_no_other(tmp_path: Path, fmt: str) -> None:
    write, drawn, scoreless, not_drawn = FORMATS[fmt]
    path = write(tmp_path)
    assert_record_is_the_site(path, tmp_path, drawn, scoreless, not_drawn)
    assert list(ck.inspect(path).layers) == drawn  # in the file's order


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["keras", "h5"])
def test_a_model_saved_by_keras_itself(tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Keras model with SeparableConv2D and a 1x1 shortcut, saved by Keras (where it is installed)."""
    if "KERAS_BACKEND" not in os.environ:  # the torch backend: the one installed with cnnkreport
        monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    layers = keras.layers
    image, wave = keras.Input((16, 16, 3)), keras.Input((32, 2))
    x = layers.Conv2D(4, 5, name="c2d")(image)
    x = layers.SeparableConv2D(6, 3, name="sep")(x)
    shortcut = layers.Conv2D(6, 1, name="shortcut")(x)
    x = layers.DepthwiseConv2D(3, padding="same", name="dw")(shortcut)
    x = layers.Conv2DTranspose(2, 3, name="up")(x)
    y = layers.Conv1D(4, 9, name="c1d")(wave)
    model = keras.Model([image, wave], [x, y])
    path = tmp_path / f"m.{suffix}"
    model.save(path)
    drawn = ["c2d", "sep.depthwise", "sep.pointwise", "shortcut", "dw", "c1d"]
    assert_record_is_the_site(path, tmp_path, drawn, {"sep.pointwise", "shortcut"}, {"up"})


# ----------------------------------------------------------------------------------------------- the quick site


def test_the_quick_site_records_every_layer_it_draws(quick_site: Path) -> None:
    """`cnnkreport build --quick`: every run's drawn layers are its summary.json layers, and its trained model's
    own conv layers (ck.inspect on its final weights) are the same; a trained run lists nothing as not shown."""
    summary = json.loads((quick_site / "site" / "summary.json").read_text(encoding="utf-8"))
    site = site_layers(quick_site / "site")
    runs = {r["name"]: r for r in summary["runs"]}
    assert sorted(site) == sorted(runs) and runs
    folders = {Run(p.parent).read_meta().name: Run(p.parent) for p in (quick_site / "runs").rglob("run.json")}
    for name, run in runs.items():
        assert site[name] == [layer["name"] for layer in run["layers"]], name
        assert run["not_shown"] == [] and run["other_tensors"] == [], name
        weights = folders[name].weights_path
        assert list(ck.inspect(weights).layers) == site[name], name
        assert all(layer["not_scored"] is None for layer in run["layers"]), name  # PulseNet's kernels are all scored
        assert np.isfinite([layer["null_threshold"] for layer in run["layers"]]).all()
