"""What a page shows, gathered before any page is written: figures, sections, and a view of each layer and run."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..analysis.results import LayerResult
from ..analysis.scores import LayerAnalysis
from ..config import RunConfig
from ..draw.sprites import Sprite
from ..rundir import LayerInfo, RunMeta
from .kernels import KernelView
from .layout import INPUT_SPACE
from .player import Marker, Player

TABLE_PAGE = 64  # kernels per page of a layer's kernel table
MAX_KERNEL_PAGES = 64  # kernels of a layer that get a page of their own (the table lists them all)
RUN_SECTIONS = 6  # layers a run page shows in full, each in a section; more: a small card each, in a grid


@dataclass(frozen=True)
class Figure:
    src: str  # relative to the page that shows it
    alt: str
    caption: str
    pixels: bool = False  # kernel pictures: enlarge with hard pixel edges, never smooth them
    colourbar: bool = False  # drawn in the diverging weight colours: show the colour scale under it
    links: tuple[tuple[str, str], ...] = ()  # (file, what it holds): downloads named in the caption
    sprite: Sprite | None = None  # an animation: `src` is its sprite sheet, shown a frame at a time by the player
    anchor: str = ""  # the id of the figure on its page, where the page's player controls it
    markers: tuple[Marker, ...] = ()  # a chart over optimiser steps: where the player's marker goes

    def under(self, prefix: str) -> Figure:
        """The figure as a page in another folder shows it: its path under `prefix`, as a still picture, without
        its downloads (they are on the page of its own folder, once: a packed site inlines each link to a
        picture)."""
        return replace(self, src=prefix + self.src, links=(), sprite=None, anchor="", markers=())


@dataclass
class Section:
    title: str
    anchor: str
    text: str = ""
    figures: list[Figure] = field(default_factory=list)


@dataclass(frozen=True)
class Reference:
    """The layer page's "What the data offers" section (reference.py): a sparse-coding dictionary of the run's data,
    its numbers beside the layer's (shares of all kernels / atoms), how it converged, and how close the layer's
    kernels came to its atoms, one to one, against random kernels of the same shape."""

    atoms: int
    hit_rate: float
    controlled_share: float
    threshold: float
    cnn_hit_rate: float
    cnn_controlled_share: float
    sparsity: float  # mean share of non-zero codes
    error: float  # mean relative reconstruction error
    alpha: float  # the L1 weight, against unit-norm patches
    objective: float  # mean |x - D a|^2 / 2 + alpha |a|_1 over the patches, at the end
    objective_change: float  # its relative fall over the last tenth of the iterations
    iterations: int
    patches: int
    matched_cos: float  # mean |cos| of the layer's kernels matched one to one with the atoms
    matched_cos_random: float  # ... of random kernels of that shape (PyTorch's default init), averaged over draws
    figure: Figure  # the dictionary's picture, relative to the layer page

    def summary(self) -> dict[str, float | int]:
        """For summary.json (the layer's `sparse_coding` object)."""
        return {
            "atoms": self.atoms,
            "hit_rate": round(self.hit_rate, 4),
            "controlled_share": round(self.controlled_share, 4),
            "sparsity": round(self.sparsity, 4),
            "reconstruction_error": round(self.error, 4),
            "alpha": self.alpha,
            "objective": round(self.objective, 6),
            "objective_change_last_tenth": float(f"{self.objective_change:.3g}"),
            "iterations": self.iterations,
            "patches": self.patches,
            "matched_cos": round(self.matched_cos, 4),
            "matched_cos_random": round(self.matched_cos_random, 4),
        }


@dataclass
class LayerView:
    info: LayerInfo
    slug: str
    analysis: LayerAnalysis | None
    summary: LayerResult | None
    headline: str
    mosaic: Figure  # relative to the layer page
    sections: list[Section]
    rows: list[dict[str, Any]]  # the kernel table
    kernels: list[KernelView] = field(default_factory=list)
    player: Player | None = None  # over the snapshots its animations show; None with one snapshot
    reference: Reference | None = None  # the sparse-coding dictionary of the run's data (first layers trained here)

    @property
    def table_pages(self) -> list[list[dict[str, Any]]]:
        """The kernel table in pages of TABLE_PAGE rows: the first on the layer page, the rest in kernels/."""
        return [self.rows[i : i + TABLE_PAGE] for i in range(0, len(self.rows), TABLE_PAGE)] or [[]]

    @property
    def describe(self) -> str:
        return describe(self.info)

    @property
    def animations(self) -> list[Figure]:
        """The layer's animations, each with a GIF to download."""
        return [f for s in self.sections for f in s.figures if f.sprite is not None and f.sprite.gif]


@dataclass
class RunView:
    name: str
    slug: str
    meta: RunMeta
    config_text: str | None
    layers: list[LayerView]
    figures: list[Figure]  # run-level: curves, data samples
    snapshots: int
    steps: int
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (file name in the run folder, what it is)
    config: RunConfig | None = None  # for a run trained here

    @property
    def test_accuracy(self) -> float | None:
        return self.meta.test_accuracy

    @property
    def layer_cards(self) -> bool:
        """Whether the run page shows its layers as small cards (many layers), not a section each."""
        return len(self.layers) > RUN_SECTIONS

    @property
    def first(self) -> LayerView | None:
        return self.layers[0] if self.layers else None

    @property
    def lee_figure(self) -> tuple[LayerView, Figure] | None:
        """The second layer drawn in input space (Lee et al. 2009 Fig. 3 style), if the run has one."""
        for lv in self.layers[1:]:
            for section in lv.sections:
                for fig in section.figures:
                    if fig.src == INPUT_SPACE:
                        return lv, fig
        return None


def describe(info: LayerInfo) -> str:
    out_c, in_c, *k = info.shape
    return f"{out_c} kernels of {' x '.join(map(str, k))}, {in_c} input channel{'s' if in_c != 1 else ''}"
