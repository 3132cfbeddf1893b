"""The unsupervised reference (analysis/sparse.py, site/reference.py) and the 1-D layer's plain words."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

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
    assert not np.array_equal(a.atoms, sparse.learn(x, 6, (5, 5), seed=4).atoms)


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
    assert spread and all(f"{p:.3f}" in text for p in spread) and f"{len(spread)} of the {weak.sum()} hits" in text
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
        assert all("sparse_coding" not in layer for layer in rest)  # the first layer only
    page = (quick_site / "site" / "runs" / "pulses-2d" / "features.0" / "index.html").read_text()
    assert 'id="sparse-coding"' in page and "sparse-coding.png" in page and "sparse-matches.png" in page
    assert "Olshausen and Field" in page and "phase-randomised surrogates" in page
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
