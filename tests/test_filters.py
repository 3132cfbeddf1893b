"""filters.py against closed forms, PyTorch and direct loops; filter_figures.py renders and saves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from PIL import Image

from cnnkreport.analysis import filters as fl
from cnnkreport.draw import filter_figures as ff
from cnnkreport.draw.figures import save

RNG = np.random.default_rng(7)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")  # torch's note


# --- 1-D frequency response ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("w", "expected"),
    [
        ([-1.0, 0.0, 1.0], lambda f: 2 * np.abs(np.sin(2 * np.pi * f))),  # central difference
        ([1.0, -2.0, 1.0], lambda f: 4 * np.sin(np.pi * f) ** 2),  # second difference
        ([1 / 3, 1 / 3, 1 / 3], lambda f: np.abs(1 + 2 * np.cos(2 * np.pi * f)) / 3),  # box
    ],
)
def test_magnitude_closed_forms(w: list[float], expected: Callable[[np.ndarray], np.ndarray]) -> None:
    r = fl.frequency_response_1d(np.array(w), n=101)
    assert r.freq.shape == (101,) and r.freq[0] == 0.0 and r.freq[-1] == 0.5
    np.testing.assert_allclose(r.magnitude, expected(r.freq), atol=1e-6)
    np.testing.assert_allclose(r.magnitude_db, 20 * np.log10(np.maximum(r.magnitude, 1e-6)), atol=1e-9)


def test_db_is_floored_not_minus_infinity() -> None:
    r = fl.frequency_response_1d(np.array([0.5, 0.5]), n=11)  # zero at f = 0.5
    assert np.isfinite(r.magnitude_db).all() and r.magnitude_db[-1] == pytest.approx(fl.DB_FLOOR)


@pytest.mark.parametrize("k", [4, 5])
@pytest.mark.parametrize("centred", [True, False])
def test_response_is_the_correlation_dft(k: int, centred: bool) -> None:
    """H(f) = sum_j w[j] e^{+i 2 pi f (j - c)}: conjugate of the DFT (no flip), origin c = (k-1)//2 or 0."""
    w = RNG.normal(size=k)
    r = fl.frequency_response_1d(w, n=64, centred=centred)
    c = (k - 1) // 2 if centred else 0
    direct = np.exp(2j * np.pi * r.freq[:, None] * (np.arange(k) - c)[None, :]) @ w
    np.testing.assert_allclose(r.magnitude * np.exp(1j * r.phase), direct, atol=1e-9)


def test_phase_sign_antisymmetric_and_symmetric() -> None:
    r = fl.frequency_response_1d(np.array([-1.0, 0.0, 1.0]), n=65)
    inner = slice(1, -1)  # H = 0 at f = 0 and 0.5
    np.testing.assert_allclose(r.phase[inner], np.pi / 2, atol=1e-9)  # H = 2i sin(2 pi f): +pi/2
    flipped = fl.frequency_response_1d(np.array([1.0, 0.0, -1.0]), n=65)
    np.testing.assert_allclose(flipped.phase[inner], -np.pi / 2, atol=1e-9)
    sym = fl.frequency_response_1d(np.array([0.25, 0.5, 0.25]), n=65)  # H = cos^2(pi f) >= 0: zero phase
    np.testing.assert_allclose(sym.phase[:-1], 0.0, atol=1e-9)
    uncentred = fl.frequency_response_1d(np.array([-1.0, 0.0, 1.0]), n=65, centred=False)
    np.testing.assert_allclose(uncentred.phase[inner], np.pi / 2 + 2 * np.pi * r.freq[inner], atol=1e-9)


@pytest.mark.parametrize("k", [4, 7])
def test_phase_is_what_the_layer_does_to_a_cosine(k: int) -> None:
    """cos(2 pi f0 n) through respond_1d (= the layer) comes out as |H| cos(2 pi f0 n + phase) away from the ends."""
    w = RNG.normal(size=k)
    r = fl.frequency_response_1d(w, n=51)  # frequency step 0.01
    i = 13
    f0 = r.freq[i]
    n = np.arange(200)
    y = fl.respond_1d(w, np.cos(2 * np.pi * f0 * n))
    expected = r.magnitude[i] * np.cos(2 * np.pi * f0 * n + r.phase[i])
    np.testing.assert_allclose(y[k:-k], expected[k:-k], atol=1e-9)


