"""A layer of 1-D kernels as a filterbank (filterbank_figure), and the frequency axis that every filter figure shares
(FreqAxis): cycles per sample, or Hz (kHz) where the sample rate of the model's input is known; with a sample rate, on
a log scale where the filters' peaks span more than a decade, as audio filterbanks are drawn. A peak at 0 (a low-pass
filter) has no place on a log axis: it is drawn at the axis' low end, and the figure says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..analysis.filters import FilterShape
from ..analysis.report import in_hz, significant
from .figures import PANEL_FONT

DB_RANGE = 40.0  # dB shown below each kernel's peak in the 1-D frequency responses
INK = "#1f4e79"  # the kernel / output colour (as in figures.py)
ACCENT = "#d55e00"  # a second colour, distinct from INK for colour-blind readers
FONT = PANEL_FONT
DECADE = 10.0  # with a sample rate, peaks spanning more than this ratio get a log frequency axis
KHZ = 2000.0  # Hz: a linear axis whose top (half the sample rate) reaches this is labelled in kHz
LABEL_WIDTH = 0.35  # inches a tick label of a log axis takes, with the space around it ('500', '2k')
MANTISSAS = ((1.0, 2.0, 5.0), (1.0, 3.0), (1.0,))  # a log axis' ticks in each decade: as many as there is room for
NICE = MANTISSAS[0]


def _nice_below(x: float) -> float:
    """The largest 1, 2 or 5 times a power of ten at most x (> 0)."""
    e = math.floor(math.log10(x))
    return max(m * 10.0**e for m in NICE if m * 10.0**e <= x * (1 + 1e-12))


@dataclass(frozen=True)
class FreqAxis:
    """Where the filter figures put a frequency f (cycles per sample, 0 to 0.5): in cycles per sample without a sample
    rate; in Hz or kHz with one; from `low` (> 0) on a log scale where the peaks span more than a decade, filters that
    peak at 0 (`zero_peaks`) drawn at `low`."""

    sample_rate: float | None = None
    low: float = 0.0  # cycles per sample at the axis' low end: 0 on a linear axis
    zero_peaks: int = 0

    @staticmethod
    def of(peaks: Sequence[float] | np.ndarray, sample_rate: float | None) -> FreqAxis:
        """The axis for filters peaking at `peaks` (cycles per sample): log where a sample rate is known and the
        non-zero peaks span more than DECADE, from a round number of Hz below the lowest."""
        p = np.asarray(peaks, dtype=np.float64)
        positive = p[p > 0]
        if not sample_rate or len(positive) == 0 or positive.max() <= DECADE * positive.min():
            return FreqAxis(sample_rate or None)
        low = _nice_below(float(positive.min()) * sample_rate / 1.5) / sample_rate
        return FreqAxis(sample_rate, low, int((p <= 0).sum()))

    @property
    def log(self) -> bool:
        return self.low > 0

    @property
    def scale(self) -> float:
        """Units of the axis per cycle per sample."""
        if self.sample_rate is None:
            return 1.0
        return self.sample_rate / (1000.0 if self.unit == "kHz" else 1.0)

    @property
    def unit(self) -> str:
        if self.sample_rate is None:
            return "cycles/sample"
        return "kHz" if not self.log and self.sample_rate / 2 >= KHZ else "Hz"

    def label(self, what: str = "frequency") -> str:
        return f"{what} ({self.unit}{', log scale' if self.log else ''})"

    def value(self, f: np.ndarray | float) -> np.ndarray:
        """Frequencies in the axis' unit (on a log axis, those below its low end at its low end)."""
        f = np.asarray(f, dtype=np.float64)
        return (np.maximum(f, self.low) if self.log else f) * self.scale

    def fraction(self, f: np.ndarray | float) -> np.ndarray:
        """How far along the axis (0 at its low end, 1 at 0.5 cycles per sample) frequencies lie."""
        if not self.log:
            return 2 * np.asarray(f)
        return np.log(np.maximum(np.asarray(f, dtype=np.float64), self.low) / self.low) / math.log(0.5 / self.low)

    def frequencies(self, n: int) -> np.ndarray | None:
        """Where to sample a response drawn on this axis: None (the usual grid, 0 to 0.5) on a linear axis, else n
        log-spaced frequencies from its low end."""
        return np.geomspace(self.low, 0.5, n) if self.log else None

    def ticks(self, inches: float = 2.5) -> list[tuple[float, str]]:
        """(frequency in cycles per sample, label) of the axis' ticks: 0, a quarter and half the sample rate on a
        linear axis; on a log one 1, 2 and 5 times the powers of ten (or 1 and 3 times, or the powers alone: as many
        as an axis `inches` long has room for), labelled 20, 500, 1k, 2k."""
        if not self.log:
            if self.sample_rate is None:
                return [(f, f"{f:g}") for f in (0.0, 0.25, 0.5)]
            return [(f, significant(f * self.scale, 3)) for f in (0.0, 0.25, 0.5)]
        rate = float(self.sample_rate or 1.0)
        lo, hi = self.low * rate, 0.5 * rate
        room = inches / math.log10(hi / lo) / LABEL_WIDTH  # labels a decade has room for
        mantissas = next((m for m in MANTISSAS if len(m) <= room), MANTISSAS[-1])
        powers = range(math.floor(math.log10(lo)), math.floor(math.log10(hi)) + 1)
        shown = [m * 10.0**e for e in powers for m in mantissas if lo * (1 - 1e-9) <= m * 10.0**e <= hi * (1 + 1e-9)]
        return [(v / rate, significant(v / 1000, 3) + "k" if v >= 1000 else significant(v, 3)) for v in shown]

    def grid(self) -> list[float]:
        """Frequencies of the grid lines inside a panel: every tenth of the band on a linear axis, the 1-2-5 ticks
        inside a log one."""
        if not self.log:
            return [0.1, 0.2, 0.3, 0.4]
        return [f for f, _ in self.ticks(inches=math.inf) if self.low * 1.001 < f < 0.4995]

    def note(self) -> str:
        """What a caption says of the axis: nothing on a linear one."""
        if not self.log:
            return ""
        rate = float(self.sample_rate or 1.0)
        text = (
            f" The frequency axis is logarithmic, from {in_hz(self.low * rate, 3)}: the peaks span more than a decade."
        )
        if self.zero_peaks:
            many = self.zero_peaks > 1
            text += (
                f" {self.zero_peaks} filter{'s' if many else ''} peak{'' if many else 's'} at 0 Hz (low-pass), which a "
                f"log axis cannot place: drawn at its low end, {in_hz(self.low * rate, 3)}."
            )
        return text

    def apply(self, ax: Axes, which: str = "x", what: str = "frequency") -> None:
        """Scale, limits, ticks and label of an axes' x (or y) axis for frequencies in this axis' unit."""
        scale, limits = (ax.set_xscale, ax.set_xlim) if which == "x" else (ax.set_yscale, ax.set_ylim)
        set_ticks, set_label = (ax.set_xticks, ax.set_xlabel) if which == "x" else (ax.set_yticks, ax.set_ylabel)
        if self.log:
            scale("log")
            ticks = self.ticks()
            set_ticks([float(self.value(f)) for f, _ in ticks], [label for _, label in ticks])
            set_ticks([], minor=True)
        limits(float(self.value(self.low)), float(self.value(0.5)))
        set_label(self.label(what), fontsize=FONT)


