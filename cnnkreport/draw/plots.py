"""The Python API's pictures: a layer's views as matplotlib Figures (the same drawing functions the site uses; no
pyplot, so nothing is shown and no global state is left behind), and a report as inline HTML for Jupyter."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..analysis import filters
from ..analysis.scores import LayerAnalysis
from . import compact, figures, filter_figures, mosaic

MAX_SHOWN = 32  # kernels in a "matches" figure, and channels x filters in a "channels" grid
MAX_TILES = 2048  # kernel x channel tiles in a mosaic; more: each kernel's channel sum


def mosaic_image(w: np.ndarray) -> np.ndarray:
    """The layer's kernels (out, in, *k) as an RGB picture: colour tiles for RGB input, a tile per kernel and
    channel (or each kernel's channel sum, when there are too many tiles)."""
    if w.ndim == 4 and w.shape[1] == 3 and w.shape[2] * w.shape[3] > 1:
        return mosaic.rgb_mosaic(w)
    shown = w.sum(axis=1, keepdims=True) if w.shape[0] * w.shape[1] > MAX_TILES else w
    return np.asarray(mosaic.to_image(compact.layer_mosaic(shown)).convert("RGB"))


def _picture(image: np.ndarray, title: str) -> Figure:
    h, w = image.shape[:2]
    fig = Figure(figsize=(min(12.0, max(3.0, w / 80)), min(12.0, max(2.0, h / 80)) + 0.4))
    ax = fig.add_subplot()
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9, loc="left")
    return fig


def _one_d(a: LayerAnalysis, view: str) -> None:
    if len(a.kshape) != 1:
        raise ValueError(f"the {view!r} view is for 1-D kernels; layer {a.name} has {a.kshape} kernels")


def mosaic_figure(name: str, w: np.ndarray) -> Figure:
    """A layer's kernels (out, in, *k) as a Figure: the only view of a layer too small for a pattern score."""
    return _picture(mosaic_image(w), f"{name or 'weight'}: {w.shape[0]} kernels, {w.shape[1]} input channels")


def layer_figure(view: str, a: LayerAnalysis, w: np.ndarray, sample_rate: float | None = None) -> Figure:
    """One view of a layer (see api.Layer.plot) from its analysis and its weights (out, in, *k); with `sample_rate`
    (Hz) the frequency and filterbank views are in Hz, as on the site."""
    if view == "mosaic":
        return mosaic_figure(a.name, w)
    if view == "frequency":
        if len(a.kshape) == 1:
            peaks = np.array([f.peak_frequency for f in a.filter_shapes or []])
            return filter_figures.frequency_response_1d_figure(a.summed_last, sample_rate=sample_rate, peaks=peaks)
        return filter_figures.frequency_response_2d_figure(a.summed_last)
    if view == "filterbank":
        _one_d(a, view)
        responses = [filters.frequency_response_1d(k) for k in a.summed_last]
        db = np.stack([r.magnitude_db for r in responses])
        return filter_figures.filterbank_figure(a.filter_shapes or [], db, responses[0].freq, sample_rate)
    if view == "signals":
        _one_d(a, view)
        return filter_figures.signal_responses_figure(a.summed_last, filters.test_signals())
    if view == "channels":
        _one_d(a, view)
        if w.shape[1] == 1:
            raise ValueError(f"the 'channels' view is for layers with several input channels; {a.name} has one")
        return filter_figures.channel_combined_figure(w[:MAX_SHOWN, :MAX_SHOWN])
    n = min(len(a.final.score), MAX_SHOWN)  # "matches"
    tops = a.final.top[:n]
    labels = [[a.bank.templates[t].short() for t in row] for row in tops]
    names = [f"kernel {i}" for i in range(n)]
    return figures.best_matches(a.summed_last[:n], a.bank.weights[tops], labels, a.final.top_scores[:n], names)


def _data_uri(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _num(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.0f}%" if pct else f"{x:.2f}"


def _shape(shape: Any) -> str:
    return " x ".join(map(str, shape))


def report_html(report: Any) -> str:
    """A report (api.Report) as HTML for a notebook: a table of its layers' headline numbers (a layer too small for
    a pattern score says what it is instead), the first layer's mosaic, inline (a data: URI), the layers not drawn
    and the tensors not read as conv weights; no request to any address."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(layer.name or 'weight')}</td><td>{e(layer.kind)}</td><td>{e(_shape(layer.shape))}</td>"
        + (
            f'<td colspan="4">{e(layer.not_scored)}</td></tr>'
            if layer.not_scored
            else f"<td>{_num(layer.hit_rate, True)}</td><td>{_num(layer.median_score)}</td>"
            f"<td>{_num(layer.null_threshold)}</td><td>{_num(layer.kappa)}</td></tr>"
        )
        for layer in report.layers.values()
    )
    first: Any = report.layers[0]
    picture = ""
    if first.weights is not None:
        alt = e(f"The kernels of layer {first.name or 'weight'}")
        src = _data_uri(mosaic_image(first.weights))
        picture = f'<p><img src="{src}" alt="{alt}" style="image-rendering: pixelated; max-width: 100%"></p>'
    unshown = "".join(f"<li>{e(u.name or 'weight')} ({e(_shape(u.shape))}): {e(u.reason)}</li>" for u in report.unshown)
    other = "".join(f"<li>{e(t.name)} ({e(_shape(t.shape))})</li>" for t in report.other_tensors)
    return (
        f'<div class="cnnkreport"><p><strong>{e(report.name)}</strong>: {len(report.layers)} conv layers</p>'
        "<table><thead><tr><th>layer</th><th>kind</th><th>shape</th><th>hit rate</th><th>median r*</th>"
        f"<th>null threshold</th><th>kappa</th></tr></thead><tbody>{rows}</tbody></table>{picture}"
        + (f"<p>Not drawn:</p><ul>{unshown}</ul>" if unshown else "")
        + (f"<p>Tensors of a conv weight's rank not read as conv weights:</p><ul>{other}</ul>" if other else "")
        + "</div>"
    )
