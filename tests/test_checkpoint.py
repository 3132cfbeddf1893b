"""Reading users' model files: every accepted format from a real saved model, and every kind of bad input as a
one-line UserError (nothing else escapes, no code from a file runs unless trusted, no allocation from a claim)."""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import struct
import tracemalloc
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from cnnkreport.errors import UserError
from cnnkreport.rundir import LayerInfo, OtherTensor, Unshown
from cnnkreport.sources.checkpoint import Checkpoint, find_checkpoints, history, load, step_of
from cnnkreport.sources.layers import CONV3D, MAX_KERNEL_SIDE, MAX_TAPS, TRANSPOSED, conv_layers, other_tensors
from cnnkreport.sources.memory import in_memory

# ----------------------------------------------------------------------------------------------- fixtures


def net1d() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(3, 4, 9), nn.ReLU(), nn.Conv1d(4, 4, 5, groups=2))


def net2d() -> nn.Module:
    """A 3-channel first layer, BatchNorm (an integer buffer), a depthwise and a 1x1 conv, a transposed conv whose
    name does not give it away, a Conv3d, and a Linear head."""
    torch.manual_seed(1)
    return nn.Sequential(
        OrderedDict(
            [
                ("rgb", nn.Conv2d(3, 8, 3)),
                ("bn", nn.BatchNorm2d(8)),
                ("depthwise", nn.Conv2d(8, 8, 3, groups=8)),
                ("pointwise", nn.Conv2d(8, 4, 1)),
                ("up", nn.ConvTranspose2d(4, 2, 2, stride=2)),
                ("volume", nn.Conv3d(1, 2, 3)),
                ("head", nn.Linear(6, 3)),
            ]
        )
    )


NET1D_LAYERS = [LayerInfo("0", "conv1d", (4, 3, 9)), LayerInfo("2", "conv1d", (4, 2, 5))]
NET2D_SHOWN = [
    LayerInfo("rgb", "conv2d", (8, 3, 3, 3)),
    LayerInfo("depthwise", "conv2d", (8, 1, 3, 3)),
    LayerInfo("pointwise", "conv2d", (4, 8, 1, 1)),
]
NET2D_UNSHOWN = [Unshown("up", (4, 2, 2, 2), TRANSPOSED), Unshown("volume", (2, 1, 3, 3, 3), CONV3D)]


def save(obj: object, path: Path, **kw: object) -> Path:
    torch.save(obj, path, **kw)  # type: ignore[arg-type]
    return path


def same_weights(ckpt: Checkpoint, model: nn.Module, prefix: str = "") -> None:
    sd = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    assert list(ckpt.tensors) == [prefix + k for k in sd]
    for k, v in sd.items():
        a = ckpt.tensors[prefix + k]
        assert a.dtype == np.float32 and np.array_equal(a, v.numpy())


ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}
ST_DTYPES |= {torch.int64: "I64", torch.uint8: "U8"}


def st_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    """A safetensors file, written the way the format describes it (no safetensors package)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    chunks, offset = [], 0
    for name, t in tensors.items():
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).contiguous().numpy().tobytes()
        header[name] = {
            "dtype": ST_DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def st_raw(header: Mapping[str, object], buffer: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + buffer


def user_error(call: Callable[[], object], *needles: str) -> str:
    """The call raises UserError (no other exception), with a one-line message holding every needle."""
    with pytest.raises(UserError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message.strip() == message and message
    for needle in needles:
        assert needle in message, message
    return message


class Marker:
    """Unpickling this writes a file: what a malicious checkpoint would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.path)!r}, 'w').close()",))


# ----------------------------------------------------------------------------------------------- formats


def test_state_dict_1d(tmp_path: Path) -> None:
    model = net1d()
    ckpt = load(save(model.state_dict(), tmp_path / "ckpt_step1200.pt"))
    assert ckpt.format == "state_dict" and ckpt.step == 1200 and ckpt.module_kinds == {}
    same_weights(ckpt, model)
    assert conv_layers(ckpt) == (NET1D_LAYERS, [])


def test_state_dict_2d_without_module_kinds(tmp_path: Path) -> None:
    model = net2d()
    ckpt = load(save(model.state_dict(), tmp_path / "w.pth"))
    assert "bn.num_batches_tracked" not in ckpt.tensors and "bn.running_mean" in ckpt.tensors
    same_weights(ckpt, model)
    shown, unshown = conv_layers(ckpt)
    # A state_dict cannot say that "up" is transposed: its weight is drawn like a conv's.
    assert shown == NET2D_SHOWN + [LayerInfo("up", "conv2d", (4, 2, 2, 2))]
    assert unshown == [Unshown("volume", (2, 1, 3, 3, 3), CONV3D)]


