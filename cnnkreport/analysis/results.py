"""The numbers of a layer's analysis as frozen records: what summary.json holds (`as_dict`) and what the Python API
returns (`cnnkreport.inspect(...).layers[...]`), made once by report.layer_summary, so that the command and the API
give the same numbers by one code path. Every float is rounded as in the JSON; fields that do not apply are None."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Match:
    """A template a kernel matches: `family` is one of edge, line, blob, smooth, step, ramp, corner, gabor;
    `orientation_deg` the direction it differentiates along (None for isotropic and 1-D templates)."""

    name: str
    family: str
    orientation_deg: float | None
    scale: float


@dataclass(frozen=True)
class KernelResult:
    index: int
    score: float | None  # r*, its best |cos| with a classical detector
    score_at_init: float | None  # the same at the first snapshot (None for a single checkpoint)
    best_match: Match | None  # named by the simplest of the near-equal families (None: the layer is not scored)
    peak_frequency: float | None  # 1-D kernels as filters, in cycles per sample (None for 2-D kernels)
    bandwidth: float | None  # -3 dB, cycles per sample
    filter_type: str | None  # low-pass, high-pass, band-pass, band-stop, all-pass, zero
    peak_frequency_hz: float | None  # with a sample rate
    bandwidth_hz: float | None


@dataclass(frozen=True)
class PairedChange:
    test: str
    median_change: float | None
    p_value: float | None


@dataclass(frozen=True)
class TrainingAdded:
    hit_rate: float | None
    median_score: float | None


@dataclass(frozen=True)
class LayerResult:
    """One conv layer's entry of summary.json (see the README's schema): every conv layer the site draws, those with
    kernels too small to score (1x1, pointwise) too, with `not_scored` saying what they are and null pattern fields."""

    name: str
    kind: str  # conv1d | conv2d
    shape: tuple[int, ...]
    analysed_as: str | None  # None where the layer is not scored
    matched_by: str | None  # "template bank" | "fitted families"
    bank_size: int | None
    null_threshold: float | None
    null_median: float | None
    hit_rate: float | None  # None where no match claim is possible
    hit_rate_at_init: float | None
    hit_rate_phase_controlled: float | None  # hits that pass the smoothness control, as a share of the kernels
    hit_rate_controlled: float | None  # ... that pass both controls (the controlled share the targets count)
    median_score: float | None
    median_score_at_init: float | None
    kappa: float | None
    paired_change: PairedChange | None
    dc_fraction_median: float | None
    dc_fraction_null_median: float | None
    training_added: TrainingAdded | None
    match_claims_possible: bool
    match_claims_note: str | None
    # None for a layer whose kernels are scored; for one whose kernels have too few weights for a pattern score
    # (a 1x1 or pointwise convolution, a kernel of 2 taps), what it is instead: every pattern field is then None
    not_scored: str | None
    kernels: tuple[KernelResult, ...]

    def as_dict(self) -> dict[str, Any]:
        """As summary.json writes it (tuples become lists)."""
        return _lists(dataclasses.asdict(self))


def _lists(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_lists(v) for v in x]
    return x
