"""The built site in a real browser (headless Chromium through Playwright): every page of `cnnkreport build --quick`,
over file:// and over HTTP under a sub-path (as on user.github.io/repo/), must load with no console error, no failed
or outside request, every image decoded, every internal link (and #fragment) resolving, and no serious or critical
WCAG 2.1 A/AA violation found by axe-core. The packed single HTML file is checked the same way.

Without Chromium, playwright or axe-core these skip, except under CI=true where they fail: see browser_support.py
for where each is looked for, and .ci/run for how CI installs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .browser_support import (
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
