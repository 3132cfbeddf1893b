"""Readable figures: every text of a matplotlib figure the site writes is at least figures.MIN_TEXT_PX px tall where a
1280-px window shows it (at the dpi the site saves the figure with, and scaled down where the picture is wider than
the page), the inline SVG charts too; the index shows its figures large; the pictures of the index, run, bank,
recipe and sweep pages link to their files."""

from __future__ import annotations

import html.parser
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from PIL import Image

from cnnkreport.analysis import filters as fl
from cnnkreport.analysis.bank import bank
from cnnkreport.config import PRESETS
from cnnkreport.data import make_dataset
from cnnkreport.draw import figures, svg
from cnnkreport.draw import filter_figures as ff
from cnnkreport.draw.mosaic import PAGE_WIDTH
from cnnkreport.site import templates_dir

from .conftest import tiny

if TYPE_CHECKING:
    from playwright.sync_api import Browser

RNG = np.random.default_rng(0)


# --- matplotlib figures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drawn:
    """A text as figures.save drew it: its size in points, the dpi, and its extent and the figure's, in pixels."""

    text: str
    points: float
    dpi: float
    extent: Bbox
    page: Bbox


def save_and_read(fig: Figure, png: Path, dpi: int, save: Callable[..., None] = figures.save) -> list[Drawn]:
    """save(fig, png, dpi) (figures.save), noting every text it draws (not, say, the labels of ticks outside the
    axes' limits, which are never drawn)."""
    drawn: list[Drawn] = []
    draw = Text.draw

    def noting(self: Text, renderer: Any) -> None:
        if self.get_visible() and self.get_text().strip():
            root = self.figure
            assert isinstance(root, Figure)
            extent = self.get_window_extent(renderer)
            drawn.append(Drawn(self.get_text(), self.get_fontsize(), root.dpi, extent, root.bbox.frozen()))
        draw(self, renderer)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Text, "draw", noting)
        save(fig, png, dpi)
    return drawn


def unreadable(drawn: list[Drawn], png: Path) -> list[str]:
    """The texts (drawn into `png`) smaller than MIN_TEXT_PX px where a 1280-px window shows the picture (at its
    natural width up to PAGE_WIDTH px, scaled down to that when wider), or cut off by the picture's edges."""
    with Image.open(png) as im:
        width = im.size[0]
    problems = []
    for d in drawn:
        px = d.points * d.dpi / 72 * min(width, PAGE_WIDTH) / d.page.width  # drawn, scaled to the PNG, then shown
        if px < figures.MIN_TEXT_PX - 1e-9:
            problems.append(f"{d.text[:40]!r}: {d.points:g} pt = {px:.1f} px")
        e, p = d.extent, d.page
        if e.x0 < p.x0 - 1 or e.x1 > p.x1 + 1 or e.y0 < p.y0 - 1 or e.y1 > p.y1 + 1:
            problems.append(f"{d.text[:40]!r}: cut off")
    last = {(d.text, tuple(d.extent.bounds)): d for d in drawn if d.dpi == drawn[-1].dpi}  # the drawing saved
    texts = list(last.values())
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            if a.extent.shrunk(0.9, 0.8).overlaps(b.extent.shrunk(0.9, 0.8)):
                problems.append(f"{a.text[:40]!r} and {b.text[:40]!r}: overlap")
    return problems


def _metrics() -> list[dict[str, float]]:
    rows: list[dict[str, float]] = []
    for s in range(0, 2000, 10):
        rows.append({"step": s, "loss": 2 * np.exp(-s / 500) + 0.1 * RNG.random(), "train_accuracy": min(1, s / 1500)})
        if s % 200 == 0:
            rows.append({"step": s, "test_accuracy": min(1.0, s / 1700)})
    return rows


def _data(preset: str) -> Figure:
    data = PRESETS[preset].data
    return figures.data_montage(make_dataset(replace(data, n_train=12 * len(data.classes), n_test=0), 0))


def _matches(shape: tuple[int, ...], n: int) -> Figure:
    """Kernels beside templates of their bank, with its labels (the longest: "gauss d1 165°", "central diff")."""
    b = bank(shape)
    top = RNG.integers(0, len(b.templates), size=(n, 3))
    labels = [[b.templates[t].short() for t in row] for row in top]
    kernels = RNG.normal(size=(n, *shape))
    return figures.best_matches(kernels, b.weights[top], labels, RNG.random((n, 3)), [f"kernel {i}" for i in range(n)])


