"""`cnnkreport sweep`: grid expansion, resume, aggregation, and the comparison page, on tiny configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.errors import UserError
from cnnkreport.sweep import BUILTIN, Outcome, SweepConfig, aggregate, expand, load_sweep

TINY = """name = "tiny"
preset = "pulses-1d"
seeds = [0, 1]
[grid]
"train.loss" = ["cross_entropy", "mse"]
"""


def test_grid_expansion() -> None:
    cfg = SweepConfig(
        name="s",
        preset="pulses-2d",
        seeds=(3, 4),
        grid={"train.loss": ["l1", "mse"], "model.kernel_size": [[7, 5], [9, 5], [5, 5]]},
    )
    points = expand(cfg)
    assert len(points) == 2 * 3 * 2
    assert {p.config.train.loss for p in points} == {"l1", "mse"}
    assert {p.config.model.kernel_size for p in points} == {(7, 5), (9, 5), (5, 5)}
    assert {p.seed for p in points} == {3, 4} and all(p.config.seed == p.seed for p in points)
    assert len({p.folder for p in points}) == len(points)  # every run has its own folder
    assert points[0].label == "loss=l1, kernel_size=7x5" and points[0].folder == "loss-l1-kernel-size-7x5_seed-3"
    assert len(expand(BUILTIN["loss-kernels"])) == 27 * 3


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"train.lossy": ["l1"]}, "unknown config key"),
        ({"train.loss": ["hinge"]}, "train.loss must be one of"),
        ({"model.kernel_size": [[5]]}, "one entry per conv layer"),
    ],
)
def test_bad_grids(grid: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(UserError, match=message):
        expand(SweepConfig(grid=grid))


def test_bad_sweep_files(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('preset = "pulses-2d"\n')
    with pytest.raises(UserError, match=r"\[grid\] must map"):
        load_sweep(tmp_path / "a.toml", None)
    with pytest.raises(UserError, match="one of them"):
        load_sweep(None, None)
    with pytest.raises(UserError, match="unknown built-in sweep"):
        load_sweep(None, "nope")


def test_aggregate_mean_and_spread() -> None:
    points = expand(SweepConfig(preset="pulses-1d", seeds=(0, 1), grid={"train.loss": ["l1", "mse"]}))
    hits = {("l1", 0): 0.5, ("l1", 1): 1.0, ("mse", 0): 0.25, ("mse", 1): 0.25}
    outcomes = [Outcome(p, Path("."), 0.9, hits[(p.config.train.loss, p.seed)], None, 0.0) for p in points]
    summaries = aggregate(outcomes)
    assert [s.label for s in summaries] == ["loss=l1", "loss=mse"]
    assert summaries[0].values["hit_rate"] == (0.75, 0.25) and summaries[1].values["hit_rate"] == (0.25, 0.0)
    assert summaries[0].seeds == 2 and summaries[0].values["test_accuracy"][0] == pytest.approx(0.9)


@pytest.mark.slow  # trains every point of a sweep, twice over
def test_sweep_runs_resumes_and_compares(tmp_path: Path, runner: CliRunner) -> None:
    (tmp_path / "s.toml").write_text(TINY)
    args = [
        "sweep",
        "--config",
        str(tmp_path / "s.toml"),
        "--quick",
        "--workers",
        "2",
        "--runs",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "cmp"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir())
    assert folders == ["loss-cross-entropy_seed-0", "loss-cross-entropy_seed-1", "loss-mse_seed-0", "loss-mse_seed-1"]
    weights = tmp_path / "runs" / "tiny" / "loss-mse_seed-1" / "weights.pt"
    before = weights.stat().st_mtime_ns
    page = (tmp_path / "cmp" / "index.html").read_text()
    assert "loss=cross_entropy" in page and "loss=mse" in page and "effects.png" in page
    assert (tmp_path / "cmp" / "mosaic-1.png").is_file()
    again = runner.invoke(app, args)  # a finished sweep is not run again
    assert again.exit_code == 0, again.output
    assert weights.stat().st_mtime_ns == before
