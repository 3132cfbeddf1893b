"""The analysis as data and as sentences: summary.json, the per-layer JSON, and the headline a page states.

Nothing here computes a score; it only reports what `analysis` measured, rounded, with every baseline beside it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .bank import Template
from .results import KernelResult, LayerResult, Match, PairedChange, TrainingAdded
from .scores import NEGLIGIBLE, SURROGATE_ALPHA, THRESHOLD_QUANTILE, LayerAnalysis, kernel_shape

SUMMARY_VERSION = 1
DIGITS = 4  # floats in JSON are rounded, so that the same numbers give the same bytes


FREQ_DECIMALS = {"magnitude_db": 2, "phase": 4}  # layer.json: a hundredth of a dB, a ten-thousandth of a radian


def rounded(x: float | None) -> float | None:
    """x to DIGITS decimals; None for None and for what JSON cannot hold (NaN: not computed)."""
    return None if x is None or not math.isfinite(float(x)) else round(float(x), DIGITS)


def dumps(data: Any, compact: bool = False) -> str:
    """JSON with sorted keys; `compact` (no indentation) for the large per-layer files, about half the size."""
    if compact:
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def template_dict(t: Template) -> dict[str, Any]:
    return {"name": t.name, "family": t.family, "orientation_deg": t.orientation_deg, "scale": t.scale}


def claim(a: LayerAnalysis, value: float | None) -> float | None:
    """A number that claims matches (a hit rate, kappa), rounded; null where the kernels are too small for any
    match to be evidence (claims_possible is false), so that no reader takes it for a result."""
    return rounded(value) if a.claims_possible else None


def filter_fields(a: LayerAnalysis, i: int, sample_rate: float | None, detail: bool = False) -> dict[str, Any]:
    """Kernel i as a filter (1-D kernels; all null for 2-D): peak frequency and -3 dB bandwidth in cycles per sample
    (and in Hz where the sample rate is known), the filter type, and in the layer JSON (`detail`) where in time the
    kernel lives, in samples."""
    keys = ["peak_frequency", "bandwidth", "filter_type", "peak_frequency_hz", "bandwidth_hz"]
    if a.filter_shapes is None:
        return dict.fromkeys(keys + (["centre", "duration"] if detail else []))
    s = a.filter_shapes[i]
    out: dict[str, Any] = {
        "peak_frequency": rounded(s.peak_frequency),
        "bandwidth": rounded(s.bandwidth),
        "filter_type": s.filter_type,
        "peak_frequency_hz": None if sample_rate is None else rounded(s.peak_frequency * sample_rate),
        "bandwidth_hz": None if sample_rate is None else rounded(s.bandwidth * sample_rate),
    }
    if detail:
        out.update(centre=rounded(s.centre), duration=rounded(s.duration))
    return out


def layer_summary(a: LayerAnalysis, sample_rate: float | None = None) -> LayerResult:
    """The layer's entry in summary.json (the schema of SPEC.md, plus the extra baselines), as a record."""
    median_change, p = a.paired or (None, None)
    init = a.init
    return LayerResult(
        name=a.name,
        kind=a.kind,
        shape=tuple(a.shape),
        analysed_as="x".join(map(str, a.kshape)) + (" (1-D)" if len(a.kshape) == 1 else ""),
        matched_by="fitted families" if a.bank.fitted else "template bank",
        bank_size=None if a.bank.fitted else len(a.bank),
        null_threshold=rounded(a.threshold),
        null_median=rounded(float(np.median(a.null))),
        hit_rate=claim(a, a.hit_rate),
        hit_rate_at_init=claim(a, a.hit_rate_at_init),
        hit_rate_phase_controlled=claim(a, float(a.phase_controlled_hits.mean())),
        hit_rate_controlled=claim(a, a.controlled_share),
        median_score=rounded(a.median_score),
        median_score_at_init=rounded(a.median_score_at_init),
        kappa=claim(a, a.kappa),
        paired_change=PairedChange("wilcoxon signed-rank", rounded(median_change), rounded(p)),
        dc_fraction_median=rounded(float(np.median(a.dc_fraction))),
        dc_fraction_null_median=rounded(a.dc_fraction_null),
        training_added=None
        if a.added is None
        else TrainingAdded(
            claim(a, float((a.added.score > a.threshold).mean())), rounded(float(np.median(a.added.score)))
        ),
        match_claims_possible=a.claims_possible,
        match_claims_note=a.claims_note or None,
        not_scored=None,
        kernels=tuple(
            KernelResult(
                index=i,
                score=rounded(a.final.score[i]),
                score_at_init=None if init is None else rounded(init.score[i]),
                best_match=Match(**template_dict(a.bank.templates[a.final.top[i, 0]])),
                **filter_fields(a, i, sample_rate),
            )
            for i in range(len(a.final.score))
        ),
    )


