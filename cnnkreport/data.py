"""Synthetic lab waveforms: square, triangle, sawtooth, gaussian and sine, as oscilloscope images or 1-D signals;
or, where the config names a file (data.path), a user's own data set, read by userdata.read_dataset.

Everything is vectorised over samples: a whole data set is a few array operations, deterministic for a seed.
Screen coordinates: x in [0, 1) left to right, y in [-0.5, 0.5] bottom to top.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from . import userdata
from .config import DataConfig, with_data_facts
from .userdata import DataSource

SUBCOLUMNS = 4  # horizontal supersampling of the trace, for anti-aliasing
CHUNK = 1024  # images rasterised per block, to bound memory


@dataclass(frozen=True)
class Params:
    """Per-sample waveform parameters, each of shape (N,)."""

    label: np.ndarray  # index into the class list
    amplitude: np.ndarray
    width: np.ndarray
    frequency: np.ndarray
    phase: np.ndarray  # horizontal offset, as a fraction of the period
    offset_y: np.ndarray

    def __getitem__(self, idx: slice | np.ndarray) -> Params:
        return Params(**{k: v[idx] for k, v in self.__dict__.items()})


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray  # (N, 1, H, W) images or (N, 1, L) signals, float32
    y_train: np.ndarray  # (N,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: DataSource | None = None  # where a user's data set came from (None: the synthetic waveforms)


def draw_params(cfg: DataConfig, n: int, rng: np.random.Generator) -> Params:
    """Balanced labels in random order, parameters uniform in the configured ranges."""
    label = rng.permutation(np.arange(n) % len(cfg.classes))

    def u(lo_hi: tuple[float, float]) -> np.ndarray:
        return rng.uniform(lo_hi[0], lo_hi[1], size=n)

    return Params(
        label=label.astype(np.int64),
        amplitude=u(cfg.amplitude),
        width=u(cfg.width),
        frequency=u(cfg.frequency),
        phase=rng.uniform(0.0, 1.0, size=n),
        offset_y=u(cfg.offset_y),
    )


def shape_values(names: np.ndarray, u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Unit waveform in [0, 1] at phase u in [0, 1) for pulses of duty cycle w. names: (N, 1) class names."""
    s = u / w  # position inside the pulse, in [0, 1) where the pulse is on
    on = s < 1.0
    out = np.zeros_like(u)
    out = np.where(names == "square", on * 1.0, out)
    out = np.where(names == "triangle", on * (1.0 - np.abs(2.0 * s - 1.0)), out)
    out = np.where(names == "sawtooth", on * s, out)
    out = np.where(names == "gaussian", np.exp(-0.5 * ((s - 0.5) / 0.17) ** 2), out)
    out = np.where(names == "sine", 0.5 + 0.5 * np.sin(2.0 * np.pi * u), out)
    return out


def waveform(p: Params, classes: tuple[str, ...], x: np.ndarray) -> np.ndarray:
    """Screen height y (N, M) of each sample's trace at horizontal positions x (M,) in [0, 1]."""
    names = np.asarray(classes, dtype=object)[p.label][:, None]
    u = np.mod(x[None, :] * p.frequency[:, None] + p.phase[:, None], 1.0)
    v = shape_values(names, u, p.width[:, None])
    return p.offset_y[:, None] + p.amplitude[:, None] * (v - 0.5)


def render_signals(cfg: DataConfig, p: Params, rng: np.random.Generator) -> np.ndarray:
    """(N, 1, L) float32: the waveforms sampled at L points, blurred and with noise."""
    x = (np.arange(cfg.size) + 0.5) / cfg.size
    y = waveform(p, cfg.classes, x)
    if cfg.blur > 0:
        y = gaussian_filter1d(y, cfg.blur, axis=1, mode="wrap")
    y = y + rng.normal(0.0, cfg.noise, size=y.shape) if cfg.noise > 0 else y
    return y[:, None, :].astype(np.float32)


