"""KernelRecorder in a user's own loop writes the run format; render draws it like a built-in run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cnnkreport import KernelRecorder
from cnnkreport.errors import UserError
from cnnkreport.rundir import Run
from cnnkreport.site import build_site

ROOT = Path(__file__).resolve().parent.parent


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.Flatten(), nn.LazyLinear(2))


@pytest.mark.slow
def test_recorded_run_renders_like_a_built_in_run(tmp_path: Path) -> None:
    net = model()
    x = torch.randn(16, 1, 12, 12)
    net(x)  # materialise the lazy layer
    init = net[0].weight.detach().numpy().copy()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    recorder = KernelRecorder(net, tmp_path / "mine", every=3)
    for _ in range(10):
        loss = net(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        recorder.step(loss=loss.item())
    run = recorder.close(test_accuracy=0.5)

    assert run.snapshot_steps() == [0, 3, 6, 9, 10]  # every 3rd, and the last
    assert np.array_equal(run.read_snapshot(0)["0"], init)
    assert np.array_equal(run.read_snapshot(10)["2"], net[2].weight.detach().numpy())
    meta = run.read_meta()
    assert meta.status == "complete" and meta.source == "recorder" and meta.steps == 10
    assert [layer.name for layer in meta.layers] == ["0", "2"]
    assert [r["step"] for r in run.read_metrics()] == list(range(1, 11))

    build_site([run.path], tmp_path / "site")
    summary = json.loads((tmp_path / "site" / "summary.json").read_text())
    assert summary["runs"][0]["source"] == "recorder" and summary["runs"][0]["test_accuracy"] == 0.5
    assert [layer["name"] for layer in summary["runs"][0]["layers"]] == ["0", "2"]
    assert (tmp_path / "site" / "runs" / "mine" / "0" / "evolution.gif").is_file()


def test_an_interrupted_loop_leaves_a_readable_run(tmp_path: Path) -> None:
    net = model()
    with pytest.raises(RuntimeError), KernelRecorder(net, tmp_path / "cut", every=1) as recorder:
        for i in range(5):
            recorder.step(loss=float(i))
            if i == 3:
                raise RuntimeError("the laptop went to sleep")
    run = Run(tmp_path / "cut")
    assert run.read_meta().status == "running" and run.snapshot_steps() == [0, 1, 2, 3, 4]


def test_recorder_refuses_what_it_cannot_record(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no Conv1d or Conv2d"):
        KernelRecorder(nn.Linear(3, 2), tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        KernelRecorder(model(), tmp_path / "b")
    assert (tmp_path / "b" / "keep.txt").read_text() == "mine"
    recorder = KernelRecorder(model(), tmp_path / "c")
    with pytest.raises(ValueError, match="unknown metric 'lsos'"):
        recorder.step(lsos=1.0)
    (tmp_path / "file.txt").write_text("mine")
    for run_dir, every, message in [
        (tmp_path / "d", 0, "every must be a whole number of steps, at least 1, not 0"),
        (tmp_path / "file.txt", 1, "is a file, not a folder"),
    ]:
        with pytest.raises(UserError, match=message):
            KernelRecorder(model(), run_dir, every=every)
    assert not (tmp_path / "d").exists()


def test_steps_counted_by_a_framework(tmp_path: Path) -> None:
    """step(step=N): the count of steps a framework gives (Lightning's global_step) may jump; a snapshot is taken
    whenever a multiple of `every` is reached or passed; note() adds metrics measured after the last step; close()
    writes the model's state_dict as weights.pt, the run format's final weights."""
    net = model()
    recorder = KernelRecorder(net, tmp_path / "jumps", every=4)
    for step in (1, 3, 5, 6, 9):
        recorder.step(step=step, loss=1.0 / step)
    recorder.note(test_accuracy=0.75)
    with pytest.raises(ValueError, match="step 9 is not after the last step recorded, 9"):
        recorder.step(step=9)
    run = recorder.close(test_accuracy=0.75)
    assert run.snapshot_steps() == [0, 5, 9]
    assert [(r["step"], r["test_accuracy"]) for r in run.read_metrics()][-2:] == [(6, None), (9, 0.75)]
    weights = torch.load(run.weights_path, weights_only=True)
    assert sorted(weights) == ["0.bias", "0.weight", "2.bias", "2.weight"]  # the LazyLinear never ran: no weight yet
    assert torch.equal(weights["0.weight"], net[0].weight.detach())


@pytest.mark.slow  # the example in a process of its own: torch imported, a model trained
def test_the_example_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "record_conv1d.py"), "--run", str(tmp_path / "ex"), "--epochs", "1"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "recorded 63 steps" in out.stdout
    assert Run(tmp_path / "ex").read_meta().status == "complete"
