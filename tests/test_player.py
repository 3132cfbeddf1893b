"""The player's parts without a browser (tests/test_browser.py drives it in one): sprite sheets and the GIF drawn
from the same frames, the label of each snapshot, the player's inline numbers, the chart marker, and the
Content-Security-Policy of every page and of the packed file."""

from __future__ import annotations

import html.parser
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from cnnkreport.draw import mosaic, sprites  # noqa: E402
from cnnkreport.site.player import (  # noqa: E402
    PAGE_CSP,
    PAGE_JS,
    Player,
    Timeline,
    chart_markers,
    make_player,
    source_hash,
)


def _frames(n: int, h: int = 30, w: int = 50, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, mosaic.LEVELS, size=(h, w)).astype(np.uint8) for _ in range(n)]


def _rgb(path: Path, frame: int = 0) -> np.ndarray:
    with Image.open(path) as im:
        im.seek(frame)
        return np.asarray(im.convert("RGB"))


def test_a_sprite_sheet_holds_every_frame_in_its_cell_and_the_gif_every_third(tmp_path: Path) -> None:
    frames = _frames(9)
    sprite = sprites.write_animation(tmp_path, "evolution", frames, list(range(100, 109)))
    assert (sprite.src, sprite.gif) == ("evolution-frames.png", "evolution.gif")
    assert sprite.frames == tuple(range(100, 109)) and (sprite.width, sprite.height) == (50, 30)
    assert sprite.cols * sprite.rows >= 9 and sprite.cols * sprite.width <= mosaic.PAGE_WIDTH
    sheet = _rgb(tmp_path / sprite.src)
    assert sheet.shape == (sprite.rows * 30, sprite.cols * 50, 3)  # no gap: the player crops by percentages
    colours = np.asarray(mosaic.palette(), dtype=np.uint8).reshape(256, 3)
    for k, frame in enumerate(frames):
        r, c = divmod(k, sprite.cols)
        cell = sheet[r * 30 : (r + 1) * 30, c * 50 : (c + 1) * 50]
        assert np.array_equal(cell, colours[mosaic.coarser(frame)])  # the animation's levels, as in the GIF
    with Image.open(tmp_path / sprite.gif) as gif:
        assert gif.n_frames == 9  # a short animation keeps every frame in its GIF
    assert np.array_equal(_rgb(tmp_path / sprite.gif, 8), colours[mosaic.coarser(frames[8])])
    many = _frames(20, seed=1)
    long = sprites.write_animation(tmp_path, "long", many, list(range(20)))
    with Image.open(tmp_path / long.gif) as gif:
        assert gif.n_frames == 8  # frames 0, 3, ..., 18 and 19: a third of the bytes, the first and last kept
    for k, frame in ((0, 0), (1, 3), (7, 19)):
        assert np.array_equal(_rgb(tmp_path / long.gif, k), colours[mosaic.coarser(many[frame])])
    assert sprites.gif_subset(20) == [0, 3, 6, 9, 12, 15, 18, 19] and sprites.gif_subset(12) == list(range(12))


def test_a_long_animation_is_thinned_to_fit_the_picture_limit(tmp_path: Path) -> None:
    frames = _frames(200, h=300, w=600)
    sprite = sprites.write_animation(tmp_path, "long", frames, list(range(200)), gif=False)
    assert sprite.gif == "" and not (tmp_path / "long.gif").exists()
    assert sprite.rows * sprite.height <= mosaic.MAX_SIDE and sprite.cols * sprite.width <= mosaic.MAX_SIDE
    assert sprite.frames[0] == 0 and sprite.frames[-1] == 199 and 2 <= len(sprite.frames) < 200
    with Image.open(tmp_path / sprite.src) as im:
        assert im.size == (sprite.cols * 600, sprite.rows * 300)


def test_colour_frames_make_a_colour_sheet(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, size=(12, 20, 3)).astype(np.uint8) for _ in range(5)]
    sprite = sprites.write_animation(tmp_path, "rgb", frames, [0, 1, 2, 3, 4], colour=True)
    sheet = _rgb(tmp_path / sprite.src)
    assert np.array_equal(sheet[:12, 20:40], frames[1])


