"""How detector-like are a layer's kernels? Scores against the detector bank, with honest baselines.

For a kernel k and a template t, both made zero-mean and unit-norm, the match is |cos(k, t)| (sign-invariant); the
kernel's score r* is its best match over the bank. Multi-channel kernels are scored on their channel sum (and, for the
record, per channel). Baselines of the same shape: the same kernels at initialisation (step 0), and a null
distribution of freshly drawn random kernels (PyTorch's default initialisation), whose 99th percentile is the
threshold above which a kernel "matches a detector". A phase-randomised control (same amplitude spectrum, random
phases) keeps a merely smooth kernel from being called an edge detector.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .bank import Bank, bank, normalise

NULL_SAMPLES = 2000  # random kernels behind each null distribution
THRESHOLD_QUANTILE = 0.99
SURROGATES = 100  # phase-randomised surrogates per kernel
SURROGATE_ALPHA = 0.05  # a kernel passes the smoothness control if fewer than 5% of its surrogates match as well
TOP = 3
MAX_PER_CHANNEL = 4096  # (kernel, input channel) pairs scored one by one; a larger layer gets channel sums only
CHUNK = 4_000_000  # entries of a (kernels x templates) score block, to bound memory on large layers


@dataclass(frozen=True)
class Matches:
    score: np.ndarray  # (N,) r*, the best |cos| over the bank
    top: np.ndarray  # (N, TOP) template indices, best first
    top_scores: np.ndarray  # (N, TOP)


def kernel_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The spatial shape a layer's kernels are analysed at: a Conv2d kernel of (k, 1) or (1, k), as audio models
    often store 1-D filters, is a 1-D filter of k taps."""
    spatial = tuple(shape[2:])
    if len(spatial) == 2 and 1 in spatial and max(spatial) > 1:
        return (max(spatial),)
    return spatial


def claims_possible(kshape: tuple[int, ...]) -> tuple[bool, str]:
    """At small sizes even random kernels match some template almost perfectly: no claim can be made there."""
    if len(kshape) == 2 and kshape[0] * kshape[1] <= 9:
        return False, (
            f"at {kshape[0]}x{kshape[1]} even random kernels match a classical detector almost perfectly, so a match "
            "is no evidence; the frequency response says more"
        )
    if len(kshape) == 1 and kshape[0] < 9:
        return False, (
            f"at {kshape[0]} taps even random filters match a classical template almost perfectly, so a match is no "
            "evidence; the frequency response says more"
        )
    return True, ""


