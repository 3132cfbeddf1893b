"""`cnnkreport inspect`: the gallery for a user's own model, from one checkpoint or several (a training history).

The checkpoints are read safely (checkpoint.py), their Conv1d/Conv2d weights become a run folder in the run format
(one snapshot per checkpoint, the first one the baseline), and that run is rendered like any other.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import UserError
from ..names import printable
from ..rundir import Run
from ..site.pages import RunView, build_site, check_out_dir
from .checkpoint import find_checkpoints, history


def model_name(paths: list[Path]) -> str:
    """A name for the model: the first file's name without its step number (ckpt_step100.pt -> ckpt_step), with
    characters that cannot be printed written out (checkpoint.printable)."""
    return printable(re.sub(r"[-_.]*\d+$", "", paths[0].stem) or paths[0].stem)


def inspect_checkpoints(
    args: Sequence[str | Path],
    out: Path,
    layers: str | None = None,
    trust_pickle: bool = False,
    on_run: Callable[[str], None] | None = None,
) -> list[RunView]:
    """Render the gallery of the model in `args` (files, folders or globs) into `out`; `layers` is a regular
    expression that layer names must match (re.search)."""
    check_out_dir(out)  # before reading gigabytes
    try:
        pattern = re.compile(layers) if layers is not None else None
    except re.error as e:
        raise UserError(f"--layers is not a valid regular expression: {e}") from None
    paths = find_checkpoints(args)
    checkpoints, convs, unshown = history(paths, trust_pickle)
    if pattern is not None:
        convs = [c for c in convs if pattern.search(c.name)]
        unshown = [u for u in unshown if pattern.search(u.name)]
        if not convs:
            raise UserError(f"no conv layer name matches --layers {layers!r}")
    name = model_name(paths)
    with tempfile.TemporaryDirectory(prefix="cnnkreport-inspect-") as tmp:
        run = Run(Path(tmp) / "run")
        run.path.mkdir()
        run.write_meta(
            {
                "name": name,
                "source": "inspect",
                "status": "complete",
                "steps": checkpoints[-1].step or 0,
                "test_accuracy": None,
                "layers": [{"name": c.name, "kind": c.kind, "shape": list(c.shape)} for c in convs],
                "unshown": [{"name": u.name, "shape": list(u.shape), "reason": u.reason} for u in unshown],
                "checkpoints": [
                    {"file": printable(c.path.name), "step": c.step, "format": c.format} for c in checkpoints
                ],
            }
        )
        run.write_snapshots(
            [(c.step or 0, {conv.name: c.tensors[weight_key(conv.name)] for conv in convs}) for c in checkpoints]
        )
        return build_site([run.path], out, on_run)


def weight_key(layer: str) -> str:
    return f"{layer}.weight" if layer else "weight"