def test_the_label_names_step_epoch_loss_and_score_from_the_last_metrics_row() -> None:
    metrics = [
        {"step": 0.0, "epoch": 0.0, "loss": None},
        {"step": 100.0, "epoch": 1.0, "loss": 0.8123},
        {"step": 1200.0, "epoch": 3.0, "loss": 0.41},
    ]
    t = Timeline.of(np.array([0, 150, 1200, 1300]), metrics)
    assert t.label(0, 0.5, "median r*") == "step 0 · epoch 0 · median r* 0.50"
    assert t.label(1, 0.61) == "step 150 · epoch 1 · loss 0.812 · r* 0.61"  # the row at or before step 150
    assert t.label(2, 0.72, "median r*") == "step 1,200 · epoch 3 · loss 0.41 · median r* 0.72"
    assert t.label(3, float("nan")) == "step 1,300 · epoch 3 · loss 0.41"  # no score, no claim
    bare = Timeline.of(np.array([5, 10]), [])  # a user's checkpoints: no metrics
    assert bare.label(1, 0.3) == "step 10 · r* 0.30"


def test_the_player_lists_every_frame_its_views_show_and_needs_two() -> None:
    t = Timeline.of(np.arange(0, 50, 10), [])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    player = make_player(t, [(0, 2, 4), (0, 1, 4)], ["a", "b"], scores)
    assert player is not None and player.frames == (0, 1, 2, 4) and player.steps == (0, 10, 20, 40)
    assert player.labels[-1] == "step 40 · r* 0.50" and player.last == 3 and player.controls == ("a", "b")
    assert make_player(t, [(3,), (3,)], ["a"], scores) is None  # one frame: nothing to step through


def test_the_players_numbers_cannot_end_their_script() -> None:
    player = Player((0, 1), (0, 1), ("</script><script>alert(1)</script>", "b & c"), ("x",))
    text = str(player.json())
    assert "</" not in text and "<" not in text and "&" not in text
    assert json.loads(text)["labels"][0] == "</script><script>alert(1)</script>"


def test_a_marker_follows_the_charts_own_scale() -> None:
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    x = np.array([0, 1, 10, 100, 1000])
    ax.plot(x, x)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(0, 1000)
    fig.tight_layout()
    (marker,) = chart_markers(fig, x)
    pos = [float(v) for v in marker.at([0, 10, 1000]).split()]
    box = ax.get_position()
    assert pos[0] == pytest.approx(box.x0, abs=0.01) and pos[2] == pytest.approx(box.x1, abs=0.01)
    assert pos[1] == pytest.approx((box.x0 + box.x1) / 2, abs=0.02)  # 10 is halfway on this symlog axis
    top, bottom = (float(v) for v in marker.span.split())
    assert top == pytest.approx(1 - box.y1, abs=0.01) and bottom == pytest.approx(1 - box.y0, abs=0.01)


# --- the policy ---------------------------------------------------------------------------------------------------


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in, self._text = tag, []

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            text = "".join(self._text)
            if tag == "script":
                self.scripts.append((self.tags[-1][1] if self.tags[-1][0] == "script" else {}, text))
            else:
                self.styles.append(text)
            self._in = None


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _policy(page: _Page) -> dict[str, list[str]]:
    csp = "content-security-policy"
    metas = [a for t, a in page.tags if t == "meta" and (a.get("http-equiv") or "").lower() == csp]
    assert len(metas) == 1, "one Content-Security-Policy meta tag"
    head = [t for t, _ in page.tags[:4]]
    assert head == ["html", "head", "meta", "meta"] and page.tags[3] == ("meta", metas[0]), "first in <head>"
    policy = {}
    for part in (metas[0].get("content") or "").split(";"):
        name, *sources = part.split()
        policy[name] = sources
    return policy


