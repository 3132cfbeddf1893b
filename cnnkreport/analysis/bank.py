"""Detector banks: classical edge, line, blob, smoothing, corner, Gabor, step and ramp templates for any kernel size.

Every template is generated for the exact shape of the kernels it is compared with, in the orientation PyTorch
applies kernels (cross-correlation, no flip), on the grid as the image is displayed: row 0 at the top, x to the right,
y up. `orientation_deg` is the direction along which a template differentiates (for an edge: the direction in which
intensity increases), counter-clockwise from +x, in [0, 180); None for isotropic and 1-D templates.
Templates are compared sign-invariantly, so a template and its negative are one template.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.signal import savgol_coeffs

ORIENTATIONS = np.arange(0, 180, 15)  # degrees; every 15 at least, as the method promises
DUPLICATE = 0.9999  # |cos| above which two templates are the same template
CHUNK = 4_000_000  # entries of a (kernels x templates) score block, to bound memory on large layers


@dataclass(frozen=True)
class Template:
    name: str
    family: str  # edge | line | blob | smooth | corner | gabor | step | ramp
    orientation_deg: float | None
    scale: float
    detail: str = ""  # e.g. "f=0.25 c/px, phase 90°" or "offset (0.5, 0)"

    def label(self) -> str:
        o = "" if self.orientation_deg is None else f" {self.orientation_deg:g}°"
        return f"{self.name}{o}"

    def short(self) -> str:
        """A label that fits under a small tile."""
        o = "" if self.orientation_deg is None else f" {self.orientation_deg:g}°"
        return f"{SHORT_NAMES.get(self.name, self.name)}{o}"

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "family": self.family, "orientation_deg": self.orientation_deg, "scale": self.scale}


@dataclass(frozen=True, eq=False)
class Bank:
    shape: tuple[int, ...]  # (k,) or (kh, kw)
    templates: tuple[Template, ...]
    weights: np.ndarray  # (M, *shape) as generated, for display
    matrix: np.ndarray  # (M, D) zero-mean, unit-norm rows: scores are |kernels @ matrix.T|

    def __len__(self) -> int:
        return len(self.templates)

    fitted = False

    @property
    def rows_per_block(self) -> int:
        """Kernels scored at a time: a (kernels x templates) block of at most CHUNK entries."""
        return max(1, CHUNK // max(len(self.templates), 1))

    def display(self) -> Bank:
        """What the bank page shows: the whole bank."""
        return self

    def families(self) -> list[str]:
        return sorted({t.family for t in self.templates}, key=FAMILY_ORDER.index)

    @functools.cached_property
    def blocks(self) -> tuple[tuple[int, int, int], ...]:
        """(family's index in FAMILY_ORDER, first template, end) of each family: the templates are kept in blocks of
        one family each, so that a family's best match is a maximum over a slice."""
        fam = np.array([FAMILY_ORDER.index(t.family) for t in self.templates])
        cuts = [0, *np.flatnonzero(np.diff(fam)) + 1, len(fam)]
        return tuple((int(fam[a]), int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True))

    def family_best(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For normalised kernels (n, D): the index (n, F) and |cos| (n, F) of each family's best template, F the
        families of FAMILY_ORDER; -1 and 0 for a family the bank does not have."""
        idx = np.full((len(rows), len(FAMILY_ORDER)), -1, dtype=np.int64)
        best = np.zeros((len(rows), len(FAMILY_ORDER)))
        s = np.abs(rows @ self.matrix.T)
        for f, a, b in self.blocks:
            i = s[:, a:b].argmax(axis=1)
            idx[:, f], best[:, f] = a + i, s[:, a:b][np.arange(len(rows)), i]
        return idx, best

    def best_score(self, rows: np.ndarray) -> np.ndarray:
        """r* of normalised kernels (n, D): the best |cos| over the bank."""
        return np.abs(rows @ self.matrix.T).max(axis=1)


SHORT_NAMES = {
    "derivative-of-gaussian": "gauss d1",
    "second-derivative-of-gaussian": "gauss d2",
    "dog": "DoG",
    "log": "LoG",
    "mixed-derivative": "d2/dxdy",
    "quadrant-corner": "corner",
    "line-detector": "line",
    "savitzky-golay-d1": "SG d1",
    "savitzky-golay-d2": "SG d2",
    "first-difference": "1st diff",
    "central-difference": "central diff",
    "second-difference": "2nd diff",
}
# Simplest first: when templates of several families match a kernel almost equally well, the first is named.
FAMILY_ORDER = ["edge", "line", "blob", "smooth", "step", "ramp", "corner", "gabor"]


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows of x (N, D) made zero-mean and unit-norm; an all-constant row becomes all zeros (it matches nothing)."""
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-12)


# --- 2-D ----------------------------------------------------------------------------------------------------------


def _grid(shape: tuple[int, int], dx: float = 0.0, dy: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x right, y up) relative to the kernel centre shifted by (dx, dy)."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(float)
    return x - (w - 1) / 2 - dx, (h - 1) / 2 - y - dy


COARSE_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
# Steps of about 1.2: a Gaussian derivative of any sigma in between matches one of these at |cos| > 0.99, so that a
# planted derivative of Gaussian is not out-scored by a Gabor that happens to sit closer to it.
FINE_SCALES = (0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.4, 1.7, 2.0, 2.4, 2.9, 3.5, 4.2, 5.0, 6.0, 7.2, 8.6, 10.3)


def _scales(size: int, fine: bool = True) -> list[float]:
    """Gaussian scales (sigma, pixels) that fit a kernel of this side."""
    return [s for s in (FINE_SCALES if fine else COARSE_SCALES) if s <= max(size / 3.0, 0.5)]


def _offsets(size: int) -> list[tuple[float, float]]:
    steps = (-0.5, 0.0, 0.5) if size >= 4 else (0.0,)
    return [(dx, dy) for dx in steps for dy in steps]


# Named classics, as displayed (row 0 at the top), at the orientation given.
_SOBEL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
_PREWITT = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], float)
_SCHARR = np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], float)
_SOBEL_DIAG = np.array([[0, 1, 2], [-1, 0, 1], [-2, -1, 0]], float)  # increases towards the top right: 45°
_PREWITT_DIAG = np.array([[0, 1, 1], [-1, 0, 1], [-1, -1, 0]], float)
_KIRSCH_N = np.array([[5, 5, 5], [-3, 0, -3], [-3, -3, -3]], float)  # strongest where the top is bright: 90°
_KIRSCH_NE = np.array([[-3, 5, 5], [-3, 0, 5], [-3, -3, -3]], float)  # 45°
_LINE_H = np.array([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]], float)  # a horizontal line: varies along y, 90°
_LINE_D = np.array([[-1, -1, 2], [-1, 2, -1], [2, -1, -1]], float)  # a line from bottom left to top right: 135°


