"""Wide layers, readable (issue 12, item 4): no picture written over mosaic.MAX_SIDE px on a side, no page taller
than about 20,000 px at a 1280-px window, many input channels drawn as a heat map per kernel or summed (every channel
in grid pictures and the weights file, for download), long 1-D kernels as line plots or heat-map rows (never
thousands of stems), what does not fit one page cut or paginated, and captions that say what they show.

The drawings are checked on arrays of the shapes of real audio models (a pitch tracker: 1,024 filters of 512 taps,
then 16 kernels of 128 channels x 64 taps); whole sites on small wide models, a pitch-tracker-shaped one (slow), and
that one's every page in a browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from cnnkreport.draw import compact, figures, mosaic
from cnnkreport.pipeline import inspect

if TYPE_CHECKING:
    from playwright.sync_api import Browser

RNG = np.random.default_rng(0)
MAX_PAGE_HEIGHT = 20_000  # px at a 1280-px window


def fits_page(image: np.ndarray) -> bool:
    h, w = image.shape[:2]
    return w <= mosaic.PAGE_WIDTH and h <= mosaic.PAGE_HEIGHT


def pictures(site: Path) -> Iterator[tuple[Path, tuple[int, int]]]:
    for path in sorted(site.rglob("*")):
        if path.suffix in (".png", ".gif"):
            with Image.open(path) as im:
                yield path, im.size


def captions(page: Path) -> str:
    """The page's text, tags dropped and whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page.read_text()).split())


# --- drawings of a whole layer ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "what"),
    [
        ((1024, 1, 512), "row"),  # the pitch tracker's first layer: a heat-map row per kernel
        ((258, 1, 256), "row"),
        ((1024, 1, 15), "row"),  # short but too many for stems
        ((4, 1, 4096), "line plot"),  # few long kernels: line plots
        ((64, 1, 64), "line plot"),
        ((8, 1, 31), "stem plot"),  # few short ones: stems, as before
    ],
)
def test_1d_kernels_long_or_many_fit_a_page(shape: tuple[int, ...], what: str) -> None:
    d = compact.draw_layer(RNG.normal(size=shape).astype(np.float32))
    assert d.what == what and d.shown == d.total == shape[0] and d.summed == 0
    assert fits_page(d.image), d.image.shape
    assert d.colourbar == (what == "row")
    if what == "line plot" and shape[-1] > d.image.shape[1]:
        assert "taps a pixel column" in d.note


def test_the_pitch_trackers_second_layer_is_a_heat_map_per_kernel() -> None:
    """(16, 128, 64, 1): every weight drawn (no sum), a heat map of 128 channels x 64 taps per kernel, in a picture
    that fits a page (it was 611 x 65,731 px)."""
    d = compact.draw_layer(RNG.normal(size=(16, 128, 64, 1)))
    assert d.what == "tile" and d.summed == 0 and d.shown == 16 and fits_page(d.image)
    assert "a row per input channel, a column per tap" in d.note
    assert (d.image < mosaic.LEVELS).sum() >= 16 * 128 * 64  # at least a pixel a weight


@pytest.mark.parametrize("shape", [(128, 1024, 64, 1), (512, 256, 64), (512, 512, 3, 3), (64, 64, 31, 31)])
def test_too_many_channels_are_summed_and_the_note_says_so(shape: tuple[int, ...]) -> None:
    w = RNG.normal(size=shape).astype(np.float32)
    d = compact.draw_layer(w)
    assert d.summed == shape[1] and d.shown == shape[0] and fits_page(d.image)
    assert f"summed over its {shape[1]:,} input channels" in d.note
    np.testing.assert_array_equal(d.image, compact.draw_layer(w.sum(axis=1, keepdims=True)).image)


def test_2d_layers_with_channels_that_fit_keep_a_row_per_kernel() -> None:
    d = compact.draw_layer(RNG.normal(size=(64, 4, 11, 11)))  # one column of rows would be too tall: side by side
    assert d.summed == 0 and d.shown == 64 and fits_page(d.image) and "columns side by side" in d.note


