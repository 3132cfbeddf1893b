"""The analysis as data and as sentences: summary.json, the per-layer JSON, and the headline a page states.

Nothing here computes a score; it only reports what `analysis` measured, rounded, with every baseline beside it.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .bank import Template
from .results import KernelResult, LayerResult, Match, PairedChange, TrainingAdded
from .scores import NEGLIGIBLE, SURROGATE_ALPHA, THRESHOLD_QUANTILE, LayerAnalysis

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


def _peaks(peaks: list[float], sample_rate: float | None, most: int = 8) -> str:
    """'0.024, 0.033 cycles per sample (384, 528 Hz)': at most `most` of them."""
    more = ", ..." if len(peaks) > most else ""
    text = ", ".join(f"{f:.3f}" for f in peaks[:most]) + more + " cycles per sample"
    return text + (f" ({', '.join(f'{f * sample_rate:,.0f}' for f in peaks[:most])}{more} Hz)" if sample_rate else "")


def spread_filters(a: LayerAnalysis, sample_rate: float | None = None) -> str:
    """For a 1-D layer: the hits the smoothness control does not support that are filters spread over the whole
    kernel (not a feature at one place), in plain words with their peak frequencies; "" if there are none."""
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
    if len(kinds) == 1:
        what = f"{next(iter(kinds))} filters"
    else:
        what = "filters (" + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1])) + ")"
    peaks = sorted(shapes[i].peak_frequency for i in spread)
    return (
        f" In plain words: {len(spread)} of the {len(weak)} hits the control does not support are {what} whose "
        f"energy spreads over the whole kernel (RMS duration at least {100 * LOCALISED:.0f}% of its {taps} taps), "
        f"not features at one place. They pass a band of frequencies (peaks at {_peaks(peaks, sample_rate)}) "
        "wherever it occurs in the window, and it is that smooth shape that matches a step or ramp template, not "
        "an edge or line at one moment."
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
