"""The site for runs that are not the default presets: a large layer paginates, and pages stay consistent."""

from __future__ import annotations

import html
import html.parser
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkreport.draw import compact, mosaic
from cnnkreport.rundir import LayerInfo, OtherTensor, Run, RunMeta, Unshown
from cnnkreport.site import build_site, templates_dir
from cnnkreport.site.build import Training
from cnnkreport.site.views import MAX_KERNEL_PAGES, TABLE_PAGE


def fake_run(path: Path, out_channels: int, snapshots: int = 3, kshape: tuple[int, ...] = (5, 5)) -> Run:
    """A run folder as a recorder would write it: one conv layer, a few snapshots, no config."""
    run = Run(path)
    rng = np.random.default_rng(0)
    shape = (out_channels, 1, *kshape)
    layer = LayerInfo("conv", "conv2d" if len(kshape) == 2 else "conv1d", shape)
    run.write_meta(RunMeta(path.name, "recorder", "complete", 10 * snapshots, (layer,)))
    run.write_snapshots([(10 * s, {"conv": rng.normal(size=shape).astype(np.float32)}) for s in range(snapshots)])
    return run


def test_a_run_is_drawn_as_soon_as_training_says_it_is_ready(tmp_path: Path) -> None:
    """With a Training, the site is begun first and each run drawn once it is ready: run a's figures are written
    while run b is still to be trained (its folder does not exist yet), on a machine with a core for the drawing;
    b is drawn after training, and both are on the site."""
    fake_run(tmp_path / "a", 4)
    drawn_early = []

    def train(ready):
        ready(0)
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("*/runs/a/conv/mosaic.png")) and time.monotonic() < deadline:
            time.sleep(0.05)
        drawn_early.append(bool(list(tmp_path.glob("*/runs/a/conv/mosaic.png"))))
        fake_run(tmp_path / "b", 3)  # b is trained now, and never said ready: drawn after train returns

    views = build_site([tmp_path / "a", tmp_path / "b"], tmp_path / "site", training=Training(["a", "b"], train))
    assert drawn_early == [(os.cpu_count() or 1) >= 2]  # one core: everything is drawn after training
    assert [v.name for v in views] == ["a", "b"]
    for name in ("a", "b"):
        assert (tmp_path / "site" / "runs" / name / "conv" / "index.html").is_file()
        assert (tmp_path / "site" / "runs" / name / "conv" / "mosaic.png").is_file()


def test_a_training_that_fails_leaves_the_previous_site(tmp_path: Path) -> None:
    fake_run(tmp_path / "a", 4)
    build_site([tmp_path / "a"], tmp_path / "site")
    before = sorted(p.relative_to(tmp_path / "site") for p in (tmp_path / "site").rglob("*"))

    def train(ready):
        ready(0)
        raise RuntimeError("a run failed")

    with pytest.raises(RuntimeError, match="a run failed"):
        build_site([tmp_path / "a"], tmp_path / "site", training=Training(["a"], train))
    assert sorted(p.relative_to(tmp_path / "site") for p in (tmp_path / "site").rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "site"]  # no temporary folder left


@pytest.mark.slow  # a layer of 2 * TABLE_PAGE + 10 kernels, MAX_KERNEL_PAGES of them with a page of their own
def test_a_large_layer_paginates_and_stays_fast(tmp_path: Path) -> None:
    n = 2 * TABLE_PAGE + 10
    fake_run(tmp_path / "big", n)
    t0 = time.perf_counter()
    build_site([tmp_path / "big"], tmp_path / "site")
    elapsed = time.perf_counter() - t0
    layer = tmp_path / "site" / "runs" / "big" / "conv"
    assert (layer / "kernels" / "page-2.html").is_file() and (layer / "kernels" / "page-3.html").is_file()
    assert not (layer / "kernels" / "page-4.html").exists()
    first = (layer / "index.html").read_text()
    assert first.count('href="kernels/') >= TABLE_PAGE and 'href="kernels/page-2.html"' in first
    assert "kernel 130" not in first and "kernel 130" in (layer / "kernels" / "page-3.html").read_text()
    # the first MAX_KERNEL_PAGES kernels get pages of their own, linked from the table; the rest are rows only
    assert all((layer / "kernels" / f"{i}.html").is_file() for i in range(MAX_KERNEL_PAGES))
    assert not (layer / "kernels" / f"{MAX_KERNEL_PAGES}.html").exists()
    assert f'href="{MAX_KERNEL_PAGES}.html"' not in (layer / "kernels" / "page-2.html").read_text()
    last = (layer / "kernels" / f"{MAX_KERNEL_PAGES - 1}.html").read_text()
    assert f'href="{MAX_KERNEL_PAGES - 2}.html"' in last and 'rel="next"' not in last
    assert elapsed < 60  # a few hundred kernels render in seconds, not minutes