def test_reference_responses() -> None:
    refs = fl.reference_responses_1d(33)
    f = np.linspace(0, 0.5, 33)
    np.testing.assert_allclose(refs["1st difference"], np.sin(np.pi * f), atol=1e-9)
    np.testing.assert_allclose(refs["2nd difference"], np.sin(np.pi * f) ** 2, atol=1e-9)


# --- 2-D frequency response ------------------------------------------------------------------------------------


def test_frequency_response_2d_axes_and_dc() -> None:
    w = RNG.normal(size=(5, 5))
    r = fl.frequency_response_2d(w)
    assert r.magnitude.shape == (32, 32) and r.fx.shape == r.fy.shape == (32,)
    assert r.fx[0] == -0.5 and r.fx[16] == 0.0 and np.all(np.diff(r.fy) > 0)
    assert r.magnitude[16, 16] == pytest.approx(abs(w.sum()))
    assert fl.frequency_response_2d(w, pad=3).magnitude.shape == (5, 5)  # pad grows to the kernel
    neg = (32 - np.arange(32)) % 32  # index of -f (f = -0.5 is its own alias)
    np.testing.assert_allclose(r.magnitude, r.magnitude[np.ix_(neg, neg)], atol=1e-12)  # |H(f)| = |H(-f)|


def test_frequency_response_2d_orientation() -> None:
    """Stripes whose normal points right and up (rows count down) peak at +-(fx0, fy0), not at (fx0, -fy0)."""
    row, col = np.mgrid[0:16, 0:16]
    fx0, fy0 = 2 / 16, 3 / 16
    r = fl.frequency_response_2d(np.cos(2 * np.pi * (fx0 * col - fy0 * row)), pad=16)
    i, j = np.unravel_index(np.argmax(r.magnitude), r.magnitude.shape)
    assert (r.fy[i], r.fx[j]) in ((fy0, fx0), (-fy0, -fx0))
    assert r.magnitude[np.searchsorted(r.fy, fy0), np.searchsorted(r.fx, fx0)] == pytest.approx(128.0)
    assert r.magnitude[np.searchsorted(r.fy, -fy0), np.searchsorted(r.fx, fx0)] == pytest.approx(0.0, abs=1e-9)


# --- responses -------------------------------------------------------------------------------------------------


def test_test_signals() -> None:
    s = fl.test_signals(64)
    assert list(s) == ["sine", "square", "triangle", "sawtooth", "gaussian"]
    for x in s.values():
        assert x.shape == (64,) and np.isfinite(x).all() and 0.9 <= np.abs(x).max() <= 1.0
    assert all(np.array_equal(a, b) for a, b in zip(s.values(), fl.test_signals(64).values(), strict=True))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8, 9])
def test_respond_1d_matches_torch_same_padding(k: int) -> None:
    """Even k included: PyTorch pads (k - 1) // 2 on the left and the rest on the right."""
    w, x = RNG.normal(size=k), RNG.normal(size=37)
    ref = F.conv1d(torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None], padding="same")
    np.testing.assert_allclose(fl.respond_1d(w, x), ref[0, 0].numpy(), atol=1e-5)


def test_feature_maps_match_torch() -> None:
    for k in (3, 4):
        w = RNG.normal(size=(3, 2, k, k)).astype(np.float32)
        x = RNG.normal(size=(2, 2, 11, 13)).astype(np.float32)
        ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same").numpy()
        out = fl.feature_maps_2d(w, x)
        assert out.shape == (2, 3, 11, 13) and out.dtype == np.float32
        np.testing.assert_allclose(out, ref, atol=1e-5)


