"""Publish a site made by cnnkreport as one self-contained HTML file (pack_html).

The packed HTML file holds every page of the site as a `<section class="pack-page" id="page-...">` inside one <main>,
with the header and footer of the start page once, the CSS in a <style> and every image as a data: URI (GIFs still
animate). Links between pages become `#page-...` links; an id inside a page becomes `page-...--id`, and links to it
follow. A tiny inline script shows the section named by the URL's #fragment (the start page by default); without
JavaScript, and when printed, every page is shown one after another. The players of the layer and kernel pages run
from one copy of their script. A Content-Security-Policy allows the file's own styles and scripts (by their hashes)
and data: pictures, and nothing else: the file requests nothing. Small text downloads become data: URIs; binary
and large files are left out, the link replaced by its text and a note that the file is in the zip and on the online
site (rewrite.py scans and rewrites each page). Nothing outside the site folder is ever read: a link or image that
resolves outside it is left out, and said so in PackResult.skipped.
"""

from __future__ import annotations

import html
import posixpath
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..site.player import PAGE_JS, policy, source_hash
from .common import check_out, check_site, write_output
from .rewrite import Packer, Page, Rewrite, Scan, attr, element_id, page_ident

PACK_CSS = """\
@media screen { html.pack-js section.pack-page:not(.pack-current) { display: none; } }
html:not(.pack-js) section.pack-page + section.pack-page { border-top: 3px double var(--line, #ccc); margin-top: 3rem; }
@media print { section.pack-page + section.pack-page { break-before: page; } }
.pack-omitted { color: var(--muted, #555); }
"""
PACK_CLASS_JS = 'document.documentElement.classList.add("pack-js");'
PACK_JS = """\
(function () {
  var d = document, pages = d.querySelectorAll("section.pack-page"), nav = d.querySelectorAll("header.top nav a");
  function show() {
    var id = "", target = null, page = null, i;
    try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { id = ""; }
    target = id ? d.getElementById(id) : null;
    page = target ? target.closest("section.pack-page") : null;
    if (!page) { page = pages[0]; }
    for (i = 0; i < pages.length; i++) { pages[i].classList.toggle("pack-current", pages[i] === page); }
    for (i = 0; i < nav.length; i++) {
      if (nav[i].getAttribute("href") === page.getAttribute("data-nav")) {
        nav[i].setAttribute("aria-current", "page");
      } else {
        nav[i].removeAttribute("aria-current");
      }
    }
    d.title = page.getAttribute("data-title") || d.title;
    if (target && target !== page) { target.scrollIntoView(); } else { window.scrollTo(0, 0); }
  }
  window.addEventListener("hashchange", show);
  show();
})();
"""


@dataclass(frozen=True)
class PackResult:
    path: Path
    size: int  # bytes
    pages: int
    images: int  # <img> elements given their picture as a data: URI
    skipped: tuple[str, ...]  # one line per thing left out, and why


def _pages(root: Path) -> dict[str, Page]:
    """Every .html page of the site (hidden files and links out of the site left out), by site-relative path."""
    found = {}
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.resolve().is_relative_to(root):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"{path}: not UTF-8 text ({e.reason})") from None
        found[rel.as_posix()] = Page(rel.as_posix(), text)
    return found


def _order(packer: Packer, start: str) -> list[str]:
    """Reading order: each page followed by the pages below it in the folder tree, siblings in the order in which
    links first reach them from the start page; the start page first."""
    pages = packer.pages
    rank = {start: 0}
    queue = deque([start])
    while queue:
        page = queue.popleft()
        for href in pages[page].hrefs:
            kind, target, _ = packer.locate(page, href)
            if kind == "page" and target not in rank:
                rank[target] = len(rank)
                queue.append(target)
    for page in pages:
        rank.setdefault(page, len(rank))

    def parent(path: str) -> str | None:
        folder = posixpath.dirname(path)
        if posixpath.basename(path) == "index.html":
            if not folder:
                return None
            folder = posixpath.dirname(folder)
        while True:
            candidate = posixpath.join(folder, "index.html")
            if candidate in pages and candidate != path:
                return candidate
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    children: dict[str | None, list[str]] = {}
    for page in sorted(pages, key=rank.__getitem__):
        children.setdefault(parent(page), []).append(page)
    order: list[str] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        page = stack.pop()
        order.append(page)
        stack.extend(reversed(children.get(page, [])))
    order.remove(start)
    return [start, *order]