def test_small_layers_are_drawn_as_before() -> None:
    """The default presets' layers: the same pixels as the mosaics before wide layers were drawn compactly."""
    w = RNG.normal(size=(8, 1, 5, 5))
    tiles = mosaic.enlarge(mosaic.to_levels(w, mosaic.tile_vmax(w)), 10).reshape(8, 50, 50)
    np.testing.assert_array_equal(compact.draw_layer(w).image, mosaic.grid(tiles, 4))
    w = RNG.normal(size=(16, 8, 5, 5))
    tiles = mosaic.enlarge(mosaic.to_levels(w, np.abs(w).max(axis=(2, 3), keepdims=True)), 10).reshape(-1, 50, 50)
    np.testing.assert_array_equal(compact.draw_layer(w).image, mosaic.grid(tiles, 8))
    w = RNG.normal(size=(8, 1, 31))
    stems = mosaic.stem_tiles(w[:, 0], mosaic.tile_vmax(w).reshape(8), height=56, tap=8)
    np.testing.assert_array_equal(compact.draw_layer(w).image, mosaic.grid(stems, 3))
    w = RNG.normal(size=(16, 8, 9))
    np.testing.assert_array_equal(
        compact.draw_layer(w).image, mosaic.grid(mosaic.enlarge(mosaic.to_levels(w, mosaic.tile_vmax(w)), 5), 4)
    )


def test_a_line_plot_keeps_a_spike_of_one_tap_among_thousands() -> None:
    w = np.zeros((1, 4096))
    w[0, 1234] = 1.0
    ink = compact.line_tiles(w, np.array([1.0]), width=256, height=56)[0] == mosaic.INK
    column = round(1234 / 4095 * 256)
    assert ink[:4, column - 1 : column + 2].any()  # the spike reaches the top, 16 taps a column notwithstanding
    others = np.delete(ink, np.s_[column - 1 : column + 2], axis=1)
    assert not np.delete(others, 28, axis=0).any()  # elsewhere only the zero line is inked


def test_binned_taps_keep_the_largest_weight_with_its_sign() -> None:
    w = np.zeros((1, 4096))
    w[0, 100], w[0, 101] = -3.0, 1.0
    binned, b = compact.bin_taps(w, 1024)
    assert b == 4 and binned.shape == (1, 1024) and binned[0, 25] == -3.0


def test_heat_rows_beyond_a_page_go_side_by_side_and_are_cut_with_a_note() -> None:
    d = compact.heat_rows(RNG.normal(size=(5000, 64)), np.ones(5000))
    assert d.shown == 5000 and fits_page(d.image) and "to a column" in d.note
    d = compact.heat_rows(RNG.normal(size=(100_000, 9)), np.ones(100_000))
    assert d.shown < 100_000 and fits_page(d.image) and f"The first {d.shown:,} of 100,000 kernels" in d.note


def test_matches_channel_grid_and_bank_of_long_kernels_fit_a_page(tmp_path: Path) -> None:
    k, m = RNG.normal(size=(64, 512)), RNG.normal(size=(64, 512))
    frames = compact.match_frames(np.arange(3), np.stack([k] * 3), np.stack([m] * 3))
    assert all(fits_page(f[14:]) for f in frames)  # the picture under its label strip
    n = min(32, figures.match_rows((512,)))
    fig = figures.best_matches(k[:n], RNG.normal(size=(n, 3, 512)), [["t"] * 3] * n, np.ones((n, 3)), ["k"] * n)
    figures.save(fig, tmp_path / "matches.png", dpi=80)
    with Image.open(tmp_path / "matches.png") as im:
        assert im.size[0] <= mosaic.PAGE_WIDTH and im.size[1] <= mosaic.PAGE_HEIGHT
    assert fits_page(compact.channel_grid(RNG.normal(size=(16, 16, 512))))
    image, shown = compact.bank_mosaic(RNG.normal(size=(200, 4096)))
    assert shown == 96 and fits_page(image)


