"""The layer page's "What the data offers" section: a sparse-coding dictionary of the run's own data (the
unsupervised reference, analysis/sparse.py), drawn as the kernels are, scored the same way against the same null,
and set beside the first layer's own numbers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..analysis import scores, sparse
from ..analysis.report import pct
from ..config import RunConfig
from ..data import make_dataset
from ..draw import compact, mosaic
from ..rundir import LayerInfo
from .layout import Folder
from .sections import best_matches_png
from .views import Figure, Reference, Section

ANCHOR = "sparse-coding"
MAX_ROWS = 16  # atoms beside their best matches at most


def applies(info: LayerInfo, first: bool, cfg: RunConfig, a: scores.LayerAnalysis) -> bool:
    """A dictionary is learned for the first layer of a run trained here (its data config known) on one input
    channel, where the kernels can be matched at all."""
    return first and cfg.data is not None and a.claims_possible and info.shape[1] == 1


def reference_section(
    info: LayerInfo, a: scores.LayerAnalysis, cfg: RunConfig, folder: Folder
) -> tuple[Section, Reference]:
    """Learn the dictionary (as many atoms as the layer has kernels, of the same shape) from the run's training
    data, draw it and its best matches into `folder`, and say how it compares."""
    data = make_dataset(replace(cfg.data, n_test=0), cfg.seed)
    kshape = tuple(info.shape[2:])
    learned = sparse.learn(data.x_train, info.shape[0], kshape, cfg.seed)
    d = scores.analyse_layer(
        f"{info.name} (sparse coding)", info.kind, np.zeros(1, dtype=np.int64), learned.atoms[None]
    )
    assert d is not None  # the same shape as the layer, which could be analysed
    picture = folder.file("sparse-coding.png", "the sparse-coding dictionary")
    mosaic.write_png(picture.path, compact.draw_layer(learned.atoms, "tile").image)
    best = folder.file("sparse-matches.png", "the sparse-coding atoms' best matches")
    n = best_matches_png(d, best.path, "atom", MAX_ROWS)
    atoms, hit_rate, controlled = len(d.final.score), d.hit_rate, d.controlled_share
    figure = Figure(
        picture.src,
        f"A sparse-coding dictionary of {atoms} atom{'s' if atoms != 1 else ''} learned from the run's own data, "
        "without labels",
        f"The {atoms} atoms, each on its own scale (unit norm; the sign of an atom is arbitrary). "
        f"Hits: {pct(hit_rate)}; controlled: {pct(controlled)}.",
        pixels=True,
        colourbar=len(kshape) == 2,
    )
    ref = Reference(
        atoms,
        hit_rate,
        controlled,
        d.threshold,
        a.hit_rate,
        a.controlled_share,
        learned.sparsity,
        learned.error,
        figure,
    )
    shape = "x".join(map(str, kshape)) + ("" if len(kshape) > 1 else " taps")
    text = (
        f"What the data itself offers to be found. Sparse coding (Olshausen and Field 1996; Lee et al. 2009 learned "
        f"their first layer this way) learned {atoms} atoms of {shape}, as many as {info.name} has kernels, from "
        f"{sparse.PATCHES:,} patches of this run's training images or signals, with no labels: each patch is "
        f"rebuilt from a few atoms (on average {100 * ref.sparsity:.0f}% of them; relative error "
        f"{ref.error:.2f}). Scored exactly as the kernels are, against the same null (r* above {ref.threshold:.2f}): "
        f"{pct(hit_rate)} of the atoms are hits and {pct(controlled)} are hits that beat their "
        "phase-randomised surrogates and their sign-randomised ones, "
        f"against {pct(ref.cnn_hit_rate)} and {pct(ref.cnn_controlled_share)} of "
        f"{info.name}'s trained kernels. {_reading(ref)}"
    )
    matches = Figure(
        best.src,
        "Each sparse-coding atom beside its three best-matching classical detectors, with scores",
        "Each atom beside its three best matches from the same detector bank, with |cos|"
        + (f"; the first {n} of {atoms} atoms." if n < atoms else "."),
    )
    return Section("What the data offers: sparse coding", ANCHOR, text, [figure, matches]), ref


def _reading(ref: Reference) -> str:
    """What the comparison says, in words, from the two controlled shares."""
    if ref.cnn_controlled_share >= ref.controlled_share + 0.1:
        return (
            "Supervised training found more detector-like kernels that the control supports than sparse coding "
            "did: the task asked for them."
        )
    if ref.controlled_share >= ref.cnn_controlled_share + 0.1:
        return (
            "The data offers more detector-like structure than supervised training kept: the labels did not ask "
            "for all of it."
        )
    return "Supervised training and sparse coding found about as much detector-like structure."