def test_legacy_serialization(tmp_path: Path) -> None:
    model = net1d()
    ckpt = load(save(model.state_dict(), tmp_path / "old.pt", _use_new_zipfile_serialization=False))
    assert ckpt.format == "state_dict"
    same_weights(ckpt, model)


@pytest.mark.slow
def test_checkpoint_dict_with_optimizer(tmp_path: Path) -> None:
    model = net1d()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 20)).square().mean().backward()
    opt.step()  # the optimizer's state now holds tensors too (momentum_buffer)
    obj = {"epoch": 3, "model_state_dict": model.state_dict(), "optimizer": opt.state_dict()}
    ckpt = load(save(obj, tmp_path / "epoch_07.pth"))
    assert ckpt.format == "checkpoint-dict" and ckpt.step == 7
    same_weights(ckpt, model)


@pytest.mark.parametrize("key", ["state_dict", "model", "net", "weights"])
def test_checkpoint_dict_keys(tmp_path: Path, key: str) -> None:
    model = net1d()
    ckpt = load(save({key: model.state_dict(), "step": 5, "loss": 0.25}, tmp_path / "c.ckpt"))
    assert ckpt.format == "checkpoint-dict"
    assert conv_layers(ckpt) == (NET1D_LAYERS, [])


def test_dataparallel_prefix(tmp_path: Path) -> None:
    model = net1d()
    wrapped = {"module." + k: v for k, v in model.state_dict().items()}
    for name, obj in [("sd.pt", wrapped), ("dict.pt", {"epoch": 1, "state_dict": wrapped})]:
        ckpt = load(save(obj, tmp_path / name))
        same_weights(ckpt, model)
        assert conv_layers(ckpt)[0] == NET1D_LAYERS


def test_safetensors_f32_f16_bf16(tmp_path: Path) -> None:
    model = net2d()
    sd = model.state_dict()
    tensors = {k: v for k, v in sd.items()}
    tensors["rgb.weight"] = sd["rgb.weight"].half()
    tensors["depthwise.weight"] = sd["depthwise.weight"].bfloat16()
    tensors["pointwise.weight"] = sd["pointwise.weight"].double()
    path = tmp_path / "model-000500.safetensors"
    path.write_bytes(st_bytes(tensors))
    ckpt = load(path)
    assert ckpt.format == "safetensors" and ckpt.step == 500
    assert "bn.num_batches_tracked" not in ckpt.tensors  # I64: read past, not a weight
    assert all(a.dtype == np.float32 for a in ckpt.tensors.values())
    rgb, dw = ckpt.tensors["rgb.weight"], ckpt.tensors["depthwise.weight"]
    assert np.array_equal(rgb, sd["rgb.weight"].half().float().numpy())
    assert np.array_equal(dw, sd["depthwise.weight"].bfloat16().float().numpy())
    np.testing.assert_allclose(rgb, sd["rgb.weight"].numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dw, sd["depthwise.weight"].numpy(), rtol=1e-2, atol=1e-3)
    assert np.array_equal(ckpt.tensors["pointwise.weight"], sd["pointwise.weight"].numpy())
    assert np.array_equal(ckpt.tensors["head.weight"], sd["head.weight"].numpy())
    shown, unshown = conv_layers(ckpt)
    assert [s.name for s in shown] == ["rgb", "depthwise", "pointwise", "up"]
    assert unshown == [Unshown("volume", (2, 1, 3, 3, 3), CONV3D)]


def test_safetensors_order(tmp_path: Path) -> None:
    """The reference writer sorts tensors by dtype and name (features.10 < features.2): such files are read in
    natural order; a header in an order of its own is kept."""
    w = torch.ones(2, 1, 3, 3)
    path = tmp_path / "m.safetensors"
    path.write_bytes(st_bytes({"classifier.weight": w[0, 0], "features.10.weight": w, "features.2.weight": w}))
    assert [s.name for s in conv_layers(load(path))[0]] == ["features.2", "features.10"]
    path.write_bytes(st_bytes({"stem.weight": w, "features.10.weight": w, "features.2.weight": w}))
    assert [s.name for s in conv_layers(load(path))[0]] == ["stem", "features.10", "features.2"]


