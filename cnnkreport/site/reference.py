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
    atoms = len(d.final.score)
    figure = Figure(
        picture.src,
        f"A sparse-coding dictionary of {atoms} atom{'s' if atoms != 1 else ''} learned from the run's own data, "
        "without labels",
        f"The {atoms} atoms, each on its own scale (unit norm; the sign of an atom is arbitrary). "
        f"Hits: {pct(d.hit_rate)}; controlled: {pct(d.controlled_share)}.",
        pixels=True,
        colourbar=len(kshape) == 2,
    )
    ref = Reference(
        atoms=atoms,
        hit_rate=d.hit_rate,
        controlled_share=d.controlled_share,
        threshold=d.threshold,
        cnn_hit_rate=a.hit_rate,
        cnn_controlled_share=a.controlled_share,
        sparsity=learned.sparsity,
        error=learned.error,
        alpha=learned.alpha,
        objective=learned.objective,
        objective_change=learned.change,
        iterations=learned.iterations,
        patches=learned.patches,
        matched_cos=sparse.matched_cos(a.summed_last, learned.atoms),
        matched_cos_random=sparse.matched_cos_random(learned.atoms),
        figure=figure,
    )
    matches = Figure(
        best.src,
        "Each sparse-coding atom beside its three best-matching classical detectors, with scores",
        "Each atom beside its three best matches from the same detector bank, with |cos|"
        + (f"; the first {n} of {atoms} atoms." if n < atoms else "."),
    )
    return Section("What the data offers: sparse coding", ANCHOR, _text(info, kshape, ref), [figure, matches]), ref


def _text(info: LayerInfo, kshape: tuple[int, ...], ref: Reference) -> str:
    """The section's paragraph: how the dictionary was learned, how it scores, and how close the kernels came."""
    shape = "x".join(map(str, kshape)) + ("" if len(kshape) > 1 else " taps")
    return (
        f"What the data itself offers to be found. Sparse coding (Olshausen and Field 1996; Lee et al. 2009 learned "
        f"their first layer this way) learned {ref.atoms} atoms of {shape}, as many as {info.name} has kernels, "
        f"from {ref.patches:,} patches of this run's training images or signals (the more energetic half of "
        f"{sparse.PATCHES:,} drawn, each centred and scaled to unit norm), with no labels, by minimising the mean "
        f"over the patches of |x - D a|^2/2 + {ref.alpha:g} |a|_1. The sparsity is fixed by a rule, the same for "
        f"every run: the L1 weight is {ref.alpha:g} against unit-norm patches, so an atom takes part in a patch's "
        f"code only where it correlates better than {ref.alpha:g} with what the other atoms leave of it. "
        f"{_converged(ref)}: after {ref.iterations} iterations the objective is {ref.objective:.4f} and "
        f"{_change(ref.objective_change)} over the last tenth of them; each patch is rebuilt from "
        f"{100 * ref.sparsity:.0f}% of the atoms on average (relative error {ref.error:.2f}). "
        f"Scored exactly as the kernels are, against the same null (r* above {ref.threshold:.2f}): "
        f"{pct(ref.hit_rate)} of the atoms are hits and {pct(ref.controlled_share)} are hits that beat their "
        "phase-randomised surrogates and their sign-randomised ones, "
        f"against {pct(ref.cnn_hit_rate)} and {pct(ref.cnn_controlled_share)} of "
        f"{info.name}'s trained kernels. {_reading(ref)} Matched one to one with the atoms (the matching of "
        f"largest total |cos|, sign-invariant), {info.name}'s trained kernels reach a mean |cos| of "
        f"{ref.matched_cos:.2f}, against {ref.matched_cos_random:.2f} for random kernels of the same shape "
        f"(PyTorch's default initialisation, the mean of {sparse.RANDOM_DRAWS} draws)."
    )


def _converged(ref: Reference) -> str:
    """Whether the dictionary was learned to convergence (sparse.TOLERANCE), in words."""
    if ref.objective_change < sparse.TOLERANCE:
        return "Learned to convergence"
    return f"Not converged within {sparse.MAX_ITERATIONS} iterations"


def _change(change: float) -> str:
    """The objective's relative fall in words: 'fell by 0.0089%', 'changed by less than 0.001%'."""
    if abs(change) < 1e-5:
        return "changed by less than 0.001%"
    return f"{'fell' if change > 0 else 'rose'} by {100 * abs(change):.2g}%"


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
