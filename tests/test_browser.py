"""The built site in a real browser (headless Chromium through Playwright): every page of `cnnkreport build --quick`,
over file:// and over HTTP under a sub-path (as on user.github.io/repo/), must load with no console error, no failed
or outside request, every image decoded, every internal link (and #fragment) resolving, and no serious or critical
WCAG 2.1 A/AA violation found by axe-core. The packed single HTML file is checked the same way.

Without Chromium, playwright or axe-core these skip, except under CI=true where they fail: see browser_support.py
for where each is looked for, and .ci/run for how CI installs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .browser_support import (
    CSP_LISTENER,
    Crawl,
    axe_path,
    block_outside,
    check_packed,
    crawl,
    file_exists,
    html_files,
    http_exists,
    serve,
    static_crawl,
    summarise,
    unavailable,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def axe() -> Path:
    path = axe_path()
    if not path.is_file():
        unavailable(f"axe-core not found at {path} (npm install --no-save --no-package-lock axe-core, or set CNNK_AXE)")
    return path


@pytest.fixture(scope="session")
def file_crawl(browser: Browser, quick_site: Path) -> Crawl:
    """Every page over file://, each visited once."""
    site = quick_site / "site"
    root = site.resolve().as_uri() + "/"
    context = browser.new_context()
    block_outside(context)
    try:
        return crawl(context, root, file_exists(site.resolve(), root))
    finally:
        context.close()


@pytest.fixture(scope="session")
def http_crawl(browser: Browser, quick_site: Path) -> Iterator[Crawl]:
    """Every page over HTTP with the site under a sub-path (the parent folder is served, the site is /site/), each
    visited once, with axe-core run on each where it is installed (over HTTP axe can also read the stylesheets)."""
    axe = axe_path()
    with serve(quick_site) as base:
        context = browser.new_context()
        block_outside(context)
        try:
            yield crawl(context, base + "site/", http_exists, axe=axe if axe.is_file() else None)
        finally:
            context.close()


def test_every_page_is_reachable_by_links(quick_site: Path) -> None:
    """No orphan: each .html file of the site is reachable from index.html by links (read from the files)."""
    site = quick_site / "site"
    orphans = html_files(site) - static_crawl(site)
    assert not orphans, f"pages no link leads to: {sorted(orphans)}"


def test_browser_reaches_every_page(file_crawl: Crawl, http_crawl: Crawl, quick_site: Path) -> None:
    """The browser's own crawl (links as the DOM has them) finds each .html file, over file:// and HTTP alike."""
    everything = html_files(quick_site / "site")
    assert file_crawl.visited() == everything
    assert http_crawl.visited() == everything
    assert all(r.title.strip() for r in file_crawl.pages.values())


def test_site_over_file_url_has_no_errors(file_crawl: Crawl) -> None:
    problems = file_crawl.problems()
    assert not problems, summarise(problems)
    assert sum(r.images for r in file_crawl.pages.values()) > 0  # the image check did see images


def test_site_over_http_under_a_sub_path_has_no_errors(http_crawl: Crawl) -> None:
    problems = http_crawl.problems()
    assert not problems, summarise(problems)


def test_no_serious_accessibility_violations(axe: Path, http_crawl: Crawl) -> None:
    assert http_crawl.axe
    violations = http_crawl.a11y()
    assert not violations, summarise(violations)


def test_packed_single_file_works_offline(browser: Browser, axe: Path, quick_site: Path, tmp_path: Path) -> None:
    """publish.pack_html: one self-contained file, each page a <section id="page-...">, images as data: URIs."""
    from cnnkreport.publish import pack_html  # here, so that the site's own checks run even if publish breaks

    site = quick_site / "site"
    out = tmp_path / "alone" / "site.html"  # away from the site: a relative reference left in it cannot resolve
    out.parent.mkdir()
    result = pack_html(site, out)
    assert out.is_file() and result.pages == len(html_files(site))
    context = browser.new_context()
    block_outside(context)
    try:
        report = check_packed(context, out, len(html_files(site)), axe)
    finally:
        context.close()
    assert report.images > 0
    problems = report.problems + report.a11y
    assert not problems, summarise(problems)


# --- the player (site/player.py), in the three places the site is read ---------------------------------------------

LAYER_PAGE = "runs/pulses-2d/features.0/index.html"
KERNEL_PAGE = "runs/pulses-2d/features.0/kernels/0.html"


