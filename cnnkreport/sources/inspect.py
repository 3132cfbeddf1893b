"""`cnnkreport inspect`: the gallery for a user's own model, from one checkpoint or several (a training history).

The checkpoints are read safely (checkpoint.py), and their Conv1d/Conv2d weights become a run folder in the run format
(one snapshot per checkpoint, the first one the baseline), which pipeline.inspect renders like any other run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from ..names import printable
from ..rundir import CheckpointFile, LayerInfo, Run, RunMeta, Unshown
from .checkpoint import find_checkpoints, history
from .modelfile import Checkpoint


def model_name(paths: list[Path]) -> str:
    """A name for the model: the first file's name without its step number (ckpt_step100.pt -> ckpt_step), with
    characters that cannot be printed written out (names.printable)."""
    return printable(re.sub(r"[-_.]*\d+$", "", paths[0].stem) or paths[0].stem)


def layer_pattern(layers: str | None, option: str) -> re.Pattern[str] | None:
    """The regular expression that layer names must match (None: every layer); `option` names it in the error."""
    try:
        return re.compile(layers) if layers is not None else None
    except re.error as e:
        raise UserError(f"{option} is not a valid regular expression: {e}") from None


def select_layers(
    pattern: re.Pattern[str] | None, convs: list[LayerInfo], unshown: list[Unshown], described: str
) -> tuple[list[LayerInfo], list[Unshown]]:
    """The layers (drawn and not) whose names match `pattern` (re.search); none drawn is a UserError."""
    if pattern is None:
        return convs, unshown
    convs = [c for c in convs if pattern.search(c.name)]
    if not convs:
        raise UserError(f"no conv layer name matches {described}")
    return convs, [u for u in unshown if pattern.search(u.name)]


def read_model(
    args: Sequence[str | Path],
    folder: Path,
    layers: str | None = None,
    trust_pickle: bool = False,
    sample_rate: float | None = None,
) -> Run:
    """The Conv1d/Conv2d weights of the model in `args` (files, folders or globs; several make a history) as a run
    folder at `folder` (which must not exist): one snapshot per checkpoint. `layers` is a regular expression that
    layer names must match (re.search)."""
    pattern = layer_pattern(layers, "--layers")  # before reading gigabytes
    paths = find_checkpoints(args)
    checkpoints, convs, unshown = history(paths, trust_pickle)
    convs, unshown = select_layers(pattern, convs, unshown, f"--layers {layers!r}")
    return write_run(folder, model_name(paths), checkpoints, convs, unshown, sample_rate)


def write_run(
    folder: Path,
    name: str,
    checkpoints: Sequence[Checkpoint],
    convs: Sequence[LayerInfo],
    unshown: Sequence[Unshown],
    sample_rate: float | None = None,
) -> Run:
    """Checkpoints of one model (read and checked) as a run folder at `folder` (which must not exist): one snapshot
    of the conv layers `convs` per checkpoint."""
    run = Run(folder)
    run.path.mkdir()
    files = tuple(CheckpointFile(printable(c.path.name), c.step, c.format) for c in checkpoints)
    run.write_meta(
        RunMeta(
            name=name,
            source="inspect",
            status="complete",
            steps=checkpoints[-1].step or 0,
            layers=tuple(convs),
            unshown=tuple(unshown),
            checkpoints=files,
            sample_rate=sample_rate,
        )
    )
    run.write_snapshots(
        [(c.step or 0, {conv.name: c.tensors[weight_key(conv.name)] for conv in convs}) for c in checkpoints]
    )
    return run


def weight_key(layer: str) -> str:
    return f"{layer}.weight" if layer else "weight"
