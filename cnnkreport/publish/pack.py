"""Publish a site made by cnnkreport as one self-contained HTML file (pack_html).

The packed HTML file holds every page of the site as a `<section class="pack-page" id="page-...">` inside one <main>,
with the header and footer of the start page once, the CSS in a <style> and every image as a data: URI (GIFs still
animate). Links between pages become `#page-...` links; an id inside a page becomes `page-...--id`, and links to it
follow. A tiny inline script shows the section named by the URL's #fragment (the start page by default); without
JavaScript, and when printed, every page is shown one after another. The players of the layer and kernel pages run
from one copy of their script. A Content-Security-Policy allows the file's own styles and scripts (by their hashes)
and data: pictures, and nothing else: the file requests nothing. Each distinct file's data is in it once
(usage.py): a picture shown on several pages is held by one <img> and copied by the script to the others; a link
to a picture shown in the file points to it; a download linked from several pages is one entry of a file list at
the end. Small text downloads become data: URIs; binary and large files are left out, the link replaced by its text
and a note that the file is in the zip and on the online site (rewrite.py scans and rewrites each page). With
`max_mb`, the largest downloads and kernel pages are left out until the file fits, a note at its top saying what
and where the full site is (budget.py). Nothing outside the site folder is ever read: a link or image that
resolves outside it is left out, and said so in PackResult.skipped.
"""

from __future__ import annotations

import html
import math
import posixpath
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..site.player import PAGE_JS, policy, source_hash
from . import budget
from .common import check_out, check_site, write_output
from .rewrite import FILES_ID, Packer, Page, Rewrite, Scan, attr, element_id, page_ident
from .usage import Refs, make_plan

PACK_CSS = """\
@media screen { html.pack-js section.pack-page:not(.pack-current) { display: none; } }
html:not(.pack-js) section.pack-page + section.pack-page { border-top: 3px double var(--line, #ccc); margin-top: 3rem; }
@media print { section.pack-page + section.pack-page { break-before: page; } }
.pack-omitted { color: var(--muted, #555); }
.pack-note { border: 2px solid var(--accent, #1f4e79); border-radius: 4px; margin: 1rem; padding: 0 1rem; }
.pack-files { border-top: 1px solid var(--line, #ccc); margin: 2rem 1rem 1rem; font-size: 0.9em; }
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
  var copies = d.querySelectorAll("img[data-pack-img]"), k, held;
  for (k = 0; k < copies.length; k++) {
    held = d.getElementById(copies[k].getAttribute("data-pack-img"));
    if (held) { copies[k].setAttribute("src", held.getAttribute("src")); }
  }
  d.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("a[data-pack-file]") : null;
    var file = a ? d.getElementById(a.getAttribute("data-pack-file")) : null;
    if (file) { e.preventDefault(); file.click(); }
  });
  window.addEventListener("hashchange", show);
  show();
})();
"""


@dataclass(frozen=True)
class PackResult:
    path: Path
    size: int  # bytes
    pages: int
    images: int  # <img> elements given their picture (a data: URI, held by one of them)
    skipped: tuple[str, ...]  # one line per thing left out, and why
    left_out: tuple[str, ...] = ()  # the pages and downloads left out to stay within max_mb


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


def _file_list(packer: Packer) -> str:
    """The downloads linked from more than one place, each once (usage.Plan.shared): the links name these."""
    if not packer.plan.shared:
        return ""
    items, listed = [], set()
    for rel, ident in packer.plan.shared.items():
        if ident in listed:  # another file of the same content
            continue
        listed.add(ident)
        uri = packer.data_uri(rel, packer.inlinable(rel))
        size = (packer.root / rel).stat().st_size
        link = f"<a{attr('href', uri)}{attr('download', packer.plan.download_name(rel))}{attr('id', ident)}>"
        items.append(f"<li>{link}{html.escape(rel)}</a> ({budget.size_text(size)})</li>\n")
    return (
        f'<aside class="pack-files"{attr("id", FILES_ID)} aria-label="Files in this document">\n'
        "<p>Files linked from several pages, each held once in this file:</p>\n<ul>\n"
        + "".join(items)
        + "</ul>\n</aside>\n"
    )