def _long_matches(taps: int, n: int) -> Figure:
    """Long 1-D kernels (their bank is fitted per kernel: random templates stand in for the fits)."""
    kernels, templates = RNG.normal(size=(n, taps)), RNG.normal(size=(n, 3, taps))
    labels = [["gauss d2", "central diff", "1-D Gabor"]] * n
    return figures.best_matches(kernels, templates, labels, RNG.random((n, 3)), [f"kernel {i}" for i in range(n)])


def _sweep(keys: int) -> Figure:
    names = ["train.weight_decay", "model.kernel_size", "train.lr", "train.loss", "model.channels", "train.epochs"]
    values = {k: ["0", "0.01", "0.05"] if i % 2 == 0 else ["5x5", "7x7"] for i, k in enumerate(names[:keys])}
    settings: list[dict[str, str]] = [{}]
    for k in names[:keys]:
        settings = [{**s, k: v} for s in settings for v in values[k]]
    results = [{"setting": s, "hit_rate": RNG.random(), "kappa": RNG.random(), "test_accuracy": None} for s in settings]
    return figures.sweep_effects(names[:keys], values, results)


def _feature_maps(n: int) -> Figure:
    data = PRESETS["pulses-2d"].data
    ds = make_dataset(replace(data, n_train=10 * len(data.classes), n_test=0), 0)
    images = ds.x_train[[int(np.flatnonzero(ds.y_train == c)[0]) for c in range(len(ds.classes))]]
    maps = fl.feature_maps_2d(RNG.normal(size=(n, 1, 5, 5)), images)
    return ff.feature_maps_figure(maps, images, list(ds.classes))


def _filterbank(n: int, taps: int) -> Figure:
    w = RNG.normal(size=(n, taps))
    responses = [fl.frequency_response_1d(k) for k in w]
    db = np.stack([r.magnitude_db for r in responses])
    return ff.filterbank_figure([fl.describe_1d(k) for k in w], db, responses[0].freq)


