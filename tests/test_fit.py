"""Long 1-D kernels (fitted families) and the naming rule, with known answers: planted windowed sinusoids and
Gaussian derivatives are found at their parameters, random kernels stay inside the null, a 4,096-tap layer is
analysed in bounded memory, and planted classical detectors get the simplest family's name at their orientation."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from cnnkreport.analysis import fit, scores
from cnnkreport.analysis.bank import FAMILY_ORDER, bank, normalise
from cnnkreport.analysis.matching import NEAR, Matches, match


def gabor(k: int, f: float, c: float, s: float, phase_deg: float) -> np.ndarray:
    t = np.arange(k)
    return np.exp(-(((t - c) / s) ** 2) / 2) * np.cos(2 * np.pi * f * (t - c) + math.radians(phase_deg))


def gauss_derivative(k: int, order: int, c: float, s: float) -> np.ndarray:
    u = (np.arange(k) - c) / s
    return [np.ones_like(u), u, u**2 - 1][order] * np.exp(-(u**2) / 2)


def named(m: Matches, b, i: int = 0):  # noqa: ANN001, ANN202
    return b.templates[m.top[i, 0]]


@pytest.mark.parametrize("k", [65, 512, 2048])
def test_planted_gabors_are_found_at_their_frequency_and_place(k: int) -> None:
    rng = np.random.default_rng(k)
    params = [
        (rng.uniform(1.5 / (k / 8), 0.4), rng.uniform(0.35, 0.65) * k, k / 8, rng.uniform(0, 180)) for _ in range(6)
    ]
    kernels = np.stack([gabor(k, *p) for p in params])
    b = fit.FittedBank(k)
    m = match(kernels, b)
    assert m.score.min() > 0.99
    for i, (f, c, s, _phase) in enumerate(params):
        t = named(m, b, i)
        assert t.family == "gabor"
        code, f_fit, c_fit, s_fit, _ = b.params[m.top[i, 0]]
        assert code == 3 and abs(f_fit - f) < 0.1 / s and abs(c_fit - c) < 0.1 * s and abs(s_fit / s - 1) < 0.1


@pytest.mark.parametrize("k", [100, 1024])
def test_planted_gaussian_derivatives_are_named_smooth_edge_and_line(k: int) -> None:
    b = fit.FittedBank(k)
    for order, family in ((0, "smooth"), (1, "edge"), (2, "line")):
        for s in (2.3, k / 20, k / 7):
            c = 0.4 * k + 3.3
            m = match(gauss_derivative(k, order, c, s)[None], b)
            assert m.score[0] > 0.99, (order, s)
            col = FAMILY_ORDER.index(family)
            assert m.family_scores[0, col] > 0.99
            if order == 0:  # a bump, once zero-mean, is also a ridge (line) of a wider sigma: the simpler name
                assert named(m, b).family in ("line", "smooth")
                assert named(m, b).family == "smooth" or any(
                    b.templates[t].family == "smooth" for t, _ in m.alternatives(0)
                )
            else:
                assert named(m, b).family == family, (order, s, named(m, b))
            _, _, c_fit, s_fit, _ = b.params[m.family[0, col]]
            assert abs(c_fit - c) < max(0.5, 0.05 * s) and abs(s_fit / s - 1) < 0.05


def test_random_long_kernels_land_inside_the_null() -> None:
    k = 300
    null = scores.null_scores(1, (k,), n=400)
    threshold = np.quantile(null, 0.99)
    assert 0.05 < threshold < 0.5  # at this length a random kernel matches no family well
    fresh = scores.random_kernels(1, (k,), 300, seed=99)[:, 0]
    hits = (match(fresh, fit.FittedBank(k)).score > threshold).mean()
    assert hits < 0.04


def test_long_layers_are_fitted_and_short_ones_use_the_bank() -> None:
    assert isinstance(scores.scorer_for((fit.DENSE_MAX_TAPS + 1,)), fit.FittedBank)
    assert not scores.scorer_for((fit.DENSE_MAX_TAPS,)).fitted
    assert not scores.scorer_for((31, 31)).fitted


def test_the_fitted_templates_are_drawn_as_they_were_scored() -> None:
    k = 200
    b = fit.FittedBank(k)
    kernels = np.stack([gabor(k, 0.05, 90, 15, 30), gauss_derivative(k, 1, 120, 9)])
    m = match(kernels, b)
    drawn = b.weights[m.top]  # (2, TOP, k)
    assert drawn.shape == (2, m.top.shape[1], k)
    cos = np.abs(np.einsum("nd,nkd->nk", normalise(kernels), normalise(drawn.reshape(-1, k)).reshape(drawn.shape)))
    assert np.allclose(cos, m.top_scores, atol=1e-4)
    shown = b.display()  # what the bank page shows: examples of every family
    assert {t.family for t in shown.templates} == {"smooth", "edge", "line", "gabor"}


@pytest.mark.slow
def test_4096_taps_in_bounded_memory() -> None:
    """A layer of 4,096-tap filters: analysed, the planted Gabor found, and the peak memory that of a few copies of
    the null's random kernels (2,000 x 4,096 doubles: 66 MB), not of a bank that grows with the length."""
    k = 4096
    rng = np.random.default_rng(0)
    w = rng.normal(size=(1, 3, 1, k)) * 0.01
    w[0, 0, 0] = gabor(k, 0.01, 1900, 250, 0)
    scores.null_scores.cache_clear()
    tracemalloc.start()
    try:
        a = scores.analyse_layer("long", "conv1d", np.array([0]), w)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert a is not None and a.bank.fitted
    assert a.final.score[0] > 0.99 and a.hits[0] and not a.hits[1:].any()
    assert a.surrogate_p[0] < 0.05 and np.isnan(a.surrogate_p[1:]).all()  # the control: for the hit only
    assert peak < 400e6, f"peak {peak / 1e6:.0f} MB"