def peak_order(peaks: Sequence[float] | np.ndarray) -> np.ndarray:
    """The kernels' indices sorted by peak frequency, lowest first (ties in file order): the order of the filterbank
    figure and of a long 1-D layer's sorted picture."""
    return np.argsort(np.asarray(peaks, dtype=np.float64), kind="stable")


def filterbank_figure(
    shapes: list[FilterShape], magnitude_db: np.ndarray, freq: np.ndarray, sample_rate: float | None = None
) -> Figure:
    """A layer of 1-D kernels as a filterbank, as papers on learned audio front ends draw one (SincNet, LEAF): the
    kernels sorted by peak frequency; peak frequency against that order, -3 dB bandwidth against peak frequency, and
    every magnitude response (dB re its own peak, rows in that order) as a heat map. `magnitude_db` (N, F) on the
    frequencies `freq` (F,) in cycles/sample. Without `sample_rate` in cycles per sample (the peaks on a log axis);
    with it in Hz, on a log frequency axis where the peaks span more than a decade (FreqAxis)."""
    order = peak_order([s.peak_frequency for s in shapes])
    peaks = np.array([shapes[i].peak_frequency for i in order])
    widths = np.array([shapes[i].bandwidth for i in order])
    axis = FreqAxis.of(peaks, sample_rate)
    fig = Figure(figsize=(10.5, 3.4))
    ax_p, ax_b, ax_h = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.0, 1.0, 1.3]})
    _peaks_panel(ax_p, peaks, axis)
    ax_b.plot(axis.value(peaks), widths * axis.scale, "o", ms=3, color=ACCENT)
    if sample_rate is None:
        ax_b.set_xlim(0, 0.5)
        ax_b.set_xlabel("peak frequency (cycles/sample)", fontsize=FONT)
    else:
        axis.apply(ax_b, "x", "peak frequency")
    ax_b.set_ylim(0, max(float(widths.max()) * 1.1, 1e-3) * axis.scale)  # from zero: a tight range magnifies noise
    ax_b.set_ylabel(f"-3 dB bandwidth ({axis.unit})", fontsize=FONT)
    image = _heat_map(ax_h, magnitude_db[order] - magnitude_db[order].max(axis=1, keepdims=True), freq, axis)
    ax_h.set_ylabel("kernel, sorted by peak frequency", fontsize=FONT)
    fig.colorbar(image, ax=ax_h, label="gain (dB re its peak)")
    for ax in (ax_p, ax_b, ax_h):
        ax.tick_params(labelsize=FONT)
        if ax is not ax_h:
            ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _peaks_panel(ax: Axes, peaks: np.ndarray, axis: FreqAxis) -> None:
    """Peak frequency against the sorted index: on a log axis (cycles per sample: always, zero peaks at half the
    lowest non-zero one; Hz: where FreqAxis is log), else linear."""
    positive = peaks > 0
    ax.set_xlabel("kernel, sorted by peak frequency", fontsize=FONT)
    if axis.sample_rate is not None:
        ax.plot(np.arange(len(peaks)), axis.value(peaks), "o", ms=3, color=INK)
        axis.apply(ax, "y", "peak frequency")
        if axis.log and axis.zero_peaks:
            ax.set_title(f"{axis.zero_peaks} at 0 Hz, drawn at {in_hz(axis.low * axis.sample_rate, 3)}", fontsize=FONT)
        return
    floor = float(peaks[positive].min()) / 2 if positive.any() else 1e-3
    ax.plot(np.arange(len(peaks)), np.maximum(peaks, floor), "o", ms=3, color=INK)
    ax.set_yscale("log")
    ax.set_ylabel("peak frequency (cycles/sample)", fontsize=FONT)
    if not positive.all():
        ax.set_title(f"{int((~positive).sum())} peak at 0 (drawn at {floor:.2g})", fontsize=FONT)


def _heat_map(ax: Axes, rel: np.ndarray, freq: np.ndarray, axis: FreqAxis) -> Any:
    """Every magnitude response (rows, dB re its peak) against frequency: an image on a linear axis; on a log one a
    mesh of the grid's cells from its first non-zero frequency (0 has no place there)."""
    values = np.clip(rel, -DB_RANGE, 0)
    ax.set_xlabel(axis.label(), fontsize=FONT)
    if not axis.log:
        extent = (float(axis.value(freq[0])), float(axis.value(freq[-1])), -0.5, len(rel) - 0.5)
        return ax.imshow(values, aspect="auto", origin="lower", extent=extent, cmap="viridis", interpolation="nearest")
    keep = freq > 0
    centres = freq[keep]
    mids = np.sqrt(centres[:-1] * centres[1:])
    edges = np.concatenate([[centres[0] ** 2 / mids[0]], mids, [centres[-1] ** 2 / mids[-1]]])
    mesh = ax.pcolormesh(
        edges * axis.scale, np.arange(len(rel) + 1) - 0.5, values[:, keep], cmap="viridis", shading="flat"
    )
    axis.apply(ax, "x")
    return mesh
