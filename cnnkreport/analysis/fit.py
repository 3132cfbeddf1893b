"""Long 1-D kernels matched by fitting the classical families to each kernel, instead of a dense template bank.

A dense bank of every template at every position and width grows with the square of the length (a few thousand
templates at 64 taps); for filters of hundreds or thousands of taps, as learned audio front ends have, each family is
fitted to each kernel instead, in memory that grows with the layer only:
- Gaussian derivatives of order 0, 1 and 2 (smooth, edge, line): |cos| with the kernel at every integer centre and a
  geometric grid of widths at once (one FFT per width and order), then a parabolic step between grid points.
- Windowed sinusoids (1-D Gabor, the classical reference for audio filterbanks): frequency from the spectrum's peak,
  centre and width from the analytic signal's envelope, then refinement steps (the width tried around that estimate,
  the frequency re-read from the spectrum of the kernel under each window); the phase is exact (the kernel is
  projected on the cosine and sine pair).
Scores are |cos| between zero-mean, unit-norm kernel and template, as with the dense bank, and the baselines (random
kernels of the same length, the same kernels at initialisation, phase-randomised surrogates) are fitted the same way.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.signal import hilbert

from .bank import FAMILY_ORDER, Bank, Template, normalise

DENSE_MAX_TAPS = 64  # 1-D kernels up to this length are matched against the dense bank; longer ones are fitted
SCALE_STEP = 2.0  # ratio of neighbouring widths on the grid the Gaussian derivatives are scanned at
_ORDERS = (("gaussian", "smooth"), ("derivative-of-gaussian", "edge"), ("second-derivative-of-gaussian", "line"))
_FAMILIES = ("smooth", "edge", "line", "gabor")


def _shape(u: np.ndarray, order: int) -> np.ndarray:
    """A Gaussian derivative of `order` at u = (t - centre) / sigma, up to scale."""
    g = np.exp(-(u**2) / 2)
    return g if order == 0 else u * g if order == 1 else (u**2 - 1) * g


def _scales(k: int) -> np.ndarray:
    n = max(1, int(math.floor(math.log((k / 3) / 0.7) / math.log(SCALE_STEP))) + 1)
    return 0.7 * SCALE_STEP ** np.arange(n)


def _col(a: np.ndarray) -> np.ndarray:
    """Per-row parameters as a single-precision column: templates are evaluated in float32 (about four times
    faster for exp and cos, and far more precise than any score needs)."""
    return np.asarray(a, dtype=np.float32)[:, None]


def _cos_at(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """|cos| between normalised rows x (n, k) and templates t (n, k), each row its own template."""
    return np.abs((x * normalise(t)).sum(axis=1))


def gaussian_fits(x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For normalised rows x (n, k): per order 0, 1, 2, the best (|cos|, centre, sigma) of each row."""
    n, k = x.shape
    taps = np.arange(k, dtype=np.float32)
    scales = _scales(k)
    size = next_fast_len(k + 2 * _half(k, scales[-1]))
    spectrum = rfft(x.astype(np.float32), size, axis=1)  # once, for every width and order; single precision
    out = []
    for order in range(3):
        best = np.full(n, -1.0)
        centre, sigma = np.zeros(n), np.ones(n)
        for s in scales:
            grid = _grid_scores(spectrum, k, size, s, order)  # (n, k): |cos| at every integer centre
            c = grid.argmax(axis=1)
            cs = grid[np.arange(n), c]
            better = cs > best
            best, centre, sigma = np.where(better, cs, best), np.where(better, c, centre), np.where(better, s, sigma)
        # parabolic steps in centre and in width from the grid's best, then finer: kept only where they score higher
        for step in ((0.5, 0.0), (0.0, math.log(SCALE_STEP) / 2), (0.25, 0.0), (0.0, math.log(SCALE_STEP) / 4)):
            best, centre, sigma = _parabolic(x, taps, order, best, centre, sigma, step)
        out.append((best, centre, sigma))
    return out


def _half(k: int, s: float) -> int:
    """Half the support a Gaussian derivative of width s is drawn on: 5 sigma, at most the kernel's length."""
    return min(k - 1, int(math.ceil(5 * s)))


