"""What the learned conv kernels do, as numbers: frequency responses, responses to test signals, feature maps,
channel-combined views, and second-layer kernels drawn in input space. Pure functions over numpy arrays.

Kernels are numpy arrays as PyTorch stores them: Conv1d weight (out, in, k), Conv2d weight (out, in, kh, kw).
PyTorch applies them as cross-correlation, y[n] = sum_j w[j] x[n + j - left], without flipping the kernel; with
padding="same" the offset is left = (k - 1) // 2, so for even k the extra zero goes on the right. Everything
here describes the kernels as the layer applies them. Frequencies are in cycles per sample (or pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

DB_FLOOR = -120.0  # dB: magnitudes below 1e-6 are shown as this, instead of -inf


@dataclass(frozen=True)
class FreqResponse1D:
    """Frequency response of a 1-D kernel as the layer applies it (cross-correlation, "same" alignment)."""

    freq: np.ndarray  # (n,) cycles/sample on [0, 0.5]
    magnitude: np.ndarray  # (n,) |H(f)|, linear gain
    magnitude_db: np.ndarray  # (n,) 20 log10 |H(f)|, floored at DB_FLOOR
    phase: np.ndarray  # (n,) arg H(f), unwrapped, radians


@dataclass(frozen=True)
class FreqResponse2D:
    """Magnitude of the 2-D frequency response of a kernel, DC at the centre, +fy pointing up the image."""

    fx: np.ndarray  # (P,) cycles/pixel, ascending, left to right (along columns)
    fy: np.ndarray  # (P,) cycles/pixel, ascending, bottom to top (against the row index: row 0 is the top)
    magnitude: np.ndarray  # (P, P) |H| at (fy[i], fx[j]); plot with imshow(origin="lower") so +fy is up


@dataclass(frozen=True)
class ChannelViews:
    """A multi-channel Conv1d layer seen per (filter, channel) and combined across its input channels."""

    weights: np.ndarray  # (out, in, k) the kernel of each filter for each input channel
    sum: np.ndarray  # (out, k) summed over input channels: the filter's response to a signal equal in all channels
    mean: np.ndarray  # (out, k) averaged over input channels


def unit_peak(rows: np.ndarray, shrink_only: bool = False) -> np.ndarray:
    """Rows (..., D), each scaled by the power of two that brings its largest |value| into [0.5, 1) (a row of zeros
    stays zeros; `shrink_only`: only the rows larger than that), in its own float type (integers: float64). Before
    squaring: the energy of a weight of 3e38 (a float32's largest) overflows, that of the scaled row does not. A
    power of two scales exactly, so every ratio computed from the row has the same bits as from the row itself."""
    x = np.asarray(rows)
    x = x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)
    peak = np.abs(x).max(axis=-1, keepdims=True, initial=0.0)
    exponent = np.frexp(peak)[1]  # peak = m 2^e with m in [0.5, 1)
    keep = ~np.isfinite(peak) | (peak == 0) | ((exponent <= 0) if shrink_only else False)
    return np.ldexp(x, np.where(keep, 0, -exponent).astype(np.int32))


def roomy(w: np.ndarray, terms: int) -> np.ndarray:
    """w as it is, or in float64 where a sum of `terms` of its values could overflow its own float type (float32
    weights near 3.4e38, its largest): channel sums and differences of snapshots stay finite, and no other number
    changes by a bit."""
    w = np.asarray(w)
    if not np.issubdtype(w.dtype, np.floating) or w.dtype == np.float64 or not w.size:
        return w
    return w.astype(np.float64) if float(np.abs(w).max()) * max(terms, 1) > float(np.finfo(w.dtype).max) else w


def frequency_response_1d(
    w: np.ndarray, n: int = 256, centred: bool = True, freq: np.ndarray | None = None
) -> FreqResponse1D:
    """Frequency response of one 1-D kernel w (k,) on n frequencies from 0 to 0.5 cycles/sample (or at `freq`, in
    cycles/sample: log-spaced ones, for a log frequency axis).

    Feeding x[n] = exp(i 2 pi f n) to the layer gives y[n] = H(f) x[n] with, for cross-correlation,
        H(f) = sum_j w[j] exp(+i 2 pi f (j - c)),
    where c = (k - 1) // 2 is the tap aligned with the output sample under padding="same" (so this is exactly the
    response of `respond_1d`), or c = 0 with centred=False (y[n] = sum_j w[j] x[n + j]). The two differ only by
    the linear phase 2 pi f c. With c at the centre, a symmetric kernel has zero phase (or pi where H < 0) and an
    antisymmetric one +-pi/2: [-1, 0, 1] gives H = 2i sin(2 pi f), phase +pi/2. Note the plus sign: it is the
    conjugate of the DFT of w, because the layer does not flip the kernel. The magnitude is the same either way.
    """
    w = np.asarray(w, dtype=np.float64).ravel()
    k = len(w)
    c = (k - 1) // 2 if centred else 0
    freq = np.linspace(0.0, 0.5, n) if freq is None else np.asarray(freq, dtype=np.float64)
    omega = 2.0 * np.pi * freq
    # freqz gives sum_m b[m] e^{-i omega m}; for b = w reversed: e^{-i omega (k-1)} sum_j w[j] e^{+i omega j}
    _, h = signal.freqz(w[::-1], worN=omega)
    h = h * np.exp(1j * omega * (k - 1 - c))  # move the time origin from tap k-1 to tap c
    mag = np.abs(h)
    return FreqResponse1D(
        freq=freq,
        magnitude=mag,
        magnitude_db=20.0 * np.log10(np.maximum(mag, 10.0 ** (DB_FLOOR / 20.0))),
        phase=_phase(h, tol=1e-9 * max(float(np.abs(w).sum()), 1e-300)),
    )


def _phase(h: np.ndarray, tol: float) -> np.ndarray:
    """Unwrapped arg h (n,), starting in (-pi, pi]. Where |h| <= tol the angle is rounding noise: those points
    take the angle of the nearest earlier good point (the first good one at the start), so the unwrapping holds."""
    angle = np.angle(h)
    good = np.abs(h) > tol
    if not good.any():
        return np.zeros_like(angle)
    idx = np.maximum.accumulate(np.where(good, np.arange(len(h)), 0))  # last good index at or before each point
    idx[: np.argmax(good)] = np.argmax(good)
    phase = np.unwrap(angle[idx])
    return phase + 2.0 * np.pi if phase[0] <= -np.pi + 1e-9 else phase  # start in (-pi, pi]: -1 is +pi, not -pi


def reference_responses_1d(n: int = 256, freq: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Magnitude responses (n,) of the first difference [-1, 1] and second difference [1, -2, 1], on the same
    frequency grid as `frequency_response_1d(w, n, freq=freq)`, each normalised so its peak (at f = 0.5, the end
    of the grid) is 1: sin(pi f) and sin^2(pi f). They are overlays: the figures plot each kernel's magnitude
    normalised to its own peak, so the shapes compare (a kernel that tracks "1st difference" is a high-pass edge
    detector of that order)."""
    out = {}
    for name, ref in (("1st difference", [-1.0, 1.0]), ("2nd difference", [1.0, -2.0, 1.0])):
        mag = frequency_response_1d(np.array(ref), n, freq=freq).magnitude
        out[name] = mag / mag.max()
    return out