def test_grid_pages_hold_every_channel_within_max_side_and_the_budget() -> None:
    w = RNG.normal(size=(128, 256, 64))
    pages = compact.grid_pages(w)
    assert [p[1] for p in pages] == [0, *(p[2] for p in pages[:-1])] and pages[-1][2] == 128
    assert all(max(image.shape) <= mosaic.MAX_SIDE for image, _, _ in pages)
    few = compact.grid_pages(w, budget=300_000)
    assert few[-1][2] < 128 and sum(image.size for image, _, _ in few) <= 300_000
    pages = compact.grid_pages(RNG.normal(size=(64, 512, 3, 3)))
    assert pages[-1][2] == 64 and all(max(image.shape) <= mosaic.MAX_SIDE for image, _, _ in pages)


def test_no_picture_is_written_over_max_side(tmp_path: Path) -> None:
    """The writers' own guard, for any picture drawn too large."""
    tall = np.full((5000, 300), mosaic.PAPER, dtype=np.uint8)
    mosaic.write_png(tmp_path / "a.png", tall)
    mosaic.write_gif(tmp_path / "a.gif", [tall, tall])
    mosaic.write_rgb_png(tmp_path / "rgb.png", np.zeros((300, 9000, 3), dtype=np.uint8))
    mosaic.write_heatmap(tmp_path / "heat.png", RNG.random((2000, 10)))
    figures.save(Figure(figsize=(60, 2)), tmp_path / "figure.png")  # 6,000 px at 100 dpi
    strip = mosaic.filmstrip([np.zeros((2000, 1000), dtype=np.uint8)] * 6)
    assert max(strip.shape) <= mosaic.MAX_SIDE
    for path, size in pictures(tmp_path):
        assert max(size) <= mosaic.MAX_SIDE, (path.name, size)


# --- whole sites --------------------------------------------------------------------------------------------------


def _site(root: Path, state: dict[str, torch.Tensor], history: int = 1) -> Path:
    """The site of a model saved as `history` checkpoints (the weights moving a little between them)."""
    torch.manual_seed(0)
    (root / "in").mkdir()
    for step in range(history):
        moved = {k: v + 0.1 * step * v.std() * torch.randn_like(v) for k, v in state.items()}
        torch.save(moved, root / "in" / f"model_step{step}.pt")
    inspect([str(root / "in" / "model_step*.pt")], root / "site")
    return root / "site" / "runs" / "model_step"


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Half the pitch tracker's second layer (the analysis takes seconds a kernel), and a 2-D layer of too many
    channels to draw one by one."""
    torch.manual_seed(1)
    state = {"mix.weight": 0.1 * torch.randn(8, 128, 64, 1), "conv.weight": 0.05 * torch.randn(16, 256, 3, 3)}
    return _site(tmp_path_factory.mktemp("wide"), state)


def test_a_wide_model_writes_no_picture_over_max_side(wide_run: Path) -> None:
    sizes = dict(pictures(wide_run.parent.parent))
    assert sizes and all(max(s) <= mosaic.MAX_SIDE for s in sizes.values()), max(sizes.values(), key=max)
    assert max(sizes[wide_run / "mix" / "mosaic.png"]) <= mosaic.PAGE_HEIGHT  # was 65,731 px tall


def test_wide_layers_say_what_they_show_and_link_every_channel(wide_run: Path) -> None:
    mix = captions(wide_run / "mix" / "index.html")
    assert "A heat map per kernel: a row per input channel, a column per tap." in mix
    assert "Rows: the first 16 of 128 input channels" in mix  # the channel grid, cut and saying so
    conv = captions(wide_run / "conv" / "index.html")
    assert "Each kernel summed over its 256 input channels" in conv
    html = (wide_run / "conv" / "index.html").read_text()
    links = re.findall(r'href="(grid-\d+\.png|layer\.json|weights\.npy)"', html)
    # every channel as numbers (36,864 weights: weights.npy); no grid pictures of 3x3 channels, which would tell
    # nothing from noise (site/downloads.py, issue 30)
    assert "grid-1.png" not in links and {"layer.json", "weights.npy"} <= set(links)
    assert all((wide_run / "conv" / link).is_file() for link in links)
    run_page = (wide_run / "index.html").read_text()
    assert "summed over its 256 input channels" in run_page and "grid-1.png" not in run_page  # links: layer page


@pytest.fixture(scope="module")
def pitch_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pitch tracker's shapes over two checkpoints (so that its layers animate): 1,024 filters of 512 taps, 16
    kernels of 128 channels x 64 taps, 128 of 1,024 x 64, colour 11 x 11 tiles and a 512 x 512 x 3 x 3 layer."""
    t = torch.arange(512)
    freq = torch.logspace(-2.7, -0.35, 1024)
    front = torch.hann_window(512, periodic=False) * torch.cos(2 * torch.pi * freq[:, None] * t)
    state = {
        "front.weight": (front + 0.05 * torch.randn(1024, 512)).reshape(1024, 1, 512, 1),
        "mix.weight": 0.1 * torch.randn(16, 128, 64, 1),
        "deep.weight": 0.02 * torch.randn(128, 1024, 64, 1),
        "rgb.weight": torch.randn(64, 3, 11, 11),
        "conv.weight": 0.05 * torch.randn(512, 512, 3, 3),
    }
    return _site(tmp_path_factory.mktemp("pitch"), state, history=2)


