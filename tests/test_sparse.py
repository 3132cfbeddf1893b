"""The unsupervised reference (analysis/sparse.py, site/reference.py) and the 1-D layer's plain words."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnkreport.analysis import report, scores, sparse


def known_atoms(k: int = 12) -> np.ndarray:
    """Four zero-mean unit-norm 1-D atoms: a step, a ramp, a bump and a ripple."""
    t = np.linspace(-1, 1, k)
    atoms = np.stack([np.sign(t), t, np.exp(-8 * t**2), np.cos(6 * t)])
    atoms -= atoms.mean(axis=1, keepdims=True)
    return atoms / np.linalg.norm(atoms, axis=1, keepdims=True)


def test_patches_are_centred_unit_energetic_windows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 1, 20, 20)) * np.linspace(0, 1, 50)[:, None, None, None]  # some samples nearly empty
    p = sparse.patches(x, (5, 5), 1000, rng)
    assert p.shape[1] == 25 and 400 <= p.shape[0] <= 600  # the more energetic half
    assert np.allclose(p.mean(axis=1), 0, atol=1e-5) and np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-5)


def test_sparse_coding_finds_the_atoms_the_data_is_made_of() -> None:
    """Signals made of one or two of four known atoms each: the dictionary learns those four, up to sign."""
    truth = known_atoms()
    rng = np.random.default_rng(1)
    codes = np.zeros((3000, 4))
    for row in codes:
        row[rng.choice(4, size=rng.integers(1, 3), replace=False)] = rng.normal(size=1) * 2 + 0.5
    x = (codes @ truth + 0.01 * rng.normal(size=(3000, truth.shape[1])))[:, None, :]
    learned = sparse.learn(x, 4, (truth.shape[1],), seed=0)
    cos = np.abs(learned.atoms.reshape(4, -1) @ truth.T)
    assert cos.max(axis=0).min() > 0.9, np.round(cos, 2)  # every true atom has a learned one beside it
    assert 0 < learned.sparsity < 0.6 and learned.error < 0.5


def test_the_same_seed_gives_the_same_dictionary() -> None:
    x = np.random.default_rng(2).normal(size=(200, 1, 16, 16))
    a, b = sparse.learn(x, 6, (5, 5), seed=3), sparse.learn(x, 6, (5, 5), seed=3)
    assert a.atoms.shape == (6, 1, 5, 5) and a.atoms.tobytes() == b.atoms.tobytes()
    assert (a.objective, a.change, a.iterations, a.sparsity) == (b.objective, b.change, b.iterations, b.sparsity)
    assert not np.array_equal(a.atoms, sparse.learn(x, 6, (5, 5), seed=4).atoms)


def planted_atoms(k: int = 7) -> np.ndarray:
    """Eight zero-mean unit-norm k x k atoms, (8, k*k): an edge (first derivative) and a line (second derivative)
    of a Gaussian-windowed profile at each of 0, 45, 90 and 135 degrees."""
    c = np.arange(k) - (k - 1) / 2
    yy, xx = np.meshgrid(c, c, indexing="ij")
    atoms = []
    for deg in (0, 45, 90, 135):
        u = xx * np.cos(np.deg2rad(deg)) + yy * np.sin(np.deg2rad(deg))
        window = np.exp(-(u**2) / 2 - (xx**2 + yy**2) / 18)
        atoms += [(u * window).ravel(), ((u**2 - 1) * window).ravel()]
    a = np.stack(atoms)
    a -= a.mean(axis=1, keepdims=True)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def planted_patches(truth: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    """n patches, each one or two of the planted atoms with random signs and weights plus white noise, centred and
    scaled to unit norm as sparse.patches leaves them."""
    rng = np.random.default_rng(seed)
    codes = np.zeros((n, len(truth)))
    for row in codes:
        idx = rng.choice(len(truth), size=rng.integers(1, 3), replace=False)
        row[idx] = rng.choice((-1.0, 1.0), size=len(idx)) * rng.uniform(0.5, 1.5, size=len(idx))
    x = codes @ truth + noise * rng.normal(size=(n, truth.shape[1]))
    x -= x.mean(axis=1, keepdims=True)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_planted_dictionary_of_edges_and_lines_is_recovered_to_convergence(seed: int) -> None:
    """Patches made of eight known oriented edges and lines plus noise: every planted atom has a learned atom
    beside it (|cos| > 0.9, matched one to one), and the objective stopped falling (converged)."""
    truth = planted_atoms()
    x = planted_patches(truth, 4000, 0.1, seed)
    f = sparse.fit(x, len(truth), sparse.ALPHA, seed)
    rows, cols, cos = sparse.matching(truth, f.atoms.T)
    assert sorted(rows) == list(range(8)) and sorted(cols) == list(range(8))
    assert cos.min() > 0.9, np.round(cos, 3)
    assert abs(f.change) < sparse.TOLERANCE and sparse.MIN_ITERATIONS <= len(f.history) <= sparse.MAX_ITERATIONS
    assert np.all(np.diff(f.history) <= 1e-6)  # the objective falls at every iteration
    assert f.history[-1] == pytest.approx(sparse.objective(x, f.atoms, f.codes, sparse.ALPHA))
    assert 0 < (f.codes != 0).mean() < 0.5  # sparse: a few atoms per patch
    again = sparse.fit(x, len(truth), sparse.ALPHA, seed)
    assert again.atoms.tobytes() == f.atoms.tobytes() and np.array_equal(again.history, f.history)


def test_the_objective_and_its_last_tenth() -> None:
    x = planted_patches(planted_atoms(), 50, 0.1, 0)
    d, a = planted_atoms().T, np.zeros((50, 8))
    assert sparse.objective(x, d, a, 0.5) == pytest.approx(0.5)  # unit-norm patches, no codes: |x|^2 / 2
    assert sparse.last_tenth_change(np.array([4.0] * 10 + [2.0] * 10)) == 0
    assert sparse.last_tenth_change(np.linspace(2.0, 1.0, 21)) == pytest.approx(0.1)  # from 1.1 at [-3] to 1.0
    assert sparse.last_tenth_change(np.array([1.0])) == np.inf  # one iteration says nothing


def test_matching_a_permuted_sign_flipped_copy_gives_one() -> None:
    truth = planted_atoms().reshape(8, 1, 7, 7)
    order = np.array([3, 0, 7, 1, 6, 2, 5, 4])
    signs = np.array([1, -1, -1, 1, -1, 1, 1, -1])[:, None, None, None]
    copy = 2.5 * signs * truth[order] + 0.3  # scaled, with an offset: zero-mean unit-norm before matching
    rows, cols, cos = sparse.matching(copy, truth)
    assert np.allclose(cos, 1) and np.array_equal(cols[np.argsort(rows)], order)
    assert sparse.matched_cos(copy, truth) == pytest.approx(1.0)
    assert sparse.matched_cos(np.zeros_like(truth), truth) == 0  # all-zero kernels match nothing, no NaN
    chance = sparse.matched_cos_random(truth)
    assert 0.1 < chance < 0.6 and chance == sparse.matched_cos_random(truth)  # fixed seeds: the same every time
    assert sparse.matched_cos(truth[:3], truth) == pytest.approx(1.0)  # fewer kernels than atoms: min(N, M) pairs


def test_the_methods_page_states_the_rule_the_code_uses() -> None:
    text = (Path(__file__).resolve().parents[1] / "templates" / "methods.html").read_text()
    assert f"&alpha; = {sparse.ALPHA:g} against unit-norm patches" in text
    assert f"less than {100 * sparse.TOLERANCE:g}% over" in text


def smooth_band_pass_layer() -> scores.LayerAnalysis:
    """Eight 31-tap kernels that are windowed cosines spanning the whole kernel: smooth band-pass filters."""
    t = np.arange(31)
    window = np.hanning(31)
    kernels = np.stack([window * np.cos(2 * np.pi * f * t) for f in np.linspace(0.02, 0.06, 8)])[:, None, :]
    rng = np.random.default_rng(0)
    init = rng.normal(size=kernels.shape) * 0.1
    a = scores.analyse_layer("conv1", "conv1d", np.array([0, 100]), np.stack([init, kernels]))
    assert a is not None
    return a


def test_a_1d_layer_of_spread_band_pass_filters_is_said_so_in_plain_words() -> None:
    a = smooth_band_pass_layer()
    weak = a.hits & ~a.controlled_hits
    assert weak.sum() > 0  # the control does not support these hits: the premise of the sentence
    text = report.headline(a)
    assert "In plain words" in text and "band-pass" in text and "not features at one place" in text
    assert "cycles per sample" in text and "Hz" not in text
    shapes = a.filter_shapes or []
    spread = [s.peak_frequency for s, w in zip(shapes, weak, strict=True) if w and s.duration >= 0.1 * 31]
    assert spread and report.peaks_sentence(spread, None) in text and f"{len(spread)} of the {weak.sum()} hits" in text
    assert "Hz)" in report.headline(a, sample_rate=16_000)


def test_localised_hits_get_no_such_sentence() -> None:
    t = np.arange(31)
    kernels = np.zeros((8, 1, 31))
    for i in range(8):  # a short edge at one place in each kernel
        kernels[i, 0, 10 + i : 13 + i] = [-1, 0, 1]
    init = np.random.default_rng(0).normal(size=kernels.shape) * 0.1
    a = scores.analyse_layer("conv1", "conv1d", np.array([0, 100]), np.stack([init, kernels]))
    assert a is not None and t.size == 31
    assert "In plain words" not in report.headline(a)


def test_the_site_sets_sparse_coding_beside_the_first_layer(quick_site: Path) -> None:
    summary = json.loads((quick_site / "site" / "summary.json").read_text())
    for run in summary["runs"]:
        first, rest = run["layers"][0], run["layers"][1:]
        ref = first["sparse_coding"]
        assert ref["atoms"] == len(first["kernels"]) and 0 <= ref["controlled_share"] <= ref["hit_rate"] <= 1
        assert ref["alpha"] == sparse.ALPHA and ref["objective"] > 0 and ref["patches"] > 0
        assert abs(ref["objective_change_last_tenth"]) < sparse.TOLERANCE  # learned to convergence
        assert sparse.MIN_ITERATIONS <= ref["iterations"] <= sparse.MAX_ITERATIONS
        assert 0 <= ref["matched_cos_random"] <= 1 and 0 <= ref["matched_cos"] <= 1
        assert all("sparse_coding" not in layer for layer in rest)  # the first layer only
    page = (quick_site / "site" / "runs" / "pulses-2d" / "features.0" / "index.html").read_text()
    assert 'id="sparse-coding"' in page and "sparse-coding.png" in page and "sparse-matches.png" in page
    assert "Olshausen and Field" in page and "phase-randomised surrogates" in page
    assert "Learned to convergence" in page and "|a|_1" in page and "mean |cos| of" in page
    index = (quick_site / "site" / "index.html").read_text()
    assert "runs/pulses-1d/features.0/sparse-coding.png" in index and "What the data offers" in index


def test_kernels_shrunk_to_nothing_are_named_and_count_as_misses() -> None:
    """Strong weight decay shrinks kernels the network stopped using towards zero, keeping their shape: such a
    kernel is a miss whatever its shape (and an all-zero one is not a division by zero); the layer says how many."""
    kernels = np.zeros((8, 1, 31))
    for i in range(8):  # eight short edges at one place each ...
        kernels[i, 0, 10 + i : 13 + i] = [-1, 0, 1]
    kernels[5] *= 1e-8  # ... two shrunk to nothing, with their shape kept
    kernels[6] *= 1e-6
    kernels[7] = 0.0  # and one exactly zero
    init = np.random.default_rng(0).normal(size=kernels.shape) * 0.1
    a = scores.analyse_layer("conv1", "conv1d", np.array([0, 100]), np.stack([init, kernels]))
    assert a is not None
    assert a.negligible.tolist() == [False] * 5 + [True] * 3
    assert (a.final.score[5:7] > a.threshold).all()  # their shape still matches ...
    assert a.hits[:5].all() and not a.hits[5:].any() and a.final.score[7] == 0  # ... but they are misses
    assert "3 of the 8 kernels shrank to nothing in training" in report.headline(a)
    assert "shrank to nothing" not in report.headline(smooth_band_pass_layer())
    peak = np.abs(kernels).reshape(8, -1).max(axis=1)
    peak[5] = peak[0] * 1e-3  # small but alive: not negligible
    assert not scores.negligible(peak)[5] and scores.negligible(np.zeros(3)).all()
    over = a.hits_over_training  # at each snapshot: at initialisation none is negligible
    assert over.shape == (2, 8) and (over[-1] == a.hits).all()