def frequency_response_2d(w: np.ndarray, pad: int = 32) -> FreqResponse2D:
    """Magnitude of the 2-D DFT of one kernel w (kh, kw), zero-padded to (P, P) with P = max(pad, kh, kw).

    Axes: fx along image columns (left to right), fy up the image (row 0 is the top, so fy runs against the row
    index); both cycles/pixel from -0.5 to 0.5 - 1/P, DC at index P // 2. A kernel that is a grating
    cos(2 pi (fx0 col - fy0 row)), i.e. stripes whose normal points right and up, peaks at +-(fx0, fy0).
    For a real kernel |H(f)| = |H(-f)|, so correlation versus convolution does not change this picture.
    """
    w = np.asarray(w, dtype=np.float64)
    p = max(pad, *w.shape)
    # flip the rows so that array axis 0 runs upwards; then axis 0 of the DFT is fy (up), axis 1 is fx
    mag = np.abs(np.fft.fftshift(np.fft.fft2(w[::-1, :], s=(p, p))))  # (P, P) at (fy, fx)
    f = np.fft.fftshift(np.fft.fftfreq(p))
    return FreqResponse2D(fx=f, fy=f.copy(), magnitude=mag)


def test_signals(length: int = 128) -> dict[str, np.ndarray]:
    """Deterministic test inputs (length,) float64, four periods each: sine, square, triangle and sawtooth in
    [-1, 1], and a train of gaussian pulses from 0 to 1 (sigma a tenth of the period)."""
    period = length / 4
    n = np.arange(length, dtype=np.float64)
    t = 2.0 * np.pi * n / period
    u = np.mod(n / period, 1.0)  # phase within the period, [0, 1)
    return {
        "sine": np.sin(t),
        "square": signal.square(t),
        "triangle": signal.sawtooth(t, width=0.5),
        "sawtooth": signal.sawtooth(t),
        "gaussian": np.exp(-0.5 * ((u - 0.5) / 0.1) ** 2),
    }


