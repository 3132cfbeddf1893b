"""A long 1-D layer read as a filterbank (issue 28, items 4 and 5), with known answers: a bank of 96 Hann-windowed
sinusoids of 256 taps at log-spaced frequencies from 0.002 to 0.4 cycles per sample, in shuffled order. Its peaks are
summed up in words (range and quartiles, to significant figures, in Hz too), its pictures sorted by peak frequency
(the file order a link away), its figures in Hz on a log axis with a sample rate; and huge finite weights stay
finite and quiet."""

from __future__ import annotations

import html
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import cnnkreport as ck
from cnnkreport.analysis import filters, report
from cnnkreport.cli import app
from cnnkreport.draw import compact, figures, filter_figures, mosaic
from cnnkreport.draw.filterbank import FreqAxis

from .test_readable import save_and_read, unreadable

TAPS, N, RATE = 256, 96, 16_000
NOMINAL = np.geomspace(0.002, 0.4, N)  # the bank's frequencies, cycles per sample
SHUFFLE = np.random.default_rng(7).permutation(N)


def sinusoid_bank() -> np.ndarray:
    """(96, 1, 256): Hann-windowed sines (odd about the centre: no response at 0) at NOMINAL[SHUFFLE]."""
    t = np.arange(TAPS) - (TAPS - 1) / 2
    return (np.hanning(TAPS) * np.sin(2 * np.pi * NOMINAL[SHUFFLE][:, None] * t))[:, None, :].astype(np.float32)


def true_peak(w: np.ndarray) -> float:
    """Where |H| of a kernel is largest, by brute force on a grid of 2^18 frequencies."""
    mag = np.abs(np.fft.rfft(np.asarray(w, dtype=np.float64), 2**18))
    return float(np.argmax(mag) / 2**18)


def close(printed: str, expected: float, rel: float = 0.01) -> bool:
    """A number as a sentence prints it (digits, maybe ',') is `expected` to its last printed digit, give or take
    `rel` (a peak read off a response is not the nominal frequency exactly)."""
    value = float(printed.replace(",", ""))
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(value - expected) <= 0.5 * 10.0**-decimals + rel * abs(expected)


def hz(printed: str) -> float:
    number, unit = printed.split()
    return float(number.replace(",", "")) * (1000 if unit == "kHz" else 1)


SENTENCE = re.compile(
    r"Their peaks run from (\S+) to (\S+) cycles per sample \(median (\S+); quartiles (\S+) and (\S+)\), that is "
    r"(\S+ k?Hz) to (\S+ k?Hz) at 16 kHz \(median (\S+ k?Hz)\)\."
)


def test_the_peaks_of_a_bank_are_given_as_range_and_quartiles_in_cycles_and_hz() -> None:
    w = sinusoid_bank()[:, 0]
    peaks = [filters.describe_1d(k).peak_frequency for k in w]
    text = report.peaks_sentence(peaks, RATE)
    m = SENTENCE.fullmatch(text)
    assert m, text
    lo, hi, median, q1, q3, lo_hz, hi_hz, median_hz = m.groups()
    # the lowest sine (0.002 cycles/sample, half a cycle in the window) peaks where its response does, not at 0.002
    lowest = true_peak(w[np.argmin(NOMINAL[SHUFFLE])])
    assert close(lo, lowest) and close(hi, 0.4)
    q = np.quantile(NOMINAL, [0.25, 0.5, 0.75])  # from about the 24th filter up, peaks are their frequencies
    assert close(q1, q[0]) and close(median, q[1]) and close(q3, q[2])
    assert all(len(re.sub(r"^[0.,]+", "", v.replace(".", ""))) >= 2 for v in (lo, q1, median, q3))  # 2 s.f.
    assert close(str(hz(lo_hz)), lowest * RATE, 0.02) and hz(hi_hz) == 6400 and close(str(hz(median_hz)), q[1] * RATE)
    assert report.peaks_sentence(peaks, None) == text.split(", that is")[0] + "."
    assert "0.000" not in report.peaks_sentence([0.001, 0.0012, 0.0013, 0.0014, 0.23], RATE)


def test_a_group_of_one_or_two_or_equal_filters_is_worded_for_what_it_is() -> None:
    assert report.peaks_sentence([0.037], RATE) == "Its peak is at 0.037 cycles per sample (590 Hz at 16 kHz)."
    two = report.peaks_sentence([0.23, 0.0012], RATE)
    assert two == "Their peaks are at 0.0012 and 0.23 cycles per sample (19 Hz and 3.7 kHz at 16 kHz)."
    assert report.peaks_sentence([0.0, 0.0], None) == "Their peaks are all at 0 cycles per sample."
    # close peaks get the significant figures that keep them apart
    assert (
        report.peaks_sentence([0.0312, 0.0314, 0.05], None)
        == "Their peaks are at 0.0312, 0.0314 and 0.05 cycles per sample."
    )
    assert report.significant(0.000012) == "0.000012" and report.in_hz(22_050, 4) == "22.05 kHz"


