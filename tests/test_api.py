"""The Python API (issue 13, item 5): the same numbers as the command, in memory, figures without pyplot, a site."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn
from typer.testing import CliRunner

import cnnkreport as ck
from cnnkreport.cli import app
from cnnkreport.rundir import OtherTensor


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 8, 15),  # "0"
        nn.ReLU(),
        nn.Conv1d(8, 6, 9, groups=2),  # "2": grouped
        nn.Flatten(),
        nn.Linear(6, 3),  # not a conv: never a layer
    )


def test_a_module_in_memory_yields_exactly_its_conv_layers(tmp_path: Path) -> None:
    mixed = nn.ModuleDict({"wave": model(), "image": nn.Conv2d(3, 4, 5), "norm": nn.BatchNorm2d(4)})
    layers = ck.inspect(mixed).layers  # never run: the module's forward does not matter
    assert {name: layer.kind for name, layer in layers.items()} == {
        "wave.0": "conv1d",
        "wave.2": "conv1d",
        "image": "conv2d",
    }
    before = set(tmp_path.iterdir())
    planted = model()
    with torch.no_grad():  # kernel 3: a derivative of a Gaussian over 15 taps, an edge detector by construction
        t = torch.arange(15, dtype=torch.float32) - 7
        planted[0].weight[3, 0] = -t * torch.exp(-(t**2) / (2 * 2.5**2))
    report = ck.inspect(planted)
    assert list(report.layers) == ["0", "2"] and report.unshown == ()
    assert report.layers[1] is report.layers["2"] and report.layers["2"].shape == (6, 4, 9)
    layer = report.layers["0"]
    assert layer.kind == "conv1d" and len(layer.kernels) == 8
    assert layer.kernels[3].best_match.family == "edge" and layer.kernels[3].score > 0.95
    assert 0 <= layer.kernels[3].peak_frequency < 0.2  # a derivative of a Gaussian passes a low band
    assert set(tmp_path.iterdir()) == before  # nothing written
    with pytest.raises(KeyError, match="no layer 'nope'"):
        report.layers["nope"]


def test_the_api_and_the_command_give_the_same_numbers(tmp_path: Path) -> None:
    m = model()
    torch.save(m.state_dict(), tmp_path / "m.pt")
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "m.pt"), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    command = json.loads((tmp_path / "site" / "summary.json").read_text())["runs"][0]
    for given in (m, m.state_dict(), tmp_path / "m.pt", [str(tmp_path / "m.pt")]):
        api = ck.inspect(given).as_dict()
        assert api["layers"] == command["layers"]
    one = ck.inspect(m[0].weight)  # one weight tensor
    assert one.as_dict()["layers"][0]["kernels"] == command["layers"][0]["kernels"]


def test_plots_are_figures_and_leave_no_pyplot_state() -> None:
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    report = ck.inspect(model())
    first, second = report.layers["0"], report.layers["2"]
    for view in ("mosaic", "frequency", "filterbank", "signals", "matches"):
        fig = first.plot(view)
        assert isinstance(fig, Figure) and fig.axes, view
    assert isinstance(second.plot("channels"), Figure)
    with pytest.raises(ValueError, match="several input channels"):
        first.plot("channels")
    with pytest.raises(ValueError, match="view must be one of"):
        first.plot("nope")
    assert plt.get_fignums() == [] and matplotlib.get_backend() == backend


def test_repr_html_is_inline_and_requests_nothing() -> None:
    page = ck.inspect(model())._repr_html_()
    assert "<table>" in page and page.count("<tr>") == 3  # the header and a row per layer
    srcs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http" not in page and "url(" not in page


def test_save_writes_the_site_the_command_writes(tmp_path: Path) -> None:
    m = model()
    index = ck.inspect(m).save(tmp_path / "site")
    assert index == tmp_path / "site" / "index.html" and index.exists()
    saved = json.loads((tmp_path / "site" / "summary.json").read_text())["runs"][0]
    assert saved["layers"] == ck.inspect(m).as_dict()["layers"]


@pytest.mark.parametrize(
    "given, message",
    [
        (42, "cannot inspect a int"),
        (np.zeros((3, 3)), "must be (out, in, k) or (out, in, kh, kw)"),
        ({"fc.weight": torch.zeros(2, 3)}, "no Conv1d or Conv2d layer found"),
        ("no/such/file.pt", "no such file"),
        ([model()], "cannot inspect a list of Sequential"),
        ([], "no checkpoint files given"),
    ],
)
def test_bad_input_is_one_clear_error(given: object, message: str) -> None:
    with pytest.raises(ck.UserError) as err:
        ck.inspect(given)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"sample_rate": -1}, ["--sample-rate", "-1"]),
        ({"sample_rate": float("inf")}, ["--sample-rate", "inf"]),
        ({"layers": "[a-"}, ["--layers", "[a-"]),
    ],
)
def test_bad_arguments_are_refused_by_inspect_as_the_command_refuses_them(
    tmp_path: Path, kwargs: dict[str, object], option: list[str]
) -> None:
    """At ck.inspect, not later in save(), with the line the command prints (exit code 2)."""
    torch.save(model().state_dict(), tmp_path / "m.pt")
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "m.pt"), *option, "--out", str(tmp_path / "site")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    with pytest.raises(ck.UserError) as err:
        ck.inspect(model(), **kwargs)
    assert f"error: {err.value}\n" == result.stderr
    assert not (tmp_path / "site").exists()


@pytest.mark.slow  # the example in a process of its own: torch imported, a model trained
def test_the_notebook_example_runs(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, str(root / "examples" / "notebook_conv1d.py"), "--out", str(tmp_path / "f"), "--epochs", "1"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "6 figures in" in out.stdout and "filter 7: r*" in out.stdout
    names = {"one-filter", "filters-by-channels", "channels-combined", "test-signals", "frequency", "filterbank"}
    assert {p.stem for p in (tmp_path / "f").glob("*.png")} == names


def test_a_1x1_layer_is_in_the_report_with_null_pattern_numbers(tmp_path: Path) -> None:
    """A pointwise conv is drawn on the site, so it is a layer of the report: kind, shape, `not_scored`, None for
    every pattern number, the mosaic its only view; a transposed conv is not drawn: it is in `unshown`."""
    torch.manual_seed(0)
    m = nn.ModuleDict({"conv": nn.Conv2d(1, 4, 5), "mix": nn.Conv2d(4, 6, 1), "up": nn.ConvTranspose2d(6, 2, 3)})
    report = ck.inspect(m)
    assert list(report.layers) == ["conv", "mix"] and [u.name for u in report.unshown] == ["up"]
    mix = report.layers["mix"]
    assert (mix.kind, mix.shape, mix.analysis) == ("conv2d", (6, 4, 1, 1), None)
    assert mix.not_scored is not None and mix.not_scored.startswith("a 1x1 (pointwise) convolution: a weight matrix")
    assert report.layers["conv"].not_scored is None
    assert mix.hit_rate is None and mix.median_score is None and mix.kappa is None and not mix.match_claims_possible
    assert [k.index for k in mix.kernels] == list(range(6))
    assert all(k.score is None and k.best_match is None and k.peak_frequency is None for k in mix.kernels)
    assert isinstance(mix.plot("mosaic"), Figure)
    with pytest.raises(ValueError, match="only the 'mosaic' view: it is a 1x1"):
        mix.plot("frequency")
    record = report.as_dict()
    assert record["not_shown"] == [{"name": "up", "shape": [6, 2, 3, 3], "reason": report.unshown[0].reason}]
    assert record["other_tensors"] == [] and report.other_tensors == ()
    page = report._repr_html_()
    assert "a 1x1 (pointwise) convolution" in page and "Not drawn" in page and "up (6 x 2 x 3 x 3)" in page


def test_the_report_lists_other_tensors_as_summary_json_does() -> None:
    report = ck.inspect(model())
    report = replace(report, other_tensors=(OtherTensor("stft.forward_basis_buffer", (16, 1, 8)),))
    assert report.as_dict()["other_tensors"] == [{"name": "stft.forward_basis_buffer", "shape": [16, 1, 8]}]
    page = report._repr_html_()
    assert "stft.forward_basis_buffer (16 x 1 x 8)" in page and "not read as conv weights" in page


def test_a_model_of_only_1x1_convs_is_reported_by_the_api_and_the_command_alike(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv1d(4, 2, 2))
    torch.save(m.state_dict(), tmp_path / "m.pt")
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "m.pt"), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    (command,) = json.loads((tmp_path / "site" / "summary.json").read_text())["runs"]
    api = ck.inspect(tmp_path / "m.pt").as_dict()
    assert api == command and [x["name"] for x in command["layers"]] == ["0", "1"]
    assert [x["not_scored"] for x in command["layers"]] == [
        "a 1x1 (pointwise) convolution: a weight matrix mixing channels, with no spatial pattern to score",
        "kernels of 2 taps: too few weights for a pattern score",
    ]
    layer_page = (tmp_path / "site" / "runs" / "m" / "0" / "index.html").read_text()
    assert "No pattern score for 0: a 1x1 (pointwise)" in layer_page


def test_a_sample_rate_puts_the_apis_filter_figures_in_hz() -> None:
    """As on the site: with sample_rate, layer.plot("filterbank") is in Hz on a log axis where the peaks span more
    than a decade; without one, in cycles per sample."""
    t = np.arange(128)
    freqs = np.geomspace(0.004, 0.4, 24)
    w = (np.hanning(128) * np.cos(2 * np.pi * freqs[:, None] * t))[:, None, :].astype(np.float32)
    with_rate = ck.inspect(w, sample_rate=16000).layers[0].plot("filterbank")
    labels = [ax.get_xlabel() for ax in with_rate.axes]
    assert any("Hz" in s for s in labels) and "log" in [ax.get_xscale() for ax in with_rate.axes]
    without = ck.inspect(w).layers[0].plot("filterbank")
    assert not any("Hz" in ax.get_xlabel() for ax in without.axes)
    assert any("cycles/sample" in ax.get_xlabel() for ax in without.axes)
