"""Helpers for tests/test_browser.py: find Chromium and axe-core, serve a folder over HTTP, and visit a site page by
page in a real browser, writing down every problem (console errors, failed requests, images that do not decode,
broken links, accessibility violations) instead of stopping at the first.

What the browser tests need, and where they look for it:
  - the Python package `playwright` (in the `test` extra); never `playwright install`: the browser is the system one;
  - Chromium: $CNNK_CHROMIUM, else /usr/bin/chromium (Debian: `apt-get install chromium`), else chromium,
    chromium-browser or google-chrome on the PATH;
  - axe-core: $CNNK_AXE (a path to axe.min.js), else node_modules/axe-core/axe.min.js at the top of the repository
    (`npm install --no-save --no-package-lock axe-core` there; .ci/run does it).
Missing any of them, the tests skip with the reason, except under CI (CI=true), where they fail: CI never skips them.
"""

from __future__ import annotations

import functools
import html.parser
import http.client
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]  # WCAG 2.1 level A and AA
AXE_FAIL_ON = {"serious", "critical"}
IMAGE_TIMEOUT_MS = 15_000
# Requests that never leave the page: inline data, blobs made by the page itself, about:blank.
LOCAL_SCHEMES = {"data", "blob", "about"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip for a developer without the tool; fail under CI, so that CI can never silently skip the browser tests."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: the browser tests must run there, not skip)", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str | None:
    env = os.environ.get("CNNK_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def axe_path() -> Path:
    env = os.environ.get("CNNK_AXE")
    return Path(env) if env else REPO / "node_modules" / "axe-core" / "axe.min.js"


# --- a quiet HTTP server ------------------------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # a browser that hangs up early is no news
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) from a thread; yields its base URL, ending in '/'."""
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def http_status(url: str) -> int:
    """The status of a HEAD request, redirects not followed (a link that needs one is not a link to a file)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("HEAD", parts.path or "/")
        return conn.getresponse().status
    finally:
        conn.close()


# --- links found without a browser (every .html must be reachable) ------------------------------------------------


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href is not None:
                self.hrefs.append(href)


def static_crawl(site: Path, start: str = "index.html") -> set[str]:
    """The .html files (relative POSIX paths) reachable from `start` by following <a href> in the files themselves."""
    root = site.resolve().as_uri() + "/"
    seen: set[str] = set()
    todo = [start]
    while todo:
        rel = todo.pop()
        if rel in seen or not (site / rel).is_file():
            continue
        seen.add(rel)
        parser = _Links()
        parser.feed((site / rel).read_text(encoding="utf-8"))
        for href in parser.hrefs:
            target = urldefrag(urljoin(root + rel, href.strip())).url
            if target.startswith(root) and re.search(r"\.html?$", target):
                todo.append(unquote(target[len(root) :]))
    return seen


def html_files(site: Path) -> set[str]:
    return {p.relative_to(site).as_posix() for p in site.rglob("*.htm*") if p.suffix in {".html", ".htm"}}


# --- visiting pages in the browser ------------------------------------------------------------------------------

# Make every image load now (lazy ones off-screen would never load in a headless window), wait for each, decode it.
_IMAGES_JS = """
async (timeoutMs) => {
  const imgs = [...document.images];
  for (const img of imgs) img.loading = "eager";
  const settled = (img) => img.complete ? Promise.resolve() : new Promise((resolve) => {
    img.addEventListener("load", resolve, {once: true});
    img.addEventListener("error", resolve, {once: true});
  });
  const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), timeoutMs));
  const waited = await Promise.race([Promise.all(imgs.map(settled)), timeout]);
  return Promise.all(imgs.map(async (img) => {
    let error = null;
    if (!img.complete) error = waited === "timeout" ? "did not finish loading in time" : "not complete";
    else if (img.naturalWidth === 0) error = "did not decode (naturalWidth 0)";
    else {
      try { await img.decode(); } catch (e) { error = "decode() failed: " + e; }
    }
    return {src: img.getAttribute("src"), url: img.currentSrc || img.src, error};
  }));
}
"""

_DOM_JS = """
() => ({
  ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
  names: [...document.querySelectorAll("a[name]")].map((e) => e.getAttribute("name")),
  links: [...document.querySelectorAll("a[href]")].map((a) => [a.getAttribute("href"), a.href]),
  title: document.title,
})
"""

# preload: axe would fetch the stylesheets (XMLHttpRequest) to check CSS rules such as css-orientation-lock; the
# pages' Content-Security-Policy forbids every fetch (and a file:// page cannot), so it stays off: axe's own refused
# fetch would be blamed on the page.
_AXE_JS = """
async ([tags, preload]) => {
  const options = {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"], preload};
  const r = await axe.run(document, options);
  return r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: JSON.stringify(n.target), html: n.html.slice(0, 160)})),
  }));
}
"""


# Every Content-Security-Policy violation on a page, written down as it happens (the policy's meta tag is read before
# any of the page's own content, so this listener, added before the page's scripts, sees them all).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const sample = e.sample ? ` (${e.sample})` : "";
  window.__cspViolations.push(`${e.effectiveDirective} refused ${e.blockedURI || "inline"}${sample}`);
});
"""


@dataclass
class PageReport:
    url: str
    title: str = ""
    ids: set[str] = field(default_factory=set)
    links: list[tuple[str, str]] = field(default_factory=list)  # (href as written, absolute URL)
    images: int = 0
    problems: list[str] = field(default_factory=list)  # console, requests, images, links
    a11y: list[str] = field(default_factory=list)  # axe violations we fail on


@dataclass
class Crawl:
    root: str  # the URL of the site's folder, ending in "/"
    pages: dict[str, PageReport] = field(default_factory=dict)  # by URL without fragment
    axe: bool = False  # whether axe-core was run on each page

    def rel(self, url: str) -> str:
        return unquote(url[len(self.root) :]) if url.startswith(self.root) else url

    def problems(self) -> list[str]:
        return [f"{self.rel(u)}: {p}" for u, r in self.pages.items() for p in r.problems]

    def a11y(self) -> list[str]:
        return [f"{self.rel(u)}: {p}" for u, r in self.pages.items() for p in r.a11y]

    def visited(self) -> set[str]:
        return {self.rel(u) for u in self.pages}


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class Visitor:
    """One browser tab that visits page after page (a new tab for each costs more than the page itself) and writes
    down everything that goes wrong on each. `allowed(url)` says which requests a page may make (`outside`: what to
    call one it may not); `axe`: axe-core's script, injected into every page (once registered, not sent each time)
    and run on each."""

    def __init__(
        self,
        context: BrowserContext,
        allowed: Callable[[str], bool],
        axe: Path | None = None,
        outside: str = "request outside the site",
    ) -> None:
        self.allowed, self.axe, self.outside = allowed, axe, outside
        self.problems: list[str] = []  # of the page being visited
        self.page = context.new_page()
        self.page.add_init_script(CSP_LISTENER)
        if axe is not None:
            self.page.add_init_script(path=str(axe))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda err: self.problems.append(f"uncaught exception: {err}"))
        self.page.on("request", self._request)
        self.page.on("requestfailed", lambda req: self.problems.append(f"request failed: {req.url} ({req.failure})"))
        self.page.on("response", self._response)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            where = f" at {loc.get('url')}:{loc.get('lineNumber')}" if loc.get("url") else ""
            self.problems.append(f"console error: {msg.text}{where}")

    def _request(self, req: Any) -> None:
        if not self.allowed(req.url):
            self.problems.append(f"{self.outside}: {req.method} {req.url}")

    def _response(self, resp: Any) -> None:
        if resp.status >= 400:
            self.problems.append(f"HTTP {resp.status} for {resp.url}")

    def visit(self, url: str, on_page: Callable[[Page, PageReport], None] | None = None) -> PageReport:
        """Open `url`, check it (and run `on_page(page, report)` for more checks while it is open)."""
        report = PageReport(url)
        self.problems = report.problems
        page = self.page
        page.goto(url, wait_until="load")
        for img in page.evaluate(_IMAGES_JS, IMAGE_TIMEOUT_MS):
            report.images += 1
            if img["error"]:
                report.problems.append(f"image {img['src']!r} ({img['url'][:120]}): {img['error']}")
        dom = page.evaluate(_DOM_JS)
        report.title = dom["title"]
        report.ids = set(dom["ids"]) | set(dom["names"])
        report.links = [(h, a) for h, a in dom["links"]]
        dupes = sorted({i for i in dom["ids"] if dom["ids"].count(i) > 1})
        if dupes:
            report.problems.append(f"duplicate id(s): {', '.join(dupes[:10])}")
        if on_page is not None:
            on_page(page, report)
        if self.axe is not None:
            for v in page.evaluate(_AXE_JS, [AXE_TAGS, False]):
                if v["impact"] in AXE_FAIL_ON:
                    shown = "; ".join(f"{n['target']} {n['html']}" for n in v["nodes"][:3])
                    report.a11y.append(
                        f"axe {v['id']} ({v['impact']}): {v['help']}; {len(v['nodes'])} element(s), e.g. {shown}"
                    )
        page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 0))")  # let late events arrive
        for v in page.evaluate("() => window.__cspViolations || []"):
            report.problems.append(f"Content-Security-Policy violation: {v}")
        report.problems[:] = _dedupe(report.problems)
        return report

    def close(self) -> None:
        self.page.close()


def crawl(
    context: BrowserContext,
    root: str,
    exists: Callable[[str], bool],
    axe: Path | None = None,
    start: str = "index.html",
) -> Crawl:
    """Visit every HTML page reachable from root+start by links, each once. `exists(url)`: whether an internal URL
    (without fragment) is a file the site serves. Checks each page (see `visit`), and each link: internal targets
    must exist, stay inside the site, name a file (not a folder), and a #fragment must be an id of the target page."""
    result = Crawl(root, axe=axe is not None)
    visitor = Visitor(context, functools.partial(_allowed, root), axe)
    todo = [root + start]
    checked: dict[str, bool] = {}
    while todo:
        url = todo.pop(0)
        if url in result.pages:
            continue
        report = result.pages[url] = visitor.visit(url)
        for href, absolute in report.links:
            target = urldefrag(absolute).url
            scheme = urlsplit(absolute).scheme
            if scheme in {"mailto", "tel", "javascript", "data"}:
                continue
            if not absolute.startswith(root):
                if _same_origin(absolute, root):
                    report.problems.append(f"link {href!r} leaves the site (to {absolute})")
                continue  # a link to another web site: no request is made, nothing to check here
            rel = result.rel(target)
            if rel == "" or rel.endswith("/"):
                report.problems.append(f"link {href!r} names a folder, which works on a server only: name the file")
                continue
            if target not in checked:
                checked[target] = exists(target)
            if not checked[target]:
                report.problems.append(f"broken link {href!r}: {rel} does not exist")
            elif re.search(r"\.html?$", target) and target not in result.pages and target not in todo:
                todo.append(target)
    visitor.close()
    for report in result.pages.values():  # fragments, now that every page's ids are known
        for href, absolute in report.links:
            target, frag = urldefrag(absolute)
            frag = unquote(frag)
            if frag and target in result.pages and frag not in result.pages[target].ids:
                report.problems.append(f"link {href!r}: no element with id {frag!r} in {result.rel(target)}")
    return result