def _stylesheets(packer: Packer, order: list[str]) -> list[str]:
    """The text of every stylesheet the pages link to, each once, in order, its url()s inlined."""
    styles, seen = [], set()
    for path in order:
        for href in packer.pages[path].stylesheets:
            kind, rel, _ = packer.locate(path, href)
            if kind != "file":
                packer.warn(f"{path}: stylesheet {href} is not a file in the site; left out")
            elif rel not in seen:
                seen.add(rel)
                styles.append(packer.css((packer.root / rel).read_text(encoding="utf-8"), rel))
    return styles


def _section(page: Page, rewrite: Rewrite) -> str:
    head = f'<section class="pack-page"{attr("id", page.ident)}{attr("data-path", page.path)}'
    head += attr("data-title", page.title or page.path) + (attr("data-nav", rewrite.nav) if rewrite.nav else "")
    return f"{head}>\n{''.join(rewrite.out['main']).strip()}\n</section>\n"


def pack_html(site: Path, out: Path, start: str = "index.html") -> PackResult:
    """Write the whole site as one self-contained HTML file (see the module's docstring) at `out`; `start` (a page
    of the site) is shown first and by default."""
    root = check_site(site)
    target = check_out(root, out)
    pages = _pages(root)
    start = posixpath.normpath(start.replace("\\", "/"))
    if start not in pages:
        raise UserError(f"{start} is not a page of {site}" if pages else f"{site} has no HTML pages")
    packer = Packer(root, pages)
    try:
        for page in pages.values():
            Scan(page).feed(page.text)
        order = _order(packer, start)
        for path in order:
            pages[path].ident = packer.unique(page_ident(path))
        for path in order:
            for raw in pages[path].raw_ids:
                pages[path].ids.setdefault(raw, packer.unique(element_id(pages[path].ident, raw)))
        styles = _stylesheets(packer, order)
        rewrites = {path: Rewrite(packer, pages[path]) for path in order}
        for path, rewrite in rewrites.items():
            rewrite.feed(pages[path].text)
            rewrite.close()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the site {site}: {e}") from None
    first, chrome = pages[start], rewrites[start]  # the header and footer of the start page serve every page
    styles = [f"\n{css}\n" for css in styles] + [f"\n{PACK_CSS}"]
    scripts = [PACK_CLASS_JS, f"\n{PACK_JS}", f"\n{PAGE_JS}"]
    # Everything is in the file: pictures as data: URIs, and its own styles and scripts, each allowed by its hash.
    csp = policy("data:", " ".join(map(source_hash, styles)), " ".join(map(source_hash, scripts)))
    doc = (
        f'<!doctype html>\n<html{attr("lang", first.lang or "en")}>\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy"{attr("content", csp)}>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(first.title or start)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        + "".join(f"<style>{css}</style>\n" for css in styles)
        + f"<script>{scripts[0]}</script>\n</head>\n<body>\n"
        + "".join(chrome.out["header"]).strip()
        + "\n<main>\n"
        + "".join(_section(pages[path], rewrite) for path, rewrite in rewrites.items())
        + "</main>\n"
        + "".join(chrome.out["footer"]).strip()
        + "\n"
        + "".join(f"<script>{js}</script>\n" for js in scripts[1:])
        + "</body>\n</html>\n"
    )
    write_output(target, lambda fh: fh.write(doc.encode("utf-8")))
    return PackResult(target, target.stat().st_size, len(order), packer.images, tuple(packer.skipped))