# every matplotlib figure the site writes, with inputs of the sizes the site gives it (up to its caps), and the dpi
# the site writes it at (sections.py, build.py and sweep.py pass these constants to figures.save)
FIGURES: dict[str, tuple[Callable[[], Figure], int]] = {
    "training curves": (lambda: figures.training_curves(_metrics()), figures.DPI),
    "data montage, images": (lambda: _data("pulses-2d"), figures.PANEL_DPI),
    "data montage, signals": (lambda: _data("pulses-1d"), figures.PANEL_DPI),
    "data montage, 4 classes": (lambda: _data("seed-replica"), figures.PANEL_DPI),
    "score histogram": (
        lambda: figures.score_histogram(RNG.random(8), RNG.random(8), RNG.random(1000), 0.8),
        figures.DPI,
    ),
    "score over training": (
        lambda: figures.score_over_training(np.arange(0, 1200, 100), RNG.random((12, 8)), RNG.random(1000), 0.8),
        figures.DPI,
    ),
    "best matches 5x5": (lambda: _matches((5, 5), 8), figures.DPI),
    "best matches 3x3, 1 kernel": (lambda: _matches((3, 3), 1), figures.DPI),
    "best matches 11x11, 32 kernels": (lambda: _matches((11, 11), 32), figures.DPI),
    "best matches 1-D": (lambda: _matches((31,), 16), figures.DPI),
    "best matches 1-D long": (lambda: _long_matches(512, 8), figures.DPI),
    "sweep effects": (lambda: _sweep(3), figures.PANEL_DPI),
    "sweep effects, 6 keys": (lambda: _sweep(6), figures.PANEL_DPI),
    "frequency 1-D": (lambda: ff.frequency_response_1d_figure(RNG.normal(size=(8, 31))), figures.PANEL_DPI),
    "frequency 1-D, 40 kernels": (lambda: ff.frequency_response_1d_figure(RNG.normal(size=(40, 9))), figures.PANEL_DPI),
    "frequency 2-D": (lambda: ff.frequency_response_2d_figure(RNG.normal(size=(16, 5, 5))), figures.PANEL_DPI),
    "frequency 2-D, 2 kernels": (
        lambda: ff.frequency_response_2d_figure(RNG.normal(size=(2, 3, 3))),
        figures.PANEL_DPI,
    ),
    "frequency 1-D, 1 kernel": (lambda: ff.frequency_response_1d_figure(RNG.normal(size=(1, 9))), figures.PANEL_DPI),
    "filterbank": (lambda: _filterbank(8, 31), figures.PANEL_DPI),
    "filterbank, 64 long kernels": (lambda: _filterbank(64, 256), figures.PANEL_DPI),
    "signals": (lambda: ff.signal_responses_figure(RNG.normal(size=(8, 31)), fl.test_signals()), figures.PANEL_DPI),
    "signals, 1 kernel": (
        lambda: ff.signal_responses_figure(RNG.normal(size=(1, 9)), fl.test_signals()),
        figures.PANEL_DPI,
    ),
    "signals, 40 kernels": (
        lambda: ff.signal_responses_figure(RNG.normal(size=(40, 31)), fl.test_signals()),
        figures.PANEL_DPI,
    ),
    "feature maps": (lambda: _feature_maps(8), figures.PANEL_DPI),
    "feature maps, 3 kernels": (lambda: _feature_maps(3), figures.PANEL_DPI),
    "feature maps, 64 kernels": (lambda: _feature_maps(64), figures.PANEL_DPI),
    "channels combined": (lambda: ff.channel_combined_figure(RNG.normal(size=(16, 8, 9))), figures.PANEL_DPI),
    "channels combined, 2": (lambda: ff.channel_combined_figure(RNG.normal(size=(2, 3, 200))), figures.PANEL_DPI),
    "input space 2-D": (
        lambda: ff.input_space_figure(fl.input_space_2d(RNG.normal(size=(16, 8, 5, 5)), RNG.normal(size=(8, 1, 5, 5)))),
        figures.PANEL_DPI,
    ),
    "input space 2-D, 3 kernels": (lambda: ff.input_space_figure(RNG.normal(size=(3, 13, 13))), figures.PANEL_DPI),
    "input space 2-D, 100 kernels": (lambda: ff.input_space_figure(RNG.normal(size=(100, 13, 13))), figures.PANEL_DPI),
    "input space 1-D": (
        lambda: ff.input_space_figure(fl.input_space_1d(RNG.normal(size=(16, 8, 9)), RNG.normal(size=(8, 1, 31)))),
        figures.PANEL_DPI,
    ),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_is_readable_at_page_size(name: str, tmp_path: Path) -> None:
    make, dpi = FIGURES[name]
    fig = make()
    png = tmp_path / "figure.png"
    drawn = save_and_read(fig, png, dpi)
    assert drawn, "a figure of the site without text?"
    assert not unreadable(drawn, png), unreadable(drawn, png)
    with Image.open(png) as im:
        assert im.size[0] <= PAGE_WIDTH, f"{im.size}: wider than the page, shown scaled down"


def test_text_check_sees_small_text_and_shrunk_figures(tmp_path: Path) -> None:
    """The check above can fail: 8-pt text at 80 dpi (8.9 px), 10-pt text in a figure too wide for the page, and a
    title too long for its figure."""
    small = Figure(figsize=(4, 3))
    small.subplots().set_title("a title", fontsize=8)
    drawn = save_and_read(small, tmp_path / "small.png", 80)
    assert unreadable(drawn, tmp_path / "small.png") == ["'a title': 8 pt = 8.9 px"]
    wide = Figure(figsize=(20, 3))  # 2,000 px at 100 dpi, shown at PAGE_WIDTH: 10 pt becomes 7.5 px
    wide.subplots().set_title("a title", fontsize=10)
    drawn = save_and_read(wide, tmp_path / "wide.png", 100)
    assert "'a title': 10 pt = 7.6 px" in unreadable(drawn, tmp_path / "wide.png")
    narrow = Figure(figsize=(2, 2))
    narrow.suptitle("a title much too long for a figure two inches wide", fontsize=10)
    drawn = save_and_read(narrow, tmp_path / "narrow.png", 100)
    assert unreadable(drawn, tmp_path / "narrow.png") == ["'a title much too long for a figure two i': cut off"]


def test_save_lowers_the_dpi_of_a_huge_figure_and_says_so(tmp_path: Path) -> None:
    fig = Figure(figsize=(50, 2))
    assert figures.written_dpi(fig, 100) == 81  # 4,096 px / 50 in
    figures.save(fig, tmp_path / "huge.png", dpi=100)
    with Image.open(tmp_path / "huge.png") as im:
        assert im.size[0] == 50 * 81


# --- the site's calls -----------------------------------------------------------------------------------------


@pytest.mark.slow  # trains two tiny runs and draws their sites one layer at a time
def test_the_site_writes_every_figure_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every figures.save call of a site build (an image run and a signal run) and of a sweep page, at the dpi its
    call site passes: no text below MIN_TEXT_PX px at page size, no figure wider than the page."""
    from cnnkreport.site import build as site_build
    from cnnkreport.site import build_site
    from cnnkreport.sweep import Outcome, SweepConfig, expand, render_sweep
    from cnnkreport.train import train_into

    original = figures.save
    seen: dict[str, list[str]] = {}

    def checking_save(fig: Figure, path: Path, dpi: int = figures.DPI) -> None:
        problems = unreadable(save_and_read(fig, path, dpi, original), path)
        with Image.open(path) as im:
            if im.size[0] > PAGE_WIDTH:
                problems.append(f"{im.size[0]} px wide")
        seen.setdefault(path.name, []).extend(problems)

    monkeypatch.setattr(figures, "save", checking_save)
    monkeypatch.setattr(site_build, "_pool", lambda jobs: None)  # in this process, where the check can see them
    runs = [tmp_path / "runs" / kind for kind in ("image", "signal")]
    for kind, path in zip(("image", "signal"), runs, strict=True):
        train_into(replace(tiny(kind), name=kind), path)
    build_site(runs, tmp_path / "site")
    sweep = SweepConfig(name="s", preset="pulses-2d", seeds=(0,), grid={"train.lr": [0.001, 0.003]})
    outcomes = [Outcome(p, runs[0], 0.5, 0.25 * i, 0.1, 0.0) for i, p in enumerate(expand(sweep))]
    render_sweep(sweep, outcomes, tmp_path / "sweep")
    expected = {
        "curves.png",
        "data.png",
        "scores.png",
        "over-training.png",
        "matches.png",
        "frequency.png",
        "filterbank.png",
        "signals.png",
        "feature-maps.png",
        "channels-combined.png",
        "input-space.png",
        "effects.png",
    }
    assert expected <= set(seen), expected - set(seen)
    assert not {name: p for name, p in seen.items() if p}, {name: p for name, p in seen.items() if p}


# --- inline SVG charts ----------------------------------------------------------------------------------------


def test_svg_charts_have_no_text_below_10px() -> None:
    """Shown at their natural size (a 360 x 190 viewBox at 360 x 190 px): no font-size below 10, and the texts still
    fit (estimated at 0.6 em a character): the y tick values clear the turned y label, the legend stays inside."""
    x = np.linspace(0, 0.5, 129)
    refs = [svg.Series(-20 * x, x, label="1st difference"), svg.Series(-10 * x, x, label="2nd difference")]
    charts = [
        (
            svg.line_chart([svg.Series(-40 * x, x, label="this kernel"), *refs], "gain", "frequency", "dB", (-40, 3)),
            360,
        ),
        (svg.line_chart([svg.Series(np.sin(20 * x) * 0.3, x)], "phase", "frequency", "phase (π rad)"), 360),
        (
            svg.line_chart(
                [
                    svg.Series(RNG.normal(size=128), label="input"),
                    svg.Series(RNG.normal(size=128), label="output × 0.25"),
                ],
                "signal",
                "sample",
                "sine",
                None,
                300,
                150,
            ),
            300,
        ),
    ]
    for chart, width in charts:
        sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', chart)]
        assert sizes and min(sizes) >= 10, sizes
        root = float(re.search(r'<svg [^>]*font-size="([\d.]+)"', chart).group(1))  # the texts inherit it
        assert f'viewBox="0 0 {width} ' in chart and f'width="{width}"' in chart  # shown at natural size
        left, top = svg.MARGINS[0], svg.MARGINS[2]
        (y_values,) = re.findall(r'<g text-anchor="end">(.*?)</g>', chart)
        for value in re.findall(r">([^<]+)</text>", y_values):  # right-aligned at left - 4
            assert 13 + 0.6 * root * len(value) <= left - 4, value
        legend = re.findall(rf'<text x="([\d.]+)" y="{top - 5}">([^<]+)<', chart)
        lines = re.findall(r'<g transform="scale\([\d.]+\)" fill="none">(.*?)</g>', chart)[0].count("<path ")
        assert len(legend) == lines - (chart is charts[1][0]), legend  # the labelled series
        for at, label in legend:
            assert float(at) + 0.6 * root * len(label) <= width, (label, at)


# --- pages ----------------------------------------------------------------------------------------------------


class Pictures(html.parser.HTMLParser):
    """Each <img> in a page's <main>: its src, the hrefs of the links around it, and the figure (or layer card) that
    holds it, with the hrefs of every link in that figure."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str, int]] = []  # open elements: (tag, href, figure index or -1)
        self.images: list[tuple[str, list[str], int]] = []  # (src, hrefs of the links around it, figure index or -1)
        self.figures: list[list[str]] = []  # hrefs of the links in each figure
        self.in_main = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.in_main = self.in_main or tag == "main"
        if not self.in_main:
            return
        figure = next((f for _, _, f in reversed(self.stack) if f >= 0), -1)
        if tag == "img":
            self.images.append((a.get("src", ""), [h for t, h, _ in self.stack if t == "a"], figure))
            return
        if tag == "a" and figure >= 0:
            self.figures[figure].append(a.get("href", ""))
        if tag == "figure" or (tag == "div" and "card" in a.get("class", "").split()):
            self.figures.append([])
            self.stack.append((tag, "", len(self.figures) - 1))
        else:
            self.stack.append((tag, a.get("href", ""), -1))

    def handle_endtag(self, tag: str) -> None:
        self.in_main = self.in_main and tag != "main"
        while self.stack and self.stack.pop()[0] != tag:  # also closes what has no end tag (<br>, <input>)
            pass

    def unlinked(self) -> list[str]:
        """The images that neither a link around them nor a link in their figure leads to."""
        return [
            src
            for src, around, figure in self.images
            if src not in around and (figure < 0 or src not in self.figures[figure])
        ]


def pictures(page: Path) -> Pictures:
    parsed = Pictures()
    parsed.feed(page.read_text(encoding="utf-8"))
    return parsed


def test_the_link_check_can_fail() -> None:
    parsed = Pictures()
    parsed.feed(
        '<main><figure><a href="layer/"><img src="a.png"></a><figcaption>x</figcaption></figure>'
        '<figure><a href="b.png"><img src="b.png"></a></figure>'
        '<figure><a href="x/"><img src="c.png"></a><figcaption><a href="c.png">full size</a></figcaption></figure>'
        '<p><img src="d.png"></p></main>'
    )
    assert parsed.unlinked() == ["a.png", "d.png"]


@pytest.mark.slow
def test_every_figure_links_to_its_file(quick_site: Path) -> None:
    site = quick_site / "site"
    pages = [site / "index.html", site / "recipe.html", *site.glob("runs/*/index.html"), *site.glob("banks/*/*.html")]
    assert len(pages) >= 6
    for page in pages:
        parsed = pictures(page)
        assert parsed.images, page
        assert not parsed.unlinked(), (page, parsed.unlinked())
        for src, _, _ in parsed.images:
            assert (page.parent / src).is_file(), (page, src)
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.count("The picture at full size</a>") == index.count("<figure>")  # every figure, once


@pytest.mark.slow  # a site of seven layers
def test_a_run_page_of_layer_cards_links_each_picture(tmp_path: Path) -> None:
    """More layers than views.RUN_SECTIONS: each card's picture links to the layer page, and a "full size" link
    beside it to the picture itself."""
    from cnnkreport.rundir import LayerInfo, Run, RunMeta
    from cnnkreport.site import build_site
    from cnnkreport.site.views import RUN_SECTIONS

    layers = tuple(LayerInfo(f"block{i}", "conv2d", (8, 4, 1, 1)) for i in range(RUN_SECTIONS + 1))
    run = Run(tmp_path / "many")
    run.write_meta(RunMeta("many", "recorder", "complete", 20, layers))
    run.write_snapshots(
        [(10 * s, {x.name: RNG.normal(size=x.shape).astype(np.float32) for x in layers}) for s in range(2)]
    )
    build_site([tmp_path / "many"], tmp_path / "site")
    page = tmp_path / "site" / "runs" / "many" / "index.html"
    parsed = pictures(page)
    assert len(parsed.images) == RUN_SECTIONS + 1 and not parsed.unlinked(), parsed.images
    assert page.read_text().count("at full size</a>") == RUN_SECTIONS + 1


def test_the_sweep_page_links_its_figures(tmp_path: Path) -> None:
    """sweep.html, rendered as render_sweep renders it: the effects figure and each setting's mosaic link to their
    files."""
    from cnnkreport.site import jinja_env
    from cnnkreport.site import layout as paths

    class Summary:
        label = "lr=0.001"
        seeds = 1
        values = {m: (0.5, 0.1) for m in ("hit_rate", "kappa", "controlled", "test_accuracy")}

    class Sweep:
        name = "s"
        preset = "pulses-2d"

    page = (
        jinja_env()
        .get_template("sweep.html")
        .render(
            url=lambda p: p,
            root_url=lambda p: p,
            paths=paths,
            runs=[],
            banks=[],
            checks={},
            version="0",
            sweep=Sweep(),
            summaries=[Summary(), Summary()],
            keys=["train.lr"],
            seeds=[0],
            colour=True,
        )
    )
    parsed = Pictures()
    parsed.feed(page)
    assert len(parsed.images) == 3 and not parsed.unlinked(), parsed.images


def test_index_figures_are_styled_at_least_30rem_wide() -> None:
    css = (templates_dir() / "static" / "style.css").read_text()
    rule = re.search(r"img\.figure-large\s*\{([^}]*)\}", css)
    assert rule, "no img.figure-large rule"
    width = re.search(r"min-width:\s*min\(\s*([\d.]+)rem", rule.group(1))
    assert width and float(width.group(1)) >= 30, rule.group(1)
    assert "max-width: 100%" in rule.group(1)  # never wider than the page (a phone's)
    index = (templates_dir() / "index.html").read_text()
    images = re.findall(r"<img [^>]*>", index)
    assert len(images) == 3 and all("figure-large" in img for img in images), images
    assert "pixels" in images[0] and "pixels" in images[1]  # the mosaic and the dictionary: never smoothed


@pytest.mark.slow
@pytest.mark.browser
def test_index_shows_its_figures_large_in_a_browser(quick_site: Path, browser: Browser) -> None:
    """At a 1280 x 900 window, over file://: the index's mosaics (enlarged without smoothing) and Lee-style figures
    are at least 480 px wide, the figures at their natural size or larger, none wider than the page; on a phone,
    none wider than the window."""
    from .browser_support import block_outside

    index = (quick_site / "site" / "index.html").as_uri()
    measure = """() => [...document.querySelectorAll("main figure img")].map(img => {
        const r = img.getBoundingClientRect();
        return {src: img.getAttribute("src"), width: r.width, natural: img.naturalWidth,
                rendering: getComputedStyle(img).imageRendering, pixels: img.classList.contains("pixels")};
    })"""
    for viewport in ({"width": 1280, "height": 900}, {"width": 390, "height": 844}):
        context = browser.new_context(viewport=viewport)
        try:
            block_outside(context)
            page = context.new_page()
            page.goto(index, wait_until="load")
            shown = page.evaluate(measure)
            overflow = page.evaluate("document.documentElement.scrollWidth")
        finally:
            context.close()
        assert len(shown) >= 2 and all(s["natural"] > 0 for s in shown), shown
        if viewport["width"] == 1280:
            assert all(s["width"] >= 480 for s in shown), shown
            assert all(s["width"] >= min(s["natural"], PAGE_WIDTH) - 1 for s in shown), shown  # never shrunk
            assert all(s["rendering"] == "pixelated" for s in shown if s["pixels"]), shown
            lee = [s for s in shown if s["src"].endswith("input-space.png")]
            assert lee and all(s["natural"] >= 480 and abs(s["width"] - s["natural"]) <= 1 for s in lee), lee
        else:
            assert all(s["width"] <= viewport["width"] for s in shown) and overflow <= viewport["width"], shown