def not_scored(shape: tuple[int, ...]) -> str:
    """What a layer whose kernels are too small for a pattern score (scores: fewer than 3 weights) is, in words."""
    kshape = kernel_shape(tuple(shape))
    if math.prod(kshape) == 1:
        size, where = ("1x1", "spatial") if len(kshape) == 2 else ("1-tap", "temporal")
        return f"a {size} (pointwise) convolution: a weight matrix mixing channels, with no {where} pattern to score"
    size = "x".join(map(str, kshape)) + (" taps" if len(kshape) == 1 else "")
    return f"kernels of {size}: too few weights for a pattern score"


_KERNEL_PATTERN_FIELDS = [f.name for f in dataclasses.fields(KernelResult) if f.name != "index"]


def unscored_summary(name: str, kind: str, shape: tuple[int, ...]) -> LayerResult:
    """The summary.json entry of a layer that the site draws but no pattern score describes (not_scored): its kind
    and shape, null for every pattern field, `match_claims_possible` false, a kernel entry (all null) per output."""
    what = not_scored(shape)
    return LayerResult(
        name=name,
        kind=kind,
        shape=tuple(shape),
        analysed_as=None,
        matched_by=None,
        bank_size=None,
        null_threshold=None,
        null_median=None,
        hit_rate=None,
        hit_rate_at_init=None,
        hit_rate_phase_controlled=None,
        hit_rate_controlled=None,
        median_score=None,
        median_score_at_init=None,
        kappa=None,
        paired_change=None,
        dc_fraction_median=None,
        dc_fraction_null_median=None,
        training_added=None,
        match_claims_possible=False,
        match_claims_note=f"no pattern score: {what}",
        not_scored=what,
        kernels=tuple(KernelResult(i, **dict.fromkeys(_KERNEL_PATTERN_FIELDS)) for i in range(shape[0])),
    )


def listed(records: Sequence[Any]) -> list[dict[str, Any]]:
    """A run's `not_shown` (rundir.Unshown: name, shape, reason) or `other_tensors` (name, shape) for summary.json."""
    return [{k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(r).items()} for r in records]


