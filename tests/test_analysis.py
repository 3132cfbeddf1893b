"""The kernel analysis finds what is planted, sees nothing in noise, and reports honest baselines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from cnnkreport.analysis import scores
from cnnkreport.analysis.bank import FAMILY_ORDER, bank, normalise
from cnnkreport.analysis.scores import analyse_layer, claims_possible, kernel_shape, match, null_scores

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
PREWITT_X = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], float)
LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float)
LINE_H = np.array([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]], float)


def embed(small: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((size, size))
    o = (size - small.shape[0]) // 2
    out[o : o + small.shape[0], o : o + small.shape[1]] = small
    return out


def best(kernel: np.ndarray):  # type: ignore[no-untyped-def]
    b = bank(kernel.shape)
    m = match(kernel[None], b)
    return m.score[0], b.templates[m.top[0, 0]]


@pytest.mark.parametrize("size", [5, 7])
@pytest.mark.parametrize(
    ("kernel", "family", "orientation"),
    [
        (SOBEL_X, "edge", 0.0),
        (np.rot90(SOBEL_X), "edge", 90.0),  # bright at the top: intensity increases upwards
        (-SOBEL_X, "edge", 0.0),  # sign-invariant
        (PREWITT_X, "edge", 0.0),
        (np.array([[0, 1, 1], [-1, 0, 1], [-1, -1, 0]], float), "edge", 45.0),
        (LAPLACIAN, "blob", None),
        (LINE_H, "line", 90.0),
        (np.rot90(LINE_H), "line", 0.0),
    ],
)
def test_planted_classics_are_found(size: int, kernel: np.ndarray, family: str, orientation: float | None) -> None:
    score, t = best(embed(kernel, size))
    assert score >= 0.99
    assert t.family == family and t.orientation_deg == orientation


def test_planted_1d_differences_are_found() -> None:
    for small, family, name in (([-1, 0, 1], "edge", "central-difference"), ([1, -2, 1], "line", "second-difference")):
        k = np.zeros(11)
        k[4:7] = small
        score, t = best(k)
        assert score >= 0.99 and t.family == family and t.name == name


def test_orientation_convention_of_generated_edges() -> None:
    b = bank((7, 7))
    checked = []
    for t, w in zip(b.templates, b.weights, strict=True):
        if t.name == "derivative-of-gaussian" and t.detail == "offset (0, 0)" and t.scale == 1.0:
            if t.orientation_deg == 0:
                assert w[:, -1].sum() > 0 > w[:, 0].sum()  # increases to the right
                checked.append(0)
            if t.orientation_deg == 90:
                assert w[0].sum() > 0 > w[-1].sum()  # increases upwards (row 0 is the top)
                checked.append(90)
    assert sorted(checked) == [0, 90]  # each centred edge was found (a change of name, detail or scale fails here)


@pytest.mark.parametrize("energy", [0.9, 0.7, 0.5])
def test_noise_at_a_known_energy_fraction(energy: float) -> None:
    """A detector plus orthogonal noise carrying (1 - energy) of the energy scores about sqrt(energy)."""
    rng = np.random.default_rng(1)
    b = bank((9, 9))
    t = next(i for i, x in enumerate(b.templates) if x.name == "derivative-of-gaussian" and x.orientation_deg == 30)
    signal = b.matrix[t]
    for _ in range(5):
        noise = normalise(rng.normal(size=(1, 81)))[0]
        noise = noise - (noise @ signal) * signal
        noise /= np.linalg.norm(noise)
        k = np.sqrt(energy) * signal + np.sqrt(1 - energy) * noise
        m = match(k.reshape(1, 9, 9), b)
        assert np.sqrt(energy) - 1e-9 <= m.score[0] <= np.sqrt(energy) + 0.06
        assert b.templates[m.top[0, 0]].family in ("edge", "gabor")


@pytest.mark.parametrize(("in_channels", "kshape"), [(1, (5, 5)), (1, (7, 7)), (8, (5, 5)), (1, (11,))])
def test_random_kernels_land_inside_the_null(in_channels: int, kshape: tuple[int, ...]) -> None:
    null = null_scores(in_channels, kshape)
    threshold = np.quantile(null, 0.99)
    fresh = scores.random_kernels(in_channels, kshape, 600, seed=12345).sum(axis=1)
    fresh_scores = match(fresh, bank(kshape)).score
    assert (fresh_scores > threshold).mean() < 0.03  # about 1% by construction
    assert abs(np.median(fresh_scores) - np.median(null)) < 0.03


def test_null_is_deterministic_and_cached() -> None:
    null_scores.cache_clear()
    a = null_scores(1, (6, 6))
    assert null_scores(1, (6, 6)) is a  # the second call is the cached array itself, not a recomputation
    info = null_scores.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    null_scores.cache_clear()
    again = null_scores(1, (6, 6))
    assert again is not a and np.array_equal(a, again)  # computed afresh, to the same numbers


def test_smoothness_control_separates_smooth_from_edge() -> None:
    """Blurred noise scores high against smooth templates but no better than its phase-randomised surrogates;
    a planted edge detector beats its surrogates."""
    rng = np.random.default_rng(3)
    b = bank((7, 7))
    smooth = np.stack([gaussian_filter(rng.normal(size=(7, 7)), 1.5) for _ in range(12)])
    m = match(smooth, b)
    p_smooth = scores.surrogate_p(smooth, b, m.score, n=60)
    edge = embed(SOBEL_X, 7)[None] + 0.05 * rng.normal(size=(1, 7, 7))
    p_edge = scores.surrogate_p(edge, b, match(edge, b).score, n=60)
    assert np.median(m.score) > 0.75  # smooth kernels do look detector-like by r* alone
    assert np.median(p_smooth) > 0.05
    assert p_edge[0] < 0.05


def test_the_localisation_control_rejects_random_weights_under_an_envelope() -> None:
    """Random weights under a narrow Gaussian envelope beat the random null and their phase-randomised surrogates
    (the surrogates are spread out), but not their sign-randomised ones; a planted edge detector beats both."""
    rng = np.random.default_rng(5)
    b = bank((7, 7))
    y, x = np.mgrid[-3:4, -3:4]
    enveloped = rng.normal(size=(40, 7, 7)) * np.exp(-(x**2 + y**2) / (2 * 1.5**2))
    r = match(enveloped, b).score
    threshold = scores.null_threshold(null_scores(1, (7, 7)))
    phase = scores.controlled_p(enveloped, b, r, threshold)
    assert (r > threshold).mean() > 0.8 and (phase < 0.05).mean() > 0.8  # the null and the phase control pass it
    sign = scores.localised_p(enveloped, b, r, phase)
    assert np.isnan(sign[~(phase < 0.05)]).all()  # tested only where the smoothness control passed
    assert (sign < 0.05).mean() < 0.2  # about the test's own false-positive rate
    edge = embed(SOBEL_X, 7)[None] + 0.05 * rng.normal(size=(1, 7, 7))
    score = match(edge, b).score
    assert scores.localised_p(edge, b, score, scores.controlled_p(edge, b, score, threshold))[0] < 0.05
    signs = scores.sign_surrogates(edge[0], 50, rng)
    assert np.allclose(np.abs(signs), np.abs(edge[0])) and not np.allclose(signs, edge[0])


def test_the_control_is_strict_with_lines_across_the_whole_kernel() -> None:
    """What the methods page and docs/recipe.md say (bench/control_ideal.py): a perfect line across a 7x7 kernel
    sits on the control's threshold (about 5% of its surrogates match it as well), while the same line five pixels
    long and an edge across the whole kernel pass clearly."""
    b = bank((7, 7))
    whole, short, edge = np.zeros((7, 7)), np.zeros((7, 7)), np.zeros((7, 7))
    whole[3], whole[2], whole[4] = 1.0, -0.5, -0.5
    short[2:5, 1:6] = whole[2:5, 1:6]
    edge[:3], edge[4:] = -1.0, 1.0
    r = match(whole[None], b).score
    many = scores.best_scores(scores.phase_surrogates(whole, 1000, np.random.default_rng(1)), b)
    assert r[0] > 0.85 and 0.03 <= float((many >= r[0] - 1e-12).mean()) <= 0.07
    for k in (short, edge):
        assert scores.surrogate_p(k[None], b, match(k[None], b).score)[0] < 0.02


@pytest.mark.parametrize("shape", [(6, 5), (7, 7), (9,), (8,)])
def test_phase_surrogates_keep_the_amplitude_spectrum(shape: tuple[int, ...]) -> None:
    k = np.random.default_rng(0).normal(size=shape)
    sur = scores.phase_surrogates(k, 10, np.random.default_rng(1))
    axes = tuple(range(1, len(shape) + 1))
    assert sur.shape == (10, *shape)
    assert np.allclose(np.abs(np.fft.fftn(sur, axes=axes)), np.abs(np.fft.fftn(k))[None], atol=1e-9)
    assert np.allclose(sur.mean(axis=axes), k.mean())
    assert not np.allclose(sur[0], k)  # and the shape is scrambled


def test_where_no_claim_is_possible() -> None:
    assert not claims_possible((3, 3))[0] and claims_possible((5, 5))[0]
    assert not claims_possible((8,))[0] and claims_possible((9,))[0]
    assert kernel_shape((16, 1, 9, 1)) == (9,) and kernel_shape((16, 1, 1, 9)) == (9,)
    assert kernel_shape((16, 3, 5, 5)) == (5, 5)


def test_a_layer_that_becomes_detectors() -> None:
    """Snapshots from random initialisation to planted detectors: hit rate 0 -> 1, kappa near 1, significant."""
    rng = np.random.default_rng(5)
    init = scores.random_kernels(1, (7, 7), 12, seed=9)  # (12, 1, 7, 7)
    b = bank((7, 7))
    targets = b.weights[rng.choice(len(b), 12, replace=False)]
    targets = targets / np.abs(targets).max(axis=(1, 2), keepdims=True) * 0.2
    steps = np.array([0, 10, 100])
    w = np.stack([init, 0.5 * init + 0.5 * targets[:, None], targets[:, None]])
    a = analyse_layer("conv", "conv2d", steps, w)
    assert a is not None and a.claims_possible
    assert a.hit_rate == 1.0 and a.hit_rate_at_init is not None and a.hit_rate_at_init <= 1 / 12
    assert a.kappa is not None and a.kappa > 0.95
    assert a.paired is not None and a.paired[1] is not None and a.paired[1] < 0.01
    assert a.scores.shape == (3, 12) and np.all(a.scores[-1] > 0.999)
    assert a.added is not None


def test_multichannel_layers_are_scored_on_channel_sums_and_per_channel() -> None:
    w = scores.random_kernels(4, (5, 5), 6, seed=2)[None]  # (1, 6, 4, 5, 5): one snapshot, no init
    a = analyse_layer("conv", "conv2d", np.array([7]), w)
    assert a is not None and a.init is None and a.kappa is None and a.hit_rate_at_init is None
    assert a.per_channel is not None and a.per_channel.shape == (6, 4)
    assert np.allclose(a.final.score, match(w[0].sum(axis=1), bank((5, 5))).score)


def test_banks_are_generated_for_any_size() -> None:
    for shape in [(4, 4), (6, 6), (5, 7), (8,), (10,), (16,)]:
        b = bank(shape)
        assert len(b) > 50 and b.weights.shape[1:] == shape
        assert {t.family for t in b.templates} <= set(FAMILY_ORDER)
        for t in b.templates:
            assert t.orientation_deg is None or 0 <= t.orientation_deg < 180
            if len(shape) == 1:
                assert t.orientation_deg is None
        gram = np.abs(b.matrix @ b.matrix.T)
        np.fill_diagonal(gram, 0)
        assert gram.max() < 0.9999  # no template twice
    families_2d = {t.family for t in bank((7, 7)).templates}
    assert families_2d == set(FAMILY_ORDER)
    orientations = {t.orientation_deg for t in bank((7, 7)).templates if t.name == "derivative-of-gaussian"}
    assert orientations == set(np.arange(0, 180, 15).astype(float))
