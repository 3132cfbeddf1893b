"""Write the hostile-input corpus next to this file, and its README.md: `python tests/hostile/make_corpus.py`.

Deterministic: every run writes the same bytes (fixed seeds, no time stamps, torch's legacy storage keys pinned), so
the committed files can be checked against this script (tests/test_hostile.py does). Each file is a few KB at most.

`CASES` says, for every file, which command it is given to, what it is, and what cnnkreport must do with it:
exit code 2 with one `error:` line holding `expect`, or, for the hostile *names*, exit code 0 with every name escaped.
"""

from __future__ import annotations

import collections
import io
import json
import pickle
import random
import re
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
PWNED = "cnnkreport-hostile-pwned"  # the file the code-running pickles create in the working folder when unpickled

# State_dict keys that are not corrupt, only unfriendly: each is a Conv1d layer named "<name>" ("<name>.weight").
HOSTILE_NAMES = (
    "../../evil",
    "<script>alert(1)</script>",
    "a\"b'c",
    "ünïcødé.卷积",
    "sub/dir/conv",
    "line\nbreak",
    "nul\x00byte",
    "rtl\u202egnp.exe",
    "..",
    "index.html",
    "&amp;<b>bold</b>",
)
ANALYSED_NAMES = ("<script>alert(1)</script>", "a\"b'c", "&amp;<b>bold</b>")  # 9 taps: scored, with kernel pages


@dataclass(frozen=True)
class Case:
    file: str
    command: str  # inspect | inspect-names | train | build | sweep
    what: str
    expect: str  # a piece of the one error line (exit 2); for inspect-names: what the site must show
    make: Callable[[], bytes]


CASES: list[Case] = []


def case(file: str, command: str, what: str, expect: str) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    def register(make: Callable[[], bytes]) -> Callable[[], bytes]:
        CASES.append(Case(file, command, what, expect, make))
        return make

    return register


def text_case(file: str, command: str, what: str, expect: str, text: str) -> None:
    CASES.append(Case(file, command, what, expect, lambda: text.encode("utf-8")))


# ----------------------------------------------------------------------------------------------- helpers


def torch_bytes(obj: object, legacy: bool = False) -> bytes:
    """torch.save into memory. The legacy format names storages by their memory address: pinned to a constant (so a
    legacy file here holds one tensor: with several, torch orders their data by address too)."""
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    data = buf.getvalue()
    if legacy:  # one storage only: torch writes several in the order of their addresses
        (key,) = _legacy_storage_keys(data)
        data = data.replace(_binunicode(key), _binunicode("0"))  # a BINUNICODE: opcode X, length, text
    return data


def _binunicode(text: str) -> bytes:
    return b"X" + struct.pack("<I", len(text.encode())) + text.encode()


def _legacy_storage_keys(data: bytes) -> list[str]:
    """The storage keys of a legacy torch file, in the order it writes the storages: its fifth pickle lists them."""
    import pickletools

    fh = io.BytesIO(data)
    for _ in range(4):
        for _op in pickletools.genops(fh):
            pass
    return [str(arg) for op, arg, _ in pickletools.genops(fh) if op.name == "BINUNICODE"]


def conv_sd(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"conv.weight": torch.randn(4, 1, 9, generator=g), "conv.bias": torch.randn(4, generator=g)}


