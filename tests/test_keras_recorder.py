"""cnnkreport.keras.KernelRecorder: a Keras 3 callback (here on the torch backend, no TensorFlow) writes the run
format over model.fit, with the kernels in PyTorch's layout as the Keras file readers give them; render draws it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.errors import UserError
from cnnkreport.rundir import Run
from cnnkreport.sources.kerasfile import read_keras

ROOT = Path(__file__).resolve().parent.parent
# Keras's torch backend converts with np.array(tensor), which numpy 2 warns about (Keras's own, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    """Keras 3 on the torch backend, chosen before keras is first imported (tests/test_keras.py does the same; a
    backend the environment already names is kept)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def conv1d_model(keras: ModuleType) -> Any:
    layers = keras.layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 1)),
            layers.Conv1D(4, 9, activation="relu", name="conv1"),
            layers.MaxPooling1D(2),
            layers.Conv1D(6, 5, activation="relu", name="conv2"),
            layers.GlobalAveragePooling1D(),
            layers.Dense(3, activation="softmax", name="head"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n: int, shape: tuple[int, ...], classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, *shape)).astype("float32"), rng.integers(0, classes, n)


def torch_layout(kernel: np.ndarray) -> np.ndarray:
    """A Keras ConvND kernel (k..., in, out) as PyTorch's (out, in, k...)."""
    return np.moveaxis(np.moveaxis(kernel, -1, 0), -1, 1)


@pytest.fixture(scope="module")
def fitted(keras: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Run, dict[str, Any], Any]:
    """A tiny Conv1D model fit for 2 epochs of 3 batches with validation data, recorded every 2nd batch."""
    from cnnkreport.keras import KernelRecorder

    model = conv1d_model(keras)
    init = {name: model.get_layer(name).get_weights()[0].copy() for name in ("conv1", "conv2")}
    x, y = data(48, (32, 1))
    run_dir = tmp_path_factory.mktemp("keras") / "mine"
    recorder = KernelRecorder(run_dir, every=2)
    history = model.fit(
        x, y, epochs=2, batch_size=16, validation_data=(x[:16], y[:16]), callbacks=[recorder], verbose=0
    )
    assert isinstance(recorder, keras.callbacks.Callback)
    return model, Run(run_dir), init, history


def test_fit_writes_the_run_format(fitted: tuple[Any, Run, dict[str, Any], Any]) -> None:
    model, run, init, history = fitted
    meta = run.read_meta()
    assert (meta.source, meta.status, meta.steps) == ("recorder", "complete", 6)
    assert [(li.name, li.kind, li.shape) for li in meta.layers] == [
        ("conv1", "conv1d", (4, 1, 9)),
        ("conv2", "conv1d", (6, 4, 5)),
    ]
    assert run.snapshot_steps() == [0, 2, 4, 6]
    for name in ("conv1", "conv2"):  # step 0 is the initialisation; the last, the trained kernels
        assert np.array_equal(run.read_snapshot(0)[name], torch_layout(init[name]))
        assert np.array_equal(run.read_snapshot(6)[name], torch_layout(model.get_layer(name).get_weights()[0]))
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["epoch"] for r in rows] == pytest.approx([1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2], abs=1e-5)
    assert all(r["loss"] is not None and r["train_accuracy"] is not None for r in rows)
    val = history.history["val_accuracy"]
    assert [r["test_accuracy"] for r in rows] == pytest.approx([None, None, val[0], None, None, val[1]])
    assert rows[-1]["loss"] == pytest.approx(history.history["loss"][-1], rel=1e-5)
    assert meta.test_accuracy == pytest.approx(val[-1])
    assert set(__import__("torch").load(run.weights_path, weights_only=True)) == {"conv1.weight", "conv2.weight"}