@pytest.mark.slow  # a site of five wide layers over two checkpoints
def test_a_pitch_tracker_is_drawn_compactly_and_says_so(pitch_run: Path) -> None:
    sizes = dict(pictures(pitch_run.parent.parent))
    assert all(max(s) <= mosaic.MAX_SIDE for s in sizes.values()), max(sizes.values(), key=max)
    front = captions(pitch_run / "front" / "index.html")
    assert "A row per kernel, its 512 taps left to right." in front
    assert "the first 64 of 1,024 kernels" in front  # the evolution GIF shows the first 64
    assert (pitch_run / "front" / "kernels" / "page-16.html").is_file()  # the kernel table: 1,024 rows in pages
    deep = captions(pitch_run / "deep" / "index.html")
    assert "Each kernel summed over its 1,024 input channels" in deep
    assert "(8,388,608 numbers, not copied into the site)" in deep  # the model's own file holds them (issue 30)
    assert not (pitch_run / "deep" / "grid-1.png").exists() and not (pitch_run / "deep" / "weights.npy").exists()
    conv = captions(pitch_run / "conv" / "index.html")
    assert "Each kernel summed over its 512 input channels" in conv


@pytest.mark.slow  # the pitch tracker's site
@pytest.mark.browser
def test_every_page_of_a_wide_model_is_short_enough(pitch_run: Path, browser: Browser) -> None:
    """Every page, its images loaded, at most MAX_PAGE_HEIGHT px tall at a 1280-px window (the run page of the
    pitch tracker was 74,000 px, its second layer's page 137,000). The session's one Chromium (conftest.browser):
    Playwright's sync API runs one at a time in a process."""
    from .browser_support import block_outside, html_files

    site = pitch_run.parent.parent
    heights = {}
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        block_outside(context)
        page = context.new_page()
        for rel in sorted(html_files(site)):
            page.goto((site / rel).as_uri(), wait_until="load")
            heights[rel] = page.evaluate(LOADED_HEIGHT_JS)
    finally:
        context.close()
    tall = {rel: h for rel, h in heights.items() if h > MAX_PAGE_HEIGHT}
    assert len(heights) > 100 and not tall, tall


# every image loaded (lazy ones too: their height counts), then the document's height
LOADED_HEIGHT_JS = """async () => {
  await Promise.all([...document.images].map(img => {
    img.loading = "eager";
    return img.complete ? null : new Promise(done => { img.onload = done; img.onerror = done; });
  }));
  return document.documentElement.scrollHeight;
}"""


def test_a_run_of_many_layers_shows_each_as_a_small_card(tmp_path: Path) -> None:
    """More layers than views.RUN_SECTIONS: the run page is a grid of small cards (a section each would make a
    ResNet's run page tens of thousands of px tall); 1x1 layers, which are drawn but not analysed, keep it quick."""
    from cnnkreport.site.views import RUN_SECTIONS

    state = {f"block{i}.weight": torch.randn(8, 4, 1, 1) for i in range(RUN_SECTIONS + 1)}
    run = _site(tmp_path, state)
    page = (run / "index.html").read_text()
    assert page.count('class="card layer-card"') == RUN_SECTIONS + 1 and f"{RUN_SECTIONS + 1} layers" in page
    assert all(f'href="block{i}/index.html"' in page for i in range(RUN_SECTIONS + 1))