# --- naming: the simplest of near-equal families, at the planted orientation -------------------------------------


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:n, 0:n].astype(float)
    return x - (n - 1) / 2, (n - 1) / 2 - y


def _oriented(n: int, s: float, theta: float, order: int) -> np.ndarray:
    x, y = _grid(n)
    t = math.radians(theta)
    u = x * math.cos(t) + y * math.sin(t)
    g = np.exp(-(x**2 + y**2) / (2 * s * s))
    return u * g if order == 1 else (u**2 / s**2 - 1) * g


def _angle(a: float, b: float) -> float:
    d = abs(a - b) % 180
    return min(d, 180 - d)


@pytest.mark.parametrize("n", [5, 7, 9, 15, 31])
def test_planted_gaussian_derivatives_are_edges_and_lines_at_their_orientation(n: int) -> None:
    b = bank((n, n))
    cases = [
        (s, th, order)
        for s in (0.8, 1.2, 1.7, 2.6, 4.1)
        if s <= n / 3
        for th in (0, 20, 37, 62, 90, 118, 151)
        for order in (1, 2)
    ]
    m = match(np.stack([_oriented(n, *case) for case in cases]), b)
    for i, (s, th, order) in enumerate(cases):
        t = named(m, b, i)
        assert t.family == ("edge" if order == 1 else "line"), (n, s, th, order, t.label())
        assert _angle(t.orientation_deg, th) <= 15, (n, s, th, order, t.label())


@pytest.mark.parametrize("n", [3, 5, 7, 9])
def test_planted_sobel_and_prewitt_are_edges_at_their_orientation(n: int) -> None:
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)  # increases to the right: 0 degrees
    prewitt = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], float)
    b = bank((n, n))
    for k0 in (sobel, prewitt):
        for quarter, theta in ((0, 0), (1, 90), (2, 0), (3, 90)):
            kernel = np.zeros((n, n))
            m0 = (n - 3) // 2
            kernel[m0 : m0 + 3, m0 : m0 + 3] = np.rot90(k0, quarter)  # rot90: counter-clockwise as displayed
            m = match(kernel[None], b)
            t = named(m, b)
            assert t.family == "edge" and _angle(t.orientation_deg, theta) <= 15, (n, quarter, t.label())


@pytest.mark.parametrize("n", [7, 11, 21])
def test_planted_laplacians_of_gaussian_are_blobs(n: int) -> None:
    b = bank((n, n))
    x, y = _grid(n)
    for s in (0.9, 1.3, 2.2, n / 5):
        for dx in (0.0, 0.5):
            r2 = ((x - dx) ** 2 + y**2) / s**2
            m = match(((r2 - 2) * np.exp(-r2 / 2))[None], b)
            assert named(m, b).family == "blob", (n, s, named(m, b).label())


def test_near_equal_matches_name_the_simplest_family_and_list_the_others() -> None:
    """A family that scores within NEAR of the best names the kernel; the better-scoring one is an alternative."""
    family = np.array([[5, 7, -1, -1, -1, -1, -1, 9]])  # edge, line, ..., gabor
    near = Matches(np.array([0.99]), family, np.array([[0.985, 0.5, 0, 0, 0, 0, 0, 0.99]]))
    assert near.top[0, 0] == 5 and near.alternatives(0) == [(9, 0.99)]
    far = Matches(np.array([0.99]), family, np.array([[0.97, 0.5, 0, 0, 0, 0, 0, 0.99]]))
    assert far.top[0, 0] == 9 and far.alternatives(0) == []
    assert NEAR == 0.01


def test_a_zero_long_kernel_scores_zero_never_nan() -> None:
    k = 300
    w = np.zeros((1, 3, 1, k))
    w[0, 1, 0] = gabor(k, 0.1, 150, 20, 0)
    with np.errstate(divide="raise", invalid="raise"):  # no division by zero or invalid value on the way
        a = scores.analyse_layer("z", "conv1d", np.array([0]), w)
    assert a is not None and a.final.score[0] == 0.0 and a.final.score[2] == 0.0 and a.final.score[1] > 0.99
    assert np.isfinite(a.final.family_scores).all()
