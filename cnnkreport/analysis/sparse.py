"""The unsupervised reference: a sparse-coding dictionary of the run's own data, learned as Olshausen and Field
(1996) learned theirs and as Lee et al. (2009) learned their first layer's bases, with no labels.

Patches of the training data (the size of the first layer's kernels, the ones with the most signal in them, each
with its mean removed and scaled to unit norm) are reconstructed as sparse combinations of as many atoms (of at
most unit norm) as the first layer has kernels, by minimising the mean over the patches of

    |x - D a|^2 / 2 + ALPHA |a|_1

over the codes a and the atoms D, on all the patches at once, to convergence: the codes by FISTA (Beck and
Teboulle 2009), warm-started from the last iteration's, the atoms by block coordinate descent on the codes'
sufficient statistics (Mairal et al. 2009, the algorithm behind scikit-learn's dictionary learning). Each
iteration lowers the objective (the atoms' step exactly; FISTA's warm-started steps in practice); learning stops
when it fell by less than TOLERANCE (relative) over the last tenth of the iterations, or after MAX_ITERATIONS.
The sparsity is set by a fixed rule: ALPHA = 0.15 against unit-norm patches and atoms, so an atom takes part in a
patch's code only where it correlates better than 0.15 with what the other atoms leave of the patch (the value
was chosen once, for every run: docs/benchmarks.md, bench/bench_reference.py). In numpy on one BLAS thread
(threadpoolctl): the site draws layers in forked processes, where torch's thread pool can hang and several BLAS
pools would fight over the cores; about a second per layer.

The atoms are then scored exactly as the CNN's kernels are. They say what the data itself offers to be found: if
sparse coding finds edge and line detectors that pass both controls, the data holds them, and the CNN's first
layer can be read against that; if it does not, neither should the CNN be expected to. `matched_cos` says how
close the kernels came to the atoms, one to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from threadpoolctl import threadpool_limits

from .scores import random_kernels

PATCHES = 20_000  # patches drawn from the training data (the most energetic half is kept)
ALPHA = 0.15  # the L1 weight against unit-norm patches: an atom enters a code where it correlates better than this
MIN_ITERATIONS = 30
MAX_ITERATIONS = 200
TOLERANCE = 1e-4  # converged: the objective fell by less than this (relative) over the last tenth of the iterations
CODE_STEPS = 20  # FISTA steps on the codes per iteration, warm-started
SWEEPS = 3  # block coordinate descent sweeps over the atoms per iteration
RANDOM_DRAWS = 20  # random layers behind the matched |cos| baseline


@dataclass(frozen=True)
class Dictionary:
    atoms: np.ndarray  # (N, 1, *kshape), unit norm, like a first layer's weights
    sparsity: float  # mean share of non-zero codes per patch, at the end
    error: float  # mean relative reconstruction error |x - D a| / |x| over the patches, at the end
    objective: float  # mean |x - D a|^2 / 2 + alpha |a|_1 over the patches, at the end
    change: float  # the objective's relative fall over the last tenth of the iterations
    iterations: int
    alpha: float
    patches: int  # how many patches it was learned from


@dataclass(frozen=True)
class Fit:
    """A dictionary learned from patches (n, dim): atoms (dim, N), codes (n, N), the objective at every iteration."""

    atoms: np.ndarray
    codes: np.ndarray
    history: np.ndarray

    @property
    def change(self) -> float:
        return last_tenth_change(self.history)


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


def objective(x: np.ndarray, d: np.ndarray, a: np.ndarray, alpha: float) -> float:
    """Mean over the patches x (n, dim) of |x - D a|^2 / 2 + alpha |a|_1, with atoms d (dim, N), codes a (n, N)."""
    r = x - a @ d.T
    return float(0.5 * np.einsum("ij,ij->", r, r, dtype=np.float64) / len(x) + alpha * np.abs(a).sum() / len(x))


def last_tenth_change(history: np.ndarray) -> float:
    """The objective's relative fall over the last tenth of the iterations (at least one): 0 = converged."""
    k = max(1, len(history) // 10)
    if len(history) <= k:
        return math.inf
    return float((history[-1 - k] - history[-1]) / max(abs(history[-1]), 1e-12))


def codes(x: np.ndarray, d: np.ndarray, alpha: float, start: np.ndarray, steps: int) -> np.ndarray:
    """FISTA: the sparse codes (n, N) of x (n, dim) in the atoms d (dim, N), `steps` steps from `start`."""
    gram = d.T @ d
    lipschitz = max(float(np.linalg.eigvalsh(gram.astype(np.float64))[-1]), 1e-12)
    dtx = (x @ d) / lipschitz
    step = (gram / lipschitz).astype(x.dtype)
    threshold = alpha / lipschitz
    a, y, t = start, start.copy(), 1.0
    for _ in range(steps):
        g = y - y @ step + dtx
        new = g - np.clip(g, -threshold, threshold)  # soft thresholding
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        y = new + ((t - 1) / t_next) * (new - a)
        a, t = new, t_next
    return a


def update_atoms(d: np.ndarray, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Block coordinate descent on the atoms d (dim, N), each kept within the unit ball (Mairal et al. 2009, Alg.
    2), from the codes a (n, N) of x (n, dim). An atom no patch uses is replaced by the zero-mean residual of the
    patch worst rebuilt, scaled to unit norm."""
    d = d.copy()
    gram, cross = a.T @ a, x.T @ a  # A and B of Mairal et al.
    unused = np.flatnonzero(np.diag(gram) <= 1e-10 * len(x))
    if len(unused):
        r = x - a @ d.T
        worst = np.argsort(-np.einsum("ij,ij->i", r, r), kind="stable")[: len(unused)]
        fresh = r[worst] - r[worst].mean(axis=1, keepdims=True)
        d[:, unused] = (fresh / np.maximum(np.linalg.norm(fresh, axis=1, keepdims=True), 1e-12)).T
    for _ in range(SWEEPS):
        for j in range(d.shape[1]):
            if gram[j, j] <= 1e-10 * len(x):
                continue
            u = d[:, j] + (cross[:, j] - d @ gram[:, j]) / gram[j, j]
            d[:, j] = u / max(float(np.linalg.norm(u)), 1.0)
    return d


def fit(x: np.ndarray, atoms: int, alpha: float, seed: int) -> Fit:
    """Learn `atoms` atoms from the zero-mean patches x (n, dim) to convergence (TOLERANCE), from random zero-mean
    unit-norm atoms drawn from the seed: the same result for the same seed, on one BLAS thread."""
    rng = np.random.default_rng([seed, 16])
    x = np.ascontiguousarray(x, dtype=np.float32)
    d = rng.normal(size=(x.shape[1], atoms))
    d -= d.mean(axis=0, keepdims=True)
    d = (d / np.maximum(np.linalg.norm(d, axis=0, keepdims=True), 1e-12)).astype(np.float32)
    a = np.zeros((len(x), atoms), dtype=np.float32)
    history: list[float] = []
    with threadpool_limits(1):
        for it in range(MAX_ITERATIONS):
            a = codes(x, d, alpha, a, CODE_STEPS)
            history.append(objective(x, d, a, alpha))
            if it + 1 >= MIN_ITERATIONS and last_tenth_change(np.array(history)) < TOLERANCE:
                break
            d = update_atoms(d, a, x)
    return Fit(d, a, np.array(history))


def training_patches(x: np.ndarray, kshape: tuple[int, ...], seed: int) -> np.ndarray:
    """The patches `learn` learns from: PATCHES drawn from the samples x (n, 1, *size) from the seed, the more
    energetic half kept (patches)."""
    return patches(x, kshape, PATCHES, np.random.default_rng([seed, 16]))


def learn(x: np.ndarray, atoms: int, kshape: tuple[int, ...], seed: int, alpha: float = ALPHA) -> Dictionary:
    """A dictionary of `atoms` atoms of shape kshape for the samples x (n, 1, *size), the same for the same seed."""
    data = training_patches(x, kshape, seed)
    f = fit(data, atoms, alpha, seed)
    d = f.atoms.T.astype(np.float64)
    residual = data - f.codes @ f.atoms.T
    weights = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    return Dictionary(
        atoms=weights.reshape(atoms, 1, *kshape).astype(np.float32),
        sparsity=float((f.codes != 0).mean()),
        error=float(np.linalg.norm(residual, axis=1).mean()),
        objective=float(f.history[-1]),
        change=f.change,
        iterations=len(f.history),
        alpha=alpha,
        patches=len(data),
    )


def _unit(k: np.ndarray) -> np.ndarray:
    """Each row of k (N, ...) flattened, zero-mean and unit-norm (an all-zero row stays zero)."""
    flat = k.reshape(len(k), -1).astype(np.float64)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)


def matching(kernels: np.ndarray, atoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kernels (N, ...) matched one to one with atoms (M, ...) of the same shape, to the largest total |cos|
    between zero-mean unit-norm kernel and atom (sign-invariant; linear_sum_assignment): (kernel indices, atom
    indices, their |cos|), min(N, M) pairs."""
    cos = np.abs(_unit(kernels) @ _unit(atoms).T)
    rows, cols = linear_sum_assignment(cos, maximize=True)
    return rows, cols, cos[rows, cols]


def matched_cos(kernels: np.ndarray, atoms: np.ndarray) -> float:
    """The mean |cos| of the one-to-one matching of kernels and atoms: 1 = the same filters, up to order and sign."""
    return float(matching(kernels, atoms)[2].mean())


def matched_cos_random(atoms: np.ndarray, draws: int = RANDOM_DRAWS, seed: int = 0) -> float:
    """matched_cos of as many random kernels as there are atoms, of their shape, drawn as PyTorch's default Conv
    init draws them (uniform, bound 1/sqrt(fan_in); scores.random_kernels), averaged over `draws` draws from
    fixed seeds: what the matching gives by chance."""
    shape = atoms.shape[1:]
    values = [
        matched_cos(random_kernels(shape[0], tuple(shape[1:]), len(atoms), seed * 1_000 + i).sum(axis=1), atoms)
        for i in range(draws)
    ]
    return float(np.mean(values))