class Headings(html.parser.HTMLParser):
    """The text of each heading and each link (with its href), whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._open: tuple[str, str] | None = None  # (tag, href) of the heading or link being read
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "h1", "h2", "h3") and self._open is None:
            self._open, self._text = (tag, dict(attrs).get("href") or ""), ""

    def handle_data(self, data: str) -> None:
        self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and tag == self._open[0]:
            text = " ".join(self._text.split())
            if tag == "a":
                self.links.append((self._open[1], text))
            else:
                self.headings.append(text)
            self._open = None


@pytest.mark.slow
def test_a_run_without_config_or_metrics(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "rec", 4, kshape=(11,))
    build_site([tmp_path / "rec"], tmp_path / "site")
    run_page = tmp_path / "site" / "runs" / "rec" / "index.html"
    parsed = Headings()
    parsed.feed(run_page.read_text(encoding="utf-8"))
    layers = [layer.name for layer in run.read_meta().layers]
    assert layers == ["conv"]
    for name in layers:
        assert f"Layer {name}" in parsed.headings, parsed.headings
        targets = [href for href, text in parsed.links if re.search(rf"\b{re.escape(name)}$", text)]
        assert targets, f"no link names layer {name}: {parsed.links}"
        for href in targets:
            page = run_page.parent / href.split("#")[0]
            page = page / "index.html" if page.is_dir() else page
            assert page.is_file() and page.resolve() == (run_page.parent / name / "index.html").resolve(), href
            layer_page = Headings()
            layer_page.feed(page.read_text(encoding="utf-8"))
            assert any(name in h for h in layer_page.headings[:1]), layer_page.headings  # its page, by its title
    config = (tmp_path / "site" / "runs" / "rec" / "config.html").read_text()
    assert "not trained by cnnkreport" in config


def test_colour_bar_in_the_stylesheet_is_the_weight_palette() -> None:
    css = (templates_dir() / "static" / "style.css").read_text()
    stops = re.findall(r"(#[0-9a-f]{6}) (\d+)%", css.split(".colorbar .bar", 1)[1].split("}", 1)[0])
    assert [c for c, _ in stops] == mosaic.DIVERGING
    assert [int(p) for _, p in stops] == [round(100 * i / (len(stops) - 1)) for i in range(len(stops))]


def test_png_palette_holds_only_the_colours_used(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 1, 5, 5))
    indices = compact.layer_mosaic(w)
    mosaic.write_png(tmp_path / "m.png", indices)
    with Image.open(tmp_path / "m.png") as im:
        assert len(im.getpalette() or []) // 3 == len(np.unique(indices)) < 256
        shown = np.asarray(im.convert("RGB"))
    full = np.asarray(mosaic.to_image(indices).convert("RGB"))
    np.testing.assert_array_equal(shown, full)  # the same picture, pixel for pixel


def test_gif_levels_are_coarser_but_keep_zero_and_the_ends() -> None:
    levels = np.arange(256, dtype=np.uint8)
    c = mosaic.coarser(levels)
    assert c[mosaic.ZERO] == mosaic.ZERO and c[0] == 0 and c[mosaic.LEVELS - 1] == mosaic.LEVELS - 1
    assert len(np.unique(c[: mosaic.LEVELS])) == (mosaic.LEVELS - 1) // mosaic.GIF_LEVEL_STEP + 1
    assert (np.abs(c[: mosaic.LEVELS].astype(int) - levels[: mosaic.LEVELS]) <= mosaic.GIF_LEVEL_STEP // 2).all()
    np.testing.assert_array_equal(c[mosaic.LEVELS :], levels[mosaic.LEVELS :])  # grey gaps, paper, text untouched


def test_summary_json_holds_every_layer_drawn_and_lists_what_was_not(tmp_path: Path) -> None:
    """An inspected run with a 3x3 and a 1x1 layer, a layer not drawn and a tensor not read as a conv weight: both
    layers are in summary.json (the 1x1 one with `not_scored` and null pattern fields), and the run lists the rest;
    a recorded run's lists are empty."""
    rng = np.random.default_rng(0)
    run = Run(tmp_path / "model")
    layers = (LayerInfo("conv", "conv2d", (4, 1, 3, 3)), LayerInfo("mix", "conv2d", (6, 4, 1, 1)))
    meta = RunMeta(
        "model",
        "inspect",
        "complete",
        0,
        layers,
        unshown=(Unshown("up", (6, 2, 3, 3), "a transposed convolution"),),
        other_tensors=(OtherTensor("stft.forward_basis_buffer", (16, 1, 8)),),
    )
    run.write_meta(meta)
    run.write_snapshots([(0, {x.name: rng.normal(size=x.shape).astype(np.float32) for x in layers})])
    fake_run(tmp_path / "rec", 4)
    build_site([tmp_path / "model", tmp_path / "rec"], tmp_path / "site")
    model, rec = json.loads((tmp_path / "site" / "summary.json").read_text())["runs"]
    assert [x["name"] for x in model["layers"]] == ["conv", "mix"]
    conv, mix = model["layers"]
    assert set(conv) == set(mix) and conv["not_scored"] is None and conv["median_score"] is not None
    assert mix["not_scored"].startswith("a 1x1 (pointwise) convolution") and mix["kind"] == "conv2d"
    assert mix["shape"] == [6, 4, 1, 1] and mix["match_claims_possible"] is False
    nulls = ["null_threshold", "hit_rate", "hit_rate_at_init", "median_score", "median_score_at_init", "kappa"]
    assert all(mix[k] is None for k in nulls)
    assert [k["index"] for k in mix["kernels"]] == list(range(6)) and set(mix["kernels"][0]) == set(conv["kernels"][0])
    assert all(v is None for k in mix["kernels"] for f, v in k.items() if f != "index")
    assert model["not_shown"] == [{"name": "up", "shape": [6, 2, 3, 3], "reason": "a transposed convolution"}]
    assert model["other_tensors"] == [{"name": "stft.forward_basis_buffer", "shape": [16, 1, 8]}]
    assert rec["not_shown"] == [] and rec["other_tensors"] == []
    page = (tmp_path / "site" / "runs" / "model" / "mix" / "index.html").read_text()
    assert "No pattern score for mix: a 1x1 (pointwise) convolution" in page