def layer_detail(
    a: LayerAnalysis,
    weights: np.ndarray | None,
    freq: dict[str, Any] | None,
    weights_file: str | None = None,
    sample_rate: float | None = None,
) -> dict[str, Any]:
    """The per-layer JSON: every kernel's weights at the last snapshot, its best matches, its score over the
    snapshots (with its three best templates at each, as indices into `templates`), the controls, and (when given)
    its frequency response samples."""
    used_ids = np.unique(a.top).tolist()  # the templates named anywhere, as numbers into `templates`
    position = np.searchsorted(used_ids, a.top)  # (S, N, TOP): each snapshot's top templates, by those numbers
    kernels = []
    for i in range(len(a.final.score)):
        entry: dict[str, Any] = {
            "index": i,
            "weights": None if weights is None else np.round(weights[i].astype(np.float64), 6).tolist(),
            "score": rounded(a.final.score[i]),
            "score_at_init": None if a.init is None else rounded(a.init.score[i]),
            "above_threshold": bool(a.hits[i]) if a.claims_possible else None,
            "negligible": bool(a.negligible[i]),
            **filter_fields(a, i, sample_rate, detail=True),
            "best_matches": [
                {**template_dict(a.bank.templates[t]), "detail": a.bank.templates[t].detail, "score": rounded(s)}
                for t, s in zip(a.final.top[i], a.final.top_scores[i], strict=True)
            ],
            "near_equal_matches": [
                {**template_dict(a.bank.templates[t]), "detail": a.bank.templates[t].detail, "score": rounded(s)}
                for t, s in a.final.alternatives(i)
            ],
            "top_templates_over_snapshots": position[:, i].tolist(),
            "score_over_snapshots": [rounded(s) for s in a.scores[:, i]],
            "phase_surrogate_p": rounded(a.surrogate_p[i]),
            "sign_surrogate_p": rounded(a.sign_p[i]),
            "dc_fraction": rounded(a.dc_fraction[i]),
            "per_channel_scores": None if a.per_channel is None else [rounded(s) for s in a.per_channel[i]],
            "training_added": None
            if a.added is None
            else {"score": rounded(a.added.score[i]), "best_match": template_dict(a.bank.templates[a.added.top[i, 0]])},
        }
        if freq is not None:
            entry["frequency_response"] = {
                k: np.round(np.asarray(v[i], np.float64), FREQ_DECIMALS.get(k, 5)).tolist()
                for k, v in freq.items()
                if k != "freq"
            }
        kernels.append(entry)
    templates = [{**template_dict(a.bank.templates[t]), "detail": a.bank.templates[t].detail} for t in used_ids]
    out = {
        **layer_summary(a, sample_rate).as_dict(),
        "steps": [int(s) for s in a.steps],
        "templates": templates,
        "kernels": kernels,
    }
    out["weights_file"] = weights_file  # when set, the weights are there (numpy .npy), not in each kernel's entry
    if freq is not None:
        out["frequency_response_axis"] = np.round(freq["freq"], 5).tolist()
    return out


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


LOCALISED = 0.1  # a 1-D kernel whose energy spreads (RMS) over less than this share of its taps is localised