def _same_origin(url: str, root: str) -> bool:
    a, b = urlsplit(url), urlsplit(root)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _allowed(root: str, url: str) -> bool:
    return url.startswith(root) or urlsplit(url).scheme in LOCAL_SCHEMES


def file_exists(site: Path, root: str) -> Callable[[str], bool]:
    """For a file:// crawl of `site` at URL `root`: whether a URL names a file inside it (a ?query is ignored)."""
    prefix = urlsplit(root).path

    def exists(url: str) -> bool:
        path = urlsplit(url).path
        return url.startswith(root) and path.startswith(prefix) and (site / unquote(path[len(prefix) :])).is_file()

    return exists


def http_exists(url: str) -> bool:
    return http_status(url) == 200


def block_outside(context: BrowserContext, host: str = "127.0.0.1") -> None:
    """Abort any request to another host before it leaves the machine (the page is still blamed for making it)."""
    pattern = re.compile(rf"^(https?|wss?)://(?!{re.escape(host)}[:/])")
    context.route(pattern, lambda route: route.abort("blockedbyclient"))


# --- the packed single file ---------------------------------------------------------------------------------------


# Each page section: go to #its-id and see that it is shown (a packed file may show one page at a time); then show
# them all, so that axe-core checks every page, not only the one on screen.
_SECTIONS_JS = """
async () => {
  const sections = [...document.querySelectorAll('section[id^="page-"]')];
  const out = [];
  for (const s of sections) {
    location.hash = "#" + s.id;
    await new Promise((resolve) => setTimeout(resolve, 0));
    out.push({id: s.id, shown: s.checkVisibility()});
  }
  history.replaceState(null, "", location.pathname);
  for (const s of sections) { s.hidden = false; s.style.setProperty("display", "block", "important"); }
  return out;
}
"""