def noise(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def st_file(header: dict[str, object], buffer: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + buffer


def st_tensors(tensors: dict[str, torch.Tensor]) -> bytes:
    header: dict[str, object] = {}
    chunks, offset = [], 0
    for name, t in tensors.items():
        raw = t.contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    return st_file(header, b"".join(chunks))


class RunsCode:
    """Unpickling this creates the file PWNED in the working folder: what a malicious checkpoint would do."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({PWNED!r}, 'w').close()",))


class _Claim:
    def __init__(self, numel: int) -> None:
        self.numel = numel


class _Rebuild:
    def __init__(self, claim: _Claim, shape: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.args = (claim, 0, shape, stride, False, collections.OrderedDict())

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (torch._utils._rebuild_tensor_v2, self.args)


class _ClaimPickler(pickle.Pickler):
    def persistent_id(self, obj: object) -> object:
        return ("storage", torch.FloatStorage, "0", "cpu", obj.numel) if isinstance(obj, _Claim) else None


# ----------------------------------------------------------------------------------------------- model files


@case("empty.pt", "inspect", "an empty file", "an empty file")
def _empty() -> bytes:
    return b""


@case("random.pt", "inspect", "4 KB of random bytes named .pt", "not a PyTorch, TorchScript or safetensors file")
def _random_pt() -> bytes:
    return noise(4096, 1)


@case("random.pth", "inspect", "random bytes named .pth", "not a checkpoint cnnkreport can read")
def _random_pth() -> bytes:
    return noise(1000, 2)


@case("random.safetensors", "inspect", "random bytes named .safetensors", "not a checkpoint cnnkreport can read")
def _random_st() -> bytes:
    return noise(1000, 3)


@case("text.pt", "inspect", "a CSV file named .pt", "a text file")
def _text() -> bytes:
    return b"epoch,loss\n1,0.5\n2,0.25\n"


@case("lfs_pointer.pt", "inspect", "a Git LFS pointer instead of the file", "git lfs pull")
def _lfs() -> bytes:
    return b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 1234\n"


@case("truncated_state_dict.pt", "inspect", "a state_dict (zip format) cut in half", "truncated or damaged")
def _truncated() -> bytes:
    data = torch_bytes(conv_sd())
    return data[: len(data) // 2]


@case("truncated_legacy.pt", "inspect", "a state_dict in the legacy format, cut short", "truncated or damaged")
def _truncated_legacy() -> bytes:
    data = torch_bytes({"conv.weight": conv_sd()["conv.weight"]}, legacy=True)
    return data[: len(data) - 40]


@case("corrupt_zip.pt", "inspect", "a torch.save zip whose central directory is overwritten", "not a checkpoint")
def _corrupt_zip() -> bytes:
    data = bytearray(torch_bytes(conv_sd()))
    end = data.rfind(b"PK\x01\x02")  # the last central directory entry: scramble it and everything after
    data[end:] = noise(len(data) - end, 4)
    return bytes(data)


@case("zip_not_torch.pt", "inspect", "a zip archive that torch.save did not write", "zip archive")
def _zip_not_torch() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("readme.txt", (1980, 1, 1, 0, 0, 0)), "hello")
    return buf.getvalue()


@case(
    "pickle_runs_code.pt",
    "inspect",
    f"torch.save of a dict whose value's `__reduce__` runs `exec()` (it would create `{PWNED}`)",
    "holds a pickled Python object (it needs exec",
)
def _pickle_exec() -> bytes:
    return torch_bytes({"state_dict": RunsCode()})


@case(
    "pickle_runs_code_raw.pth",
    "inspect",
    f"a bare pickle (not a torch file) that runs `exec()` when loaded (it would create `{PWNED}`)",
    "holds a pickled Python object (it needs builtins.exec",
)
def _pickle_exec_raw() -> bytes:
    return pickle.dumps({"state_dict": RunsCode()}, protocol=4)


@case(
    "pickled_module.pt",
    "inspect",
    "a whole nn.Conv1d saved with torch.save(model): refused without --trust-pickle",
    "needs torch.nn.modules.conv.Conv1d",
)
def _pickled_module() -> bytes:
    torch.manual_seed(0)
    return torch_bytes(nn.Conv1d(1, 2, 5))


@case(
    "torchscript.pt",
    "inspect",
    "a TorchScript archive (a program: its code runs on load): refused without --trust-pickle",
    "is a TorchScript program",
)
def _torchscript() -> bytes:
    torch.manual_seed(0)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(nn.Conv1d(1, 2, 5), torch.zeros(1, 1, 9)), buf)
    # The same archive without its debug records (they hold the tracing call stack: this machine's paths), with its
    # random serialization id and time stamps pinned, so that every run on every machine writes the same.
    src, out = zipfile.ZipFile(buf), io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for info in src.infolist():
            if info.filename.endswith(".debug_pkl"):
                continue
            data = b"0" * 40 if info.filename.endswith("serialization_id") else src.read(info.filename)
            zf.writestr(zipfile.ZipInfo(info.filename, (1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


@case("zero_size.pt", "inspect", "a conv weight of shape (0, 1, 3, 3)", "has an empty weight (0, 1, 3, 3)")
def _zero_size() -> bytes:
    return torch_bytes({"conv.weight": torch.zeros(0, 1, 3, 3)})


@case(
    "zero_size.safetensors", "inspect", "a safetensors conv weight of shape (2, 1, 0)", "has an empty weight (2, 1, 0)"
)
def _zero_size_st() -> bytes:
    return st_file({"conv.weight": {"dtype": "F32", "shape": [2, 1, 0], "data_offsets": [0, 0]}}, b"")


@case("nan_weights.pt", "inspect", "a Conv2d weight with a NaN", "layer conv has NaN or infinite weights")
def _nan() -> bytes:
    w = torch.ones(2, 1, 3, 3)
    w[1, 0, 1, 1] = float("nan")
    return torch_bytes({"conv.weight": w})


@case("inf_weights.safetensors", "inspect", "a safetensors Conv1d weight with -inf", "layer conv has NaN or infinite")
def _inf() -> bytes:
    w = torch.ones(2, 1, 9)
    w[0, 0, 4] = -float("inf")
    return st_tensors({"conv.weight": w})


@case(
    "broadcast_wide_kernel.pt",
    "inspect",
    "a conv weight of shape (1, 1, 1, 100000) stored as one float (a stride-0 view)",
    "claims 400000 bytes",
)
def _broadcast_wide() -> bytes:
    return torch_bytes({"conv.weight": torch.tensor([0.5]).expand(1, 1, 1, 100_000)})


@case(
    "broadcast_2gb.pt",
    "inspect",
    "a (8192, 8192, 8) conv weight, 2 GB as float32, stored as one float (a stride-0 view)",
    "claims 2147483648 bytes",
)
def _broadcast_2gb() -> bytes:
    return torch_bytes({"conv.weight": torch.tensor([0.5]).expand(8192, 8192, 8)})


@case(
    "zip_storage_claims_2gb.pt",
    "inspect",
    "a zip-format file whose pickle claims a 2 GB storage backed by 24 bytes",
    "a damaged torch.save archive: record size (24 bytes) does not match",
)
def _zip_claim() -> bytes:
    pkl = io.BytesIO()
    _ClaimPickler(pkl, protocol=2).dump({"conv.weight": _Rebuild(_Claim(2**29), (2**28, 1, 2), (2, 2, 1))})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in (("data.pkl", pkl.getvalue()), ("byteorder", b"little"), ("data/0", bytes(24))):
            zf.writestr(zipfile.ZipInfo(f"archive/{name}", (1980, 1, 1, 0, 0, 0)), data)
        zf.writestr(zipfile.ZipInfo("archive/version", (1980, 1, 1, 0, 0, 0)), b"3\n")
    return buf.getvalue()


@case(
    "legacy_storage_claims_2gb.pt",
    "inspect",
    "a legacy-format file whose pickle claims a 2 GB storage; the file has 24 bytes of data",
    "a truncated or damaged PyTorch/pickle file",
)
def _legacy_claim() -> bytes:
    data = torch_bytes({"conv.weight": torch.zeros(2, 1, 3)}, legacy=True)
    # ... BINUNICODE 'cpu', BINPUT n, BININT1 6 (the storage's element count), NONE: claim 2**29 elements instead
    claim = re.compile(rb"(X\x03\x00\x00\x00cpuq.)K\x06N", re.DOTALL)
    assert len(claim.findall(data)) == 1
    return claim.sub(lambda m: m.group(1) + b"J" + struct.pack("<i", 2**29) + b"N", data)


@case("seven_dims.pt", "inspect", "a 'conv.weight' with 7 dimensions", "no Conv1d or Conv2d layer found")
def _seven() -> bytes:
    return torch_bytes({"conv.weight": torch.ones(1, 1, 1, 1, 1, 1, 2)})


@case(
    "kernel_too_long.safetensors",
    "inspect",
    "a Conv2d weight of shape (1, 1, 1, 9000): a 1-D filter of 9,000 taps, beyond the 8,192 cnnkreport analyses",
    "9,000 taps",
)
def _too_long() -> bytes:
    raw = torch.linspace(-1, 1, 9000).half().numpy().astype("<f2").tobytes()  # half precision: a small corpus
    return st_file({"conv.weight": {"dtype": "F16", "shape": [1, 1, 1, 9000], "data_offsets": [0, len(raw)]}}, raw)


@case(
    "safetensors_claims_2gb.safetensors",
    "inspect",
    "a safetensors header claiming a 2 GB tensor, in a 200-byte file",
    "needs 2147483",
)
def _st_2gb() -> bytes:
    header = {"big.weight": {"dtype": "F32", "shape": [8192, 8192, 8], "data_offsets": [0, 2**31]}}
    return st_file(header, bytes(200 - len(st_file(header, b""))))


@case("safetensors_not_json.safetensors", "inspect", "a safetensors header that is not JSON", "bad safetensors header")
def _st_not_json() -> bytes:
    return struct.pack("<Q", 16) + b"{not json at all" + bytes(8)


@case(
    "safetensors_negative_offsets.safetensors",
    "inspect",
    "a safetensors tensor with data_offsets [-8, 0]",
    "has data_offsets [-8, 0]",
)
def _st_negative() -> bytes:
    return st_file({"conv.weight": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}, bytes(8))


@case(
    "safetensors_overlapping.safetensors",
    "inspect",
    "two safetensors tensors whose data_offsets overlap",
    "overlap",
)
def _st_overlap() -> bytes:
    entry = {"dtype": "F32", "shape": [1, 1, 4], "data_offsets": [0, 16]}
    other = {"dtype": "F32", "shape": [1, 1, 4], "data_offsets": [8, 24]}
    return st_file({"a.weight": entry, "b.weight": other}, bytes(24))


@case(
    "safetensors_huge_header.safetensors",
    "inspect",
    "a safetensors file whose 8-byte header length claims 2**62 bytes",
    "safetensors header",
)
def _st_huge_header() -> bytes:
    return struct.pack("<Q", 2**62) + b'{"a": {}}' + bytes(16)


@case(
    "safetensors_bad_entry.safetensors",
    "inspect",
    "a safetensors header whose entry is a number, not a table",
    "bad safetensors header entry",
)
def _st_bad_entry() -> bytes:
    return st_file({"conv.weight": 3}, bytes(8))


# ONNX model files (sources/onnxfile.py): one Conv node named "conv" whose weight is the initializer "w".


def onnx_conv(weight: object) -> bytes:
    """A one-Conv ONNX model around `weight` (a TensorProto), its IR version and opset pinned: the same bytes with
    any onnx version."""
    from onnx import helper

    x, y = (helper.make_tensor_value_info(n, 1, None) for n in ("x", "y"))
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], "g", [x], [y], [weight])
    return helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def onnx_weight(dims: list[int], raw: bytes = b"", data_type: int = 1, location: str | None = None) -> object:
    """The TensorProto "w": FLOAT raw data, or its data in an external file at `location`."""
    from onnx import TensorProto

    t = TensorProto(name="w", data_type=data_type, dims=dims)
    if location is None:
        t.raw_data = raw
    else:
        t.data_location = TensorProto.EXTERNAL
        entry = t.external_data.add()
        entry.key, entry.value = "location", location
    return t


@case("onnx_truncated.onnx", "inspect", "an ONNX model cut off in its weights", "not an ONNX model, or a truncated one")
def _onnx_truncated() -> bytes:
    data = onnx_conv(onnx_weight([4, 1, 9], torch.linspace(-1, 1, 36).numpy().tobytes()))
    return data[: len(data) - 100]


@case("onnx_not_protobuf.onnx", "inspect", "random bytes named .onnx", "not an ONNX model, or a truncated one")
def _onnx_random() -> bytes:
    return noise(1000, 13)


@case(
    "onnx_external_parent.onnx",
    "inspect",
    "an ONNX weight whose external data is `../secret.bin`, outside the model's folder",
    "has its data in '../secret.bin', outside the model's folder",
)
def _onnx_parent() -> bytes:
    return onnx_conv(onnx_weight([2, 1, 9], location="../secret.bin"))


@case(
    "onnx_external_absolute.onnx",
    "inspect",
    "an ONNX weight whose external data is `/etc/passwd`",
    "has its data in '/etc/passwd', outside the model's folder",
)
def _onnx_absolute() -> bytes:
    return onnx_conv(onnx_weight([2, 1, 9], location="/etc/passwd"))


@case(
    "onnx_huge_shape.onnx",
    "inspect",
    "an ONNX Conv weight claiming (1000000, 1000000, 3) floats, with no data",
    "tensor w claims 3000000000000 elements",
)
def _onnx_huge() -> bytes:
    return onnx_conv(onnx_weight([10**6, 10**6, 3]))


@case(
    "onnx_raw_too_short.onnx",
    "inspect",
    "an ONNX Conv weight of shape (4, 1, 9) with 8 bytes of raw data",
    "FLOAT (4, 1, 9) needs 144 bytes, the file has 8",
)
def _onnx_short() -> bytes:
    return onnx_conv(onnx_weight([4, 1, 9], bytes(8)))


@case(
    "onnx_int_weights.onnx",
    "inspect",
    "an ONNX Conv weight of int64s: nothing that can be drawn",
    "no conv weight in this ONNX model can be read",
)
def _onnx_ints() -> bytes:
    return onnx_conv(onnx_weight([2, 1, 3], bytes(48), data_type=7))


@case(
    "no_weights_dict.pt",
    "inspect",
    "a checkpoint dict with only an epoch, a learning rate and a note",
    "but no weights",
)
def _no_weights() -> bytes:
    return torch_bytes({"epoch": 3, "lr": 0.1, "note": "weights were saved elsewhere"})


@case(
    "non_tensor_values.pt",
    "inspect",
    "a 'state_dict' whose values are lists and strings, not tensors",
    "its 'state_dict' holds no tensors, only list, str",
)
def _non_tensor() -> bytes:
    return torch_bytes({"state_dict": {"conv.weight": [[1.0, 2.0, 3.0]], "conv.bias": "zero"}})


@case("tensor_not_dict.pt", "inspect", "a bare tensor, not a dict", "it holds a Tensor, not a state_dict")
def _tensor() -> bytes:
    return torch_bytes(torch.ones(2, 1, 3))


@case(
    "hostile_names.pt",
    "inspect-names",
    "a valid state_dict whose Conv1d layers are named " + ", ".join(f"`{n!r}`" for n in HOSTILE_NAMES),
    "exit 0; every name HTML-escaped; every path inside --out; control characters shown escaped",
)
def _hostile_names() -> bytes:
    g = torch.Generator().manual_seed(5)
    taps = {n: 9 if n in ANALYSED_NAMES else 2 for n in HOSTILE_NAMES}
    return torch_bytes({f"{n}.weight": torch.randn(1, 1, taps[n], generator=g) for n in HOSTILE_NAMES})


@case(
    "hostile_names.safetensors",
    "inspect-names",
    "the same hostile layer names as keys of a safetensors header",
    "read with the same names as hostile_names.pt",
)
def _hostile_names_st() -> bytes:
    g = torch.Generator().manual_seed(5)
    return st_tensors({f"{n}.weight": torch.randn(1, 1, 2, generator=g) for n in HOSTILE_NAMES})


# Keras model files (sources/kerasfile.py), written with h5py: a legacy .h5 of one Conv1D layer, a .keras archive.


def h5_bytes(build: Callable[[Any], None]) -> bytes:
    """An HDF5 file that `build(file)` fills, made in memory, in HDF5's latest format (smaller than Keras's); h5py
    writes no time stamps, so every run writes the same bytes."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w", libver="latest") as f:
        build(f)
    return buf.getvalue()