def significant(x: float, digits: int = 2) -> str:
    """x to `digits` significant figures, without an exponent or trailing zeros: 0.0012, 0.23, 0.5, 590, 3,700."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    decimals = digits - 1 - math.floor(math.log10(abs(x)))
    text = f"{round(x, decimals):,.{max(decimals, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def in_hz(hz: float, digits: int = 2) -> str:
    """A frequency in Hz or, from 1,000 Hz, in kHz, to `digits` significant figures: '19 Hz', '3.7 kHz'."""
    text = significant(hz, digits)
    if abs(float(text.replace(",", ""))) >= 1000:
        return significant(hz / 1000, digits) + " kHz"
    return text + " Hz"


def _digits(values: Sequence[float]) -> int:
    """The fewest significant figures (2 to 4) at which values that differ (by more than a part in 10,000) read
    differently too: a range and its quartiles never print as one number where they are not."""
    distinct = len({significant(v, 4) for v in values})
    return next((d for d in (2, 3) if len({significant(v, d) for v in values}) == distinct), 4)


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def peaks_sentence(peaks: Sequence[float], sample_rate: float | None) -> str:
    """Where a group's peak frequencies lie, as a sentence: each peak of one to three filters, else their range,
    median and quartiles ('Their peaks run from 0.0012 to 0.23 cycles per sample (median 0.037; quartiles 0.018 and
    0.071), that is 19 Hz to 3.7 kHz at 16 kHz (median 590 Hz).'), to the significant figures that keep them
    apart; in Hz too where the sample rate is known."""
    peaks = sorted(float(p) for p in peaks)
    rate = f" at {in_hz(sample_rate, 4)}" if sample_rate else ""
    if len(peaks) <= 3:
        d = _digits(peaks)
        same = len(set(peaks)) == 1
        shown = peaks[:1] if same else peaks
        where = "Its peak is" if len(peaks) == 1 else "Their peaks are all" if same else "Their peaks are"
        text = f"{where} at {_listed([significant(p, d) for p in shown])} cycles per sample"
        if sample_rate:
            hz = [in_hz(p * sample_rate, d) for p in shown]
            text += f" ({_listed(hz)}{rate})"
        return text + "."
    q1, median, q3 = (float(q) for q in np.quantile(peaks, [0.25, 0.5, 0.75]))
    lo, hi = peaks[0], peaks[-1]
    d = _digits([lo, q1, median, q3, hi])
    text = (
        f"Their peaks run from {significant(lo, d)} to {significant(hi, d)} cycles per sample (median "
        f"{significant(median, d)}; quartiles {significant(q1, d)} and {significant(q3, d)})"
    )
    if sample_rate:
        r = sample_rate
        text += f", that is {in_hz(lo * r, d)} to {in_hz(hi * r, d)}{rate} (median {in_hz(median * r, d)})"
    return text + "."


def spread_filters(a: LayerAnalysis, sample_rate: float | None = None) -> str:
    """For a 1-D layer: the hits the smoothness control does not support that are filters spread over the whole
    kernel (not a feature at one place), in plain words with where their peak frequencies lie; "" if there are
    none."""
    shapes = a.filter_shapes
    if shapes is None:
        return ""
    taps = a.kshape[0]
    weak = np.flatnonzero(a.hits & ~a.controlled_hits)
    spread = [int(i) for i in weak if shapes[i].duration >= LOCALISED * taps]
    if not spread:
        return ""
    kinds: dict[str, int] = {}
    for i in spread:
        kinds[shapes[i].filter_type] = kinds.get(shapes[i].filter_type, 0) + 1
    one = len(spread) == 1
    if one:
        kind = next(iter(kinds))
        what = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} filter"
    elif len(kinds) == 1:
        what = f"{next(iter(kinds))} filters"
    else:
        what = "filters (" + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1])) + ")"
    return (
        f" In plain words: {len(spread)} of the {len(weak)} hits the control does not support "
        f"{'is' if one else 'are'} {what} whose energy spreads over the whole kernel (RMS duration at least "
        f"{100 * LOCALISED:.0f}% of its {taps} taps), not {'a feature' if one else 'features'} at one place. "
        f"{'It passes' if one else 'They pass'} a band of frequencies wherever it occurs in the window, and it is "
        "that smooth shape that matches a step or ramp template, not an edge or line at one moment. "
        + peaks_sentence([shapes[i].peak_frequency for i in spread], sample_rate)
    )


def headline(a: LayerAnalysis, sample_rate: float | None = None) -> str:
    """One sentence with the numbers: how many kernels match a detector, against initialisation and the null; for
    1-D layers, what the hits the control does not support are, as filters."""
    n = len(a.final.score)
    if not a.claims_possible:
        return f"No match claim is made for {a.name}: {a.claims_note}."
    hits = int(a.hits.sum())
    text = (
        f"{hits} of {n} kernels of {a.name} match a classical detector better than "
        f"{100 * THRESHOLD_QUANTILE:.0f}% of random kernels (r* > {a.threshold:.2f})"
    )
    if a.init is not None:
        init_hits = int((a.init.score > a.threshold).sum())
        text += f", against {init_hits} of {n} {a.baseline}"
    zeros = int(a.negligible.sum())
    dead = (
        f" {zeros} of the {n} kernels shrank to nothing in training (their largest weight at most {NEGLIGIBLE:g} of "
        "the layer's largest): they respond to nothing, and count as misses whatever their shape."
        if zeros
        else ""
    )
    controlled = int(a.controlled_hits.sum())
    if hits == 0:
        return text + "." + dead
    if controlled == 0:
        return text + (
            "; none of those beats both its own phase-randomised surrogates and its sign-randomised ones, so their "
            "smoothness or their envelope alone may explain the match." + spread_filters(a, sample_rate) + dead
        )
    return text + (
        f"; {controlled} of those also beat{'s its' if controlled == 1 else ' their'} own phase-randomised and "
        f"sign-randomised surrogates (p < {SURROGATE_ALPHA:g} each): their shape, not only their smoothness or their "
        "envelope, is what matches." + spread_filters(a, sample_rate) + dead
    )
