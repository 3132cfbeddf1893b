"""Where a layer's numbers go, so that a site stays small enough to publish whatever the model (issue 30): each
kernel's weights in layer.json for a small layer (at most JSON_WEIGHTS numbers), in weights.npy (float32) beside it
up to COPIED_WEIGHTS, and beyond that not copied: they are the model's own file (or the run's weights.pt), and
layer.json, the layer page and the kernel pages say where. The frequency responses of a layer of more than
JSON_RESPONSES kernels go to frequency-response.npy, not JSON text. Pictures of every input channel of every kernel
(grid-N.png) are drawn only where they add what the page and the numbers do not: kernels large enough for a pattern
to tell from noise (not 3x3, not 1-D below 9 taps), in a layer whose weights the site holds. A run's own files (its
config, metrics, and weights.pt up to WEIGHTS_DOWNLOAD; an inspected model has none) are copied into its folder."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..analysis import report
from ..analysis.scores import LayerAnalysis, claims_possible, kernel_shape
from ..files import atomic_write, atomic_write_text
from ..rundir import LayerInfo, Run, RunMeta
from . import layout as paths
from .layout import Folder

JSON_WEIGHTS = 16_384  # weights of a layer written into layer.json as text; more: a binary file
COPIED_WEIGHTS = 2**19  # weights of a layer copied into the site (weights.npy, float32: 2 MB); more: not copied
JSON_RESPONSES = 64  # kernels whose frequency responses are written into layer.json; more: RESPONSES
RESPONSES = "frequency-response.npy"  # (kernels, 2, frequencies) float32: magnitude in dB, then phase in radians
GRID_BUDGET = 2**21  # pixels of a layer's grid pictures (every input channel of every kernel), in all
WEIGHTS_DOWNLOAD = 20 * 2**20  # bytes of a run's weights.pt (trained here or recorded) copied into the site


def weights_home(meta: RunMeta) -> str:
    """Where a run's weights are, outside the site, in words: an inspected model's own file, or the run's
    weights.pt."""
    if meta.source != "inspect":
        return "the run's weights.pt, in its run folder"
    files = [c.file for c in meta.checkpoints]
    if not files:
        return "the model they were read from"
    return f"the model's own file {files[-1]}" if len(files) == 1 else f"the model's last file, {files[-1]}"


@dataclass(frozen=True)
class Numbers:
    """Where one layer's weights are: "json" (in each kernel's entry of layer.json), "file" (weights.npy beside
    it) or "elsewhere" (not copied into the site: in `home`)."""

    weights: str
    count: int  # how many there are
    home: str  # where they are outside the site, in words (weights_home)

    @classmethod
    def of(cls, info: LayerInfo, home: str, analysed: bool = True) -> Numbers:
        """The layer's: a layer that is not analysed has no layer.json, and its weights are in `home` only."""
        n = math.prod(info.shape)
        kind = "elsewhere" if not analysed or n > COPIED_WEIGHTS else "json" if n <= JSON_WEIGHTS else "file"
        return cls(kind, n, home)

    @property
    def file(self) -> str | None:
        """The file in the layer's folder that holds every weight, if the site holds them."""
        return {"json": paths.LAYER_JSON, "file": paths.LAYER_WEIGHTS}.get(self.weights)

    def words(self) -> str:
        """Where every weight is, for a caption or a page."""
        if self.weights == "json":
            return "the layer's layer.json"
        if self.weights == "file":
            return "the layer's weights.npy (float32, numpy.load)"
        return f"{self.home} ({self.count:,} numbers, not copied into the site)"


def grid_applies(info: LayerInfo, numbers: Numbers) -> bool:
    """Whether a layer drawn as channel sums (or cut) also gets pictures of every input channel for download:
    where a kernel is large enough for its pattern to mean something and the site holds the layer's weights."""
    kshape = kernel_shape(tuple(info.shape))
    return numbers.weights != "elsewhere" and math.prod(kshape) > 1 and claims_possible(kshape)[0]


def write_layer_json(
    folder: Folder,
    a: LayerAnalysis,
    last: np.ndarray,
    freq: dict[str, Any] | None,
    numbers: Numbers,
    sample_rate: float | None,
) -> None:
    """layer.json (report.layer_detail), and beside it weights.npy and frequency-response.npy where the layer's
    numbers go there; layer.json says where each of them is."""
    weights_file = None
    if numbers.weights == "file":
        weights = folder.file(paths.LAYER_WEIGHTS, "the layer's weights")
        atomic_write(weights.path, lambda fh: np.save(fh, np.asarray(last, np.float32), allow_pickle=False))
        weights_file = weights.src
    in_file = freq is not None and len(a.final.score) > JSON_RESPONSES
    shown = last if numbers.weights == "json" else None
    detail = report.layer_detail(a, shown, None if in_file else freq, weights_file, sample_rate)
    detail["weights_format"] = None if weights_file is None else f"float32 .npy of shape {list(last.shape)}"
    detail["weights_not_copied"] = (
        {"numbers": numbers.count, "where": numbers.home} if numbers.weights == "elsewhere" else None
    )
    detail["frequency_response_file"] = detail["frequency_response_format"] = None
    if in_file and freq is not None:
        responses = folder.file(RESPONSES, "the kernels' frequency responses")
        stacked = np.stack([freq["magnitude_db"], freq["phase"]], axis=1).astype(np.float32)  # (kernels, 2, F)
        atomic_write(responses.path, lambda fh: np.save(fh, stacked, allow_pickle=False))
        detail["frequency_response_file"] = responses.src
        detail["frequency_response_format"] = (
            f"float32 .npy of shape {list(stacked.shape)}: per kernel, the magnitude in dB re its peak, then the "
            "phase in radians, at frequency_response_axis"
        )
        detail["frequency_response_axis"] = np.round(freq["freq"], 5).tolist()
        for kernel in detail["kernels"]:
            kernel["frequency_response"] = None
    text = report.dumps(detail, compact=True)
    atomic_write_text(folder.file(paths.LAYER_JSON, "the layer's numbers").path, text)


def copy_run_files(run: Run, folder: Folder) -> list[tuple[str, str]]:
    """Copy the run's config, metrics and final weights into the site, for download (weights only up to a size
    that a static site can carry)."""
    out = []
    if run.config_path.is_file():
        config = folder.file(paths.CONFIG_TOML, "the config")
        shutil.copyfile(run.config_path, config.path)
        out.append((config.src, "the resolved config"))
    if run.metrics_path.is_file():
        metrics = folder.file(paths.METRICS, "the metrics")
        shutil.copyfile(run.metrics_path, metrics.path)
        out.append((metrics.src, "loss and accuracy at every step"))
    if run.weights_path.is_file() and run.weights_path.stat().st_size <= WEIGHTS_DOWNLOAD:
        weights = folder.file(paths.WEIGHTS, "the final weights")
        shutil.copyfile(run.weights_path, weights.path)
        out.append((weights.src, "final weights, a plain state_dict: torch.load(path, weights_only=True)"))
    return out