def test_vertical_edge_kernel_lights_up_vertical_edges() -> None:
    img = np.zeros((1, 1, 20, 20), dtype=np.float32)
    img[0, 0, 5:15, 6:14] = 1.0  # a bright square pulse: left edge at column 6, right edge after column 13
    edge = np.array([[-1, 0, 1]] * 3, dtype=np.float32)[None, None]  # brighter to the right -> positive
    m = fl.feature_maps_2d(edge, img)[0, 0]
    assert m.shape == (20, 20)
    assert np.all(m[7:13, 5:7] == 3) and np.all(m[7:13, 13:15] == -3)  # along the two vertical edges
    assert np.all(m[7:13, 7:13] == 0) and np.all(m[:, :4] == 0)  # flat inside and outside
    assert np.all(m[5, 8:12] == 0)  # horizontal edges (away from the corners) do not respond


# --- channel views and input space -----------------------------------------------------------------------------


def test_channel_views() -> None:
    w = RNG.normal(size=(4, 3, 5))
    v = fl.channel_views_1d(w)
    assert v.weights.shape == (4, 3, 5) and v.sum.shape == v.mean.shape == (4, 5)
    np.testing.assert_allclose(v.sum, w[:, 0] + w[:, 1] + w[:, 2])
    np.testing.assert_allclose(v.mean, v.sum / 3)


def _input_space_loop(w2: np.ndarray, w1: np.ndarray, s: int) -> np.ndarray:
    """V_j = sum_c sum_p w2[j, c, p] shift(w1[c], s p), summed over w1's input channels: the definition."""
    k1, k2 = w1.shape[-1], w2.shape[-1]
    size = (k2 - 1) * s + k1
    v = np.zeros((w2.shape[0], size, size))
    for j in range(w2.shape[0]):
        for c in range(w2.shape[1]):
            for p in range(k2):
                for q in range(k2):
                    v[j, s * p : s * p + k1, s * q : s * q + k1] += w2[j, c, p, q] * w1[c].sum(axis=0)
    return v


@pytest.mark.parametrize(("stride", "in1"), [(2, 1), (1, 1), (3, 2)])
def test_input_space_2d_matches_loop(stride: int, in1: int) -> None:
    w1, w2 = RNG.normal(size=(3, in1, 4, 4)), RNG.normal(size=(5, 3, 3, 3))
    v = fl.input_space_2d(w2, w1, stride)
    assert v.shape == (5, 2 * stride + 4, 2 * stride + 4)
    np.testing.assert_allclose(v, _input_space_loop(w2, w1, stride), atol=1e-12)


def test_input_space_2d_is_the_linear_two_layer_net() -> None:
    """conv(w1), keep every 2nd sample (pooling as stride), conv(w2)  ==  one conv with V at stride 2."""
    t = torch.from_numpy
    x = RNG.normal(size=(2, 1, 20, 20))
    w1, w2 = RNG.normal(size=(3, 1, 5, 5)), RNG.normal(size=(4, 3, 3, 3))
    two_layers = F.conv2d(F.conv2d(t(x), t(w1))[:, :, ::2, ::2], t(w2))  # (2, 4, 6, 6)
    one = F.conv2d(t(x), t(fl.input_space_2d(w2, w1))[:, None], stride=2)
    assert one.shape == two_layers.shape == (2, 4, 6, 6)
    np.testing.assert_allclose(one.numpy(), two_layers.numpy(), atol=1e-10)


def test_input_space_1d() -> None:
    w1, w2 = RNG.normal(size=(3, 1, 5)), RNG.normal(size=(4, 3, 9))
    v = fl.input_space_1d(w2, w1)
    assert v.shape == (4, 8 * 2 + 5)
    loop = np.zeros_like(v)
    for j in range(4):
        for c in range(3):
            for p in range(9):
                loop[j, 2 * p : 2 * p + 5] += w2[j, c, p] * w1[c, 0]
    np.testing.assert_allclose(v, loop, atol=1e-12)
    x = torch.from_numpy(RNG.normal(size=(1, 1, 40)))
    two_layers = F.conv1d(F.conv1d(x, torch.from_numpy(w1))[:, :, ::2], torch.from_numpy(w2))
    np.testing.assert_allclose(F.conv1d(x, torch.from_numpy(v)[:, None], stride=2), two_layers, atol=1e-10)
    with pytest.raises(ValueError):
        fl.input_space_1d(w2, RNG.normal(size=(2, 1, 5)))  # w2 expects 3 channels