def test_render_draws_the_recorded_run(fitted: tuple[Any, Run, dict[str, Any], Any], tmp_path: Path) -> None:
    run = fitted[1]
    result = CliRunner().invoke(app, ["render", str(run.path), "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "site" / "summary.json").read_text(encoding="utf-8"))
    assert summary["runs"][0]["source"] == "recorder"
    assert [layer["name"] for layer in summary["runs"][0]["layers"]] == ["conv1", "conv2"]
    for layer in ("conv1", "conv2"):
        assert (tmp_path / "site" / "runs" / "mine" / layer / "index.html").is_file()


def test_every_kind_of_conv_as_the_file_reader_reads_it(keras: ModuleType, tmp_path: Path) -> None:
    """SeparableConv2D, DepthwiseConv2D, a nested model and a TimeDistributed Conv1D, fit without validation data
    (twice, with one callback: the run goes on): the final snapshot is what the .keras reader reads from the same
    model saved; the transposed conv is listed as not shown."""
    from cnnkreport.keras import KernelRecorder

    layers = keras.layers
    keras.utils.set_random_seed(1)
    image, clip = keras.Input((10, 10, 2)), keras.Input((3, 12, 1))
    inner = keras.Sequential([keras.Input((10, 10, 2)), layers.Conv2D(3, 3, padding="same", name="c2d")], name="inner")
    x = layers.SeparableConv2D(4, 3, name="sep")(inner(image))
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
    x = layers.Conv2DTranspose(2, 3, name="up")(x)
    t = layers.TimeDistributed(layers.Conv1D(2, 5, name="tconv"), name="td")(clip)
    out = layers.Concatenate()([layers.GlobalAveragePooling2D()(x), layers.Flatten()(t)])
    model = keras.Model([image, clip], layers.Dense(2, name="head")(out))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    (xi, y), (xc, _) = data(16, (10, 10, 2), 2), data(16, (3, 12, 1), 2)
    recorder = KernelRecorder(tmp_path / "all", every=3)
    for _ in range(2):
        model.fit([xi, xc], y, epochs=1, batch_size=8, callbacks=[recorder], verbose=0)
    run = Run(tmp_path / "all")
    meta = run.read_meta()
    drawn = ["inner.c2d", "sep.depthwise", "sep.pointwise", "dw", "td.tconv"]
    assert [li.name for li in meta.layers] == drawn and [u.name for u in meta.unshown] == ["up"]
    assert (meta.status, meta.steps, meta.test_accuracy, run.snapshot_steps()) == ("complete", 4, None, [0, 2, 3, 4])
    assert all(r["test_accuracy"] is None and r["train_accuracy"] is None for r in run.read_metrics())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(tmp_path / "m.keras")
    tensors, _ = read_keras(tmp_path / "m.keras")
    last = run.read_snapshot(4)
    assert {n: last[n].shape for n in drawn} == {n: tensors[f"{n}.weight"].shape for n in drawn}
    for name in drawn:
        assert np.array_equal(last[name], tensors[f"{name}.weight"]), name


def test_a_fit_stopped_part_way_leaves_a_readable_run(keras: ModuleType, tmp_path: Path) -> None:
    from cnnkreport.keras import KernelRecorder

    class Crash(keras.callbacks.Callback):  # type: ignore[misc, name-defined]
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if self.params["steps"] * self.epoch + batch >= 4:
                raise KeyboardInterrupt

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch

    model = conv1d_model(keras)
    x, y = data(48, (32, 1))
    with pytest.raises(KeyboardInterrupt):
        model.fit(
            x, y, epochs=3, batch_size=16, callbacks=[KernelRecorder(tmp_path / "cut", every=2), Crash()], verbose=0
        )
    run = Run(tmp_path / "cut")
    assert run.read_meta().status == "running"
    assert run.snapshot_steps() == [0, 2]  # flushed at the end of the first epoch
    assert [r["step"] for r in run.read_metrics()] == [1, 2, 3]


def test_bad_arguments_are_one_line_errors(keras: ModuleType, tmp_path: Path) -> None:
    from cnnkreport.keras import KernelRecorder

    (tmp_path / "file.txt").write_text("mine")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    for kwargs, message in [
        ({"run_dir": tmp_path / "a", "every": 0}, "every must be a whole number of steps, at least 1, not 0"),
        ({"run_dir": tmp_path / "file.txt"}, "is a file, not a folder"),
        ({"run_dir": tmp_path / "full"}, "already exists and is not empty"),
    ]:
        with pytest.raises(UserError, match=message) as err:
            KernelRecorder(**kwargs)
        assert "\n" not in str(err.value)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(UserError, match="no Conv1D or Conv2D"):
        model.fit(np.zeros((4, 4)), np.zeros((4, 2)), callbacks=[KernelRecorder(tmp_path / "b")], verbose=0)
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_importing_the_module_imports_no_keras() -> None:
    """Nor lightning: the callback classes are made on first use (after KERAS_BACKEND is set)."""
    code = (
        "import sys, cnnkreport; cnnkreport.keras, cnnkreport.lightning; "
        "import cnnkreport.keras, cnnkreport.lightning; "
        "print('keras' in sys.modules, 'lightning' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True"]


@pytest.mark.slow  # the example in a process of its own: keras imported, a model fit and rendered
def test_the_example_runs(keras: ModuleType, tmp_path: Path) -> None:
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "torch")}
    script = ROOT / "examples" / "keras_conv1d.py"
    out = subprocess.run(
        [sys.executable, str(script), "--run", str(tmp_path / "ex"), "--out", str(tmp_path / "site"), "--epochs", "1"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    assert "recorded" in out.stdout
    assert Run(tmp_path / "ex").read_meta().status == "complete"
    assert (tmp_path / "site" / "runs" / "ex" / "conv1" / "index.html").is_file()