def keras_h5(kernel: Callable[[Any], None]) -> bytes:
    """A legacy Keras .h5 (model_config, model_weights) of one Conv1D layer "conv" (3 taps, 1 in, 2 out), whose
    kernel `kernel(group)` writes as "kernel:0" in the group model_weights/conv/conv."""
    layer = {"class_name": "Conv1D", "config": {"name": "conv", "filters": 2, "kernel_size": [3]}}
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [layer]}}

    def build(f: Any) -> None:
        f.attrs["model_config"] = json.dumps(config).encode()
        group = f.create_group("model_weights/conv")
        group.attrs["weight_names"] = [b"conv/kernel:0"]
        kernel(group.create_group("conv"))

    return h5_bytes(build)


def keras_zip(config: bytes, weights: bytes) -> bytes:
    """A Keras 3 .keras archive: metadata.json, config.json and model.weights.h5."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in (("metadata.json", b'{"keras_version": "3.8.0"}'), ("config.json", config)):
            zf.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
        zf.writestr(zipfile.ZipInfo("model.weights.h5", (1980, 1, 1, 0, 0, 0)), weights)
    return buf.getvalue()


def _kernel(group: Any) -> None:
    group["kernel:0"] = torch.randn(3, 1, 2, generator=torch.Generator().manual_seed(0)).numpy()


@case("keras_truncated.h5", "inspect", "a legacy Keras .h5 cut in half", "a truncated or damaged HDF5 file")
def _keras_truncated() -> bytes:
    data = keras_h5(_kernel)
    return data[: len(data) // 2]


@case(
    "keras_external_link.h5",
    "inspect",
    "a Keras .h5 whose kernel is an HDF5 external link to /kernel in another file, weights.h5",
    "is an HDF5 external link to another file (weights.h5)",
)
def _keras_external_link() -> bytes:
    import h5py

    return keras_h5(lambda g: g.__setitem__("kernel:0", h5py.ExternalLink("weights.h5", "/kernel")))


@case(
    "keras_virtual_dataset.h5",
    "inspect",
    "a Keras .h5 whose kernel is an HDF5 virtual dataset mapping a dataset of another file, weights.h5",
    "is an HDF5 virtual dataset",
)
def _keras_virtual() -> bytes:
    import h5py

    def virtual(group: Any) -> None:  # h5py's create_virtual_dataset stamps the time: made by hand without it
        space = h5py.h5s.create_simple((3, 1, 2))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_virtual(space, b"weights.h5", b"kernel", h5py.h5s.create_simple((3, 1, 2)))
        dcpl.set_obj_track_times(False)
        h5py.h5d.create(group.id, b"kernel:0", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)

    return keras_h5(virtual)


@case(
    "keras_external_storage.h5",
    "inspect",
    "a Keras .h5 whose kernel keeps its raw data in another file, kernel.bin (HDF5 external storage)",
    "keeps its data in external files (kernel.bin)",
)
def _keras_external_storage() -> bytes:
    return keras_h5(lambda g: g.create_dataset("kernel:0", (3, 1, 2), "<f4", external=[("kernel.bin", 0, 24)]))


@case(
    "keras_absurd_shape.h5",
    "inspect",
    "a Keras .h5 whose kernel claims shape (3, 65536, 65536), 12,884,901,888 floats (nothing stored)",
    "claims shape (3, 65536, 65536)",
)
def _keras_absurd() -> bytes:
    return keras_h5(lambda g: g.create_dataset("kernel:0", (3, 65536, 65536), "<f4"))


@case(
    "keras_unallocated.h5",
    "inspect",
    "a Keras .h5 whose kernel claims shape (3, 16384, 16384), 3 GB of float32 that the 5 KB file does not store",
    "more than this file can hold",
)
def _keras_unallocated() -> bytes:
    return keras_h5(lambda g: g.create_dataset("kernel:0", (3, 16384, 16384), "<f4"))


@case("keras_config_not_json.keras", "inspect", "a .keras whose config.json is not JSON", "config.json is not JSON")
def _keras_not_json() -> bytes:
    return keras_zip(b"{'class_name': 'Sequential'", h5_bytes(lambda f: f.create_group("layers")))


@case(
    "keras_zip_bomb.keras",
    "inspect",
    "a .keras whose model.weights.h5 claims 3 GB unzipped from 40 stored bytes",
    "a compression ratio over 1000",
)
def _keras_zip_bomb() -> bytes:
    config = b'{"class_name": "Sequential", "config": {"layers": []}}'
    data = bytearray(keras_zip(config, b"\x89HDF\r\n\x1a\n" + bytes(32)))
    local = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("model.weights.h5").header_offset
    central = data.rfind(b"PK\x01\x02")  # the last entry of the central directory: model.weights.h5
    claim = struct.pack("<I", 3 * 2**30)
    data[local + 22 : local + 26] = claim  # its uncompressed size, in its local header
    data[central + 24 : central + 28] = claim  # and in the central directory
    return bytes(data)


def shards_index(shard: str) -> bytes:
    """A Keras 3 sharded weights index (model.weights.json) naming one shard file."""
    return json.dumps({"metadata": {"total_size": 24.0}, "weight_map": {"/layers/conv1d/vars": [shard]}}).encode()


@case(
    "keras_shard_outside.weights.json",
    "inspect",
    "Keras sharded weights whose index names a shard outside its folder (../../etc/passwd)",
    "not a file beside it",
)
def _keras_shard_outside() -> bytes:
    return shards_index("../../etc/passwd")


@case(
    "keras_shard_missing.weights.json",
    "inspect",
    "Keras sharded weights whose index names a shard file that is not there",
    "its shard model_00000.weights.h5 cannot be read",
)
def _keras_shard_missing() -> bytes:
    return shards_index("model_00000.weights.h5")


# ----------------------------------------------------------------------------------------------- config files

text_case("not_toml.toml", "train", "text that is not TOML", "invalid TOML", "this is [not toml\n")
CASES.append(
    Case("bad_utf8.toml", "train", "TOML with bytes that are not UTF-8", "invalid TOML", lambda: b"name = '\xff\xfe'\n")
)
text_case("duplicate_key.toml", "train", "a key set twice", "invalid TOML", "seed = 1\nseed = 2\n")
text_case(
    "wrong_type.toml",
    "train",
    "train.epochs as a string",
    "train.epochs must be an integer",
    '[train]\nepochs = "ten"\n',
)
text_case(
    "out_of_range.toml", "train", "data.size of 4 pixels", "data.size must be between 8 and 1024", "[data]\nsize = 4\n"
)
text_case("nan_lr.toml", "train", "train.lr = nan", "train.lr must be a finite number", "[train]\nlr = nan\n")
text_case(
    "unknown_preset.toml",
    "train",
    "a preset that does not exist",
    "unknown preset 'pulses-3d'",
    'preset = "pulses-3d"\n',
)
text_case("preset_not_string.toml", "train", "preset = 3", "preset must be a string", "preset = 3\n")
text_case("unknown_key.toml", "train", "a misspelt key", "unknown config key train.'epochz'", "[train]\nepochz = 3\n")
text_case("unknown_section.toml", "train", "a misspelt section", "unknown config key 'modle'", "[modle]\nhidden = 3\n")
text_case("section_not_table.toml", "train", "train = 3 instead of a table", "train must be a table", "train = 3\n")
text_case("name_traversal.toml", "train", "name = '../../evil'", "name must be", 'name = "../../evil"\n')
text_case(
    "shrinks_to_nothing.toml",
    "train",
    "six conv+pool layers on 8-pixel images: nothing left to classify",
    "shrink data.size=8 to nothing",
    "[data]\nsize = 8\n[model]\nchannels = [2, 2, 2, 2, 2, 2]\nkernel_size = [3, 3, 3, 3, 3, 3]\n",
)
text_case(
    "too_much_data.toml",
    "train",
    "a hundred million training images",
    "data.n_train must be between 1 and",
    "[data]\nn_train = 100000000\n",
)
text_case("build_bad_seeds.toml", "build", "build: seeds = 0", "seeds must be between 1 and 20", "seeds = 0\n")
text_case("build_bad_workers.toml", "build", "build: workers = -1", "workers must be between", "workers = -1\n")
text_case(
    "build_unknown_preset.toml",
    "build",
    "build: presets naming no preset",
    "unknown preset 'nope'",
    'presets = ["nope"]\n',
)
text_case(
    "build_bad_override.toml",
    "build",
    "build: an override with a wrong type",
    "overrides.pulses-2d.train.epochs must be an integer",
    '[overrides.pulses-2d.train]\nepochs = "many"\n',
)
text_case(
    "build_overrides_not_table.toml",
    "build",
    "build: overrides = 3",
    "overrides must hold one table",
    "overrides = 3\n",
)
text_case("sweep_no_grid.toml", "sweep", "sweep: no [grid]", "[grid] must map config keys", 'name = "s"\n')
text_case(
    "sweep_bad_value.toml",
    "sweep",
    "sweep: a grid value out of range",
    "sweep grid train.lr = -1.0",
    'name = "s"\n[grid]\n"train.lr" = [-1.0]\n',
)
text_case(
    "sweep_unknown_key.toml",
    "sweep",
    "sweep: a grid key that is no config key",
    "unknown config key",
    'name = "s"\n[grid]\n"train.nope" = [1]\n',
)


def write(folder: Path = HERE) -> list[Path]:
    """Write every corpus file and README.md into `folder`; returns the corpus files."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for c in CASES:
        path = folder / c.file
        path.write_bytes(c.make())
        paths.append(path)
    (folder / "README.md").write_text(readme(), encoding="utf-8")
    return paths