def _rasterise(cfg: DataConfig, p: Params) -> np.ndarray:
    """(N, S, S) in [0, 1]: each trace drawn like a scope: every sub-column lights the vertical span the curve
    covers inside it (so vertical edges are solid), widened by the line thickness, with coverage anti-aliasing."""
    s = cfg.size
    m = s * SUBCOLUMNS
    edges = np.arange(m + 1) / m  # sub-column edges in x
    py = ((0.5 - waveform(p, cfg.classes, edges)) * s).astype(np.float32)  # (N, m+1) in pixel rows, 0 = top
    lo = np.minimum(py[:, :-1], py[:, 1:])[:, None, :]  # (N, 1, m)
    hi = np.maximum(py[:, :-1], py[:, 1:])[:, None, :]
    rows = (np.arange(s, dtype=np.float32) + 0.5)[None, :, None]  # (1, S, 1) pixel-row centres
    dist = np.maximum(np.maximum(lo - rows, rows - hi), 0.0)  # (N, S, m) distance to the lit span
    img = np.clip(np.float32(cfg.thickness / 2 + 0.5) - dist, 0.0, 1.0)
    if cfg.fill:
        mid = 0.5 * (lo + hi)
        img = np.maximum(img, np.clip(rows - mid + 0.5, 0.0, 1.0))  # everything below the curve
    return img.reshape(len(p.label), s, s, SUBCOLUMNS).mean(axis=3)


def render_images(cfg: DataConfig, p: Params, rng: np.random.Generator) -> np.ndarray:
    """(N, 1, S, S) float32: bright traces on a dark screen, optionally blurred, with noise."""
    n = len(p.label)
    out = np.empty((n, 1, cfg.size, cfg.size), dtype=np.float32)
    for start in range(0, n, CHUNK):
        out[start : start + CHUNK, 0] = _rasterise(cfg, p[start : start + CHUNK])
    if cfg.blur > 0:
        out = gaussian_filter(out, sigma=(0, 0, cfg.blur, cfg.blur)).astype(np.float32)
    if cfg.noise > 0:
        out += rng.normal(0.0, cfg.noise, size=out.shape).astype(np.float32)
    if cfg.binary:
        out = (out > 0.5).astype(np.float32)
    return out


def render(cfg: DataConfig, p: Params, rng: np.random.Generator) -> np.ndarray:
    return render_images(cfg, p, rng) if cfg.kind == "image" else render_signals(cfg, p, rng)


def make_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """Train and test sets, drawn together from one generator and split, so the same seed gives the same data.
    With `standardize`, both are shifted and scaled by the training set's mean and standard deviation. With
    `cfg.path`, the user's data set instead (read_user_dataset)."""
    if cfg.path:
        return read_user_dataset(cfg, seed)
    rng = np.random.default_rng(seed)
    n = cfg.n_train + cfg.n_test
    p = draw_params(cfg, n, rng)
    x = render(cfg, p, rng)
    k = cfg.n_train
    if cfg.standardize:  # zero mean, unit variance over the training set: the optimiser's step sizes then fit
        mean, std = float(x[:k].mean()), float(x[:k].std())
        x = (x - mean) / (std if std > 0 else 1.0)
    return Dataset(x[:k], p.label[:k], x[k:], p.label[k:], cfg.classes)


def read_user_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """A user's data set as the config names it: `path`, and `test_path` or (without it) a stratified share of
    `path` held out, the split drawn from `seed`; standardised by the reader. Bad data is a one-line UserError."""
    d = userdata.read_dataset(
        Path(cfg.path),
        Path(cfg.test_path) if cfg.test_path else None,
        label_column=cfg.label_column or None,
        seed=seed,
    )
    return Dataset(d.x_train, d.y_train, d.x_test, d.y_test, tuple(d.classes), d.source)


def with_facts(cfg: DataConfig, ds: Dataset) -> DataConfig:
    """A user's data set's config saying what its file holds (config.with_data_facts), from the arrays read: the
    kind, the length (or an image's longer side), the channels, the classes and the sizes of both sets."""
    x = ds.x_train
    return with_data_facts(
        cfg,
        kind="image" if x.ndim == 4 else "signal",
        size=int(max(x.shape[2:])),
        channels=int(x.shape[1]),
        classes=ds.classes,
        n_train=len(ds.y_train),
        n_test=len(ds.y_test),
    )


def class_samples(cfg: DataConfig, seed: int, per_class: int, max_classes: int) -> Dataset:
    """Training samples of each class, to show: for the waveforms, a set of `per_class` times the classes drawn with
    these settings (balanced: `per_class` of each); for a user's data set, up to `per_class` of each of its first
    `max_classes` classes, as read."""
    if not cfg.path:
        return make_dataset(replace(cfg, n_train=per_class * len(cfg.classes), n_test=0), seed)
    ds = make_dataset(cfg, seed)
    classes = ds.classes[:max_classes]
    keep = np.concatenate([np.flatnonzero(ds.y_train == c)[:per_class] for c in range(len(classes))])
    return Dataset(ds.x_train[keep], ds.y_train[keep], ds.x_test[:0], ds.y_test[:0], classes, ds.source)
