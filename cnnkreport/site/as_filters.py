"""A layer's "As filters" section, drawn: its kernels' frequency responses (2-D: their spectra), and for 1-D kernels
the layer as a filterbank and the kernels' responses to test signals, each picture with its caption. With the sample
rate of the model's input, in Hz (on a log axis where the peaks span more than a decade: draw.filterbank.FreqAxis);
a long 1-D layer's peaks are summed up in words. Also the order in which a long 1-D layer's pictures show its
kernels: by peak frequency, as a filterbank is read."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..analysis import filters
from ..analysis.report import in_hz, peaks_sentence
from ..analysis.scores import LayerAnalysis, kernel_shape
from ..draw import figures, filter_figures
from ..draw.compact import MAX_LINES
from ..draw.filterbank import FreqAxis, peak_order
from ..rundir import LayerInfo
from .layout import File, Folder
from .views import Figure, Section


def sorted_order(info: LayerInfo, last: np.ndarray) -> np.ndarray | None:
    """The order a 1-D layer of more than MAX_LINES kernels (heat-map rows: in file order they look like noise) is
    drawn in: by the peak frequency of each kernel's sum over its input channels, lowest first, as the filterbank
    figure sorts them; None for any other layer (drawn in file order)."""
    kshape = kernel_shape(tuple(info.shape))
    if len(kshape) != 1 or info.shape[0] <= MAX_LINES:
        return None
    summed = filters.roomy(last, info.shape[1]).reshape(info.shape[0], info.shape[1], kshape[0]).sum(axis=1)
    return peak_order([filters.describe_1d(k).peak_frequency for k in summed])


def _first(kernels: np.ndarray, cap: int = filter_figures.MAX_PANELS) -> str:
    """What a figure of at most `cap` kernels leaves out, for its caption."""
    return f" The first {cap} of {len(kernels):,} kernels." if len(kernels) > cap else ""


def filter_section(
    info: LayerInfo, a: LayerAnalysis, folder: Folder, sample_rate: float | None = None
) -> tuple[Section, dict[str, Any] | None]:
    """Frequency responses (and, for single-channel 1-D layers, responses to test signals); with 1-D kernels, the
    responses as numbers too (for layer.json), and in Hz where `sample_rate` (of the model's input) is known."""
    frequency = folder.file("frequency.png", "the kernels' frequency responses")
    if len(a.kshape) == 1:
        figs, freq = _filters_1d(info, a, frequency, folder, sample_rate)
        return Section("As filters", "filters", _in_words(a, sample_rate), figs), freq
    last = a.summed_last  # (out, *k)
    figures.save(filter_figures.frequency_response_2d_figure(last), frequency.path, dpi=figures.PANEL_DPI)
    figure = Figure(
        frequency.src,
        f"2-D frequency response magnitude of each kernel of {info.name}",
        "Magnitude of each kernel's 2-D Fourier transform (zero-padded, zero frequency at the centre): a "
        "vertical-edge detector shows two lobes left and right of the centre." + _first(last),
    )
    return Section("As filters", "filters", figures=[figure]), None


def _in_words(a: LayerAnalysis, sample_rate: float | None) -> str:
    """The layer's filters summed up (their types, where their peaks lie), for a layer drawn sorted by peak frequency
    or one whose sample rate is known; "" for the others."""
    shapes = a.filter_shapes or []
    if not shapes or (len(shapes) <= MAX_LINES and sample_rate is None):
        return ""
    kinds: dict[str, int] = {}
    for s in shapes:
        kinds[s.filter_type] = kinds.get(s.filter_type, 0) + 1
    types = ", ".join(f"{n:,} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    text = f"The {len(shapes):,} kernels as filters: {types}. " if len(shapes) > 1 else f"The kernel is {types}. "
    text += peaks_sentence([s.peak_frequency for s in shapes], sample_rate)
    if len(shapes) > MAX_LINES:
        text += " The layer's pictures show its kernels sorted by peak frequency, as the filterbank below does."
    return text


def _span(axis: FreqAxis) -> str:
    """The band a frequency figure shows, in words."""
    if axis.sample_rate is None:
        return "0 to 0.5 cycles/sample"
    rate = axis.sample_rate
    low = in_hz(axis.low * rate, 3) if axis.log else "0 Hz"
    return f"{low} to {in_hz(rate / 2, 4)} (sample rate {in_hz(rate, 4)}{', log scale' if axis.log else ''})"


def _filters_1d(
    info: LayerInfo, a: LayerAnalysis, frequency: File, folder: Folder, sample_rate: float | None
) -> tuple[list[Figure], dict[str, Any]]:
    """1-D kernels as filters: their frequency responses (into `frequency`), as a filterbank, and their responses to
    test signals (one input channel); and the responses as numbers."""
    last = a.summed_last  # (out, k)
    responses = [filters.frequency_response_1d(k) for k in last]
    freq = {
        "freq": responses[0].freq,
        "magnitude_db": np.stack([r.magnitude_db for r in responses]),
        "phase": np.stack([r.phase for r in responses]),
    }
    peaks = np.array([s.peak_frequency for s in a.filter_shapes or []])
    axis = FreqAxis.of(peaks, sample_rate)
    fig = filter_figures.frequency_response_1d_figure(last, sample_rate=sample_rate, peaks=peaks)
    figures.save(fig, frequency.path, dpi=figures.PANEL_DPI)
    span = _span(axis)
    over = "0-0.5 cycles/sample" if axis.sample_rate is None else span
    figs = [
        Figure(
            frequency.src,
            f"Frequency response of each kernel of {info.name}: magnitude in dB and phase, {span}",
            f"Magnitude (dB, each kernel normalised to its own peak) and phase over {over}, "
            "as the layer applies the kernel; dashed: the first and second difference, for reference."
            + axis.note()
            + _first(last),
        )
    ]
    if len(last) > 1 and a.filter_shapes is not None:
        figs.append(_filterbank(info, a, freq, folder, axis))
    if info.shape[1] == 1:
        figs.append(_signals(info, last, folder))
    return figs, freq


def _filterbank(info: LayerInfo, a: LayerAnalysis, freq: dict[str, Any], folder: Folder, axis: FreqAxis) -> Figure:
    """The kernels as a filterbank (filterbank.png), sorted by peak frequency."""
    bank = folder.file("filterbank.png", "the kernels as a filterbank")
    fig = filter_figures.filterbank_figure(a.filter_shapes or [], freq["magnitude_db"], freq["freq"], axis.sample_rate)
    figures.save(fig, bank.path, dpi=figures.PANEL_DPI)
    unit = "log scale" if axis.sample_rate is None else axis.label("").strip(" ()")
    return Figure(
        bank.src,
        f"The kernels of {info.name} as a filterbank, sorted by peak frequency: peak frequency against "
        "the sorted index, bandwidth against peak frequency, and every magnitude response as a heat map",
        "The layer as a filterbank, as papers on learned audio front ends draw one: the kernels sorted by "
        f"peak frequency. Left: peak frequency ({unit}) against that order; middle: -3 dB bandwidth "
        "against peak frequency; right: each kernel's magnitude response in that order (dB re its own "
        "peak, a row per kernel)."
        + (
            f" The heat map from its first non-zero frequency, {in_hz(freq['freq'][1] * axis.scale, 3)}."
            if axis.log
            else ""
        )
        + axis.note(),
    )


def _signals(info: LayerInfo, last: np.ndarray, folder: Folder) -> Figure:
    """Each kernel applied to the test signals (signals.png)."""
    signals = folder.file("signals.png", "the kernels' responses to test signals")
    figures.save(
        filter_figures.signal_responses_figure(last, filters.test_signals()), signals.path, dpi=figures.PANEL_DPI
    )
    shown = min(len(last), filter_figures.MAX_PANELS)
    return Figure(
        signals.src,
        f"Each kernel of {info.name} applied to a sine, square, triangle, sawtooth and gaussian pulses",
        "Each kernel applied to synthetic test signals exactly as PyTorch applies it (cross-correlation, "
        "'same' padding): input and output overlaid, a row per kernel"
        + (f", the first {shown} of {len(last)}." if shown < len(last) else "."),
    )
