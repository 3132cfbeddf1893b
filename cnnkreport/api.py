"""The Python API, for notebooks: the same reading, analysis and site as `cnnkreport inspect`, on a model in memory.

    import cnnkreport as ck
    report = ck.inspect(model)          # an nn.Module, a state_dict, a path or list of paths, or one weight array
    report                              # in Jupyter: a table of the layers and the first layer's mosaic, inline
    layer = report.layers["conv1"]      # by name, or report.layers[0]
    layer.hit_rate, layer.kernels[3].score, layer.kernels[3].best_match.family
    fig = layer.plot("frequency")       # a matplotlib Figure; never plt.show()
    report.save("site")                 # the site `cnnkreport inspect ... --out site` writes

The numbers are the records summary.json is written from (analysis/results.py): one code path for both. `inspect`
writes nothing to disk; `save` does what the command does, by the same function (pipeline.inspect). The arguments
are checked, and the model read, by the command's functions (sources/inspect.py): the same bad input gives the same
one-line UserError.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .analysis import report as numbers
from .analysis.results import LayerResult
from .analysis.scores import LayerAnalysis, analyse_layer
from .rundir import LayerInfo, OtherTensor, Unshown
from .sources.modelfile import Checkpoint

if TYPE_CHECKING:  # the readers (torch) are imported by inspect(), once it is called
    from .sources.inspect import Model

VIEWS = ("mosaic", "frequency", "filterbank", "signals", "channels", "matches")


@dataclass(frozen=True)
class Layer(LayerResult):
    """One conv layer: every number of its summary.json entry (the fields of LayerResult), and `plot`. A layer whose
    kernels are too small for a pattern score (a 1x1 or pointwise convolution) is here too, with `not_scored` saying
    what it is, None for every pattern number, and only the "mosaic" view; its `analysis` is None."""

    info: LayerInfo | None = field(default=None, repr=False, compare=False)
    analysis: LayerAnalysis | None = field(default=None, repr=False, compare=False)
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)  # (out, in, *k), last snapshot
    sample_rate: float | None = field(default=None, repr=False, compare=False)  # Hz: frequency figures in Hz

    def plot(self, view: str = "mosaic") -> Any:
        """A matplotlib Figure of the layer: "mosaic" (the kernels), "frequency" (each kernel's frequency response),
        "filterbank" (1-D: sorted by peak frequency), "signals" (1-D: responses to test signals), "channels" (1-D,
        several input channels: filters x channels), "matches" (each kernel beside its best templates). The
        Figure is not shown and leaves no pyplot state behind: display it, or `fig.savefig(...)`."""
        from .draw import plots

        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
        assert self.weights is not None
        if view == "mosaic":
            return plots.mosaic_figure(self.name, self.weights)
        if self.analysis is None:
            raise ValueError(f"layer {self.name or 'weight'} has only the 'mosaic' view: it is {self.not_scored}")
        return plots.layer_figure(view, self.analysis, self.weights, self.sample_rate)


class Layers(Mapping[str, Layer]):
    """The layers in model order (every conv layer the site draws), by name (`layers["conv1"]`) or position
    (`layers[0]`)."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self._list = tuple(layers)
        self._by_name = {layer.name: layer for layer in self._list}

    def __getitem__(self, key: str | int) -> Layer:
        if isinstance(key, int):
            return self._list[key]
        if key not in self._by_name:
            raise KeyError(f"no layer {key!r}; the layers are {', '.join(self._by_name) or 'none'}")
        return self._by_name[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._list)

    def __repr__(self) -> str:
        return f"Layers({', '.join(self._by_name)})"


@dataclass(frozen=True)
class Report:
    """A model's conv layers, analysed. `layers` holds the numbers of every layer the site draws; `unshown` the
    layers not drawn, with why (summary.json's `not_shown`); `other_tensors` the tensors of a conv weight's rank not
    read as one (summary.json's `other_tensors`)."""

    name: str
    layers: Layers
    unshown: tuple[Unshown, ...]
    other_tensors: tuple[OtherTensor, ...] = ()
    sample_rate: float | None = None
    model: Model | None = field(default=None, repr=False, compare=False)  # as read: what `save` draws

    @property
    def checkpoints(self) -> tuple[Checkpoint, ...]:
        return self.model.checkpoints if self.model is not None else ()

    def as_dict(self) -> dict[str, Any]:
        """The run's entry of summary.json."""
        return {
            "name": self.name,
            "source": "inspect",
            "test_accuracy": None,
            "layers": [layer_dict(layer) for layer in self.layers.values()],
            "not_shown": numbers.listed(self.unshown),
            "other_tensors": numbers.listed(self.other_tensors),
            "data": None,  # where a run's data set came from: none for a model inspected
        }

    def save(self, out: str | os.PathLike[str]) -> Path:
        """Write the site, as `cnnkreport inspect ... --out OUT` would (the same function, pipeline.inspect, on the
        model as read, drawn on every core), from the layers' analyses this report holds: nothing is analysed
        again. Returns the path of its index.html."""
        from .pipeline import inspect as write_site

        analysed = {name: layer.analysis for name, layer in self.layers.items()}
        write_site(self.model, out, sample_rate=self.sample_rate, name=self.name, analysed=analysed)
        return Path(out) / "index.html"

    def _repr_html_(self) -> str:
        from .draw import plots

        return plots.report_html(self)


def _result_fields(layer: LayerResult) -> dict[str, Any]:
    """The LayerResult fields of a record (a LayerResult, or a Layer that adds its own)."""
    return {f.name: getattr(layer, f.name) for f in fields(LayerResult)}


def layer_dict(layer: LayerResult) -> dict[str, Any]:
    """A layer's summary.json entry (the LayerResult fields only, whatever record holds them)."""
    return LayerResult(**_result_fields(layer)).as_dict()


def inspect(
    model: Any,
    *,
    layers: str | None = None,
    sample_rate: float | str | None = None,
    trust_pickle: bool = False,
    name: str | None = None,
    conv_tensors: str | None = None,
) -> Report:
    """Analyse the Conv1d/Conv2d layers of `model`: an nn.Module, a state_dict (a mapping of names to tensors or
    arrays), a path or a list of paths (every format `cnnkreport inspect` reads; several files are a training
    history), or one weight tensor/array of shape (out, in, k) or (out, in, kh, kw). `layers`: a regular expression
    that layer names must match; `sample_rate` (Hz) adds frequencies in Hz; `conv_tensors`: a regular expression
    naming tensors (of 3 to 5 dimensions) to read as conv weights too. Nothing is written to disk. Bad input
    raises cnnkreport.errors.UserError with a one-line message: the same as `cnnkreport inspect` gives for it (the
    arguments are checked, and the model read, by the same functions)."""
    from .sources.inspect import inspect_options, layer_weight, read_model

    opts = inspect_options(layers, trust_pickle, sample_rate, name, conv_tensors)  # as the command refuses them
    read = read_model(model, opts)
    steps = np.array([c.step or 0 for c in read.checkpoints])
    drawn: list[Layer] = []
    for info in read.convs:  # the layers the site draws, each in the record: those too small to score too
        w = np.stack([layer_weight(c, info.name) for c in read.checkpoints])
        a = analyse_layer(info.name, info.kind, steps, w)
        if a is None:
            r = numbers.unscored_summary(info.name, info.kind, info.shape)
        else:
            r = numbers.layer_summary(a, opts.sample_rate)
        drawn.append(Layer(**_result_fields(r), info=info, analysis=a, weights=w[-1], sample_rate=opts.sample_rate))
    return Report(read.name, Layers(drawn), read.unshown, read.other_tensors, opts.sample_rate, read)
