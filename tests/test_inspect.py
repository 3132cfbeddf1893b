"""`cnnkreport inspect` end to end: a user's own model in every accepted format, a training history, and bad
input that gives exit code 2 with one line and leaves an existing site as it was; the command and the API
(`cnnkreport.inspect(...).save(...)`) refuse the same arguments with the same message and write the same site."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

import cnnkreport as ck
from cnnkreport.cli import app

from .test_checkpoint import BASES, hann_basis, net2d, scripted, st_bytes


def conv1d_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv1d(1, 6, 15), nn.ReLU(), nn.Conv1d(6, 8, 9), nn.Flatten(), nn.LazyLinear(3))


def inspect(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["inspect", *args])
    return result.exit_code, result.output


def summary(site: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((site / "summary.json").read_text())


# Each format builds a site (slow); test_checkpoint reads every format quickly.
@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["state_dict", "checkpoint", "safetensors", "torchscript", "pickle"])
def test_every_format_of_a_real_model(tmp_path: Path, runner: CliRunner, fmt: str) -> None:
    model = conv1d_model()
    model(torch.zeros(2, 1, 64))
    path = tmp_path / f"model.{'safetensors' if fmt == 'safetensors' else 'pt'}"
    if fmt == "state_dict":
        torch.save(model.state_dict(), path)
    elif fmt == "checkpoint":
        torch.save({"epoch": 4, "model_state_dict": model.state_dict()}, path)
    elif fmt == "safetensors":
        path.write_bytes(st_bytes({k: v for k, v in model.state_dict().items()}))
    elif fmt == "torchscript":
        torch.jit.script(nn.Sequential(model[0], model[1], model[2])).save(str(path))
    else:
        torch.save(model, path)
    if fmt in ("pickle", "torchscript"):  # files that run code when loaded: refused unless trusted
        code, out = inspect(runner, str(path), "--out", str(tmp_path / "site"))
        assert code == 2 and "--trust-pickle" in out and not (tmp_path / "site").exists()
    extra = ["--trust-pickle"] if fmt in ("pickle", "torchscript") else []
    code, out = inspect(runner, str(path), "--out", str(tmp_path / "site"), *extra)
    assert code == 0, out
    run = summary(tmp_path / "site")["runs"][0]
    assert run["source"] == "inspect"
    assert [(layer["name"], layer["shape"]) for layer in run["layers"]] == [("0", [6, 1, 15]), ("2", [8, 6, 9])]
    first = run["layers"][0]
    assert first["hit_rate_at_init"] is None and first["kappa"] is None  # one checkpoint: no baseline to compare
    assert 0 < first["null_threshold"] < 1


@pytest.mark.slow  # builds a site from a history; test_checkpoint's test_history_* read histories quickly
def test_a_history_of_checkpoints(tmp_path: Path, runner: CliRunner) -> None:
    model = conv1d_model()
    model(torch.zeros(2, 1, 64))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for step in (0, 5, 10, 20):
        if step:
            for _ in range(5):
                loss = model(torch.randn(8, 1, 64)).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        torch.save(model.state_dict(), tmp_path / f"ckpt_step{step}.pt")
    code, out = inspect(runner, str(tmp_path / "ckpt_step*.pt"), "--out", str(tmp_path / "site"))
    assert code == 0, out
    layer = summary(tmp_path / "site")["runs"][0]["layers"][0]
    assert layer["hit_rate_at_init"] is not None and layer["kappa"] is not None  # the first one is the baseline
    detail = json.loads((tmp_path / "site" / "runs" / "ckpt_step" / "0" / "layer.json").read_text())
    assert detail["steps"] == [0, 5, 10, 20]  # ordered by the step in the names (step10 after step5)
    gif = Image.open(tmp_path / "site" / "runs" / "ckpt_step" / "0" / "evolution.gif")
    assert gif.n_frames == 4


@pytest.mark.slow  # two sites built
def test_colour_first_layer_unshown_layers_and_layer_filter(tmp_path: Path, runner: CliRunner) -> None:
    torch.save(net2d().state_dict(), tmp_path / "net.pt")
    code, out = inspect(runner, str(tmp_path / "net.pt"), "--out", str(tmp_path / "site"))
    assert code == 0, out
    run_page = (tmp_path / "site" / "runs" / "net" / "index.html").read_text()
    assert "Layers not shown" in run_page and "volume" in run_page  # the Conv3d, with its reason
    with Image.open(tmp_path / "site" / "runs" / "net" / "rgb" / "mosaic.png") as im:
        assert im.mode == "RGB"  # a first layer on colour input is drawn in colour
    layers = [layer["name"] for layer in summary(tmp_path / "site")["runs"][0]["layers"]]
    assert "rgb" in layers and "depthwise" in layers
    code, out = inspect(runner, str(tmp_path / "net.pt"), "--out", str(tmp_path / "only"), "--layers", "^depth")
    assert code == 0, out
    assert [layer["name"] for layer in summary(tmp_path / "only")["runs"][0]["layers"]] == ["depthwise"]


def _bad(tmp_path: Path, case: str) -> Path:
    p = tmp_path / "in" / f"{case}.pt"
    p.parent.mkdir(exist_ok=True)
    if case == "missing":
        return p
    if case == "no-checkpoints":
        (p.parent / "notes.txt").write_text("x")
        return p.parent
    if case == "truncated":
        torch.save(conv1d_model().state_dict(), p)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif case == "corrupt":
        p.write_bytes(bytes(range(256)) * 8)
    elif case == "no-conv":
        torch.save(nn.Linear(4, 2).state_dict(), p)
    elif case in ("nan", "inf"):
        sd = {"conv.weight": torch.ones(2, 1, 3, 3)}
        sd["conv.weight"][0, 0, 1, 1] = float("nan") if case == "nan" else float("inf")
        torch.save(sd, p)
    elif case == "unknown":
        p.write_text("this is a text file, not a model\n")
    return p


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("missing", "no such file"),
        ("no-checkpoints", "no checkpoint files"),
        ("truncated", "not a checkpoint"),
        ("corrupt", "not a checkpoint"),
        ("no-conv", "no Conv1d or Conv2d layer"),
        ("nan", "NaN or infinite"),
        ("inf", "NaN or infinite"),
        ("unknown", "not a checkpoint"),
    ],
)
def test_bad_input_leaves_the_existing_site(
    quick_site: Path, tmp_path: Path, runner: CliRunner, case: str, needle: str
) -> None:
    import shutil

    site = tmp_path / "site"
    shutil.copytree(quick_site / "site", site)
    before = (site / "index.html").read_text()
    code, out = inspect(runner, str(_bad(tmp_path, case)), "--out", str(site))
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], out
    assert "Traceback" not in out
    assert (site / "index.html").read_text() == before


@pytest.mark.slow
def test_filters_of_known_shape_are_described_and_small_kernels_claim_nothing(
    tmp_path: Path, runner: CliRunner
) -> None:
    """A Conv1d layer of windowed cosines, a moving average and a first difference (64 taps), then a 5-tap layer
    (where no match claim is possible) and a 2-D layer: the filter fields, in Hz with --sample-rate, and nulls where
    they do not apply."""
    n = torch.arange(64, dtype=torch.float64)
    window = torch.hann_window(64, periodic=False, dtype=torch.float64)
    front = torch.zeros(5, 1, 64, dtype=torch.float64)
    for i, cycles in enumerate((0.05, 0.2, 0.4)):
        front[i, 0] = window * torch.cos(2 * torch.pi * cycles * n)
    front[3, 0, :8] = 1 / 8  # a moving average
    front[4, 0, 30:32] = torch.tensor([-1.0, 1.0])  # a first difference
    state = {
        "front.weight": front.float(),
        "small.weight": torch.randn(4, 5, 5),
        "image.weight": torch.randn(4, 1, 7, 7),
    }
    torch.save(state, tmp_path / "model.pt")
    code, out = inspect(runner, str(tmp_path / "model.pt"), "--out", str(tmp_path / "site"), "--sample-rate", "16000")
    assert code == 0, out
    layers = {layer["name"]: layer for layer in summary(tmp_path / "site")["runs"][0]["layers"]}
    kernels = layers["front"]["kernels"]
    for k, cycles in zip(kernels[:3], (0.05, 0.2, 0.4), strict=True):
        assert abs(k["peak_frequency"] - cycles) <= 0.5 / 64 and k["filter_type"] == "band-pass"
        assert k["peak_frequency_hz"] == pytest.approx(16000 * k["peak_frequency"], rel=1e-3)
    assert kernels[3]["filter_type"] == "low-pass" and kernels[3]["peak_frequency"] == 0.0
    assert kernels[4]["filter_type"] == "high-pass" and kernels[4]["peak_frequency"] == 0.5
    assert kernels[4]["bandwidth_hz"] == pytest.approx(4000, rel=1e-2)
    small = layers["small"]
    assert small["match_claims_possible"] is False
    assert small["hit_rate"] is None and small["hit_rate_at_init"] is None and small["kappa"] is None
    assert all(k["filter_type"] is not None for k in small["kernels"])  # every 1-D kernel is a filter, short or long
    image = layers["image"]
    assert image["match_claims_possible"] is True and image["hit_rate"] is not None
    assert all(k["peak_frequency"] is None and k["filter_type"] is None for k in image["kernels"])
    detail = json.loads((tmp_path / "site" / "runs" / "model" / "small" / "layer.json").read_text())
    assert all(k["above_threshold"] is None for k in detail["kernels"])
    page = (tmp_path / "site" / "runs" / "model" / "front" / "kernels" / "0.html").read_text()
    assert "As a filter: band-pass" in page and re.search(r"peak at 0\.0500 cycles/sample \((799|800)\.\d Hz\)", page)


def test_long_filters_of_a_real_front_end_are_fitted_named_and_described(tmp_path: Path, runner: CliRunner) -> None:
    """A learned audio front end: 12 filters of 512 taps stored as a Conv2d of (12, 1, 512, 1) (a geometric bank of
    windowed cosines, a derivative of Gaussian, and noise), analysed by the fitted families with every layer drawn."""
    n = torch.arange(512, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    front = torch.randn(12, 1, 512, 1, generator=g, dtype=torch.float64) * 0.02
    freqs = [0.02 * 1.4**i for i in range(8)]
    for i, f in enumerate(freqs):
        front[i, 0, :, 0] = torch.exp(-(((n - 256) / 40) ** 2) / 2) * torch.cos(2 * torch.pi * f * (n - 256))
    u = (n - 300) / 9
    front[8, 0, :, 0] = u * torch.exp(-(u**2) / 2)  # an edge: the derivative of a Gaussian
    torch.save({"front.weight": front.float(), "next.weight": torch.randn(4, 12, 9, 1)}, tmp_path / "model.pt")
    code, out = inspect(runner, str(tmp_path / "model.pt"), "--out", str(tmp_path / "site"))
    assert code == 0, out
    layers = {layer["name"]: layer for layer in summary(tmp_path / "site")["runs"][0]["layers"]}
    front_s = layers["front"]
    assert front_s["matched_by"] == "fitted families" and front_s["bank_size"] is None
    assert layers["next"]["matched_by"] == "template bank"
    kernels = front_s["kernels"]
    for k, f in zip(kernels[:8], freqs, strict=True):
        assert k["score"] > 0.99 and abs(k["peak_frequency"] - f) < 0.005
    assert [k["best_match"]["family"] for k in kernels[2:8]] == ["gabor"] * 6  # several cycles: windowed sinusoids
    assert kernels[8]["best_match"]["family"] == "edge" and kernels[8]["score"] > 0.99
    assert front_s["hit_rate"] >= 9 / 12  # the planted ones, against random 512-tap filters
    detail = json.loads((tmp_path / "site" / "runs" / "model" / "front" / "layer.json").read_text())
    assert detail["kernels"][3]["best_matches"][0]["detail"].startswith("f=0.0549 c/sample")
    assert all(k["phase_surrogate_p"] is None for k in detail["kernels"] if not k["above_threshold"])
    page = (tmp_path / "site" / "runs" / "model" / "front" / "kernels" / "3.html").read_text()
    assert "centre tap 256.0, sigma 40.0 taps" in page
    assert "32 taps a row" in page and page.count("<tr><td>") == 512 // 32  # a long filter's weights, wrapped
    bank = (tmp_path / "site" / "banks" / "1d-512" / "index.html").read_text()
    assert "The detector families for 512 kernels" in bank and "each family is fitted to each kernel" in bank


# (the command's arguments after FILE, the API's: (keyword arguments of ck.inspect, save's folder), the message)
SAME_REFUSALS = [
    (["--sample-rate", "-1"], ({"sample_rate": -1}, None), "--sample-rate must be a positive number of Hz, got -1.0"),
    (["--sample-rate", "0"], ({"sample_rate": 0.0}, None), "--sample-rate must be a positive number of Hz, got 0.0"),
    (["--sample-rate", "nan"], ({"sample_rate": float("nan")}, None), "must be a positive number of Hz, got nan"),
    (["--sample-rate", "inf"], ({"sample_rate": float("inf")}, None), "must be a positive number of Hz, got inf"),
    (["--sample-rate", "abc"], ({"sample_rate": "abc"}, None), "must be a positive number of Hz, got 'abc'"),
    (["--layers", "("], ({"layers": "("}, None), "--layers is not a valid regular expression: missing ),"),
    (["--layers", "^zz"], ({"layers": "^zz"}, None), "no conv layer name matches --layers '^zz'"),
    (["--conv-tensors", "("], ({"conv_tensors": "("}, None), "--conv-tensors is not a valid regular expression:"),
    (["--conv-tensors", "zz"], ({"conv_tensors": "zz"}, None), "--conv-tensors 'zz' matches no tensor of 3 to 5"),
    (["--out", "{file}"], ({}, "{file}"), "output path {file} exists and is a file, not a folder"),
    (["--out", "{foreign}"], ({}, "{foreign}"), "output folder {foreign} is not empty and was not made by cnnkreport"),
    (["--out", "{file}/site"], ({}, "{file}/site"), "cannot write the site: {file} is a file, not a folder"),
]


@pytest.mark.parametrize(
    ("cli_args", "api_args", "message"), SAME_REFUSALS, ids=[" ".join(c) for c, _, _ in SAME_REFUSALS]
)
def test_the_command_and_the_api_refuse_the_same_arguments_alike(
    tmp_path: Path, runner: CliRunner, cli_args: list[str], api_args: tuple[dict[str, object], str | None], message: str
) -> None:
    """One check in the library for each argument: the command's one line (exit code 2) is the API's UserError."""
    model = tmp_path / "m.pt"
    torch.save({"conv.weight": torch.randn(4, 1, 9)}, model)
    (tmp_path / "afile").write_text("keep me")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.tex").write_text("keep me")
    subst = {"{file}": str(tmp_path / "afile"), "{foreign}": str(tmp_path / "foreign"), "{tmp}": str(tmp_path)}

    def filled(text: str) -> str:
        for k, v in subst.items():
            text = text.replace(k, v)
        return text

    message = filled(message)
    out = ["--out", str(tmp_path / "site")] if "--out" not in cli_args else []
    result = runner.invoke(app, ["inspect", str(model), *map(filled, cli_args), *out])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]
    said = lines[0].removeprefix("error: ")
    kwargs, folder = api_args
    with pytest.raises(ck.UserError, match=re.escape(message)) as err:  # refused at ck.inspect, or at save
        report = ck.inspect(str(model), **kwargs)
        assert folder is not None, "ck.inspect accepted what the command refuses"
        report.save(filled(folder))
    assert str(err.value) == said
    assert not (tmp_path / "site").exists()
    assert (tmp_path / "afile").read_text() == "keep me" and (tmp_path / "foreign" / "thesis.tex").is_file()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trust_pickle": "yes"}, "--trust-pickle must be True or False, got 'yes'"),
        ({"layers": 3}, "--layers must be a regular expression, got 3"),
        ({"sample_rate": True}, "--sample-rate must be a positive number of Hz, got True"),
        ({"sample_rate": [16000]}, "--sample-rate must be a positive number of Hz, got [16000]"),
        ({"name": ""}, "name must be a non-empty string, got ''"),
        ({"conv_tensors": 3}, "--conv-tensors must be a regular expression, got 3"),
    ],
)
def test_arguments_only_python_can_give_are_refused_before_reading(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ck.UserError, match=re.escape(message)):
        ck.inspect("no/such/file.pt", **kwargs)  # the arguments first: no "no such file"


def test_the_command_and_save_write_the_same_site(tmp_path: Path, runner: CliRunner) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 4, 9), nn.Conv1d(4, 3, 1), nn.Conv2d(2, 3, 3))  # a 1x1 layer too
    torch.save(model.state_dict(), tmp_path / "net_step3.pt")
    path = str(tmp_path / "net_step3.pt")
    result = runner.invoke(app, ["inspect", path, "--out", str(tmp_path / "a"), "--sample-rate", "8000"])
    assert result.exit_code == 0, result.output
    assert ck.inspect(path, sample_rate=8000).save(tmp_path / "b") == tmp_path / "b" / "index.html"
    assert summary(tmp_path / "a") == summary(tmp_path / "b")
    a, b = ({p.relative_to(site) for p in site.rglob("*") if p.is_file()} for site in (tmp_path / "a", tmp_path / "b"))
    assert a == b and {p for p in a if p.suffix == ".html"} >= {Path("index.html"), Path("runs/net_step/index.html")}
    for page in (p for p in a if p.suffix == ".html"):
        assert (tmp_path / "a" / page).read_text() == (tmp_path / "b" / page).read_text(), page


# ----------------------------------------------------------------------------------------------- every conv weight


def assert_peaks(layer: ck.Layer, n: int) -> None:
    """Filter i of an STFT basis layer's cosine half (n taps) peaks at i/n cycles per sample; filters 1 and n/2 - 1
    are pulled towards 0 and 1/2 by their mirror image's main lobe, which overlaps theirs."""
    peaks = np.array([k.peak_frequency for k in layer.kernels[: n // 2 + 1]]) * n
    bins = np.arange(n // 2 + 1)
    assert peaks[0] == 0 and peaks[-1] == n // 2, peaks
    assert np.allclose(peaks[2:-2], bins[2:-2], atol=0.05), peaks
    assert 0.5 < peaks[1] < 1.2 and n // 2 - 1.2 < peaks[-2] < n // 2 - 0.5, peaks


def test_a_scripted_front_end_shows_both_stft_bases_with_their_known_peaks(tmp_path: Path) -> None:
    """A TorchScript program whose STFT bases are buffers passed to F.conv1d, one in each branch of an if: both
    are layers, and filter i of each basis's cosine half peaks at i/N cycles per sample."""
    path = tmp_path / "vad.pt"
    scripted().save(str(path))
    report = ck.inspect(path, trust_pickle=True)
    assert list(report.layers) == [*BASES, "_model.plain"]
    for name, n in zip(BASES, (64, 32), strict=True):
        assert_peaks(report.layers[name], n)
    assert [u.name for u in report.unshown] == ["_model.up", "_model.v"]
    assert report.unshown[0].reason.startswith("a transposed convolution")
    assert report.unshown[1].reason.startswith("a conv weight computed in the model's graph (by aten::_weight_norm")


def test_a_state_dict_lists_the_basis_and_shows_it_when_named(tmp_path: Path, runner: CliRunner) -> None:
    """The same basis in a state_dict is a buffer that nothing says is a conv weight: listed in summary.json's
    other_tensors and on the run page, not drawn; with --conv-tensors 'basis' it is a layer with its known peaks."""
    torch.manual_seed(0)
    sd = {"stft.forward_basis_buffer": hann_basis(64), "encoder.weight": torch.randn(4, 66, 3)}
    torch.save(sd, tmp_path / "vad.pt")
    report = ck.inspect(tmp_path / "vad.pt")
    assert list(report.layers) == ["encoder"]
    named = ck.inspect(tmp_path / "vad.pt", conv_tensors="basis")
    assert list(named.layers) == ["stft.forward_basis_buffer", "encoder"]
    assert_peaks(named.layers["stft.forward_basis_buffer"], 64)
    code, out = inspect(runner, str(tmp_path / "vad.pt"), "--out", str(tmp_path / "site"), "--layers", "encoder")
    assert code == 0, out
    run = summary(tmp_path / "site")["runs"][0]
    assert [layer["name"] for layer in run["layers"]] == ["encoder"]
    assert run["other_tensors"] == [{"name": "stft.forward_basis_buffer", "shape": [66, 1, 64]}]
    page = (tmp_path / "site" / "runs" / "vad" / "index.html").read_text()
    assert "not read as conv layers" in page and "<code>stft.forward_basis_buffer</code> (66 x 1 x 64)" in page
    assert "--conv-tensors REGEX" in page


def test_out_makes_its_missing_parent_folders(tmp_path: Path) -> None:
    """`--out a/b/site` makes a/ and a/b/, as mkdocs and sphinx do, from the command and from the API."""
    torch.manual_seed(0)
    torch.save(nn.Conv1d(1, 4, 9).state_dict(), tmp_path / "m.pt")
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "m.pt"), "--out", str(tmp_path / "a" / "b" / "site")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "b" / "site" / "index.html").is_file()
    ck.inspect(tmp_path / "m.pt").save(tmp_path / "c" / "d" / "site")
    assert (tmp_path / "c" / "d" / "site" / "summary.json").is_file()
