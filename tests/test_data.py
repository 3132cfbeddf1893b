from dataclasses import replace

import numpy as np
import pytest

from cnnkreport.config import WAVEFORMS, DataConfig
from cnnkreport.data import draw_params, make_dataset, render_images, shape_values, waveform


@pytest.mark.parametrize("kind", ["image", "signal"])
def test_shapes_labels_and_split(kind: str) -> None:
    cfg = DataConfig(kind=kind, size=24, n_train=100, n_test=30)
    ds = make_dataset(cfg, seed=1)
    shape = (1, 24, 24) if kind == "image" else (1, 24)
    assert ds.x_train.shape == (100, *shape) and ds.x_test.shape == (30, *shape)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.classes == WAVEFORMS
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_test]), minlength=5)
    assert counts.tolist() == [26, 26, 26, 26, 26]  # balanced over the whole draw
    assert np.isfinite(ds.x_train).all()


@pytest.mark.parametrize("kind", ["image", "signal"])
def test_deterministic_for_a_seed(kind: str) -> None:
    cfg = DataConfig(kind=kind, size=20, n_train=50, n_test=10)
    a, b, c = make_dataset(cfg, 3), make_dataset(cfg, 3), make_dataset(cfg, 4)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)


def test_standardised_on_training_statistics() -> None:
    ds = make_dataset(DataConfig(kind="signal", size=64, n_train=400, n_test=100), 0)
    assert abs(float(ds.x_train.mean())) < 1e-4 and abs(float(ds.x_train.std()) - 1) < 1e-3
    raw = make_dataset(DataConfig(kind="signal", size=64, n_train=400, n_test=100, standardize=False), 0)
    assert abs(float(raw.x_train.std()) - 1) > 0.5


def test_unit_waveforms() -> None:
    u = np.linspace(0, 0.999, 1000)[None, :]
    w = np.full((1, 1), 0.5)
    names = {n: np.array([[n]], dtype=object) for n in WAVEFORMS}
    sq = shape_values(names["square"], u, w)[0]
    assert set(np.unique(sq)) == {0.0, 1.0} and abs(sq.mean() - 0.5) < 0.01  # duty cycle = width
    tri = shape_values(names["triangle"], u, w)[0]
    assert abs(tri.max() - 1) < 0.01 and abs(u[0, tri.argmax()] - 0.25) < 0.01  # apex mid-pulse
    saw = shape_values(names["sawtooth"], u, w)[0]
    assert np.all(np.diff(saw[u[0] < 0.5]) > 0)  # rises through the pulse, then drops
    sine = shape_values(names["sine"], u, w)[0]
    assert abs(sine.min()) < 1e-3 and abs(sine.max() - 1) < 1e-3


def test_trace_is_drawn_where_the_waveform_is() -> None:
    """Each column of an image is brightest at the row of the curve's height (no noise, no blur)."""
    cfg = DataConfig(
        kind="image",
        size=32,
        n_train=20,
        n_test=0,
        noise=0.0,
        classes=("sine", "gaussian"),
        standardize=False,
    )
    rng = np.random.default_rng(0)
    p = draw_params(cfg, 20, rng)
    img = render_images(cfg, p, rng)[:, 0]
    x = (np.arange(32) + 0.5) / 32
    expected_row = (0.5 - waveform(p, cfg.classes, x)) * 32 - 0.5
    assert np.abs(img.argmax(axis=1) - expected_row).mean() < 1.0
    assert img.min() >= 0 and img.max() <= 1


def test_options_change_the_picture() -> None:
    cfg = DataConfig(kind="image", size=32, n_train=40, n_test=0, noise=0.0, standardize=False)
    plain = make_dataset(cfg, 0).x_train
    filled = make_dataset(replace(cfg, fill=True), 0).x_train
    thick = make_dataset(replace(cfg, thickness=3.0), 0).x_train
    blurred = make_dataset(replace(cfg, blur=1.0), 0).x_train
    assert filled.mean() > 2 * plain.mean()
    assert thick.mean() > 1.3 * plain.mean()
    assert blurred.max() < plain.max() and abs(blurred.mean() - plain.mean()) < 0.01


def test_binary_images_are_trace_or_background() -> None:
    cfg = DataConfig(kind="image", size=24, n_train=30, n_test=0, binary=True, noise=0.0, standardize=False)
    x = make_dataset(cfg, 0).x_train
    assert set(np.unique(x)) == {0.0, 1.0}
    assert 0.02 < x.mean() < 0.3  # a thin trace on a dark screen
