"""run.json as RunMeta: written and read in one place, every key checked, a bad file one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.errors import UserError
from cnnkreport.rundir import CheckpointFile, LayerInfo, Run, RunMeta, Unshown

LAYER = LayerInfo("features.0", "conv2d", (4, 1, 5, 5))
GOOD = {
    "version": 1,
    "name": "r",
    "source": "train",
    "status": "complete",
    "steps": 20,
    "test_accuracy": 0.9,
    "layers": [{"name": "features.0", "kind": "conv2d", "shape": [4, 1, 5, 5]}],
}


def test_every_field_survives_a_round_trip(tmp_path: Path) -> None:
    meta = RunMeta(
        name="model",
        source="inspect",
        status="complete",
        steps=300,
        layers=(LAYER, LayerInfo("", "conv1d", (8, 2, 31))),
        test_accuracy=0.5,
        kind="image",
        classes=("square", "sine"),
        unshown=(Unshown("up", (4, 8, 3, 3), "a transposed convolution"),),
        checkpoints=(CheckpointFile("a_step1.pt", 1, "state_dict"), CheckpointFile("b.pt", None, "safetensors")),
        made_by="build",
    )
    run = Run(tmp_path)
    run.write_meta(meta)
    assert run.read_meta() == meta
    assert run.layers() == list(meta.layers)
    assert json.loads(run.meta_path.read_text())["version"] == 1


def test_a_run_json_of_version_0_1_still_reads(tmp_path: Path) -> None:
    """What train wrote before RunMeta: no unshown, checkpoints or made_by; classes as a list; an unknown key."""
    old = {**GOOD, "kind": "signal", "classes": ["square", "sine"], "future_key": {"x": 1}}
    (tmp_path / "run.json").write_text(json.dumps(old))
    meta = Run(tmp_path).read_meta()
    assert meta.classes == ("square", "sine") and meta.kind == "signal" and meta.layers == (LAYER,)
    assert meta.unshown == () and meta.made_by is None and meta.test_accuracy == 0.9


BAD = {
    "a list": ([], "a JSON list, not an object"),
    "a number": (3, "a JSON int, not an object"),
    "no version": ({k: v for k, v in GOOD.items() if k != "version"}, "unsupported run format version None"),
    "no name": ({k: v for k, v in GOOD.items() if k != "name"}, "'name': missing"),
    "name a number": ({**GOOD, "name": 5}, "'name': int 5, not str"),
    "unknown source": ({**GOOD, "source": "magic"}, "'source': 'magic', not one of train, inspect, recorder"),
    "steps a string": ({**GOOD, "steps": "20"}, "'steps': str '20', not int"),
    "steps a bool": ({**GOOD, "steps": True}, "'steps': bool True, not int"),
    "layers an object": ({**GOOD, "layers": {"a": 1}}, "'layers': dict"),
    "layer without kind": ({**GOOD, "layers": [{"name": "a", "shape": [1, 1, 3]}]}, "without 'kind'"),
    "layer of conv3d": ({**GOOD, "layers": [{"name": "a", "kind": "conv3d", "shape": [1, 1, 3]}]}, "conv3d"),
    "layer shape wrong length": (
        {**GOOD, "layers": [{"name": "a", "kind": "conv1d", "shape": [1, 1, 3, 3]}]},
        "not a conv weight's",
    ),
    "layer shape of zero": ({**GOOD, "layers": [{"name": "a", "kind": "conv1d", "shape": [0, 1, 3]}]}, "shape"),
    "accuracy over 1": ({**GOOD, "test_accuracy": 2.5}, "'test_accuracy': 2.5, not a fraction from 0 to 1"),
    "accuracy a string": ({**GOOD, "test_accuracy": "high"}, "'test_accuracy': str 'high', not a number"),
    "classes of numbers": ({**GOOD, "classes": [1, 2]}, "'classes': int 1, not str"),
    "unshown without reason": ({**GOOD, "unshown": [{"name": "x", "shape": [1]}]}, "without 'reason'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_run_json_is_one_clear_error(tmp_path: Path, case: str) -> None:
    data, words = BAD[case]
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(UserError) as e:
        Run(tmp_path).read_meta()
    message = str(e.value)
    assert "run.json" in message and words in message and "\n" not in message


@pytest.mark.parametrize("case", ["a list", "no name", "steps a string", "layer of conv3d"])
def test_render_of_a_bad_run_json_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    """`cnnkreport render RUN` with run.json holding `[]` used to end in an AttributeError traceback."""
    run = tmp_path / "run"
    Run(run).write_snapshots([(0, {"features.0": np.zeros((4, 1, 5, 5), np.float32)})])
    (run / "run.json").write_text(json.dumps(BAD[case][0]))
    result = CliRunner().invoke(app, ["render", str(run), "--out", str(tmp_path / "site")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "run.json" in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "site").exists()