def readme() -> str:
    lines = [
        "# Hostile input corpus",
        "",
        "Small bad (and unfriendly but valid) inputs for cnnkreport, made by `make_corpus.py` (deterministic; rerun",
        "it after changing a case: `python tests/hostile/make_corpus.py`) and used by `tests/test_hostile.py`.",
        "",
        "Every bad input must give exit code 2 with exactly one line on stderr, starting `error:` and holding the",
        "text in the last column, no traceback, and nothing written outside the output folder (which is not created,",
        "or left byte for byte as it was). The pickles that run code would create a file named",
        f"`{PWNED}` in the working folder: it must never appear. Layer names in `hostile_names.*` are valid:",
        "those files must render (exit 0) with every name HTML-escaped, every written path inside the output folder,",
        "and names with control characters (newline, NUL, right-to-left override) shown escaped (`line\\nbreak`).",
        "",
        "Config keys are also covered exhaustively by `test_hostile.py`, which writes for every key of every config",
        "table a wrong-type value and, for numbers and choices, an out-of-range one.",
        "",
        "| file | given to | what it is | cnnkreport must say |",
        "|---|---|---|---|",
    ]
    for c in CASES:
        what = c.what.replace("|", "\\|")
        expect = c.expect.replace("|", "\\|")
        lines.append(f"| `{c.file}` | {c.command.replace('-names', '')} | {what} | {expect} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    written = write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"{len(written)} files, {sum(p.stat().st_size for p in written)} bytes, in {written[0].parent}")