@pytest.fixture(scope="module")
def packed_site(quick_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cnnkreport.publish import pack_html

    out = tmp_path_factory.mktemp("packed") / "site.html"
    pack_html(quick_site / "site", out)
    return out


@contextmanager
def opened(browser: Browser, quick_site: Path, packed: Path, mode: str, rel: str, **options: Any) -> Iterator[Any]:
    """The page `rel` of the site, read over `mode` (file, http under a sub-path, or packed), in a fresh tab with
    `options` (reduced motion, no JavaScript); yields (page, the element that holds the page's content). Fails on
    any console error or Content-Security-Policy violation seen while it was open."""
    from cnnkreport.publish.rewrite import page_ident

    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    block_outside(context)
    page = context.new_page()
    page.add_init_script(CSP_LISTENER)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    with ExitStack() as stack:
        if mode == "file":
            page.goto((quick_site / "site" / rel).resolve().as_uri())
            scope = page.locator("main")
        elif mode == "http":
            base = stack.enter_context(serve(quick_site))
            page.goto(base + "site/" + rel)
            scope = page.locator("main")
        else:
            ident = page_ident(rel)
            page.goto(packed.resolve().as_uri() + "#" + ident)
            scope = page.locator(f'section[id="{ident}"]')
        try:
            yield page, scope
            if options.get("java_script_enabled", True):
                errors += page.evaluate("() => window.__cspViolations || []")
        finally:
            context.close()
    assert not errors, errors


MODES = ["file", "http", "packed"]


def _state(page: Any, scope: Any) -> dict[str, Any]:
    return scope.evaluate(
        """(root) => {
          const player = root.querySelector("[data-player]"), range = player.querySelector("input[type=range]");
          return {value: Number(range.value), label: player.querySelector("output").textContent,
                  valuetext: range.getAttribute("aria-valuetext"),
                  cells: [...root.querySelectorAll(".sprite img")].map((i) => i.style.left + " " + i.style.top),
                  markers: [...root.querySelectorAll(".player-marker")].map((m) => m.style.left),
                  labels: JSON.parse(player.querySelector("script").textContent).labels,
                  interval: JSON.parse(player.querySelector("script").textContent).interval};
        }"""
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rel", [LAYER_PAGE, KERNEL_PAGE])
def test_the_player_steps_plays_and_pauses(
    browser: Browser, quick_site: Path, packed_site: Path, mode: str, rel: str
) -> None:
    """End and ArrowLeft move the label (and aria-valuetext) and the frame shown; play moves on by itself, pause
    stops it; the chart's marker follows."""
    with opened(browser, quick_site, packed_site, mode, rel) as (page, scope):
        player = scope.locator("[data-player]")
        assert player.is_visible()
        view = scope.locator(".sprite").first
        player.locator("input[type=range]").focus()
        page.keyboard.press("End")
        end = _state(page, scope)
        labels = end["labels"]
        assert end["value"] == len(labels) - 1 and end["label"] == end["valuetext"] == labels[-1]
        assert "step" in labels[-1] and "r*" in labels[-1]
        shot = view.screenshot()
        page.keyboard.press("ArrowLeft")
        before = _state(page, scope)
        assert before["value"] == len(labels) - 2 and before["label"] == before["valuetext"] == labels[-2]
        assert before["cells"] != end["cells"] and view.screenshot() != shot  # another frame is shown
        assert before["markers"] and before["markers"] != end["markers"]  # the marker on the chart follows
        page.keyboard.press("Home")
        assert _state(page, scope)["value"] == 0
        button = player.locator("button")
        button.click()
        page.wait_for_timeout(end["interval"] * 2.5)
        moved = _state(page, scope)["value"]
        assert moved > 0, "play did not move the slider"
        button.click()  # pause
        paused = _state(page, scope)
        page.wait_for_timeout(end["interval"] * 3)
        still = _state(page, scope)
        assert still["value"] == paused["value"] and still["cells"] == paused["cells"], "pause did not stop it"
        assert button.text_content() == "Play"


@pytest.mark.parametrize("mode", MODES)
def test_with_reduced_motion_nothing_moves(browser: Browser, quick_site: Path, packed_site: Path, mode: str) -> None:
    """Emulating prefers-reduced-motion: reduce, nothing moves until asked, and no page shows a looping GIF."""
    with opened(browser, quick_site, packed_site, mode, LAYER_PAGE, reduced_motion="reduce") as (page, scope):
        first = _state(page, scope)
        shots = [v.screenshot() for v in scope.locator(".sprite").all()]
        page.wait_for_timeout(1500)
        assert _state(page, scope) == first
        assert [v.screenshot() for v in scope.locator(".sprite").all()] == shots
        assert first["value"] == len(first["labels"]) - 1  # it rests on the trained kernels
        gifs = scope.evaluate(
            "(root) => [...root.querySelectorAll('img')].filter((i) => /[.]gif$|^data:image[/]gif/.test(i.src)).length"
        )
        assert gifs == 0


@pytest.mark.parametrize("mode", ["file", "packed"])
def test_without_javascript_the_final_kernels_filmstrip_and_gifs_show(
    browser: Browser, quick_site: Path, packed_site: Path, mode: str
) -> None:
    with opened(browser, quick_site, packed_site, mode, LAYER_PAGE, java_script_enabled=False) as (page, scope):
        assert not scope.locator("[data-player]").is_visible()
        mosaic = scope.locator("img[alt*='after training']").first
        assert mosaic.is_visible()
        for sheet in scope.locator(".sprite img").all():  # the whole sheet: every frame, a filmstrip
            assert sheet.is_visible()
            natural, shown = sheet.evaluate("(i) => [i.naturalWidth, i.getBoundingClientRect().width]")
            assert shown >= min(natural, 1000) - 1
        links = scope.evaluate("(root) => [...root.querySelectorAll('a')].map((a) => a.textContent)")
        assert sum("as a GIF" in t for t in links) >= 2  # the evolution and the matches animations