def _grid_scores(spectrum: np.ndarray, k: int, size: int, s: float, order: int) -> np.ndarray:
    """|cos| of the rows whose rfft (of `size`) is `spectrum` with the order-th Gaussian derivative of width s
    centred at each tap 0..k-1; the template is cut to the kernel's taps and made zero-mean there, as a dense
    bank's template would be."""
    half = _half(k, s)
    h = _shape(np.arange(-half, half + 1) / s, order)
    # numerator: sum_t x[t] h[t - c + half] for c = 0..k-1 (x is zero-mean, so h's mean drops out); h is laid out
    # around index 0 (its left half wrapped to the end), so that the correlation at centre c sits at index c
    wrapped = np.zeros(size)
    wrapped[: half + 1], wrapped[size - half :] = h[half:], h[:half]
    num = irfft(spectrum * np.conj(rfft(wrapped, size)).astype(np.complex64), size, axis=1)[:, :k]
    # the template's sum and energy over the taps it keeps, for each centre
    c1, c2 = np.concatenate([[0.0], np.cumsum(h)]), np.concatenate([[0.0], np.cumsum(h**2)])
    lo = np.clip(half - np.arange(k), 0, 2 * half + 1)  # first kept index of h for centre c
    hi = np.clip(half - np.arange(k) + k, 0, 2 * half + 1)
    total, energy = c1[hi] - c1[lo], c2[hi] - c2[lo]
    var = energy - total**2 / k
    return np.abs(num) * (1 / np.sqrt(np.where(var > 1e-12, var, np.inf)))


def _parabolic(x, taps, order, best, centre, sigma, step):  # long: a few lines of vector arithmetic
    """One parabolic interpolation step along centre (step[0] taps) or log-width (step[1]), per row."""
    dc, dl = step

    def score(c: np.ndarray, s: np.ndarray) -> np.ndarray:
        return _cos_at(x, _shape((taps[None, :] - _col(c)) / _col(s), order))

    minus = score(centre - dc, sigma * math.exp(-dl))
    plus = score(centre + dc, sigma * math.exp(dl))
    curve = minus + plus - 2 * best
    shift = np.where(curve < -1e-12, 0.5 * (minus - plus) / np.where(curve < -1e-12, curve, -1.0), 0.0)
    shift = np.clip(shift, -1.0, 1.0)
    c, s = centre + shift * dc, sigma * np.exp(shift * dl)
    new = score(c, s)
    for cand, cc, ss in (
        (new, c, s),
        (minus, centre - dc, sigma * math.exp(-dl)),
        (plus, centre + dc, sigma * math.exp(dl)),
    ):
        better = cand > best
        best, centre, sigma = np.where(better, cand, best), np.where(better, cc, centre), np.where(better, ss, sigma)
    return best, centre, sigma


def _peak_frequency(x: np.ndarray, size: int) -> np.ndarray:
    """Each row's frequency of largest magnitude (cycles/sample), between FFT bins by a parabola on the log
    magnitude."""
    mag = np.log(np.abs(rfft(x, size, axis=1)) + 1e-30)
    i = np.clip(mag.argmax(axis=1), 1, mag.shape[1] - 2)
    rows = np.arange(len(x))
    a, b, c = mag[rows, i - 1], mag[rows, i], mag[rows, i + 1]
    curve = a - 2 * b + c
    shift = np.where(curve < -1e-12, 0.5 * (a - c) / np.where(curve < -1e-12, curve, -1.0), 0.0)
    top = np.where(mag.argmax(axis=1) == 0, 0.0, (i + np.clip(shift, -0.5, 0.5)) / size)
    return np.clip(top, 0.0, 0.5)


def _gabor_at(x: np.ndarray, taps: np.ndarray, f: np.ndarray, c: np.ndarray, s: np.ndarray):
    """|cos| of rows x with the best-phased Gabor of frequency f, centre c and width s (per row), and that phase
    (degrees, in [0, 180): a Gabor and its negative are one template)."""
    u = taps[None, :] - _col(c)
    g = np.exp(-((u / _col(s)) ** 2) / 2)
    wave = np.float32(2 * np.pi) * _col(f) * u
    a, b = g * np.cos(wave), g * np.sin(wave)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    aa, bb, ab = (a * a).sum(1), (b * b).sum(1), (a * b).sum(1)
    pa, pb = (x * a).sum(1), (x * b).sum(1)
    det = aa * bb - ab**2
    ok = det > 1e-9 * np.maximum(aa * bb, 1e-300)
    safe = np.where(ok, det, 1.0)
    ca, cb = np.where(ok, (bb * pa - ab * pb) / safe, 0.0), np.where(ok, (aa * pb - ab * pa) / safe, 0.0)
    proj2 = np.where(ok, ca * pa + cb * pb, 0.0)
    only_a, only_b = pa**2 / np.where(aa > 1e-300, aa, np.inf), pb**2 / np.where(bb > 1e-300, bb, np.inf)
    use_a = ~ok & (only_a >= only_b)
    ca, cb = (
        np.where(use_a, pa / np.where(aa > 1e-300, aa, 1.0), ca),
        np.where(~ok & ~use_a, pb / np.where(bb > 1e-300, bb, 1.0), cb),
    )
    proj2 = np.where(ok, proj2, np.maximum(only_a, only_b))
    phase = np.degrees(np.arctan2(-cb, ca)) % 180.0
    return np.sqrt(np.clip(proj2, 0.0, 1.0)), phase