@dataclass
class _Packed:
    """One packing of a site: the document, each page's section, and what it counts."""

    doc: bytes
    sections: dict[str, str]
    extra: int  # bytes of the note and the file list
    images: int
    skipped: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.doc)


@dataclass(frozen=True)
class _Site:
    """A site's pages as scanned once, in reading order, and what they refer to."""

    root: Path
    pages: dict[str, Page]
    order: list[str]
    start: str
    refs: Refs


def _pack(site: _Site, left_pages: set[str], left_files: set[str], note: str = "") -> _Packed:
    """The whole site as one document (see the module's docstring), leaving out `left_pages` and the downloads
    `left_files` (with `note` at the top saying so)."""
    pages, start = site.pages, site.start
    packer = Packer(site.root, pages)
    order = [p for p in site.order if p not in left_pages]
    for path in order:
        pages[path].ident, pages[path].ids = packer.unique(page_ident(path)), {}
    for path in order:
        for raw in pages[path].raw_ids:
            pages[path].ids.setdefault(raw, packer.unique(element_id(pages[path].ident, raw)))
    packer.plan = make_plan(packer, site.refs, order, left_pages, left_files)
    styles = _stylesheets(packer, order)
    rewrites = {path: Rewrite(packer, pages[path]) for path in order}
    for path, rewrite in rewrites.items():
        rewrite.feed(pages[path].text)
        rewrite.close()
    sections = {path: _section(pages[path], rewrite) for path, rewrite in rewrites.items()}
    files = _file_list(packer)
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
        + f"\n{note}<main>\n"
        + "".join(sections.values())
        + f"</main>\n{files}"
        + "".join(chrome.out["footer"]).strip()
        + "\n"
        + "".join(f"<script>{js}</script>\n" for js in scripts[1:])
        + "</body>\n</html>\n"
    )
    extra = len((note + files).encode("utf-8"))
    return _Packed(doc.encode("utf-8"), sections, extra, packer.images, tuple(packer.skipped))


def pack_html(site: Path, out: Path, start: str = "index.html", max_mb: float | None = None) -> PackResult:
    """Write the whole site as one self-contained HTML file (see the module's docstring) at `out`; `start` (a page
    of the site) is shown first and by default. With `max_mb`, the file is at most that many MB (1,000,000 bytes):
    the largest downloads and kernel pages are left out until it fits, and the file says so (budget.py); where
    even that is not enough, UserError and nothing written."""
    if max_mb is not None and not (math.isfinite(max_mb) and max_mb > 0):
        raise UserError(f"--max-mb must be a positive number of MB, got {max_mb:g}")
    root = check_site(site)
    target = check_out(root, out)
    pages = _pages(root)
    start = posixpath.normpath(start.replace("\\", "/"))
    if start not in pages:
        raise UserError(f"{start} is not a page of {site}" if pages else f"{site} has no HTML pages")
    left: list[set[str]] = [set(), set()]
    try:
        scanner = Packer(root, pages)
        for page in pages.values():
            Scan(page).feed(page.text)
        whole = _Site(root, pages, _order(scanner, start), start, Refs.of(scanner, start))
        packed = _pack(whole, set(), set())
        limit = None if max_mb is None else int(max_mb * budget.MB)
        if limit is not None and packed.size > limit:
            costs = budget.Costs.of(scanner, whole.refs, whole.order, packed)
            sizes = {f: (root / f).stat().st_size for f in costs.data}

            def again(left_pages: set[str], left_files: set[str]) -> _Packed:
                note = budget.note(root.name, max_mb or 0, left_pages, left_files, sizes)
                return _pack(whole, left_pages, left_files, note)

            packed, *left = budget.fit(costs, again, limit, start, f"{site} within {max_mb:g} MB")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the site {site}: {e}") from None
    write_output(target, lambda fh: fh.write(packed.doc))
    left_out = tuple(sorted(left[0])) + tuple(sorted(left[1]))
    pages_out = len(whole.order) - len(left[0])
    return PackResult(target, target.stat().st_size, pages_out, packed.images, packed.skipped, left_out)