def match(kernels: np.ndarray, b: Bank, top: int = TOP) -> Matches:
    """Best matches of kernels (N, *shape) in bank b."""
    flat = normalise(np.asarray(kernels, dtype=np.float64).reshape(len(kernels), -1))
    n = len(flat)
    score, best, best_scores = np.zeros(n), np.zeros((n, top), dtype=np.int64), np.zeros((n, top))
    step = max(1, CHUNK // max(len(b), 1))
    for i in range(0, n, step):
        s = np.abs(flat[i : i + step] @ b.matrix.T)  # (n_i, M)
        idx = np.argpartition(-s, min(top, s.shape[1] - 1), axis=1)[:, :top]
        order = np.argsort(-np.take_along_axis(s, idx, axis=1), axis=1)
        best[i : i + step] = np.take_along_axis(idx, order, axis=1)
        best_scores[i : i + step] = np.take_along_axis(s, best[i : i + step], axis=1)
        score[i : i + step] = best_scores[i : i + step, 0]
    return Matches(score, best, best_scores)


def random_kernels(in_channels: int, kshape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """(n, in, *kshape) drawn like PyTorch's default Conv init (uniform, bound 1/sqrt(fan_in)); the scale does not
    matter to |cos|, the distribution's shape does."""
    bound = 1.0 / math.sqrt(in_channels * math.prod(kshape))
    return np.random.default_rng(seed).uniform(-bound, bound, size=(n, in_channels, *kshape))


@functools.lru_cache(maxsize=64)
def null_scores(in_channels: int, kshape: tuple[int, ...], n: int = NULL_SAMPLES) -> np.ndarray:
    """r* of the channel sums of n random kernels of this shape: deterministic, cached per shape."""
    seed = zlib.crc32(repr((in_channels, kshape)).encode())
    return match(random_kernels(in_channels, kshape, n, seed).sum(axis=1), bank(kshape)).score


def dc_fraction(kernels: np.ndarray) -> np.ndarray:
    """Share of each kernel's energy at zero frequency (its mean), (N,): 1 for a constant, ~1/D for white noise."""
    flat = kernels.reshape(len(kernels), -1)
    energy = (flat**2).sum(axis=1)
    dc = flat.shape[1] * flat.mean(axis=1) ** 2
    return np.divide(dc, energy, out=np.zeros_like(energy), where=energy > 0)


def phase_surrogates(kernel: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n kernels with exactly the amplitude spectrum and mean of `kernel` and random phases, (n, *shape). The phases
    are those of real white noise, so they have the symmetry a real kernel's spectrum needs."""
    axes = tuple(range(1, kernel.ndim + 1))
    spectrum = np.fft.rfftn(kernel)
    phases = np.angle(np.fft.rfftn(rng.normal(size=(n, *kernel.shape)), axes=axes))
    out = np.abs(spectrum) * np.exp(1j * phases)
    out.reshape(n, -1)[:, 0] = spectrum.reshape(-1)[0]  # keep the mean (DC) as it is
    return np.fft.irfftn(out, s=kernel.shape, axes=axes)


def surrogate_p(kernels: np.ndarray, b: Bank, scores: np.ndarray, n: int = SURROGATES, seed: int = 0) -> np.ndarray:
    """For each kernel (N, *shape), the share of its phase-randomised surrogates that match the bank at least as
    well as it does ((1 + count) / (1 + n)): small when the kernel's *shape*, not just its smoothness, is what
    matches."""
    rng = np.random.default_rng(seed)
    sur = np.concatenate([phase_surrogates(k, n, rng) for k in kernels])  # (N*n, *shape)
    sur_scores = match(sur, b, top=1).score.reshape(len(kernels), n)
    return (1 + (sur_scores >= scores[:, None] - 1e-12).sum(axis=1)) / (1 + n)


def kappa(trained: np.ndarray, init: np.ndarray) -> float:
    """(m_trained - m_init) / (1 - m_init) with m the mean r*^2: 0 = no closer to the bank than at initialisation,
    1 = every kernel a perfect match."""
    m_t, m_i = float(np.mean(trained**2)), float(np.mean(init**2))
    return (m_t - m_i) / (1 - m_i) if m_i < 1 else 0.0


def paired_test(trained: np.ndarray, init: np.ndarray) -> tuple[float, float | None]:
    """(median per-kernel change in r*, two-sided Wilcoxon signed-rank p-value; None when it cannot be computed)."""
    diff = trained - init
    if len(diff) < 2 or np.allclose(diff, 0):
        return float(np.median(diff)) if len(diff) else 0.0, None
    return float(np.median(diff)), float(stats.wilcoxon(diff).pvalue)


@dataclass(frozen=True)
class LayerAnalysis:
    name: str
    kind: str  # conv1d | conv2d
    shape: tuple[int, ...]  # the layer's weight shape (out, in, *k)
    kshape: tuple[int, ...]  # the shape the kernels are analysed at
    bank: Bank
    steps: np.ndarray  # (S,)
    scores: np.ndarray  # (S, N) r* of each kernel (channel sum) at each snapshot
    top: np.ndarray  # (S, N, TOP) indices of the best templates at each snapshot, best first
    top_scores: np.ndarray  # (S, N, TOP)
    final: Matches  # at the last snapshot
    init: Matches | None  # at the first snapshot (the initialisation, step 0, for a run trained here)
    per_channel: np.ndarray | None  # (N, in) r* of each input channel at the last snapshot, when in > 1
    null: np.ndarray  # (NULL_SAMPLES,) r* of random kernels of this shape
    dc_fraction: np.ndarray  # (N,) at the last snapshot
    dc_fraction_null: float  # median DC fraction of the random kernels
    surrogate_p: np.ndarray  # (N,)
    added: Matches | None  # the learned change (last minus init), scored like a kernel
    claims_possible: bool
    claims_note: str

    @property
    def baseline(self) -> str:
        """How to name the first snapshot in a sentence."""
        return (
            "at initialisation" if int(self.steps[0]) == 0 else f"at the first checkpoint (step {int(self.steps[0])})"
        )

    @property
    def best(self) -> np.ndarray:
        """(S, N) index of the best template at each snapshot."""
        return self.top[:, :, 0]

    @property
    def threshold(self) -> float:
        return float(np.quantile(self.null, THRESHOLD_QUANTILE))

    @property
    def hits(self) -> np.ndarray:
        return self.final.score > self.threshold

    @property
    def hit_rate(self) -> float:
        return float(self.hits.mean())

    @property
    def hit_rate_at_init(self) -> float | None:
        return None if self.init is None else float((self.init.score > self.threshold).mean())

    @property
    def controlled_hits(self) -> np.ndarray:
        """Above the null threshold *and* better than its own phase-randomised surrogates."""
        return self.hits & (self.surrogate_p < SURROGATE_ALPHA)

    @property
    def median_score(self) -> float:
        return float(np.median(self.final.score))

    @property
    def median_score_at_init(self) -> float | None:
        return None if self.init is None else float(np.median(self.init.score))

    @property
    def kappa(self) -> float | None:
        return None if self.init is None else kappa(self.final.score, self.init.score)

    @property
    def paired(self) -> tuple[float, float | None] | None:
        return None if self.init is None else paired_test(self.final.score, self.init.score)


def analyse_layer(name: str, kind: str, steps: np.ndarray, weights: np.ndarray) -> LayerAnalysis | None:
    """Analyse one conv layer from its snapshots: steps (S,), weights (S, out, in, *k). None if its kernels are too
    small to compare with anything (fewer than 3 weights per channel)."""
    shape = tuple(weights.shape[1:])
    kshape = kernel_shape(shape)
    if math.prod(kshape) < 3:
        return None
    s, out, in_c = weights.shape[0], shape[0], shape[1]
    w = weights.reshape(s, out, in_c, *kshape)
    summed = w.sum(axis=2)  # (S, out, *k): multi-channel kernels are matched on their channel sum
    b = bank(kshape)
    all_matches = match(summed.reshape(s * out, *kshape), b, top=TOP)
    scores = all_matches.score.reshape(s, out)
    top, top_scores = all_matches.top.reshape(s, out, TOP), all_matches.top_scores.reshape(s, out, TOP)

    def at(i: int) -> Matches:
        return Matches(scores[i], top[i], top_scores[i])

    final = at(-1)
    init = at(0) if s > 1 else None  # the first snapshot is the baseline (step 0 for a run trained here)
    per_channel = None  # per-channel scores, for the record, where there are not too many to compute
    if 1 < in_c and out * in_c <= MAX_PER_CHANNEL:
        per_channel = match(w[-1].reshape(out * in_c, *kshape), b, top=1).score.reshape(out, in_c)
    null_kernels = random_kernels(in_c, kshape, 500, seed=1).sum(axis=1)
    added = match(summed[-1] - summed[0], b) if init is not None else None
    possible, note = claims_possible(kshape)
    return LayerAnalysis(
        name=name,
        kind=kind,
        shape=shape,
        kshape=kshape,
        bank=b,
        steps=np.asarray(steps),
        scores=scores,
        top=top,
        top_scores=top_scores,
        final=final,
        init=init,
        per_channel=per_channel,
        null=null_scores(in_c, kshape),
        dc_fraction=dc_fraction(summed[-1]),
        dc_fraction_null=float(np.median(dc_fraction(null_kernels))),
        surrogate_p=surrogate_p(summed[-1], b, final.score),
        added=added,
        claims_possible=possible,
        claims_note=note,
    )