def gabor_fits(
    x: np.ndarray, starts: tuple[tuple[np.ndarray, np.ndarray], ...] = (), rounds: int = 2
) -> tuple[np.ndarray, ...]:
    """For normalised rows x (n, k): each row's best (|cos|, frequency, centre, sigma, phase) of a windowed sinusoid.
    Starts: centre and width from the moments of the analytic signal's squared envelope (for a Gaussian window of
    width s its standard deviation is s / sqrt 2), and any (centre, width) per row in `starts` (the Gaussian
    derivatives' fits: a Gabor of less than a cycle looks like one); the frequency is read from the spectrum of the
    kernel under each window. Each round tries the width and centre around the best so far."""
    n, k = x.shape
    taps = np.arange(k, dtype=np.float32)
    size = next_fast_len(max(2 * k, 256))
    power = np.abs(hilbert(x, axis=1)) ** 2
    total = power.sum(axis=1, keepdims=True)
    w = power / np.where(total > 0, total, 1.0)
    c0 = (w * taps).sum(axis=1)
    s0 = np.sqrt(2 * (w * (taps - c0[:, None]) ** 2).sum(axis=1))
    f0 = _peak_frequency(x, size)
    fit = [*_gabor_at(x, taps, f0, c0, np.clip(s0, 0.7, k)), f0, c0, np.clip(s0, 0.7, k)]  # score, phase, f, c, s
    fit = _try(x, taps, size, fit, [(c0, s0, None), *((c, s, None) for c, s in starts)])
    for _ in range(rounds):
        f, c, s = fit[2:]
        df = 1 / (4 * np.pi * s)  # a quarter of the window's spectral width
        fit = _try(
            x,
            taps,
            size,
            fit,
            [(c, s / SCALE_STEP, None), (c, s * SCALE_STEP, None), (c - s / 2, s, None), (c + s / 2, s, None)]
            + [(c, s, np.clip(f - df, 0, 0.5)), (c, s, np.clip(f + df, 0, 0.5))],
        )
    score, phase, f, c, s = fit
    return score, f, c, s, phase


def _try(x: np.ndarray, taps: np.ndarray, size: int, fit: list[np.ndarray], candidates) -> list[np.ndarray]:
    """The best of `fit` and Gabors at each (centre, width, frequency) candidate; a frequency of None is read at the
    peak of the spectrum of the kernel under that window."""
    k = x.shape[1]
    for cc, ss, ff in candidates:
        ss = np.clip(ss, 0.7, k)
        if ff is None:
            window = np.exp(-(((taps[None, :] - _col(cc)) / _col(ss)) ** 2) / 2)
            ff = _peak_frequency(x * window, size)
        score, ph = _gabor_at(x, taps, ff, cc, ss)
        better = score > fit[0]
        fit = [np.where(better, new, old) for new, old in zip((score, ph, ff, cc, ss), fit, strict=True)]
    return fit