def _rot(k: np.ndarray, quarter_turns: int) -> np.ndarray:
    return np.rot90(k, quarter_turns)  # counter-clockwise as displayed


def _classics() -> Iterator[tuple[str, str, float | None, np.ndarray]]:
    """(name, family, orientation, kernel) of the named 3x3 (and 2x2) classics at every orientation they come in."""
    for name, k0, kd in (("sobel", _SOBEL, _SOBEL_DIAG), ("prewitt", _PREWITT, _PREWITT_DIAG)):
        yield name, "edge", 0.0, k0
        yield name, "edge", 90.0, _rot(k0, 1)
        yield name, "edge", 45.0, kd
        yield name, "edge", 135.0, _rot(kd, 1)
    yield "scharr", "edge", 0.0, _SCHARR
    yield "scharr", "edge", 90.0, _rot(_SCHARR, 1)
    yield "roberts", "edge", 135.0, np.array([[1, 0], [0, -1]], float)
    yield "roberts", "edge", 45.0, np.array([[0, 1], [-1, 0]], float)
    for q in range(4):  # eight compass masks; a mask and its opposite are not negatives of each other
        yield "kirsch", "edge", float((90 + 90 * q) % 180), _rot(_KIRSCH_N, q)
        yield "kirsch", "edge", float((45 + 90 * q) % 180), _rot(_KIRSCH_NE, q)
    yield "laplacian", "blob", None, np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float)
    yield "laplacian", "blob", None, np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]], float)
    yield "line-detector", "line", 90.0, _LINE_H
    yield "line-detector", "line", 0.0, _rot(_LINE_H, 1)
    yield "line-detector", "line", 135.0, _LINE_D
    yield "line-detector", "line", 45.0, _rot(_LINE_D, 1)