# --- figures ---------------------------------------------------------------------------------------------------


def _filterbank(kernels: np.ndarray) -> Figure:
    responses = [fl.frequency_response_1d(k) for k in kernels]
    shapes = [fl.describe_1d(k) for k in kernels]
    return ff.filterbank_figure(shapes, np.stack([r.magnitude_db for r in responses]), responses[0].freq)


def test_the_filterbank_view_sorts_the_kernels_by_peak_frequency() -> None:
    """Kernels given in a shuffled order are drawn sorted: the heat map's rows peak at rising frequencies."""
    n = np.arange(63)
    cycles = np.array([0.3, 0.05, 0.2, 0.1, 0.4])
    kernels = np.hanning(63) * np.cos(2 * np.pi * cycles[:, None] * n)
    fig = _filterbank(kernels)
    rows = fig.axes[2].images[0].get_array()
    freq = np.linspace(0, 0.5, rows.shape[1])
    assert np.allclose(freq[np.argmax(rows, axis=1)], np.sort(cycles), atol=0.01)
    peaks = fig.axes[0].lines[0].get_ydata()
    assert np.all(np.diff(peaks) > 0)


def _figures() -> list[tuple[str, Callable[[], Figure], int]]:
    """(name, make the figure from a small input, expected number of axes)."""
    k1, k2, c1 = RNG.normal(size=(5, 5)), RNG.normal(size=(3, 5, 5)), RNG.normal(size=(3, 2, 5))
    maps, images = RNG.normal(size=(2, 3, 8, 8)), RNG.random(size=(2, 1, 8, 8))
    return [
        ("freq1d", lambda: ff.frequency_response_1d_figure(k1), 1),  # one axes: every panel drawn into it
        ("freq1d_labels", lambda: ff.frequency_response_1d_figure(k1[:2], ["a", "b"]), 1),
        ("freq2d", lambda: ff.frequency_response_2d_figure(k2), 2),  # one image of tiles + the colour bar
        ("maps", lambda: ff.feature_maps_figure(maps, images, ["square", "sine"]), 1),  # a Canvas
        ("signals_layer", lambda: ff.signal_responses_figure(RNG.normal(size=(6, 9)), fl.test_signals(64)), 5),
        ("combined", lambda: ff.channel_combined_figure(c1), 2),
        ("input_space_2d", lambda: ff.input_space_figure(k2), 1),
        ("input_space_1d", lambda: ff.input_space_figure(k1), 1),
        ("filterbank", lambda: _filterbank(k1), 4),  # peaks, bandwidths, heat map + its colour bar
    ]


@pytest.mark.parametrize(("name", "make", "n_axes"), _figures(), ids=[f[0] for f in _figures()])
def test_figure_renders_and_saves(name: str, make: Callable[[], Figure], n_axes: int, tmp_path: Path) -> None:
    fig = make()
    assert isinstance(fig, Figure) and len(fig.axes) == n_axes
    path = tmp_path / f"{name}.png"
    save(fig, path, dpi=60)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 50
        im.verify()


def test_channel_grid_is_a_row_per_channel_and_a_column_per_filter() -> None:
    from cnnkreport.draw.compact import channel_grid

    img = channel_grid(RNG.normal(size=(5, 3, 9)))  # 5 filters, 3 input channels
    one = channel_grid(RNG.normal(size=(1, 1, 9)))
    tile_h, tile_w = one.shape[0] - 6, one.shape[1] - 6  # one tile inside its 3-px margins
    assert img.shape == (3 * (tile_h + 3) + 3, 5 * (tile_w + 3) + 3)


# --- every 1-D kernel as a filter: known answers ------------------------------------------------------------------