class _Weights:
    """The fitted templates' weights, drawn from their parameters when asked for: bank.weights[idx] for any integer
    array idx gives (*idx.shape, k), as a dense bank's weights would."""

    def __init__(self, fitted: FittedBank) -> None:
        self.fitted = fitted

    def __getitem__(self, idx: int | np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        params = np.asarray(self.fitted.params, dtype=float).reshape(-1, 5)[idx.reshape(-1)]
        return template_weights(params, self.fitted.shape[0]).reshape(*idx.shape, self.fitted.shape[0])

    def __len__(self) -> int:
        return len(self.fitted.templates)


def template_weights(params: np.ndarray, k: int) -> np.ndarray:
    """Templates (m, k) from rows of (code, frequency, centre, sigma, phase): code 0-2 a Gaussian derivative of that
    order, 3 a Gabor."""
    taps = np.arange(k, dtype=float)
    code, f, c, s, phase = (params[:, i : i + 1] for i in range(5))
    u = (taps[None, :] - c) / s
    out = np.empty((len(params), k))
    for order in range(3):
        rows = code[:, 0] == order
        out[rows] = _shape(u[rows], order)
    gabor = code[:, 0] == 3
    wave = np.cos(2 * np.pi * f[gabor] * (taps[None, :] - c[gabor]) + np.radians(phase[gabor]))
    out[gabor] = np.exp(-(u[gabor] ** 2) / 2) * wave
    return out


class FittedBank:
    """The families fitted to long 1-D kernels, in the role of a detector bank: `family_best` fits every family to
    each kernel and keeps the fitted templates (so that `templates[i]` and `weights[i]` name and draw them), and
    `best_score` fits without keeping anything (the null and the surrogates)."""

    fitted = True

    def __init__(self, k: int) -> None:
        self.shape = (k,)
        self.templates: list[Template] = []
        self.params: list[tuple[float, float, float, float, float]] = []  # (code, frequency, centre, sigma, phase)
        self.weights = _Weights(self)
        self.rows_per_block = max(1, 2_000_000 // (16 * k))  # working arrays of a few (rows, k) at a time

    def __len__(self) -> int:
        return len(self.templates)

    def families(self) -> list[str]:
        return [f for f in FAMILY_ORDER if f in _FAMILIES]

    def _fits(self, rows: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], tuple[np.ndarray, ...]]:
        rows = rows.astype(np.float32)
        gauss = gaussian_fits(rows)
        return gauss, gabor_fits(rows, starts=tuple((c, s) for _, c, s in gauss))

    def best_score(self, rows: np.ndarray) -> np.ndarray:
        gauss, gabor = self._fits(rows)
        return np.max([g[0] for g in gauss] + [gabor[0]], axis=0)

    def family_best(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Like Bank.family_best; every family's fit to each row is kept as a template."""
        gauss, gabor = self._fits(rows)
        n = len(rows)
        idx = np.full((n, len(FAMILY_ORDER)), -1, dtype=np.int64)
        scores = np.zeros((n, len(FAMILY_ORDER)))
        for order, ((name, family), (score, centre, sigma)) in enumerate(zip(_ORDERS, gauss, strict=True)):
            col = FAMILY_ORDER.index(family)
            idx[:, col], scores[:, col] = (
                self._keep(order, name, family, np.zeros(n), centre, sigma, np.zeros(n)),
                score,
            )
        score, f, centre, sigma, phase = gabor
        col = FAMILY_ORDER.index("gabor")
        idx[:, col], scores[:, col] = self._keep(3, "gabor", "gabor", f, centre, sigma, phase), score
        return idx, scores

    def _keep(self, code, name, family, f, centre, sigma, phase) -> np.ndarray:  # noqa: ANN001
        start = len(self.templates)
        for fi, ci, si, pi in zip(f.tolist(), centre.tolist(), sigma.tolist(), phase.tolist(), strict=True):
            where = f"centre tap {ci:.1f}, sigma {si:.1f} taps"
            detail = f"f={fi:.4f} c/sample, phase {pi:.0f}°, {where}" if code == 3 else where
            self.templates.append(Template(name, family, None, round(si, 3), detail))
            self.params.append((float(code), fi, ci, si, pi))
        return np.arange(start, len(self.templates))

    def display(self) -> Bank:
        """Examples of the fitted families at this length, for the bank page: each family at a few widths (and the
        Gabor at a few frequencies), centred."""
        k = self.shape[0]
        params, templates = [], []
        for s in (k / 64, k / 16, k / 6):
            for order, (name, family) in enumerate(_ORDERS):
                params.append((order, 0.0, (k - 1) / 2, s, 0.0))
                templates.append(Template(name, family, None, round(s, 3), f"sigma {s:.1f} taps"))
        for f in (0.01, 0.03, 0.1, 0.3):
            for phase in (0.0, 90.0):
                params.append((3, f, (k - 1) / 2, k / 8, phase))
                templates.append(
                    Template("gabor", "gabor", None, round(k / 8, 3), f"f={f:g} c/sample, phase {phase:g}°")
                )
        weights = template_weights(np.array(params, dtype=float), k)
        return Bank(shape=(k,), templates=tuple(templates), weights=weights, matrix=normalise(weights))