def _place(small: np.ndarray, shape: tuple[int, int]) -> Iterator[tuple[np.ndarray, str]]:
    """A small template pasted at every position whose centre is within one pixel of the kernel centre."""
    h, w = shape
    sh, sw = small.shape
    cy, cx = (h - sh) / 2, (w - sw) / 2
    for top in range(0, h - sh + 1):
        for left in range(0, w - sw + 1):
            if abs(top - cy) <= 1 and abs(left - cx) <= 1:
                out = np.zeros(shape)
                out[top : top + sh, left : left + sw] = small
                yield out, f"offset ({left - cx:g}, {cy - top:g})"


def _bank_2d(shape: tuple[int, int]) -> Iterator[tuple[Template, np.ndarray]]:
    size = min(shape)
    for name, family, orientation, k in _classics():
        for m in range(1, size // k.shape[0] + 1):  # scale m: each pixel becomes m x m
            for placed, where in _place(np.kron(k, np.ones((m, m))), shape):
                yield Template(name, family, orientation, float(m), where), placed
    for dx, dy in _offsets(size):
        x, y = _grid(shape, dx, dy)
        where = f"offset ({dx:g}, {dy:g})"
        for s in _scales(size):
            g = np.exp(-(x**2 + y**2) / (2 * s**2))
            r2 = (x**2 + y**2) / s**2
            yield Template("gaussian", "smooth", None, s, where), g
            yield Template("log", "blob", None, s, where), (r2 - 2) * g
            yield Template("dog", "blob", None, s, where), g - np.exp(-(x**2 + y**2) / (2 * (1.6 * s) ** 2)) / 1.6**2
            for theta in ORIENTATIONS:
                t = math.radians(theta)
                u, v = x * math.cos(t) + y * math.sin(t), -x * math.sin(t) + y * math.cos(t)
                yield Template("derivative-of-gaussian", "edge", float(theta), s, where), u * g
                yield Template("second-derivative-of-gaussian", "line", float(theta), s, where), (u**2 / s**2 - 1) * g
                if theta < 90:  # the mixed derivative repeats (negated) every 90 degrees
                    yield Template("mixed-derivative", "corner", float(theta), s, where), u * v * g
    x, y = _grid(shape)
    for theta in ORIENTATIONS:
        t = math.radians(theta)
        u, v = x * math.cos(t) + y * math.sin(t), -x * math.sin(t) + y * math.cos(t)
        yield Template("ramp", "ramp", float(theta), float(size)), u
        for a in (1.0, 2.0):
            if a < size / 2:
                yield Template("ramp", "ramp", float(theta), a, f"clipped at ±{a:g} px"), np.clip(u, -a, a)
        for o in (-1.0, -0.5, 0.0, 0.5, 1.0):
            yield Template("step", "step", float(theta), 1.0, f"offset {o:g}"), (u > o).astype(float)
        for f in (0.125, 0.25, 0.375):
            for s in _scales(size, fine=False)[-2:]:
                for phase in (0, 45, 90, 135):
                    g = np.exp(-(x**2 + y**2) / (2 * s**2))
                    wave = np.cos(2 * np.pi * f * u + math.radians(phase))
                    yield Template("gabor", "gabor", float(theta), s, f"f={f:g} c/px, phase {phase}°"), wave * g
    for corner_deg in range(0, 360, 45):  # the corner of two edges: one bright quadrant, pointing along it
        t = math.radians(corner_deg + 45)
        u, v = x * math.cos(t) + y * math.sin(t), -x * math.sin(t) + y * math.cos(t)
        corner = ((u > 0) & (v > 0)).astype(float)
        yield Template("quadrant-corner", "corner", float(corner_deg % 180), 1.0, f"pointing {corner_deg}°"), corner
    for b in range(2, size):  # box smoothing smaller than the kernel (a full-size box is a constant)
        for placed, where in _place(np.ones((b, b)), shape):
            yield Template("box", "smooth", None, float(b), where), placed


# --- 1-D ----------------------------------------------------------------------------------------------------------


def _slide(small: np.ndarray, k: int) -> Iterator[tuple[np.ndarray, str]]:
    """A short template at every position in a k-tap kernel."""
    for start in range(0, k - len(small) + 1):
        out = np.zeros(k)
        out[start : start + len(small)] = small
        yield out, f"at tap {start}"


def _bank_1d(k: int) -> Iterator[tuple[Template, np.ndarray]]:
    for name, family, small in (
        ("first-difference", "edge", np.array([-1.0, 1.0])),
        ("central-difference", "edge", np.array([-1.0, 0.0, 1.0])),
        ("second-difference", "line", np.array([1.0, -2.0, 1.0])),
    ):
        for placed, where in _slide(small, k):
            yield Template(name, family, None, 1.0, where), placed
    for window in range(5, k + 1, 2):
        for deriv, name, family in ((1, "savitzky-golay-d1", "edge"), (2, "savitzky-golay-d2", "line")):
            coeffs = savgol_coeffs(window, polyorder=min(3, window - 1), deriv=deriv, use="dot")
            for placed, where in _slide(coeffs, k):
                yield Template(name, family, None, float(window), where), placed
    for cut in range(1, k):
        yield Template("step", "step", None, 1.0, f"at tap {cut}"), (np.arange(k) >= cut).astype(float)
    for b in range(2, k - 1):  # a box that touches either end is a step once centred: only interior boxes
        for placed, where in list(_slide(np.ones(b), k))[1:-1]:
            yield Template("box", "smooth", None, float(b), where), placed
    t0 = np.arange(k) - (k - 1) / 2
    yield Template("ramp", "ramp", None, float(k)), t0
    for width in range(2, k - 1):
        for start in range(0, k - width):
            ramp = np.clip((np.arange(k) - start) / width, 0, 1)
            yield Template("ramp", "ramp", None, float(width), f"rises over taps {start}-{start + width}"), ramp
    for off in (-0.5, 0.0, 0.5):
        t = t0 - off
        for s in (x for x in FINE_SCALES if x <= max(k / 3, 0.5)):
            g = np.exp(-(t**2) / (2 * s**2))
            where = f"offset {off:g}"
            yield Template("gaussian", "smooth", None, s, where), g
            yield Template("derivative-of-gaussian", "edge", None, s, where), t * g
            yield Template("second-derivative-of-gaussian", "line", None, s, where), (t**2 / s**2 - 1) * g
    for f in np.linspace(0.5 / max(k / 2, 1), 0.5, 8):  # windowed sinusoids, the audio filterbank reference
        for s in (k / 6, k / 4):
            for phase in (0, 45, 90, 135):
                wave = np.cos(2 * np.pi * f * t0 + math.radians(phase)) * np.exp(-(t0**2) / (2 * s**2))
                yield Template("gabor", "gabor", None, round(s, 3), f"f={f:.3f} c/sample, phase {phase}°"), wave


# --- assembly -----------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def bank(shape: tuple[int, ...]) -> Bank:
    """The detector bank for kernels of `shape` ((k,) or (kh, kw)), with duplicates and constants removed.
    Every template is also added time-reversed (1-D) or mirrored (2-D is covered by its orientations)."""
    if len(shape) == 1:
        items = list(_bank_1d(shape[0]))
        items += [(t, w[::-1].copy()) for t, w in items]  # both time directions
    elif len(shape) == 2:
        items = list(_bank_2d((shape[0], shape[1])))
    else:
        raise ValueError(f"banks exist for 1-D and 2-D kernels, not {shape}")
    items.sort(key=lambda item: FAMILY_ORDER.index(item[0].family))  # stable: each family one block, in its order
    weights = np.stack([w for _, w in items]).reshape(len(items), *shape)
    matrix = normalise(weights.reshape(len(items), -1))
    keep = _distinct(matrix)
    return Bank(
        shape=tuple(shape),
        templates=tuple(t for (t, _), k in zip(items, keep, strict=True) if k),
        weights=weights[keep],
        matrix=matrix[keep],
    )


def _distinct(matrix: np.ndarray, block: int = 1024) -> np.ndarray:
    """Mask of rows that are neither all-zero nor a (sign-flipped) duplicate of an earlier row. Compared a block of
    rows at a time, so that a bank of tens of thousands of templates (a 64-tap kernel) needs no square matrix."""
    nonzero = np.linalg.norm(matrix, axis=1) > 0.5
    earlier_twin = np.zeros(len(matrix), dtype=bool)
    for a in range(0, len(matrix), block):
        b = min(a + block, len(matrix))
        gram = np.abs(matrix[a:b] @ matrix[:b].T)  # rows a..b against every row up to b
        earlier = np.arange(b)[None, :] < np.arange(a, b)[:, None]
        earlier_twin[a:b] = ((gram > DUPLICATE) & earlier).any(axis=1)
    return nonzero & ~earlier_twin