def test_torchscript(tmp_path: Path) -> None:
    model = net2d()
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script is deprecated in torch >= 2.9
        torch.jit.script(model).save(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # load() silences torch's own deprecation warnings
        ckpt = load(path, trust_pickle=True)
    assert ckpt.format == "torchscript"
    assert ckpt.module_kinds == {
        "": "Sequential",
        "rgb": "Conv2d",
        "bn": "BatchNorm2d",
        "depthwise": "Conv2d",
        "pointwise": "Conv2d",
        "up": "ConvTranspose2d",
        "volume": "Conv3d",
        "head": "Linear",
    }
    same_weights(ckpt, model)
    assert conv_layers(ckpt) == (NET2D_SHOWN, NET2D_UNSHOWN)


def test_torchscript_is_a_program_and_needs_trust(tmp_path: Path) -> None:
    """A TorchScript archive holds code that runs on load (its methods, __setstate__): refused like a pickled model,
    with what to do instead."""
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.trace(nn.Conv1d(1, 2, 5), torch.zeros(1, 1, 9)).save(str(path))
    needles = ("is a TorchScript program", "--trust-pickle", "torch.save(model.state_dict(), path)")
    user_error(lambda: load(path), str(path), *needles)
    user_error(lambda: history([path]), "TorchScript", "--trust-pickle")
    assert load(path, trust_pickle=True).format == "torchscript"


def test_pickled_model_needs_trust(tmp_path: Path) -> None:
    model = net2d()
    path = save(model, tmp_path / "whole.pt")
    user_error(lambda: load(path), str(path), "pickled Python object", "--trust-pickle", "state_dict()")
    ckpt = load(path, trust_pickle=True)
    assert ckpt.format == "pickled-model" and ckpt.module_kinds["up"] == "ConvTranspose2d"
    same_weights(ckpt, model)
    assert conv_layers(ckpt) == (NET2D_SHOWN, NET2D_UNSHOWN)


def test_pickled_dataparallel_and_dict_with_module(tmp_path: Path) -> None:
    model = net1d()
    ckpt = load(save(nn.DataParallel(model), tmp_path / "dp.pt"), trust_pickle=True)
    assert ckpt.module_kinds["0"] == "Conv1d" and conv_layers(ckpt) == (NET1D_LAYERS, [])
    ckpt = load(save({"epoch": 2, "model": model}, tmp_path / "d.pt"), trust_pickle=True)
    assert ckpt.format == "checkpoint-dict" and conv_layers(ckpt) == (NET1D_LAYERS, [])


def test_transposed_guessed_from_name(tmp_path: Path) -> None:
    sd = {
        "enc.weight": torch.zeros(4, 1, 3, 3),
        "dec.upconv1.weight": torch.zeros(4, 2, 2, 2),
        "dec.DeConv.weight": torch.zeros(2, 1, 2, 2),
        "weight": torch.zeros(3, 3, 5),  # a model that is one Conv1d
    }
    shown, unshown = conv_layers(load(save(sd, tmp_path / "ae.pt")))
    assert shown == [LayerInfo("enc", "conv2d", (4, 1, 3, 3)), LayerInfo("", "conv1d", (3, 3, 5))]  # the root module
    assert [u.name for u in unshown] == ["dec.upconv1", "dec.DeConv"]
    assert all(u.reason == TRANSPOSED + " (guessed from its name)" for u in unshown)


def test_a_model_that_is_one_conv(tmp_path: Path) -> None:
    conv = nn.Conv2d(1, 2, 3)
    ckpt = load(save(conv, tmp_path / "one.pt"), trust_pickle=True)
    assert ckpt.module_kinds == {"": "Conv2d"} and conv_layers(ckpt) == ([LayerInfo("", "conv2d", (2, 1, 3, 3))], [])
    sd = conv.state_dict()
    sd["weight"][0, 0, 0, 0] = float("nan")
    user_error(lambda: load(save(sd, tmp_path / "nan.pt")), "nan.pt: layer weight has NaN or infinite weights")


def test_bilinear_is_not_a_conv_when_the_kind_is_known(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Bilinear(3, 4, 5))
    shown, unshown = conv_layers(load(save(model, tmp_path / "b.pt"), trust_pickle=True))
    assert shown == [LayerInfo("0", "conv1d", (2, 1, 3))] and unshown == []


# ----------------------------------------------------------------------------------------------- finding files


def test_step_of() -> None:
    assert step_of(Path("ckpt_step1200.pt")) == 1200
    assert step_of(Path("epoch_07.pth")) == 7
    assert step_of(Path("model-000500.safetensors")) == 500
    assert step_of(Path("run3/final.pt")) is None


def test_find_checkpoints_natural_order_folder_glob_dedup(tmp_path: Path) -> None:
    d = tmp_path / "ckpts"
    d.mkdir()
    for name in ["step10.pt", "step2.pt", "step1.pth", "final.pt", "best.safetensors", "notes.txt", ".hidden.pt"]:
        (d / name).write_bytes(b"x")
    (d / "sub").mkdir()
    (d / "sub" / "step3.pt").write_bytes(b"x")
    names = ["best.safetensors", "final.pt", "step1.pth", "step2.pt", "step10.pt"]
    assert [p.name for p in find_checkpoints([d])] == names
    assert [p.name for p in find_checkpoints([str(d / "*.pt")])] == ["final.pt", "step2.pt", "step10.pt"]
    both = find_checkpoints([d / "step2.pt", str(d), str(d / "step*.pt"), d / "sub" / "step3.pt"])
    assert [p.name for p in both] == ["best.safetensors", "final.pt", "step1.pth", "step2.pt", "step3.pt", "step10.pt"]
    assert find_checkpoints([d / "notes.txt"]) == [d / "notes.txt"]  # a named file is taken whatever its extension


def test_find_checkpoints_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("hi")
    user_error(lambda: find_checkpoints([tmp_path / "missing.pt"]), "missing.pt", "no such file")
    user_error(lambda: find_checkpoints([tmp_path / "empty"]), "no checkpoint files (.pt, .pth", "empty")
    user_error(lambda: find_checkpoints([str(tmp_path / "*.pt")]), "no files match", "*.pt")


# ----------------------------------------------------------------------------------------------- bad input


def test_missing_empty_folder(tmp_path: Path) -> None:
    user_error(lambda: load(tmp_path / "nope.pt"), "nope.pt: no such file")
    (tmp_path / "empty.pt").write_bytes(b"")
    user_error(lambda: load(tmp_path / "empty.pt"), "empty.pt: not a checkpoint cnnkreport can read", "empty file")
    user_error(lambda: load(tmp_path), "not a checkpoint cnnkreport can read (a folder)")


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("text.pt", b"epoch,loss\n1,0.5\n", "a text file"),
        ("lfs.pt", b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "git lfs pull"),
        ("random.pt", np.random.default_rng(0).bytes(4096), "not a PyTorch, TorchScript or safetensors file"),
        ("keras.h5", b"\x89HDF\r\n\x1a\n" + bytes(100), "HDF5"),
        ("arr.npy", b"\x93NUMPY\x01\x00" + bytes(100), "NumPy"),
        ("json.pt", b'{"weights": [1, 2, 3]}', "a text file"),
    ],
)
def test_unknown_content(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    (tmp_path / name).write_bytes(content)
    user_error(lambda: load(tmp_path / name), f"{tmp_path / name}: not a checkpoint cnnkreport can read", needle)


def test_zip_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "notes.pt", "w") as zf:
        zf.writestr("readme.txt", "hello")
    user_error(lambda: load(tmp_path / "notes.pt"), "zip archive that torch.save did not write", "readme.txt")


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_torch_file(tmp_path: Path, legacy: bool) -> None:
    full = save(net2d().state_dict(), tmp_path / "full.pt", _use_new_zipfile_serialization=not legacy).read_bytes()
    for cut in (len(full) // 2, 64, len(full) - 30):
        (tmp_path / "cut.pt").write_bytes(full[:cut])
        user_error(lambda: load(tmp_path / "cut.pt"), "cut.pt: not a checkpoint cnnkreport can read", "truncated")


def test_truncated_safetensors(tmp_path: Path) -> None:
    full = st_bytes(net2d().state_dict())
    for cut in (len(full) // 2, len(full) - 1, 20):
        (tmp_path / "cut.safetensors").write_bytes(full[:cut])
        user_error(lambda: load(tmp_path / "cut.safetensors"), "cut.safetensors is truncated or corrupt")


def test_safetensors_claiming_2gb_does_not_allocate(tmp_path: Path) -> None:
    header = {"big.weight": {"dtype": "F32", "shape": [8192, 8192, 8], "data_offsets": [0, 2**31]}}
    path = tmp_path / "big.safetensors"
    path.write_bytes(st_raw(header, bytes(200 - len(st_raw(header, b"")))))
    assert path.stat().st_size == 200
    tracemalloc.start()
    try:
        user_error(lambda: load(path), "is truncated or corrupt (tensor big.weight needs", "the file has 200)")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


@pytest.mark.parametrize(
    "entry, needle",
    [
        ({"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 16]}, "claims"),  # > 2**31 elements
        ({"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 16]}, "needs 64 bytes, its data_offsets span 16"),
        ({"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}, "data_offsets"),
        ({"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}, "bad safetensors header entry"),
        ({"dtype": "F32", "shape": [2]}, "bad safetensors header entry"),
        ("nonsense", "bad safetensors header entry"),
    ],
)
def test_corrupt_safetensors_headers(tmp_path: Path, entry: object, needle: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(st_raw({"x.weight": entry}, bytes(16)))
    user_error(lambda: load(path), "bad.safetensors is truncated or corrupt", needle)


def test_safetensors_bad_json_and_unknown_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 10) + b"{not json}" + bytes(8))
    user_error(lambda: load(path), "truncated or corrupt (bad safetensors header")
    header = {
        "c.weight": {"dtype": "F32", "shape": [1, 1, 2], "data_offsets": [0, 8]},
        "q.weight": {"dtype": "F8_E4M3", "shape": [1, 1, 2], "data_offsets": [8, 10]},
        "x": {"dtype": "SOMETHING_NEW", "shape": [3], "data_offsets": [10, 13]},
    }
    path.write_bytes(st_raw(header, np.array([1, 2], "<f4").tobytes() + bytes(5)))
    ckpt = load(path)
    assert list(ckpt.tensors) == ["c.weight"] and conv_layers(ckpt)[0] == [LayerInfo("c", "conv1d", (1, 1, 2))]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("kind", ["pt", "safetensors"])
def test_non_finite_weights(tmp_path: Path, bad: float, kind: str) -> None:
    sd = net1d().state_dict()
    sd["2.weight"][1, 0, 3] = bad
    path = tmp_path / f"w.{kind}"
    if kind == "pt":
        save(sd, path)
    else:
        path.write_bytes(st_bytes(sd))
    user_error(lambda: load(path), f"{path}: layer 2 has NaN or infinite weights")


def test_non_finite_outside_conv_layers_is_fine(tmp_path: Path) -> None:
    sd = net1d().state_dict()
    sd["0.bias"][0] = float("nan")
    assert conv_layers(load(save(sd, tmp_path / "w.pt")))[0] == NET1D_LAYERS


def test_empty_conv_weight(tmp_path: Path) -> None:
    sd = {"c.weight": torch.zeros(0, 3, 3), "other": torch.zeros(0)}
    user_error(lambda: load(save(sd, tmp_path / "e.pt")), "layer c has an empty weight (0, 3, 3)")


def test_kernels_larger_than_analysed_are_not_drawn(tmp_path: Path) -> None:
    big, taps = MAX_KERNEL_SIDE + 1, MAX_TAPS + 1
    sd = {
        "small.weight": torch.ones(2, 1, 5),
        "filter.weight": torch.ones(2, 1, 512),  # long filters are analysed, as Conv1d and as (k, 1) and (1, k)
        "column.weight": torch.ones(2, 1, 4096, 1),
        "row.weight": torch.ones(2, 1, 1, MAX_TAPS),
        "long.weight": torch.ones(1, 1, taps),
        "wide.weight": torch.ones(1, 1, 1, taps),
    }
    sd["square.weight"] = torch.ones(1, 1, big, big)
    shown, unshown = conv_layers(load(save(sd, tmp_path / "m.pt")))
    assert [s.name for s in shown] == ["small", "filter", "column", "row"]
    assert [u.name for u in unshown] == ["long", "wide", "square"]
    assert f"a filter of {taps:,} taps" in unshown[1].reason and f"kernels of {big} x {big}" in unshown[2].reason
    for name in ("small", "filter", "column", "row"):
        del sd[f"{name}.weight"]
    message = user_error(
        lambda: conv_layers(load(save(sd, tmp_path / "n.pt"))), "no conv layer that cnnkreport can draw"
    )
    assert f"layer long (1, 1, {taps}) is a filter of {taps:,} taps" in message and "(and 2 more" in message


def test_broadcast_views_claim_what_the_file_does_not_hold(tmp_path: Path) -> None:
    """A stride-0 view stores one float and claims millions: dropped if it is no conv weight, refused if it is."""
    sd = {"c.weight": torch.ones(2, 1, 5), "table": torch.zeros(1).expand(4000, 4000)}
    ckpt = load(save(sd, tmp_path / "a.pt"))
    assert list(ckpt.tensors) == ["c.weight"]
    sd["c.weight"] = torch.ones(1).expand(2, 1, 5)
    user_error(lambda: load(save(sd, tmp_path / "b.pt")), "tensor c.weight (2, 1, 5) claims 40 bytes", "broadcast")


def test_no_conv_layer(tmp_path: Path) -> None:
    mlp = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    ckpt = load(save(mlp.state_dict(), tmp_path / "mlp.pt"))
    message = user_error(lambda: conv_layers(ckpt), "mlp.pt: no Conv1d or Conv2d layer found (4 tensors; shapes like")
    assert "0.weight (4, 8)" in message and "0.bias (4,)" in message


@pytest.mark.parametrize(
    "obj, needle",
    [
        ({"epoch": 3, "lr": 0.1}, "a dict with keys 'epoch', 'lr' but no weights"),
        (torch.zeros(3), "it holds a Tensor, not a state_dict"),
        ([1, 2], "it holds a list"),
    ],
)
def test_loadable_but_no_weights(tmp_path: Path, obj: object, needle: str) -> None:
    user_error(lambda: load(save(obj, tmp_path / "x.pt")), "x.pt: not a checkpoint cnnkreport can read", needle)


@pytest.mark.parametrize("how", ["torch.save", "legacy torch.save", "pickle.dump"])
def test_pickle_that_runs_code_is_refused(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if how == "pickle.dump":
        path.write_bytes(pickle.dumps({"state_dict": Marker(marker)}, protocol=4))
    else:
        save({"state_dict": Marker(marker)}, path, _use_new_zipfile_serialization=how == "torch.save")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        user_error(lambda: load(path), str(path), "holds a pickled Python object", "exec", "--trust-pickle")
        user_error(lambda: history([path, path]), "--trust-pickle")
    assert not marker.exists()
    # The fixture is live: trusting the file does run its code. (The result holds no weights; a bare pickle is not
    # a torch file at all: torch.load unpickles it while looking for its magic number.)
    user_error(lambda: load(path, trust_pickle=True), "cannot unpickle" if how == "pickle.dump" else "no weights")
    assert marker.exists()


def test_what_the_refusal_names(tmp_path: Path) -> None:
    """The message says which class or function the file needs, however it was pickled."""
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(net1d(), protocol=4))  # not a torch file at all: found by scanning the pickle
    user_error(lambda: load(raw), "it needs torch.nn.modules.container.Sequential", "--trust-pickle")
    arrays = save({"model": net1d().state_dict(), "rng": np.zeros(3)}, tmp_path / "np.pt")
    user_error(lambda: load(arrays), "it needs numpy.", "--trust-pickle")
    ckpt = load(arrays, trust_pickle=True)
    assert ckpt.format == "checkpoint-dict" and conv_layers(ckpt) == (NET1D_LAYERS, [])


def test_trusted_pickle_whose_class_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "gone.pt"
    data = pickle.dumps(Marker(tmp_path / "m")).replace(b"exec", b"exez")  # a global that does not exist
    path.write_bytes(data)
    user_error(lambda: load(path), "--trust-pickle")
    user_error(lambda: load(path, trust_pickle=True), "cannot unpickle it even with --trust-pickle")
    assert not (tmp_path / "m").exists()


# ----------------------------------------------------------------------------------------------- history


def test_history_steps_from_names(tmp_path: Path) -> None:
    model = net1d()
    for step in (2, 10, 30):
        with torch.no_grad():
            model.get_parameter("0.weight").add_(0.1)
        save(model.state_dict(), tmp_path / f"step{step}.pt")
    ckpts, shown, unshown = history(find_checkpoints([tmp_path]))
    assert [c.step for c in ckpts] == [2, 10, 30] and shown == NET1D_LAYERS and unshown == []
    assert ckpts[1].tensors["0.weight"][0, 0, 0] == pytest.approx(ckpts[0].tensors["0.weight"][0, 0, 0] + 0.1)


def test_history_numbers_in_order_when_names_do_not_say(tmp_path: Path) -> None:
    sd = net1d().state_dict()
    paths = [save(sd, tmp_path / n) for n in ("a.pt", "b_1.pt", "c_1.pt")]
    assert [c.step for c in history(paths)[0]] == [0, 1, 2]
    assert [c.step for c in history(paths[1:2])[0]] == [1]
    assert [c.step for c in history(paths[:1])[0]] == [0]


def test_history_mixed_formats(tmp_path: Path) -> None:
    model = net2d()
    sd_path = save(model.state_dict(), tmp_path / "ckpt_1.pt")
    st_path = tmp_path / "ckpt_2.safetensors"
    st_path.write_bytes(st_bytes(model.state_dict()))
    ckpts, shown, _ = history([sd_path, st_path])
    assert [c.format for c in ckpts] == ["state_dict", "safetensors"] and [c.step for c in ckpts] == [1, 2]
    assert shown[:3] == NET2D_SHOWN


def test_history_mismatches(tmp_path: Path) -> None:
    a = save(nn.Sequential(nn.Conv2d(1, 16, 5)).state_dict(), tmp_path / "ckpt_1.pt")
    b = save(nn.Sequential(nn.Conv2d(1, 8, 5)).state_dict(), tmp_path / "ckpt_3.pt")
    c = save(nn.Sequential(nn.Conv2d(1, 16, 5), nn.Conv2d(16, 4, 3)).state_dict(), tmp_path / "ckpt_4.pt")
    d = save({"other.weight": torch.zeros(16, 1, 5, 5)}, tmp_path / "ckpt_5.pt")
    user_error(lambda: history([a, b]), "ckpt_3.pt: layer 0 has shape (8, 1, 5, 5), ckpt_1.pt has (16, 1, 5, 5)")
    user_error(lambda: history([a, c]), "ckpt_4.pt: layer 1 is not in ckpt_1.pt")
    user_error(lambda: history([c, a]), "ckpt_1.pt: has no layer 1 (ckpt_4.pt has it, shape (4, 16, 3, 3))")
    user_error(lambda: history([a, d]), "ckpt_5.pt: has no layer 0")
    user_error(lambda: history([]), "no checkpoint files given")
    (tmp_path / "bad.pt").write_bytes(b"junk")
    user_error(lambda: history([a, tmp_path / "bad.pt"]), "bad.pt: not a checkpoint")


def test_nothing_printed(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.pt").write_bytes(os.urandom(300))
    user_error(lambda: load(tmp_path / "r.pt"))
    load(save(net1d(), tmp_path / "m.pt"), trust_pickle=True)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# ----------------------------------------------------------------------------------------------- what a graph uses


def hann_basis(n: int) -> torch.Tensor:
    """An STFT basis of n taps, as a voice activity detector's front end holds it: n/2 + 1 Hann-windowed cosines,
    then as many sines, (n + 2, 1, n); cosine i has its peak at i/n cycles per sample."""
    t = torch.arange(n, dtype=torch.float64)
    k = torch.arange(n // 2 + 1, dtype=torch.float64)[:, None]
    window = torch.hann_window(n, periodic=True, dtype=torch.float64)
    phase = 2 * math.pi * k * t / n
    return torch.cat([torch.cos(phase) * window, -torch.sin(phase) * window])[:, None].float()


class Stft(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.register_buffer("forward_basis_buffer", hann_basis(n))
        self.hop = n // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.forward_basis_buffer, stride=self.hop)


class Vad(nn.Module):
    """A 16 kHz and an 8 kHz STFT front end, one per branch of an `if` on an argument; a transposed conv; a conv
    of a weight-normed weight computed in forward; a plain tensor attribute that an exported method convolves with;
    a Bilinear (a 3-D "weight" that no convolution takes)."""

    def __init__(self, n: int = 64) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.stft = Stft(n)
        self.stft8 = Stft(n // 2)
        self.up = nn.ConvTranspose1d(n + 2, 2, 3)
        self.v = nn.Parameter(torch.randn(4, 2, 3))
        self.g = nn.Parameter(torch.ones(4, 1, 1))
        self.plain = torch.randn(3, 1, 5)
        self.bil = nn.Bilinear(2, 2, 3)

    def forward(self, x: torch.Tensor, sr: int) -> torch.Tensor:
        if sr == 16000:
            y = self.up(self.stft(x))
        else:
            y = self.stft8(x)[:, :2]
        return F.conv1d(y, torch._weight_norm(self.v, self.g, 0))

    @torch.jit.export
    def smooth(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.plain)


class Wrapped(nn.Module):
    """The model one level down, as silero's VAD holds its own ("_model.stft.forward_basis_buffer")."""

    def __init__(self, n: int = 64) -> None:
        super().__init__()
        self._model = Vad(n)

    def forward(self, x: torch.Tensor, sr: int) -> torch.Tensor:
        return self._model(x, sr)


def scripted(n: int = 64, freeze: bool = False) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        program = torch.jit.script(Wrapped(n).eval())
        return torch.jit.freeze(program) if freeze else program


BASES = ["_model.stft.forward_basis_buffer", "_model.stft8.forward_basis_buffer"]


def test_torchscript_convolutions_are_found_in_the_graph(tmp_path: Path) -> None:
    """Every tensor the program's graphs pass to a convolution is a layer, a buffer or a plain attribute alike,
    both branches of an if and the exported method too, named by its key; the transposed one is known to be; the
    computed weight is listed with why; a 3-D tensor that no convolution takes is an other tensor, not a layer."""
    path = tmp_path / "vad.pt"
    scripted().save(str(path))
    ckpt = load(path, trust_pickle=True)
    assert ckpt.conv_keys is not None and ckpt.conv_keys["_model.up.weight"] == "ConvTranspose1d"
    assert np.array_equal(ckpt.tensors[BASES[0]], hann_basis(64).numpy())
    shown, unshown = conv_layers(ckpt)
    assert [(layer.name, layer.shape) for layer in shown] == [
        (BASES[0], (66, 1, 64)),
        (BASES[1], (34, 1, 32)),
        ("_model.plain", (3, 1, 5)),
    ]
    assert [(u.name, u.shape) for u in unshown] == [("_model.up", (66, 2, 3)), ("_model.v", (4, 2, 3))]
    assert unshown[0].reason == TRANSPOSED  # from the graph: no guess from its name
    assert "computed in the model's graph" in unshown[1].reason and "aten::_weight_norm" in unshown[1].reason
    assert "_model.g" in unshown[1].reason
    assert other_tensors(ckpt) == [OtherTensor("_model.g", (4, 1, 1)), OtherTensor("_model.bil.weight", (3, 2, 2))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        program = torch.jit.load(str(path))
    held, _ = in_memory(program) or (None, None)  # a program handed over in Python: the same
    assert held is not None and [layer.name for layer in conv_layers(held)[0]] == [c.name for c in shown]


def test_a_frozen_program_holds_its_weights_as_constants(tmp_path: Path) -> None:
    """torch.jit.freeze folds the weights into the graph: they are read from its constants ("constant.0", ...: a
    saved program keeps no names for them); the weight norm is folded too."""
    path = tmp_path / "frozen.pt"
    scripted(freeze=True).save(str(path))
    ckpt = load(path, trust_pickle=True)
    assert ckpt.module_kinds == {"": "Wrapped"} and not ckpt.unread
    shown, unshown = conv_layers(ckpt)
    assert sorted(layer.shape for layer in shown) == [(4, 2, 3), (34, 1, 32), (66, 1, 64)]
    assert [u.shape for u in unshown] == [(66, 2, 3)] and unshown[0].reason == TRANSPOSED
    by_shape = {layer.shape: ckpt.tensors[layer.name] for layer in shown}
    assert np.array_equal(by_shape[(34, 1, 32)], hann_basis(32).numpy())
    assert all(layer.name.startswith("constant.") for layer in shown)


def test_tensors_of_a_conv_rank_are_listed_and_read_when_named(tmp_path: Path) -> None:
    """Without a graph a buffer of a conv weight's rank is not a conv weight, but listed; --conv-tensors reads it,
    named by its key (less a trailing .weight); a pattern matching no such tensor is one line."""
    sd = {"stft.forward_basis": hann_basis(16), "conv.weight": torch.randn(4, 18, 3), "fc.weight": torch.randn(3, 4)}
    path = save(sd, tmp_path / "sd.pt")
    ckpt = load(path)
    assert [layer.name for layer in conv_layers(ckpt)[0]] == ["conv"]
    assert other_tensors(ckpt) == [OtherTensor("stft.forward_basis", (18, 1, 16))]
    named = load(path, conv_tensors=re.compile("basis"))
    assert [layer.name for layer in conv_layers(named)[0]] == ["stft.forward_basis", "conv"]
    assert other_tensors(named) == []
    assert [layer.name for layer in conv_layers(load(path, conv_tensors=re.compile(r"^fc|conv")))[0]] == ["conv"]
    user_error(lambda: load(path, conv_tensors=re.compile("^fc")), "--conv-tensors '^fc' matches no tensor of 3 to 5")
    ckpts, shown, _ = history([path], conv_tensors=re.compile("basis"))
    assert [layer.name for layer in shown] == ["stft.forward_basis", "conv"]
    clash = save({"a": torch.randn(2, 1, 3), "a.weight": torch.randn(2, 1, 5)}, tmp_path / "clash.pt")
    shown, unshown = conv_layers(load(clash, conv_tensors=re.compile("^a")))
    assert [layer.shape for layer in shown] == [(2, 1, 5)] and [u.name for u in unshown] == ["a"]
    only = save({"b": torch.randn(2, 1, 3)}, tmp_path / "b.pt")
    user_error(lambda: conv_layers(load(only)), "no Conv1d or Conv2d layer", "--conv-tensors REGEX")