test_signals.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name


def _same_padding(k: int) -> tuple[int, int]:
    """PyTorch's padding="same" (dilation 1): k - 1 zeros, the odd one on the right."""
    left = (k - 1) // 2
    return left, k - 1 - left


def respond_1d(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Output (L,) of one kernel w (k,) on a signal x (L,), exactly as
    F.conv1d(x[None, None], w[None, None], padding="same"): cross-correlation with zero padding, y[n] =
    sum_j w[j] x[n + j - (k - 1) // 2]. For even k the extra zero is on the right. (PulseNet pads k // 2 on both
    sides: the same for odd k; for even k its output is one sample longer, model[n] = same[n - 1].)"""
    w = np.asarray(w, dtype=np.float64).ravel()
    left, right = _same_padding(len(w))
    xp = np.pad(np.asarray(x, dtype=np.float64), (left, right))  # (L + k - 1,)
    return np.correlate(xp, w, mode="valid")  # numpy's correlate does not flip w


def feature_maps_2d(weights: np.ndarray, images: np.ndarray) -> np.ndarray:
    """First-layer feature maps (B, out, H, W) float32: kernels (out, in, kh, kw) on images (B, in, H, W) as
    F.conv2d(images, weights, padding="same") computes them, before bias and ReLU. Plain numpy (no torch), so
    that it is safe in forked worker processes."""
    w = np.asarray(weights, dtype=np.float64)
    x = np.asarray(images, dtype=np.float64)
    (top, bottom), (left, right) = _same_padding(w.shape[2]), _same_padding(w.shape[3])
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))  # (B, in, H, W, kh, kw)
    return np.einsum("bihwyx,oiyx->bohw", windows, w).astype(np.float32)


def channel_views_1d(w: np.ndarray) -> ChannelViews:
    """A Conv1d layer (out, in, k) per (filter, input channel), and summed and averaged over input channels."""
    w = np.asarray(w)
    return ChannelViews(weights=w, sum=w.sum(axis=1), mean=w.mean(axis=1))


def _input_space(w2: np.ndarray, w1: np.ndarray, stride: int, dims: int) -> np.ndarray:
    """Shared body of input_space_1d/2d: out[j, stride*p + q] = sum_c w2[j, c, p] * w1[c, :, q], summed over the
    first layer's input channels. Plain numpy (no torch), so that it is safe in forked worker processes."""
    w1 = np.asarray(w1, dtype=np.float64)
    w2 = np.asarray(w2, dtype=np.float64)
    if w1.ndim != dims + 2 or w2.ndim != dims + 2 or w2.shape[1] != w1.shape[0]:
        raise ValueError(f"need w1 (c, in, k...) and w2 (out2, c, k...), {dims}-D kernels; got {w1.shape}, {w2.shape}")
    k1, k2 = w1.shape[2:], w2.shape[2:]
    size = tuple((b - 1) * stride + a for a, b in zip(k1, k2, strict=True))
    out = np.zeros((w2.shape[0], *size))
    base = w1.sum(axis=1)  # (c, *k1): summed over the first layer's input channels
    for p in np.ndindex(*k2):  # each tap of the second layer places the first-layer kernels it weights
        placed = np.tensordot(w2[(slice(None), slice(None), *p)], base, axes=(1, 0))  # (out2, *k1)
        region = tuple(slice(stride * pi, stride * pi + ki) for pi, ki in zip(p, k1, strict=True))
        out[(slice(None), *region)] += placed
    return out


def input_space_2d(w2: np.ndarray, w1: np.ndarray, stride: int = 2) -> np.ndarray:
    """Second-layer Conv2d kernels drawn in input space, as Lee et al. (2009) drew their second layer.

    Each second-layer kernel j is the combination of the first-layer kernels that feed it, each placed where its
    tap sees the input through the pooling: V_j = sum_c sum_p w2[j, c, p] * shift(w1[c], stride * p).
    w1 (c, in1, k1, k1), w2 (out2, c, k2, k2) -> V (out2, K, K) with K = (k2 - 1) * stride + k1.
    This is a linear picture: it ignores the ReLU (and biases) between the layers and takes the max-pooling as
    plain subsampling with step `stride`, as Lee et al. did. With that, layer 2 at output position m is exactly
    the cross-correlation of the input with V_j at position stride * m. If the first layer has several input
    channels (in1 > 1), V is summed over them: the kernel that an input equal in every channel (grey) meets.
    """
    return _input_space(w2, w1, stride, dims=2)


def input_space_1d(w2: np.ndarray, w1: np.ndarray, stride: int = 2) -> np.ndarray:
    """The 1-D version of `input_space_2d`: w1 (c, in1, k1), w2 (out2, c, k2) -> V (out2, (k2 - 1) * stride + k1),
    V_j = sum_c sum_p w2[j, c, p] * shift(w1[c], stride * p), summed over in1. Same linear picture: no ReLU,
    pooling taken as subsampling with step `stride` (Lee et al. 2009)."""
    return _input_space(w2, w1, stride, dims=1)


FILTER_TYPES = ("low-pass", "high-pass", "band-pass", "band-stop", "all-pass", "zero")
_HALF_POWER = 1.0 / np.sqrt(2.0)  # -3 dB


@dataclass(frozen=True)
class FilterShape:
    """A 1-D kernel described as a filter, as the layer applies it. Frequencies in cycles per sample, times in
    samples (taps, counted from the first)."""

    peak_frequency: float  # where the magnitude response is largest
    bandwidth: float  # width of the band around the peak where the gain is within 3 dB of the peak
    filter_type: str  # one of FILTER_TYPES: which ends of [0, 0.5] lie within 3 dB of the peak
    centre: float  # centre of the kernel's energy in time: sum j w[j]^2 / sum w[j]^2
    duration: float  # RMS duration: the spread of the energy around its centre (0 for a single tap)


def _response_grid(k: int) -> int:
    """FFT length for a kernel of k taps: zero-padded at least 8x (so the peak lies within 1/16 of a bin of its
    true place before refinement), never under 1,024."""
    return int(2 ** np.ceil(np.log2(max(1024, 8 * k))))


def _crossing(mag: np.ndarray, freq: np.ndarray, i: int, j: int, level: float) -> float:
    """The frequency between grid points i and j (neighbours) where the magnitude crosses `level`, linearly."""
    a, b = mag[i], mag[j]
    t = 0.0 if a == b else (level - a) / (b - a)
    return float(freq[i] + t * (freq[j] - freq[i]))


def describe_1d(w: np.ndarray) -> FilterShape:
    """Peak frequency, -3 dB bandwidth, filter type, and where in time a 1-D kernel w (k,) lives. A kernel of all
    zeros is all zeros (type "zero"), never NaN. The magnitude is the same for the kernel as stored and as applied
    (cross-correlation only conjugates the response)."""
    w = unit_peak(np.asarray(w, dtype=np.float64).ravel())  # every number below is scale-free: no overflow
    energy = w * w
    total = float(energy.sum())
    if total == 0.0 or not np.isfinite(total):
        return FilterShape(0.0, 0.0, "zero", 0.0, 0.0)
    taps = np.arange(len(w))
    centre = float((taps * energy).sum() / total)
    duration = float(np.sqrt(max(((taps - centre) ** 2 * energy).sum() / total, 0.0)))
    n = _response_grid(len(w))
    mag = np.abs(np.fft.rfft(w, n))  # (n/2 + 1,) on [0, 0.5]
    freq = np.arange(len(mag)) / n
    p = int(np.argmax(mag))
    peak = float(freq[p])
    if 0 < p < len(mag) - 1:  # a parabola through the peak and its neighbours (in dB) finds it between grid points
        lo, mid, hi = 20 * np.log10(np.maximum(mag[p - 1 : p + 2], 1e-300))
        denom = lo - 2 * mid + hi
        if denom < 0:
            peak = float(freq[p] + 0.5 * (lo - hi) / denom / n)
    level = mag[p] * _HALF_POWER
    above = mag >= level
    left = p
    while left > 0 and above[left - 1]:
        left -= 1
    right = p
    while right < len(mag) - 1 and above[right + 1]:
        right += 1
    f_lo = 0.0 if left == 0 else _crossing(mag, freq, left - 1, left, level)
    f_hi = 0.5 if right == len(mag) - 1 else _crossing(mag, freq, right, right + 1, level)
    if above.all():
        kind = "all-pass"
    elif above[0] and above[-1]:
        kind = "band-stop"
    elif above[0]:
        kind = "low-pass"
    elif above[-1]:
        kind = "high-pass"
    else:
        kind = "band-pass"
    return FilterShape(peak, f_hi - f_lo, kind, centre, duration)
