"""How detector-like are a layer's kernels? Scores against the detector bank, with honest baselines.

For a kernel k and a template t, both made zero-mean and unit-norm, the match is |cos(k, t)| (sign-invariant); the
kernel's score r* is its best match over the bank. Multi-channel kernels are scored on their channel sum (and, for the
record, per channel). Baselines of the same shape: the same kernels at initialisation (step 0), and a null
distribution of freshly drawn random kernels (PyTorch's default initialisation), whose 99th percentile is the
threshold above which a kernel "matches a detector". Two controls qualify a hit: phase-randomised surrogates
(same amplitude spectrum, random phases) keep a merely smooth kernel from being called an edge detector, and
sign-randomised ones (the same magnitude at every place, random signs) a merely localised one: random weights under
a narrow envelope beat the random null and their phase surrogates alike (bench/control_ideal.py).
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .bank import bank
from .filters import FilterShape, describe_1d, roomy, unit_peak
from .fit import DENSE_MAX_TAPS, FittedBank
from .matching import Matcher, Matches, Scorer, best_scores, match

NULL_SAMPLES = 2000  # random kernels behind each null distribution
THRESHOLD_QUANTILE = 0.99
SURROGATES = 100  # phase-randomised (and sign-randomised) surrogates per kernel
SURROGATE_ALPHA = 0.05  # a kernel passes a control if fewer than 5% of its surrogates match as well
STOP_AFTER = 5  # surrogates matching as well as the kernel after which it cannot pass: (1 + 4) / 101 < 0.05 <= 6 / 101
STAGES = (0, 10, 25, 50, 100)  # how many of a kernel's surrogates have been scored after each stage
NEGLIGIBLE = 1e-5  # a kernel whose largest |weight| is this small against its layer's largest is shrunk to nothing
MAX_PER_CHANNEL = 4096  # (kernel, input channel) pairs scored one by one; a larger layer gets channel sums only


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


def scorer_for(kshape: tuple[int, ...]) -> Scorer:
    """What kernels of this shape are matched against: the dense bank, or for 1-D kernels longer than
    DENSE_MAX_TAPS, the families fitted to each kernel (a new FittedBank, which keeps the layer's fitted templates)."""
    if len(kshape) == 1 and kshape[0] > DENSE_MAX_TAPS:
        return FittedBank(kshape[0])
    return bank(kshape)


def random_kernels(in_channels: int, kshape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """(n, in, *kshape) drawn like PyTorch's default Conv init (uniform, bound 1/sqrt(fan_in)); the scale does not
    matter to |cos|, the distribution's shape does."""
    bound = 1.0 / math.sqrt(in_channels * math.prod(kshape))
    return np.random.default_rng(seed).uniform(-bound, bound, size=(n, in_channels, *kshape))


@functools.lru_cache(maxsize=64)
def null_scores(in_channels: int, kshape: tuple[int, ...], n: int = NULL_SAMPLES) -> np.ndarray:
    """r* of the channel sums of n random kernels of this shape: deterministic, cached per shape."""
    seed = zlib.crc32(repr((in_channels, kshape)).encode())
    return best_scores(random_kernels(in_channels, kshape, n, seed).sum(axis=1), scorer_for(kshape))


def null_threshold(null: np.ndarray) -> float:
    """The score above which a kernel "matches a detector": the null's THRESHOLD_QUANTILE."""
    return float(np.quantile(null, THRESHOLD_QUANTILE))


def dc_fraction(kernels: np.ndarray) -> np.ndarray:
    """Share of each kernel's energy at zero frequency (its mean), (N,): 1 for a constant, ~1/D for white noise."""
    flat = unit_peak(kernels.reshape(len(kernels), -1), shrink_only=True)  # a ratio of squares: the scale drops
    energy = (flat**2).sum(axis=1)  # out, and so does the overflow of a weight of 3e38
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


def sign_surrogates(kernel: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n kernels with exactly the magnitude of every weight of `kernel`, at its place, and random signs, (n,
    *shape): just as localised (the same energy at every place), with none of its arrangement of signs."""
    return np.abs(kernel)[None] * rng.choice((-1.0, 1.0), size=(n, *kernel.shape))


Surrogates = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def surrogate_p(
    kernels: np.ndarray,
    b: Scorer,
    scores: np.ndarray,
    n: int = SURROGATES,
    seed: int = 0,
    ids: np.ndarray | None = None,
    make: Surrogates = phase_surrogates,
) -> np.ndarray:
    """For each kernel (N, *shape), the share of its surrogates (`make`: phase-randomised by default) that match
    the bank at least as well as it does: small when the kernel's *shape*, not just its smoothness (or, with
    sign_surrogates, its envelope), is what matches. Kernel i's
    surrogates are drawn from the seed (seed, ids[i]) (ids: the kernels' places in their layer; 0..N-1 by default),
    so they do not depend on which other kernels are tested. Sequential (Besag and Clifford 1991): the surrogates
    are scored in stages, and once STOP_AFTER of them match as well, the rest cannot bring the kernel under
    SURROGATE_ALPHA; its p is then that share so far (at least 0.05). Otherwise all n are scored and
    p = (1 + count) / (1 + n). The decision (p < 0.05) is the one all n surrogates give."""
    ids = np.arange(len(kernels)) if ids is None else np.asarray(ids)
    out = np.empty(len(kernels))
    per = max(1, 4_000_000 // (n * max(math.prod(kernels.shape[1:]), 1)))  # kernels whose surrogates fit in memory
    for lo in range(0, len(kernels), per):
        block = kernels[lo : lo + per]
        sur = np.stack(
            [make(k, n, np.random.default_rng((seed, int(i)))) for k, i in zip(block, ids[lo:], strict=False)]
        )  # (B, n, *shape)
        count, seen = np.zeros(len(block), dtype=np.int64), np.zeros(len(block), dtype=np.int64)
        for a, z in zip(STAGES[:-1], STAGES[1:], strict=True):
            active = np.flatnonzero(count < STOP_AFTER)
            if not len(active) or a >= n:
                break
            z = min(z, n)
            s = best_scores(sur[active, a:z].reshape(-1, *block.shape[1:]), b).reshape(len(active), z - a)
            count[active] += (s >= scores[lo + active, None] - 1e-12).sum(axis=1)
            seen[active] = z
        stopped = count >= STOP_AFTER
        out[lo : lo + len(block)] = np.where(stopped, count / np.maximum(seen, 1), (1 + count) / (1 + n))
    return out


def _p_where(
    tested: np.ndarray, kernels: np.ndarray, b: Scorer, scores: np.ndarray, seed: int, make: Surrogates
) -> np.ndarray:
    """surrogate_p of the kernels where `tested` (a boolean mask), NaN (not tested) for the others."""
    p = np.full(len(kernels), np.nan)
    idx = np.flatnonzero(tested)
    if len(idx):
        p[idx] = surrogate_p(kernels[idx], b, scores[idx], seed=seed, ids=idx, make=make)
    return p


def controlled_p(kernels: np.ndarray, b: Scorer, scores: np.ndarray, threshold: float) -> np.ndarray:
    """The smoothness control where it qualifies a claim: surrogate_p of the kernels above the null threshold, NaN
    (not tested) for the others, which make no claim to qualify."""
    return _p_where(scores > threshold, kernels, b, scores, 0, phase_surrogates)


def localised_p(kernels: np.ndarray, b: Scorer, scores: np.ndarray, phase_p: np.ndarray) -> np.ndarray:
    """The localisation control where it still qualifies a claim: surrogate_p against sign-randomised surrogates
    of the kernels that passed the smoothness control (phase_p < SURROGATE_ALPHA), NaN (not tested) for the
    others. Its surrogates are drawn from their own seed, apart from the phase surrogates'."""
    return _p_where(phase_p < SURROGATE_ALPHA, kernels, b, scores, 1, sign_surrogates)  # NaN < x is False


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


def negligible(peak: np.ndarray) -> np.ndarray:
    """Kernels (the last axis of `peak`, their largest |weight|) at most NEGLIGIBLE times the largest of their layer
    (at the same snapshot): weight decay shrinks a kernel that the network stopped using towards zero (1e-8 and
    less here), and such a kernel responds to nothing. Every kernel of an all-zero layer is negligible."""
    return peak <= NEGLIGIBLE * peak.max(axis=-1, keepdims=True, initial=0.0)


@dataclass(frozen=True)
class LayerAnalysis:
    name: str
    kind: str  # conv1d | conv2d
    shape: tuple[int, ...]  # the layer's weight shape (out, in, *k)
    kshape: tuple[int, ...]  # the shape the kernels are analysed at
    bank: Scorer
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
    surrogate_p: np.ndarray  # (N,) NaN for kernels not above the threshold (not tested)
    sign_p: np.ndarray  # (N,) the localisation control's p; NaN where not tested (not a hit by the smoothness control)
    added: Matches | None  # the learned change (last minus init), scored like a kernel
    claims_possible: bool
    claims_note: str
    summed_first: np.ndarray  # (N, *kshape) the kernels (channel sums) at the first snapshot
    summed_last: np.ndarray  # (N, *kshape) ... and at the last
    peaks: np.ndarray  # (S, N) the largest |weight| of each kernel at each snapshot

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
        return null_threshold(self.null)

    @property
    def negligible(self) -> np.ndarray:
        """(N,) kernels shrunk to nothing by the last snapshot (NEGLIGIBLE): never hits."""
        return negligible(self.peaks[-1])

    @property
    def hits_over_training(self) -> np.ndarray:
        """(S, N) above the null threshold and not shrunk to nothing, at each snapshot."""
        return (self.scores > self.threshold) & ~negligible(self.peaks)

    @property
    def hits(self) -> np.ndarray:
        """Above the null threshold, and not shrunk to nothing: a kernel of weights 1e-8 has the shape it had when
        the network stopped using it (decay shrinks every weight alike), but detects nothing in this network."""
        return (self.final.score > self.threshold) & ~self.negligible

    @property
    def hit_rate(self) -> float:
        return float(self.hits.mean())

    @property
    def hit_rate_at_init(self) -> float | None:
        return None if self.init is None else float((self.init.score > self.threshold).mean())

    @property
    def phase_controlled_hits(self) -> np.ndarray:
        """Above the null threshold *and* better than its own phase-randomised surrogates (its smoothness does not
        explain the match)."""
        return self.hits & (self.surrogate_p < SURROGATE_ALPHA)

    @property
    def controlled_hits(self) -> np.ndarray:
        """Phase-controlled hits that also beat their sign-randomised surrogates (nor does their envelope)."""
        return self.phase_controlled_hits & (self.sign_p < SURROGATE_ALPHA)

    @property
    def controlled_share(self) -> float:
        """Share of the kernels that are hits both controls support."""
        return float(self.controlled_hits.mean())

    @property
    def median_score(self) -> float:
        return float(np.median(self.final.score))

    @property
    def median_score_at_init(self) -> float | None:
        return None if self.init is None else float(np.median(self.init.score))

    @property
    def kappa(self) -> float | None:
        return None if self.init is None else kappa(self.final.score, self.init.score)

    @functools.cached_property
    def filter_shapes(self) -> list[FilterShape] | None:
        """Each 1-D kernel (channel sum, at the last snapshot) described as a filter; None for 2-D kernels."""
        return [describe_1d(k) for k in self.summed_last] if len(self.kshape) == 1 else None

    @property
    def paired(self) -> tuple[float, float | None] | None:
        return None if self.init is None else paired_test(self.final.score, self.init.score)


class LayerScorer:
    """analyse_layer on snapshots that arrive a chunk at a time, as a run is read (`add` each chunk in step order,
    then `analysis()` once): only the scores and the first and last snapshot are kept, never the snapshots' weights,
    and every number is the one analyse_layer gives on all the snapshots at once. With score=False it only keeps
    the steps and the first and last snapshot, and `analysis()` gives None (a gallery without the analysis)."""

    def __init__(self, name: str, kind: str, score: bool = True) -> None:
        self.name, self.kind, self.score = name, kind, score
        self.shape: tuple[int, ...] | None = None  # the layer's weight shape (out, in, *k), from the first chunk
        self.first: np.ndarray | None = None  # (out, in, *k) weights at the first snapshot
        self.last: np.ndarray | None = None  # ... and at the last
        self._steps: list[np.ndarray] = []
        self._matcher: Matcher | None = None  # None while no chunk came, or for kernels too small to compare
        self._summed: list[np.ndarray] = []  # channel sums (out, *kshape) at the first and the last snapshot
        self._peaks: list[np.ndarray] = []  # (n, out) the largest |weight| of each kernel at each snapshot

    @property
    def steps(self) -> np.ndarray:
        """(S,) the step of every snapshot added."""
        return np.concatenate(self._steps) if len(self._steps) != 1 else self._steps[0]

    def add(self, steps: np.ndarray, weights: np.ndarray) -> None:
        """The next snapshots: steps (n,), weights (n, out, in, *k)."""
        steps, weights = np.asarray(steps), np.asarray(weights)
        if len(steps) != len(weights):
            raise ValueError(f"{self.name}: {len(steps)} steps for {len(weights)} snapshots")
        if not len(weights):
            return
        shape = tuple(weights.shape[1:])
        if self.shape is None:
            self.shape, kshape = shape, kernel_shape(shape)
            self._matcher = Matcher(scorer_for(kshape)) if self.score and math.prod(kshape) >= 3 else None
        elif shape != self.shape:
            raise ValueError(f"{self.name}: snapshots of shape {shape} after {self.shape}")
        self._steps.append(steps)
        self._peaks.append(np.abs(weights.reshape(len(weights), shape[0], -1)).max(axis=2, initial=0.0))
        if self.first is None:
            self.first = weights[0].copy()
        self.last = weights[-1].copy()
        if self._matcher is not None:
            s, out, in_c = len(weights), shape[0], shape[1]
            kshape = kernel_shape(shape)
            summed = roomy(weights, in_c).reshape(s, out, in_c, *kshape).sum(axis=2)  # multi-channel: the channel sum
            self._matcher.add(summed.reshape(s * out, *kshape))
            self._summed = [self._summed[0] if self._summed else summed[0].copy(), summed[-1].copy()]

    def analysis(self) -> LayerAnalysis | None:
        """The layer's analysis; None if its kernels are too small to compare with anything (fewer than 3 weights
        per channel), or nothing was scored."""
        if self.shape is None or self.last is None:
            raise ValueError(f"{self.name}: no snapshots to analyse")
        if self._matcher is None:
            return None
        shape, kshape, b = self.shape, kernel_shape(self.shape), self._matcher.bank
        steps = self.steps
        s, out, in_c = len(steps), shape[0], shape[1]
        matches = self._matcher.result()
        scores = matches.score.reshape(s, out)
        top, top_scores = matches.top.reshape(s, out, -1), matches.top_scores.reshape(s, out, -1)

        def at(i: int) -> Matches:  # the matches at snapshot i (-1: the last)
            i %= s
            return matches.take(slice(i * out, (i + 1) * out))

        first, last = self._summed
        final = at(-1)
        init = at(0) if s > 1 else None  # the first snapshot is the baseline (step 0 for a run trained here)
        per_channel = None  # per-channel scores, for the record, where there are not too many to compute
        if 1 < in_c and out * in_c <= MAX_PER_CHANNEL:
            per_channel = best_scores(self.last.reshape(out * in_c, *kshape), b).reshape(out, in_c)
        null_kernels = random_kernels(in_c, kshape, 500, seed=1).sum(axis=1)
        added = match(roomy(last, 2) - roomy(first, 2), b) if init is not None else None
        possible, note = claims_possible(kshape)
        null = null_scores(in_c, kshape)
        return LayerAnalysis(
            name=self.name,
            kind=self.kind,
            shape=shape,
            kshape=kshape,
            bank=b,
            steps=steps,
            scores=scores,
            top=top,
            top_scores=top_scores,
            final=final,
            init=init,
            per_channel=per_channel,
            null=null,
            dc_fraction=dc_fraction(last),
            dc_fraction_null=float(np.median(dc_fraction(null_kernels))),
            surrogate_p=(phase_p := controlled_p(last, b, final.score, null_threshold(null))),
            sign_p=localised_p(last, b, final.score, phase_p),
            added=added,
            claims_possible=possible,
            claims_note=note,
            summed_first=first,
            summed_last=last,
            peaks=np.concatenate(self._peaks),
        )


def score_chunks(
    name: str, kind: str, chunks: Iterable[tuple[np.ndarray, np.ndarray]], score: bool = True
) -> LayerScorer:
    """A LayerScorer fed with every (steps, weights) chunk, e.g. from Run.iter_kernels."""
    scorer = LayerScorer(name, kind, score)
    for steps, weights in chunks:
        scorer.add(steps, weights)
    return scorer


def analyse_layer(name: str, kind: str, steps: np.ndarray, weights: np.ndarray) -> LayerAnalysis | None:
    """Analyse one conv layer from its snapshots: steps (S,), weights (S, out, in, *k). None if its kernels are too
    small to compare with anything (fewer than 3 weights per channel)."""
    return score_chunks(name, kind, [(steps, weights)]).analysis()
