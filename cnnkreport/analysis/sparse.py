"""The unsupervised reference: a sparse-coding dictionary of the run's own data, learned as Olshausen and Field
(1996) learned theirs and as Lee et al. (2009) learned their first layer's bases, with no labels.

Patches of the training data (the size of the first layer's kernels, the ones with the most signal in them, each
with its mean removed and scaled to unit norm) are reconstructed as sparse combinations of as many unit-norm atoms
as the first layer has kernels: minimise |x - D a|^2 / 2 + l1 |a|_1 over the codes a (ISTA, a few dozen
iterations) and the atoms D (a gradient step, then each atom back to unit norm), on mini-batches, in numpy (a
fraction of a second). The atoms are then scored exactly as the CNN's kernels are. They say what the data
itself offers to be found: if sparse coding finds edge and line detectors that pass the smoothness control, the
data holds them, and the CNN's first layer can be read against that; if it does not, neither should the CNN be
expected to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PATCHES = 20_000  # patches drawn from the training data (the most energetic half is kept)
STEPS = 300  # dictionary updates
BATCH = 256
ISTA_ITERATIONS = 40
L1 = 0.15  # sparsity weight against unit-norm patches: a few atoms per patch
LEARNING_RATE = 0.5


@dataclass(frozen=True)
class Dictionary:
    atoms: np.ndarray  # (N, 1, *kshape), unit norm, like a first layer's weights
    sparsity: float  # mean share of non-zero codes per patch on the last batches
    error: float  # mean relative reconstruction error |x - D a| / |x| on the last batches


def patches(x: np.ndarray, kshape: tuple[int, ...], count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, prod(kshape)) patches of the samples x (n, 1, *size) at random places, the most energetic half
    kept, each with its mean removed and scaled to unit norm."""
    n = x.shape[0]
    spatial = x.shape[2:]
    starts = [rng.integers(0, s - k + 1, size=count) for s, k in zip(spatial, kshape, strict=True)]
    which = rng.integers(0, n, size=count)
    if len(kshape) == 1:
        offsets = np.arange(kshape[0])
        p = x[which[:, None], 0, starts[0][:, None] + offsets]
    else:
        rows = starts[0][:, None, None] + np.arange(kshape[0])[None, :, None]
        cols = starts[1][:, None, None] + np.arange(kshape[1])[None, None, :]
        p = x[which[:, None, None], 0, rows, cols]
    p = p.reshape(count, -1).astype(np.float64)
    p -= p.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(p, axis=1)
    keep = norms >= np.median(norms)
    p, norms = p[keep], norms[keep]
    return (p / np.maximum(norms[:, None], 1e-12)).astype(np.float32)


def _codes(x: np.ndarray, d: np.ndarray, l1: float, iterations: int) -> np.ndarray:
    """ISTA: the sparse codes (B, N) of x (B, D) in the dictionary d (D, N)."""
    step = 1.0 / float(np.linalg.norm(d, ord=2) ** 2)
    a = np.zeros((x.shape[0], d.shape[1]), dtype=x.dtype)
    dtx = x @ d
    gram = d.T @ d
    for _ in range(iterations):
        a = a + step * (dtx - a @ gram)
        a = np.sign(a) * np.maximum(np.abs(a) - step * l1, 0.0)
    return a


def learn(x: np.ndarray, atoms: int, kshape: tuple[int, ...], seed: int) -> Dictionary:
    """A dictionary of `atoms` atoms of shape kshape for the samples x (n, 1, *size), the same for the same seed.
    In numpy, not torch: the site draws layers in forked processes, where torch's thread pool can hang."""
    rng = np.random.default_rng([seed, 16])
    data = patches(x, kshape, PATCHES, rng).astype(np.float64)
    d = rng.normal(size=(data.shape[1], atoms))
    d /= np.linalg.norm(d, axis=0, keepdims=True)
    sparsity, error = [], []
    for step in range(STEPS):
        batch = data[rng.integers(0, data.shape[0], size=BATCH)]
        a = _codes(batch, d, L1, ISTA_ITERATIONS)
        residual = batch - a @ d.T
        d = d + LEARNING_RATE * residual.T @ a / BATCH
        d /= np.maximum(np.linalg.norm(d, axis=0, keepdims=True), 1e-12)
        if step >= STEPS - 20:
            sparsity.append(float((a != 0).mean()))
            error.append(float(np.linalg.norm(residual, axis=1).mean()))
    weights = d.T.reshape(atoms, 1, *kshape).astype(np.float32)
    return Dictionary(weights, float(np.mean(sparsity)), float(np.mean(error)))