def check_packed(context: BrowserContext, packed: Path, pages: int, axe: Path | None) -> PageReport:
    """Open a packed single-file site over file:// and check it like a page of the site, and more: it must make no
    request but for itself and data: URIs, every image must be a data: URI, every page of the site must be a
    <section id="page-..."> of it, and every link must be a #fragment that names an element in the file (or go to
    another web site)."""
    url = packed.resolve().as_uri()

    def allowed(u: str) -> bool:
        return urldefrag(u).url == url or urlsplit(u).scheme in LOCAL_SCHEMES

    def more(page: Page, report: PageReport) -> None:
        srcs = page.evaluate("() => [...document.images].map((i) => i.getAttribute('src') || '')")
        for src in srcs:
            if not src.startswith("data:"):
                report.problems.append(f"image {src[:120]!r} is not a data: URI")
        sections = page.evaluate(_SECTIONS_JS)
        for s in sections:
            if not s["shown"]:
                report.problems.append(f"going to #{s['id']} does not show that page")
        sections = [s["id"] for s in sections]
        if len(sections) != pages:
            report.problems.append(
                f'{len(sections)} <section id="page-..."> for the site\'s {pages} pages: {", ".join(sections)}'
            )

    visitor = Visitor(context, allowed, axe, outside="not self-contained: a request for another file")
    try:
        report = visitor.visit(url, more)
    finally:
        visitor.close()
    for href, absolute in report.links:
        target, frag = urldefrag(absolute)
        scheme = urlsplit(absolute).scheme
        if scheme in {"mailto", "tel", "data", "http", "https"}:
            continue  # a link to another web site is fine; a file:// one is not
        if target != url:
            report.problems.append(f"link {href!r} leaves the packed file (to {absolute})")
        elif unquote(frag) and unquote(frag) not in report.ids:
            report.problems.append(f"link {href!r}: no element with id {unquote(frag)!r} in the packed file")
    return report


def summarise(problems: list[str], limit: int = 80) -> str:
    shown = problems[:limit]
    more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} problem(s):\n" + "\n".join(shown) + more