def _frequency_axes(fig: Any) -> list[Any]:
    return [ax for ax in fig.axes if "frequency (" in ax.get_xlabel()]


def test_with_a_sample_rate_the_filterbank_is_in_hz_on_a_log_axis() -> None:
    w = sinusoid_bank()[:, 0]
    shapes = [filters.describe_1d(k) for k in w]
    responses = [filters.frequency_response_1d(k) for k in w]
    db, freq = np.stack([r.magnitude_db for r in responses]), responses[0].freq
    fig = filter_figures.filterbank_figure(shapes, db, freq, sample_rate=RATE)
    axes = _frequency_axes(fig)
    assert len(axes) == 2 and all(ax.get_xscale() == "log" and "Hz" in ax.get_xlabel() for ax in axes)
    lo, hi = axes[0].get_xlim()
    assert hi == RATE / 2 and 0 < lo <= min(s.peak_frequency for s in shapes) * RATE  # every peak on the axis
    peak_axis = fig.axes[0]
    assert peak_axis.get_yscale() == "log" and "Hz" in peak_axis.get_ylabel()
    # without a sample rate: cycles per sample, on a linear frequency axis, as before
    plain = _frequency_axes(filter_figures.filterbank_figure(shapes, db, freq))
    assert all(ax.get_xscale() == "linear" and "cycles/sample" in ax.get_xlabel() for ax in plain)
    # with a sample rate and peaks within a decade: linear, in kHz
    narrow = [i for i, s in enumerate(shapes) if 0.04 <= s.peak_frequency <= 0.39]
    fig = filter_figures.filterbank_figure([shapes[i] for i in narrow], db[narrow], freq, sample_rate=RATE)
    assert all(ax.get_xscale() == "linear" and ax.get_xlabel().endswith("(kHz)") for ax in _frequency_axes(fig))


def test_the_frequency_axis_places_zero_peaks_at_its_low_end_and_says_so() -> None:
    axis = FreqAxis.of([0.0, 0.0, 0.002, 0.1, 0.4], RATE)
    assert axis.log and axis.zero_peaks == 2 and 0 < axis.low * RATE <= 0.002 * RATE / 1.5
    assert float(axis.value(0.0)) == axis.low * RATE and float(axis.fraction(0.0)) == 0.0
    assert float(axis.fraction(0.5)) == pytest.approx(1.0)
    assert "2 filters peak at 0 Hz (low-pass)" in axis.note() and "logarithmic" in axis.note()
    assert not FreqAxis.of([0.0, 0.002, 0.4], None).log  # no sample rate: cycles per sample, linear
    assert not FreqAxis.of([0.0, 0.05, 0.4], RATE).log  # within a decade (0 aside): linear
    labels = [label for _, label in axis.ticks()]
    assert "1k" in labels and all(re.fullmatch(r"[\d.]+k?", label) for label in labels)


def _page_figures(page: str) -> list[tuple[str, str]]:
    """(src, caption) of each figure of a page."""
    found = re.findall(r'<figure>.*?<img src="([^"]+)".*?<figcaption>(.*?)</figcaption>', page, re.S)
    return [(src, html.unescape(re.sub(r"<[^>]+>", "", caption))) for src, caption in found]


