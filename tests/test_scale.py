"""Runs with thousands of snapshots: chunks of bounded size, a streamed analysis with the same numbers, animations
and charts that read and draw a bounded number of snapshots, and every snapshot's score still in layer.json."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkreport.analysis import scores
from cnnkreport.draw import mosaic, svg
from cnnkreport.rundir import CHUNK_SNAPSHOTS, LayerInfo, Recording, Run, RunMeta
from cnnkreport.site import build as site
from cnnkreport.site import kernels as kernel_view


def long_run(path: Path, snapshots: int, shape: tuple[int, ...], seed: int = 0) -> Run:
    """A recorder-written run of one conv layer whose kernels drift from noise towards a fixed pattern, recorded
    through `Recording` in flushes of 1,000 snapshots (each written as several chunks)."""
    run = Run(path)
    layer = LayerInfo("conv", "conv2d" if len(shape) == 4 else "conv1d", shape)
    run.write_meta(RunMeta(path.name, "recorder", "complete", 2 * (snapshots - 1), (layer,)))
    rng = np.random.default_rng(seed)
    start, end = rng.normal(size=shape), rng.normal(size=shape)
    rec = Recording(run)
    for i in range(snapshots):
        t = i / max(snapshots - 1, 1)
        w = (1 - t) * start + t * end + 0.05 * rng.normal(size=shape)
        rec.snapshot(2 * i, {"conv": w.astype(np.float32)})
        if len(rec.pending) == 1000:
            rec.flush()
    rec.flush()
    return run


def test_chunks_hold_at_most_chunk_snapshots_and_read_back_in_order(tmp_path: Path) -> None:
    run = long_run(tmp_path / "run", 1300, (3, 1, 5, 5))
    chunks = run.chunks()
    counts = [len(np.load(path)["steps"]) for _, _, path in chunks]
    assert max(counts) <= CHUNK_SNAPSHOTS and sum(counts) == 1300
    assert all(a[1] < b[0] for a, b in zip(chunks, chunks[1:], strict=False))  # in step order, never overlapping
    steps, w = run.read_kernels("conv")
    assert steps.tolist() == list(range(0, 2600, 2)) == run.snapshot_steps() and w.shape == (1300, 3, 1, 5, 5)
    streamed = list(run.iter_kernels("conv"))
    assert len(streamed) == len(chunks) and all(len(s) <= CHUNK_SNAPSHOTS for s, _ in streamed)
    np.testing.assert_array_equal(np.concatenate([x for _, x in streamed]), w)


def test_resume_drops_every_chunk_of_an_interrupted_flush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush of many snapshots writes several chunks; a kill part-way leaves some of them, all past the state the
    run resumes from, and drop_snapshots_after removes them all."""
    run = Run(tmp_path / "run")
    snap = {"conv": np.zeros((2, 1, 3, 3), dtype=np.float32)}
    run.write_snapshots([(s, snap) for s in range(100)])  # the last checkpoint: state at step 99
    real, written = Run._write_chunk, []

    def dies_after_two(self: Run, snapshots: list[tuple[int, dict[str, np.ndarray]]]) -> None:
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(snapshots[0][0])
        real(self, snapshots)

    monkeypatch.setattr(Run, "_write_chunk", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        run.write_snapshots([(s, snap) for s in range(100, 1000)])  # four chunks; killed after two
    assert written == [100, 100 + CHUNK_SNAPSHOTS] and len(run.chunks()) == 3
    run.drop_snapshots_after(99)
    assert run.snapshot_steps() == list(range(100))


def test_reading_selected_snapshots_reads_those_and_only_their_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = long_run(tmp_path / "run", 700, (2, 3, 4, 4))
    steps, w = run.read_kernels("conv")
    keep = [699, 0, 5, 300, -2, 5]  # any order, negative from the end, repeats: each once, in step order
    got_steps, got = run.read_kernels("conv", keep=keep)
    want = sorted({k % 700 for k in keep})
    np.testing.assert_array_equal(got_steps, steps[want])
    np.testing.assert_array_equal(got, w[want])
    with pytest.raises(IndexError):
        run.read_kernels("conv", keep=[700])
    empty_steps, empty = run.read_kernels("conv", keep=[])
    assert empty_steps.shape == (0,) and empty.shape == (0, 2, 3, 4, 4)

    loaded = []
    real = Run._read_chunk

    def spy(self: Run, path: Path, layers: list[str] | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        steps, arrays = real(self, path, layers)
        loaded.extend(len(a) for a in arrays.values())
        return steps, arrays

    monkeypatch.setattr(Run, "_read_chunk", spy)
    last_step, last = run.read_kernels("conv", keep=[-1])
    np.testing.assert_array_equal(last[0], w[-1])
    assert last_step.tolist() == [steps[-1]] and loaded == [700 - 2 * CHUNK_SNAPSHOTS]  # only the last chunk's weights


@pytest.mark.parametrize("shape", [(16, 8, 5, 5), (6, 1, 31), (5, 3, 9, 1)])
def test_the_streamed_analysis_is_the_analysis_of_every_snapshot_at_once(tmp_path: Path, shape: tuple) -> None:
    run = long_run(tmp_path / "run", 600, shape)  # chunks of 256, 256, 88: not aligned with the scoring blocks
    assert len(run.chunks()) == 3
    steps, w = run.read_kernels("conv")
    whole = scores.analyse_layer("conv", "conv2d", steps, w)
    scorer = scores.score_chunks("conv", "conv2d", run.iter_kernels("conv"))
    streamed = scorer.analysis()
    assert whole is not None and streamed is not None
    for field in ("steps", "scores", "top", "top_scores", "null", "dc_fraction", "surrogate_p", "per_channel"):
        a, b = getattr(whole, field), getattr(streamed, field)
        assert (a is None and b is None) or np.array_equal(a, b, equal_nan=True), field
    for field in ("final", "init", "added"):
        a, b = getattr(whole, field), getattr(streamed, field)
        for part in ("score", "top", "top_scores"):
            assert np.array_equal(getattr(a, part), getattr(b, part)), (field, part)
    assert whole.dc_fraction_null == streamed.dc_fraction_null and whole.kappa == streamed.kappa
    np.testing.assert_array_equal(scorer.first, w[0])
    np.testing.assert_array_equal(scorer.last, w[-1])
    np.testing.assert_array_equal(streamed.summed_last, whole.summed_last)


def test_memory_of_the_analysis_does_not_grow_with_the_snapshots(tmp_path: Path) -> None:
    """What a layer's render reads (the streamed analysis and its animations' frames) takes no more memory for
    3,000 snapshots than for 600 (both more than one block of scores), beyond the scores themselves: far less than
    the snapshots' weights."""
    shape = (4, 32, 5, 5)
    peaks = []
    for n in (600, 3000):
        run = long_run(tmp_path / f"run-{n}", n, shape)
        info = run.layers()[0]
        scores.null_scores(32, (5, 5))  # cached once per process, as in a build
        tracemalloc.start()
        a = scores.score_chunks(info.name, info.kind, run.iter_kernels(info.name)).analysis()
        site._frames(run, info, n, a is not None)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    weights = 2400 * 4 * np.prod(shape)  # the extra snapshots' weights, float32
    assert peaks[1] - peaks[0] < 0.2 * weights, (peaks, weights)


def test_thin_keeps_the_ends_and_the_extremes() -> None:
    x = np.arange(10_000, dtype=float)
    y = np.sin(x / 300) + np.where(x == 4321, 5.0, 0.0) - np.where(x == 777, 5.0, 0.0)
    tx, ty = svg.thin(x, y)
    assert len(tx) <= svg.MAX_POINTS and tx[0] == 0 and tx[-1] == 9999 and np.all(np.diff(tx) > 0)
    assert {4321.0, 777.0} <= set(tx.tolist()) and ty.max() == y.max() and ty.min() == y.min()
    short = np.arange(svg.MAX_POINTS, dtype=float)
    assert svg.thin(short, short)[0] is short  # short lines are drawn as they are


def chart_lines(page: str) -> list[str]:
    """The path data of the lines of every chart in `page` (not their grids), in order."""
    groups = re.findall(r'<g transform="scale\([\d.]+\)" fill="none">(.*?)</g>', page)
    return [d for g in groups for d in re.findall(r' d="([^"]*)"', g)]


def path_points(d: str) -> np.ndarray:
    """The points, in pixels, of SVG path data as svg.path_data writes it: "M x y" then relative "l" steps, in
    units of 1/svg.STEPS pixel."""
    move, _, steps = d.partition("l")
    start = np.array([float(v) for v in move[1:].split()])
    values = [float(v) for v in re.findall(r"-?\d+", steps)]
    return np.vstack([start, start + np.cumsum(np.reshape(values, (-1, 2)), axis=0)]) / svg.STEPS


@pytest.mark.parametrize("n", [1, 2, 3, 400])
def test_path_data_round_trips_to_half_a_step(n: int) -> None:
    rng = np.random.default_rng(n)
    px, py = rng.uniform(0, 360, n), rng.uniform(-5, 190, n)
    d = svg.path_data(px, py)
    assert d.startswith("M") and ("l" in d) == (n > 1) and "," not in d and "." not in d
    got = path_points(d)
    assert got.shape == (n, 2) and np.abs(got - np.column_stack([px, py])).max() <= 0.5 / svg.STEPS + 1e-9


def test_straight_runs_are_drawn_with_their_ends_only() -> None:
    x = np.linspace(52, 350, 200)
    flat = path_points(svg.path_data(x, np.full(200, 40.0)))
    assert flat.tolist() == [[52, 40], [350, 40]]  # a threshold line: two points, not 200
    square = np.where((np.arange(200) // 50) % 2 == 0, 30.0, 90.0)
    got = path_points(svg.path_data(x, square))
    assert len(got) == 8 and got[0].tolist() == [52, 30] and got[-1].tolist() == [350, 90]
    back = path_points(svg.path_data(np.array([0.0, 5, 10, 5]), np.zeros(4)))
    assert back[:, 0].tolist() == [0, 10, 5]  # a line that turns back keeps its turning point


def test_chart_lines_are_drawn_scaled_with_their_stroke() -> None:
    chart = svg.line_chart([svg.Series(np.arange(5.0), width=1.5, dash="4 3")], "a line", "x", "y")
    ((scale, path),) = re.findall(r'<g transform="scale\(([\d.]+)\)" fill="none">(<path [^>]*>)</g>', chart)
    assert float(scale) == 1 / svg.STEPS and len(chart_lines(chart)) == 1
    assert f'stroke-width="{1.5 * svg.STEPS:g}"' in path
    assert f'stroke-dasharray="{4 * svg.STEPS:g} {3 * svg.STEPS:g}"' in path


@pytest.mark.slow
def test_a_run_of_3000_snapshots_renders_with_every_score_and_bounded_pictures(tmp_path: Path) -> None:
    run = long_run(tmp_path / "long", 3000, (4, 1, 5, 5))
    site.build_site([run.path], tmp_path / "site")
    layer = tmp_path / "site" / "runs" / "long" / "conv"
    detail = json.loads((layer / "layer.json").read_text())
    assert detail["steps"] == list(range(0, 6000, 2))
    for k in detail["kernels"]:
        assert len(k["score_over_snapshots"]) == len(k["top_templates_over_snapshots"]) == 3000

    def frames(path: Path) -> int:
        with Image.open(path) as im:
            return int(im.n_frames)

    assert 2 < frames(layer / "evolution.gif") <= site.LAYER_GIF_FRAMES
    assert 2 < frames(layer / "matches.gif") <= mosaic.MATCH_FRAMES
    page = (layer / "kernels" / "0.html").read_text()
    sheet = re.search(r'data-sprite="(\d+) (\d+) \d+ \d+" data-frames="([^"]*)"', page)
    assert sheet and 2 < len(sheet.group(3).split()) <= kernel_view.GIF_FRAMES  # the kernel's own sprite sheet
    lines = [path_points(d) for d in chart_lines(page)]
    assert lines and all(len(points) <= svg.MAX_POINTS for points in lines)
    assert lines[0][0, 0] == 52 and lines[0][-1, 0] == 350  # from the first snapshot to the last
    assert len(page) < 40_000


def test_bank_dedup_in_blocks_equals_the_square_matrix() -> None:
    """A 64-tap bank has ~15,000 candidate templates: their duplicates are found a block at a time (the square
    matrix took 2.5 GB), with the same result."""
    from cnnkreport.analysis import bank as B

    items = list(B._bank_1d(31))
    items += [(t, w[::-1].copy()) for t, w in items]
    m = B.normalise(np.stack([w for _, w in items]))
    gram = np.abs(m @ m.T)
    np.fill_diagonal(gram, 0.0)
    square = (np.linalg.norm(m, axis=1) > 0.5) & ~np.tril(gram > B.DUPLICATE).any(axis=1)
    np.testing.assert_array_equal(B._distinct(m, block=97), square)
    assert len(B.bank((64,))) > 1000