@pytest.mark.parametrize("taps", [31, 64, 257, 1024])
@pytest.mark.parametrize("cycles", [0.05, 0.13, 0.31, 0.44])
def test_a_windowed_cosine_peaks_at_its_frequency_and_is_band_pass(taps: int, cycles: float) -> None:
    n = np.arange(taps)
    shape = fl.describe_1d(np.hanning(taps) * np.cos(2 * np.pi * cycles * n + 0.4))
    assert abs(shape.peak_frequency - cycles) <= 0.5 / taps  # within half an FFT bin of the kernel's length
    assert shape.filter_type == "band-pass"
    assert 0 < shape.bandwidth < 8 / taps  # a Hann window's main lobe is 4 bins wide; its -3 dB band narrower
    assert abs(shape.centre - (taps - 1) / 2) < 0.5  # a symmetric window lives in the middle


def test_a_moving_average_is_low_pass_and_a_first_difference_high_pass() -> None:
    average = fl.describe_1d(np.ones(9) / 9)
    assert average.filter_type == "low-pass" and average.peak_frequency == 0.0
    assert 0.04 < average.bandwidth < 0.06  # |sin(9 pi f) / (9 sin(pi f))| = 1/sqrt(2) near f = 0.049
    difference = fl.describe_1d(np.array([-1.0, 1.0]))
    assert difference.filter_type == "high-pass" and difference.peak_frequency == 0.5
    assert difference.bandwidth == pytest.approx(0.25, abs=1e-3)  # |sin(pi f)| >= 1/sqrt(2) from f = 0.25
    assert fl.describe_1d(np.array([1.0, 0.0, 1.0])).filter_type == "band-stop"  # |2 cos(2 pi f)|: a notch at 0.25
    assert fl.describe_1d(np.array([0.0, 3.0, 0.0])).filter_type == "all-pass"


def test_a_hann_windowed_stft_basis_peaks_at_i_over_n_in_order() -> None:
    size = 256
    n = np.arange(size)
    peaks = [fl.describe_1d(np.hanning(size) * np.cos(2 * np.pi * i * n / size)).peak_frequency for i in range(1, 64)]
    assert np.all(np.abs(np.array(peaks) - np.arange(1, 64) / size) <= 0.5 / size)
    assert peaks == sorted(peaks)


def test_a_constant_q_bank_keeps_the_ratio_of_neighbouring_peaks() -> None:
    """Gabor filters with b bins per octave: neighbouring peaks in the ratio 2^(1/b), each a few cycles long."""
    bins, taps = 12, 2048
    n = np.arange(taps) - taps / 2
    centres = 0.01 * 2 ** (np.arange(36) / bins)
    peaks = []
    for f in centres:
        sigma = 4 / f  # four periods: constant Q
        peaks.append(fl.describe_1d(np.exp(-0.5 * (n / sigma) ** 2) * np.cos(2 * np.pi * f * n)).peak_frequency)
    ratios = np.array(peaks[1:]) / np.array(peaks[:-1])
    assert np.allclose(ratios, 2 ** (1 / bins), rtol=2e-3)


def test_a_zero_kernel_is_zero_never_nan() -> None:
    for taps in (1, 2, 9, 4096):
        shape = fl.describe_1d(np.zeros(taps))
        assert shape == fl.FilterShape(0.0, 0.0, "zero", 0.0, 0.0)


def test_where_in_time_a_kernel_lives() -> None:
    spike = np.zeros(101)
    spike[70] = -2.0
    shape = fl.describe_1d(spike)
    assert shape.centre == 70.0 and shape.duration == 0.0 and shape.filter_type == "all-pass"
    two = np.zeros(101)
    two[[10, 30]] = 1.0
    assert fl.describe_1d(two).centre == 20.0 and fl.describe_1d(two).duration == 10.0


def test_a_4096_tap_kernel_is_described_quickly_in_bounded_memory() -> None:
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(64, 4096))
    shapes = [fl.describe_1d(k) for k in bank]  # a 32,768-point FFT each
    assert all(0 <= s.peak_frequency <= 0.5 and s.bandwidth > 0 for s in shapes)