def test_a_long_1d_layer_is_drawn_sorted_by_peak_with_its_file_order_linked(tmp_path: Path) -> None:
    w = sinusoid_bank()
    torch.save({"bank.weight": torch.from_numpy(w)}, tmp_path / "bank.pt")
    result = CliRunner().invoke(
        app, ["inspect", str(tmp_path / "bank.pt"), "--out", str(tmp_path / "site"), "--sample-rate", str(RATE)]
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "site" / "runs" / "bank" / "bank"
    page = (folder / "index.html").read_text()
    shown = dict(_page_figures(page))
    assert "sorted by peak frequency" in shown["mosaic.png"].lower()
    assert 'href="mosaic-file-order.png"' in page and "file order" in shown["mosaic.png"]
    order = np.argsort(NOMINAL[SHUFFLE])  # the known answer: by the sines' frequencies
    for name, kernels in (("mosaic.png", w[order]), ("mosaic-file-order.png", w)):
        drawn = np.asarray(mosaic.to_image(compact.draw_layer(kernels).image).convert("RGB"))
        assert np.array_equal(np.asarray(Image.open(folder / name).convert("RGB")), drawn), name
    # the section in words: every filter's peaks, range and quartiles, in Hz too
    words = re.search(r"<p>The 96 kernels as filters: 96 band-pass\. (.*?)</p>", html.unescape(page))
    assert words, page
    m = SENTENCE.match(words.group(1))
    assert m and close(m.group(5), float(np.quantile(NOMINAL, 0.75))), words.group(1)
    assert "sorted by peak frequency" in words.group(1)
    assert "log scale" in shown["filterbank.png"] and "log scale" in shown["frequency.png"]
    assert "sample rate 16 kHz" in shown["frequency.png"]


HUGE = 3e38  # finite: a float32's largest is 3.4e38


def huge_model(sign: float = 1.0) -> dict[str, torch.Tensor]:
    """Layers whose kernels hold a weight of 3e38 (in every input channel, at one tap: their sum overflows a float32),
    all 1e30, or all zeros, beside ordinary ones: a short, a long (fitted) and a two-channel 1-D layer, and a 2-D
    one; `sign` -1 for an earlier checkpoint of them."""
    rng = np.random.default_rng(0)
    out = {}
    for name, shape in (("short", (6, 1, 16)), ("long", (5, 1, 100)), ("pair", (4, 2, 12)), ("image", (6, 1, 5, 5))):
        w = rng.normal(size=shape).astype(np.float32)
        w[0].reshape(shape[1], -1)[:, 3] = HUGE
        w[1] = 1e30
        w[2] = 0.0
        out[f"{name}.weight"] = torch.from_numpy(sign * w)
    return out


def _numbers(x: Any) -> list[Any]:
    """Every number in a record (dataclasses, tuples, dicts), recursively."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return []
    if isinstance(x, (int, float)):
        return [x]
    if isinstance(x, dict):
        return [v for item in x.values() for v in _numbers(item)]
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _numbers(item)]
    if hasattr(x, "__dataclass_fields__"):
        return [v for name in x.__dataclass_fields__ for v in _numbers(getattr(x, name))]
    return []


def _refuse(constant: str) -> None:
    raise AssertionError(f"summary.json holds {constant}")


def test_huge_finite_weights_give_finite_numbers_and_no_warning(tmp_path: Path) -> None:
    model = huge_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RuntimeWarnings (overflow in square) become errors
        r = ck.inspect(model, sample_rate=RATE)
        for layer in r.layers.values():
            values = _numbers(layer.as_dict())
            assert values and all(math.isfinite(v) for v in values), layer.name
            if layer.kind == "conv1d":
                assert layer.kernels[2].filter_type == "zero" and layer.kernels[2].peak_frequency == 0.0
                assert all(k.peak_frequency is not None and k.filter_type for k in layer.kernels)
        torch.save(huge_model(-1.0), tmp_path / "huge_step1.pt")  # a history: what training added overflows too
        torch.save(model, tmp_path / "huge_step2.pt")
        files = [str(tmp_path / f"huge_step{i}.pt") for i in (1, 2)]
        result = CliRunner().invoke(app, ["inspect", *files, "--out", str(tmp_path / "site"), "--sample-rate", "8000"])
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.output
    for path in (tmp_path / "site").rglob("*.json"):
        json.loads(path.read_text(), parse_constant=_refuse)  # no NaN, Infinity


def _hz_figures() -> dict[str, Any]:
    w = sinusoid_bank()[:, 0]
    shapes = [filters.describe_1d(k) for k in w]
    responses = [filters.frequency_response_1d(k) for k in w]
    db, freq = np.stack([r.magnitude_db for r in responses]), responses[0].freq
    peaks = np.array([s.peak_frequency for s in shapes])
    return {
        "frequency, log Hz": filter_figures.frequency_response_1d_figure(w, sample_rate=RATE, peaks=peaks),
        "frequency, kHz": filter_figures.frequency_response_1d_figure(w[:3], sample_rate=RATE, peaks=[0.1, 0.2]),
        "filterbank, log Hz": filter_figures.filterbank_figure(shapes, db, freq, sample_rate=RATE),
        "filterbank, low rate": filter_figures.filterbank_figure(shapes, db, freq, sample_rate=50.0),
    }


def test_the_figures_in_hz_are_readable_at_page_size(tmp_path: Path) -> None:
    for name, fig in _hz_figures().items():
        png = tmp_path / "figure.png"
        drawn = save_and_read(fig, png, figures.PANEL_DPI)
        assert drawn and not unreadable(drawn, png), (name, unreadable(drawn, png))
