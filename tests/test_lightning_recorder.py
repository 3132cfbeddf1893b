"""cnnkreport.lightning.KernelRecorder: a Lightning callback writes the run format over trainer.fit on the CPU,
through the same writer as cnnkreport.KernelRecorder; render draws it."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.errors import UserError
from cnnkreport.rundir import Run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lightning() -> Iterator[ModuleType]:
    module = pytest.importorskip("lightning")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="lightning")  # "the dataloader does not have many workers", ...
        yield module


def module_class(lightning: ModuleType) -> type:
    class Net(lightning.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self, crash_at: int | None = None) -> None:
            super().__init__()
            self.conv = nn.Conv1d(1, 4, 9)
            self.conv2 = nn.Conv1d(4, 3, 5)
            self.head = nn.Linear(3, 2)
            self.crash_at = crash_at

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.conv2(torch.relu(self.conv(x))).amax(2))

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if self.global_step == self.crash_at:
                raise RuntimeError("the laptop went to sleep")
            x, y = batch
            logits = self(x)
            loss = nn.functional.cross_entropy(logits, y)
            self.log("train_loss", loss)
            self.log("train_acc", (logits.argmax(1) == y).float().mean())
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_acc", (self(x).argmax(1) == y).float().mean())

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Net


def loader(n: int = 48) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(n, 1, 32, generator=g), torch.randint(0, 2, (n,), generator=g)), 16)


def trainer(lightning: ModuleType, callback: Any, **kwargs: Any) -> Any:
    options = {"max_epochs": 2, "logger": False, "enable_checkpointing": False, "enable_progress_bar": False}
    options |= {"accelerator": "cpu", "enable_model_summary": False, **kwargs}
    return lightning.Trainer(callbacks=[callback], **options)


@pytest.fixture(scope="module")
def fitted(lightning: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Run, dict[str, Any], Any]:
    """A tiny Conv1d module fit for 2 epochs of 3 batches with validation, recorded every 2nd step."""
    from cnnkreport.lightning import KernelRecorder

    torch.manual_seed(0)
    module = module_class(lightning)()
    init = {name: getattr(module, name).weight.detach().numpy().copy() for name in ("conv", "conv2")}
    run_dir = tmp_path_factory.mktemp("lightning") / "mine"
    recorder = KernelRecorder(run_dir, every=2)
    fit = trainer(lightning, recorder)
    fit.fit(module, loader(), loader(16))
    assert isinstance(recorder, lightning.pytorch.Callback)
    return module, Run(run_dir), init, fit


def test_fit_writes_the_run_format(fitted: tuple[Any, Run, dict[str, Any], Any]) -> None:
    module, run, init, fit = fitted
    meta = run.read_meta()
    assert (meta.source, meta.status, meta.steps) == ("recorder", "complete", 6)
    assert [(li.name, li.kind, li.shape) for li in meta.layers] == [
        ("conv", "conv1d", (4, 1, 9)),
        ("conv2", "conv1d", (3, 4, 5)),
    ]
    assert run.snapshot_steps() == [0, 2, 4, 6]
    for name in ("conv", "conv2"):  # step 0 is the initialisation; the last, the module's weights at the end
        assert np.array_equal(run.read_snapshot(0)[name], init[name])
        assert np.array_equal(run.read_snapshot(6)[name], getattr(module, name).weight.detach().numpy())
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["epoch"] for r in rows] == pytest.approx([1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2], abs=1e-5)
    assert all(r["loss"] is not None and r["train_accuracy"] is not None for r in rows)
    val = float(fit.callback_metrics["val_acc"])
    assert rows[2]["test_accuracy"] is not None and rows[-1]["test_accuracy"] == pytest.approx(val)
    assert [r["test_accuracy"] is None for r in rows] == [True, True, False, True, True, False]
    assert meta.test_accuracy == pytest.approx(val)
    weights = torch.load(run.weights_path, weights_only=True)
    assert weights.keys() == module.state_dict().keys()
    assert torch.equal(weights["head.weight"], module.head.weight.detach())


def test_render_draws_the_recorded_run(fitted: tuple[Any, Run, dict[str, Any], Any], tmp_path: Path) -> None:
    run = fitted[1]
    result = CliRunner().invoke(app, ["render", str(run.path), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "site" / "summary.json").read_text(encoding="utf-8"))
    assert summary["runs"][0]["source"] == "recorder"
    assert [layer["name"] for layer in summary["runs"][0]["layers"]] == ["conv", "conv2"]
    for layer in ("conv", "conv2"):
        assert (tmp_path / "site" / "runs" / "mine" / layer / "index.html").is_file()


def test_steps_are_optimiser_steps_and_fit_can_go_on(lightning: ModuleType, tmp_path: Path) -> None:
    """With gradient accumulation over 2 batches, 3 batches an epoch are 2 optimiser steps (Lightning steps on the
    epoch's last batch); no validation; a second fit with the same callback goes on in the same run."""
    from cnnkreport.lightning import KernelRecorder

    torch.manual_seed(0)
    module, recorder = module_class(lightning)(), KernelRecorder(tmp_path / "acc", every=3)
    trainer(lightning, recorder, accumulate_grad_batches=2, max_epochs=1).fit(module, loader())
    assert Run(tmp_path / "acc").read_meta().steps == 2
    trainer(lightning, recorder, accumulate_grad_batches=2, max_epochs=1).fit(module, loader())  # a new trainer
    run = Run(tmp_path / "acc")
    meta = run.read_meta()
    assert (meta.status, meta.steps, meta.test_accuracy) == ("complete", 4, None)
    assert run.snapshot_steps() == [0, 2, 3, 4]
    assert [r["step"] for r in run.read_metrics()] == [1, 2, 3, 4]
    assert np.array_equal(run.read_snapshot(4)["conv"], module.conv.weight.detach().numpy())


def test_a_fit_stopped_part_way_leaves_a_readable_run(lightning: ModuleType, tmp_path: Path) -> None:
    from cnnkreport.lightning import KernelRecorder

    torch.manual_seed(0)
    module = module_class(lightning)(crash_at=4)
    with pytest.raises(RuntimeError, match="the laptop went to sleep"):
        trainer(lightning, KernelRecorder(tmp_path / "cut", every=1), max_epochs=3).fit(module, loader())
    run = Run(tmp_path / "cut")
    assert run.read_meta().status == "running"
    assert run.snapshot_steps() == [0, 1, 2, 3, 4]  # flushed when the exception went through the trainer
    assert [r["step"] for r in run.read_metrics()] == [1, 2, 3, 4]


def test_bad_arguments_are_one_line_errors(lightning: ModuleType, tmp_path: Path) -> None:
    from cnnkreport.lightning import KernelRecorder

    (tmp_path / "file.txt").write_text("mine")
    for kwargs, message in [
        ({"run_dir": tmp_path / "a", "every": 0}, "every must be a whole number of steps, at least 1, not 0"),
        ({"run_dir": tmp_path / "a", "every": 2.5}, "every must be a whole number"),
        ({"run_dir": tmp_path / "file.txt"}, "is a file, not a folder"),
    ]:
        with pytest.raises(UserError, match=message) as err:
            KernelRecorder(**kwargs)
        assert "\n" not in str(err.value)

    class Dense(lightning.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(32, 2)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self.head(batch[0][:, 0]).sum()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    with pytest.raises(UserError, match="no Conv1d or Conv2d"):
        trainer(lightning, KernelRecorder(tmp_path / "b")).fit(Dense(), loader())


@pytest.mark.slow  # the example in a process of its own: lightning imported, a module fit and rendered
def test_the_example_runs(lightning: ModuleType, tmp_path: Path) -> None:
    script = ROOT / "examples" / "lightning_conv1d.py"
    out = subprocess.run(
        [sys.executable, str(script), "--run", str(tmp_path / "ex"), "--out", str(tmp_path / "site"), "--epochs", "1"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "recorded 32 steps" in out.stdout
    assert Run(tmp_path / "ex").read_meta().status == "complete"
    assert (tmp_path / "site" / "runs" / "ex" / "conv1" / "index.html").is_file()