def _check_policy(policy: dict[str, list[str]], page: _Page) -> None:
    assert policy["default-src"] == ["'none'"] and "connect-src" not in policy  # so no fetch of any kind
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'none'"]
    assert not any(src.startswith(("http", "*", "'unsafe")) for sources in policy.values() for src in sources)
    for attrs, text in page.scripts:
        assert "src" not in attrs, "no script is loaded from a file"
        if attrs.get("type") != "application/json":  # a data block never runs
            assert source_hash(text) in policy["script-src"], "an inline script the policy does not allow"
    assert not any("style" in a for _, a in page.tags), "no style attribute (the policy would refuse it)"


def test_every_page_has_a_policy_that_allows_only_its_own_script(quick_site: Path) -> None:
    site = quick_site / "site"
    pages = sorted(site.rglob("*.html"))
    players = 0
    for path in pages:
        page = _parse(path.read_text(encoding="utf-8"))
        policy = _policy(page)
        assert " ".join(f"{k} {' '.join(v)}" for k, v in policy.items()) == PAGE_CSP.replace(";", "")
        _check_policy(policy, page)
        assert not page.styles, "styles come from the stylesheet only"
        runs = [text for attrs, text in page.scripts if attrs.get("type") != "application/json"]
        assert runs in ([], [PAGE_JS])
        players += bool(runs)
        assert not any(t == "img" and (a.get("src") or "").endswith(".gif") for t, a in page.tags), path
    assert players >= 10  # the layer and kernel pages of runs with snapshots


def test_a_layer_pages_player_controls_its_sprites_and_chart(quick_site: Path) -> None:
    layer = quick_site / "site" / "runs" / "pulses-2d" / "features.0"
    text = (layer / "index.html").read_text(encoding="utf-8")
    page = _parse(text)
    ids = {a.get("id") for _, a in page.tags}
    (range_,) = [a for t, a in page.tags if t == "input" and a.get("type") == "range"]
    controls = (range_.get("aria-controls") or "").split()
    assert set(controls) == {"evolution-view", "matches-view", "over-training-chart"} and set(controls) <= ids
    data = json.loads(next(t for a, t in page.scripts if a.get("type") == "application/json"))
    assert int(range_.get("max") or 0) == len(data["labels"]) - 1 == int(range_.get("value") or 0)
    assert range_.get("aria-valuetext") == data["labels"][-1] and data["labels"][-1] in text  # the visible label
    assert data["steps"] == sorted(data["steps"]) and len(data["frames"]) == len(data["labels"])
    for _, a in page.tags:
        if "data-sprite" in a:
            cols, rows, w, h = map(int, (a.get("data-sprite") or "").split())
            frames = [int(f) for f in (a.get("data-frames") or "").split()]
            assert set(frames) <= set(data["frames"]) and len(frames) <= cols * rows
            img = next(b for t, b in page.tags[page.tags.index(("div", a)) :] if t == "img")
            with Image.open(layer / (img.get("src") or "")) as im:
                assert im.size == (cols * w, rows * h)
        if "data-x" in a:
            xs = [float(v) for v in (a.get("data-x") or "").split()]
            assert len(xs) == len(data["steps"]) and xs == sorted(xs) and 0 <= xs[0] < xs[-1] <= 1
    hrefs = {a.get("href") for t, a in page.tags if t == "a"}
    assert {"evolution.gif", "matches.gif"} <= hrefs  # the GIFs, as downloads
    kernel = _parse((layer / "kernels" / "0.html").read_text(encoding="utf-8"))
    assert {a.get("href") for t, a in kernel.tags if t == "a"} >= {"../evolution.gif", "../matches.gif"}


def test_the_packed_file_allows_exactly_its_own_styles_and_scripts(quick_site: Path, tmp_path: Path) -> None:
    from cnnkreport.publish import pack_html

    pack_html(quick_site / "site", tmp_path / "one.html")
    page = _parse((tmp_path / "one.html").read_text(encoding="utf-8"))
    policy = _policy(page)
    _check_policy(policy, page)
    assert policy["img-src"] == ["data:"]  # every picture is inside the file
    assert sorted(policy["style-src"]) == sorted(source_hash(s) for s in page.styles)
    assert PAGE_JS.strip() in [t.strip() for _, t in page.scripts]
    assert re.search(r"'sha256-[A-Za-z0-9+/=]+'", " ".join(policy["script-src"]))