def test_a_layers_numbers_go_where_its_size_says_and_the_pages_say_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """site/downloads.py, at small thresholds: each kernel's weights in layer.json for a small layer, weights.npy
    (float32) for a larger one, and past COPIED_WEIGHTS not copied: layer.json, the layer page and the kernel pages
    name the model's own file. Past JSON_RESPONSES 1-D kernels, the frequency responses are in a .npy file. Pictures
    of every input channel only where kernels are large enough for a pattern (5x5, not 3x3); a wide 1x1 layer's
    weight matrix drawn cut to MATRIX_SIDE, saying so."""
    from cnnkreport.rundir import CheckpointFile
    from cnnkreport.site import downloads, sections

    monkeypatch.setattr(downloads, "JSON_WEIGHTS", 100)
    monkeypatch.setattr(downloads, "COPIED_WEIGHTS", 70_000)
    monkeypatch.setattr(downloads, "JSON_RESPONSES", 4)
    monkeypatch.setattr(sections, "MATRIX_SIDE", 4)
    layers = (
        LayerInfo("small", "conv2d", (4, 1, 5, 5)),  # 100 weights: layer.json
        LayerInfo("mid", "conv1d", (8, 1, 31)),  # weights.npy; 8 kernels: their responses in a file
        LayerInfo("wide5", "conv2d", (8, 300, 5, 5)),  # drawn as channel sums: a grid, and weights.npy
        LayerInfo("wide3", "conv2d", (8, 300, 3, 3)),  # channel sums; 3x3: no grid
        LayerInfo("big", "conv2d", (30, 260, 3, 3)),  # 70,200 weights: not copied
        LayerInfo("mix", "conv2d", (6, 8, 1, 1)),  # a weight matrix, cut to 4 x 4
    )
    run = Run(tmp_path / "model")
    files = (CheckpointFile("model.pt", None, "state_dict"),)
    run.write_meta(RunMeta("model", "inspect", "complete", 0, layers, checkpoints=files))
    rng = np.random.default_rng(0)
    weights = {x.name: rng.normal(size=x.shape).astype(np.float32) for x in layers}
    run.write_snapshots([(0, weights)])
    build_site([run.path], tmp_path / "site")
    folder = tmp_path / "site" / "runs" / "model"

    def detail(name: str) -> dict:
        return json.loads((folder / name / "layer.json").read_text())

    small = detail("small")
    assert np.array(small["kernels"][0]["weights"]).shape == (1, 5, 5) and small["weights_file"] is None
    assert not (folder / "small" / "weights.npy").exists() and small["weights_not_copied"] is None
    mid = detail("mid")
    assert mid["weights_file"] == "weights.npy" and mid["kernels"][0]["weights"] is None
    assert "float32" in mid["weights_format"]
    np.testing.assert_array_equal(np.load(folder / "mid" / "weights.npy"), weights["mid"])
    responses = np.load(folder / "mid" / mid["frequency_response_file"])
    assert responses.shape == (8, 2, len(mid["frequency_response_axis"])) and responses.dtype == np.float32
    assert all(k["frequency_response"] is None for k in mid["kernels"])
    assert small["frequency_response_file"] is None  # 2-D: no responses as numbers at all
    wide5 = (folder / "wide5" / "index.html").read_text()
    assert "summed over its 300 input channels" in wide5
    assert (
        'href="grid-1.png"' in wide5 and 'href="weights.npy"' in wide5 and (folder / "wide5" / "grid-1.png").is_file()
    )
    wide3 = (folder / "wide3" / "index.html").read_text()
    assert "summed over its 300 input channels" in wide3 and 'href="weights.npy"' in wide3
    assert not list((folder / "wide3").glob("grid-*.png"))  # a 3x3 channel's picture tells nothing from noise
    big = detail("big")
    assert big["weights_file"] is None and not (folder / "big" / "weights.npy").exists()
    assert big["weights_not_copied"] == {"numbers": 70_200, "where": "the model's own file model.pt"}
    assert not list((folder / "big").glob("grid-*.png"))
    page = " ".join(html.unescape((folder / "big" / "index.html").read_text()).split())
    assert "Every weight: the model's own file model.pt (70,200 numbers, not copied into the site)" in page
    kernel = " ".join(html.unescape((folder / "big" / "kernels" / "0.html").read_text()).split())
    assert "every channel: the model's own file model.pt (70,200 numbers, not copied into the site)" in kernel
    mix = " ".join(html.unescape((folder / "mix" / "index.html").read_text()).split())
    assert "The first 4 of 6 kernels and 4 of 8 input channels" in mix and "the model's own file model.pt" in mix
    config = " ".join(html.unescape((folder / "config.html").read_text()).split())
    assert "not copied whole into the site: they are the model's own file (model.pt)" in config
