"""Publish a site made by cnnkreport: one self-contained HTML file (pack_html), a zip (pack_zip), a local server
(serve).

The packed HTML file holds every page of the site as a `<section class="pack-page" id="page-...">` inside one <main>,
with the header and footer of the start page once, the CSS in a <style> and every image as a data: URI (GIFs still
animate). Links between pages become `#page-...` links; an id inside a page becomes `page-...--id`, and links to it
follow. A tiny inline script shows the section named by the URL's #fragment (the start page by default); without
JavaScript, and when printed, every page is shown one after another. Downloads: text files (.json, .toml, .csv, .txt)
of at most MAX_INLINE_DOWNLOAD bytes become data: URIs with a `download` attribute; binary files (weights.pt, .npz)
and larger ones are left out, the link replaced by its text and a note that the file is in the zip and on the online
site. Nothing outside the site folder is ever read: a link or image that resolves outside it is left out, and said so
in PackResult.skipped.

The zip is an exact, deterministic copy of the site folder (marker and .nojekyll included, so that an unzipped copy is
still recognised as a cnnkreport site by pack and serve, and may be rebuilt over).
"""

from __future__ import annotations

import base64
import errno
import html
import http.server
import posixpath
import re
import shutil
import webbrowser
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from ..errors import UserError
from ..rundir import atomic_write
from ..site.layout import MARKER

MAX_INLINE_DOWNLOAD = 1_000_000  # bytes: a text download up to this size is inlined into the packed HTML file
IMAGE_TYPES = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
TEXT_TYPES = {
    ".json": "application/json",
    ".toml": "text/plain;charset=utf-8",
    ".csv": "text/csv;charset=utf-8",
    ".txt": "text/plain;charset=utf-8",
}
SERVE_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".gif": "image/gif",
    ".toml": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".pt": "application/octet-stream",
    ".npz": "application/octet-stream",
}
OMITTED_NOTE = "not included in this file: it is in the zip and on the online site"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_STORED_SUFFIXES = frozenset({".png", ".gif", ".jpg", ".jpeg", ".webp", ".zip", ".gz"})  # compressed already
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_ID_REFS = frozenset(
    "for headers list form aria-labelledby aria-describedby aria-controls aria-owns aria-flowto aria-details "
    "aria-errormessage aria-activedescendant".split()
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SVG_URL_ATTRS = frozenset("fill stroke clip-path mask filter marker-start marker-mid marker-end".split())
_URL_REF = re.compile(r"url\(#([^)\s'\"]+)\)")
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)

PACK_CSS = """\
@media screen { html.pack-js section.pack-page:not(.pack-current) { display: none; } }
html:not(.pack-js) section.pack-page + section.pack-page { border-top: 3px double var(--line, #ccc); margin-top: 3rem; }
@media print { section.pack-page + section.pack-page { break-before: page; } }
.pack-omitted { color: var(--muted, #555); }
"""
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


# --- checks ---------------------------------------------------------------------------------------------------------


def check_site(site: Path) -> Path:
    """The site folder, resolved; UserError unless it is a folder made by cnnkreport."""
    if not site.exists():
        raise UserError(f"site folder {site} does not exist")
    if not site.is_dir():
        raise UserError(f"{site} is not a folder")
    if not (site / MARKER).is_file():
        raise UserError(f"{site} is not a site made by cnnkreport (no {MARKER} in it)")
    return site.resolve()


def _check_out(root: Path, out: Path) -> Path:
    """Where to write `out`, resolved; UserError for a folder, a missing parent, or a place inside the site."""
    if out.is_dir():
        raise UserError(f"output {out} is a folder; give a file name")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise UserError(f"cannot write {out}: folder {parent} does not exist")
    target = parent.resolve() / out.name
    if target.is_relative_to(root):
        raise UserError(f"output {out} is inside the site folder {root}; write it elsewhere")
    return target


def _write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    try:
        atomic_write(path, write)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


# --- pack_html ------------------------------------------------------------------------------------------------------


def _safe(name: str) -> str:
    return _UNSAFE.sub("-", name).strip("-") or "x"


def _page_ident(path: str) -> str:
    """'runs/a/index.html' -> 'page-runs-a', 'methods.html' -> 'page-methods', 'index.html' -> 'page-index'."""
    stem = path.removesuffix("index.html").rstrip("/") if posixpath.basename(path) == "index.html" else path[:-5]
    return "page-" + _safe(stem.replace("/", "-") or "index")


@dataclass
class _Page:
    path: str  # posix, relative to the site
    text: str
    ident: str = ""
    title: str = ""
    lang: str = ""
    hrefs: list[str] = field(default_factory=list)  # <a href> values, in document order
    stylesheets: list[str] = field(default_factory=list)
    raw_ids: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # id in the page -> id in the packed file


class _Scan(HTMLParser):
    """Pass 1: a page's title, language, ids, links and stylesheets."""

    def __init__(self, page: _Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self._title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.page.raw_ids.append(a["id"] or "")
        if tag == "html" and a.get("lang"):
            self.page.lang = a["lang"] or ""
        elif tag in ("a", "area") and a.get("href") is not None:
            self.page.hrefs.append(a["href"] or "")
        elif tag == "link" and "stylesheet" in (a.get("rel") or "").lower().split() and a.get("href"):
            self.page.stylesheets.append(a["href"] or "")
        elif tag == "title":
            self._title = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title is not None:
            self.page.title = " ".join("".join(self._title).split())
            self._title = None

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title.append(data)


class _Packer:
    """What the pages of one site share: the files, the id names taken, what was inlined and what left out."""

    def __init__(self, root: Path, pages: dict[str, _Page]) -> None:
        self.root, self.pages = root, pages
        self.skipped: list[str] = []
        self.images = 0
        self.taken: set[str] = set()
        self._uris: dict[str, str] = {}

    def warn(self, message: str) -> None:
        if message not in self.skipped:
            self.skipped.append(message)

    def unique(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.taken:
            candidate, n = f"{name}-{n}", n + 1
        self.taken.add(candidate)
        return candidate

    def locate(self, base: str, url: str) -> tuple[str, str, str]:
        """(kind, site-relative path, fragment) of `url` on page `base`. kind: external, outside, missing, page or
        file."""
        parts = urlsplit(url.strip())
        if parts.scheme or parts.netloc:
            return "external", url, ""
        frag, path = unquote(parts.fragment), unquote(parts.path)
        if not path:
            return "page", base, frag
        rel = posixpath.normpath(posixpath.join(posixpath.dirname(base), path))
        if path.startswith("/") or rel == ".." or rel.startswith("../"):
            return "outside", path, frag
        full = self.root / rel
        try:
            if not full.resolve().is_relative_to(self.root):  # a symlink out of the site
                return "outside", rel, frag
        except (OSError, RuntimeError):
            return "missing", rel, frag
        if full.is_dir():
            rel = "index.html" if rel == "." else f"{rel}/index.html"
        if rel in self.pages:
            return "page", rel, frag
        return ("file" if (self.root / rel).is_file() else "missing"), rel, frag

    def anchor(self, path: str, frag: str) -> str:
        page = self.pages[path]
        return "#" + (page.ids.get(frag) or page.ident)

    def data_uri(self, rel: str, mime: str) -> str:
        if rel not in self._uris:
            data = base64.b64encode((self.root / rel).read_bytes()).decode("ascii")
            self._uris[rel] = f"data:{mime};base64,{data}"
        return self._uris[rel]

    def link(self, base: str, url: str) -> tuple[str, str]:
        """What an <a href> becomes: ("keep", url), ("href", "#id"), ("download", data URI) or ("omit", path)."""
        kind, rel, frag = self.locate(base, url)
        if kind == "external":
            return "keep", url
        if kind == "page":
            return "href", self.anchor(rel, frag)
        if kind == "file":
            suffix = posixpath.splitext(rel)[1].lower()
            mime = IMAGE_TYPES.get(suffix) or TEXT_TYPES.get(suffix)
            size = (self.root / rel).stat().st_size
            if mime and (suffix in IMAGE_TYPES or size <= MAX_INLINE_DOWNLOAD):
                return "download", self.data_uri(rel, mime)
            why = "a binary file" if mime is None else f"larger than {MAX_INLINE_DOWNLOAD:,} bytes"
            self.warn(f"{rel}: {why} ({size:,} bytes), not inlined; the link to it says so")
            return "omit", rel
        why = "resolves outside the site" if kind == "outside" else "points to no file"
        self.warn(f"{base}: link {url} {why}; left out")
        return "omit", rel

    def image(self, base: str, url: str) -> str | None:
        """The data: URI of an image, or None (left out, with a warning)."""
        if url.startswith("data:"):
            return url
        kind, rel, _ = self.locate(base, url)
        suffix = posixpath.splitext(rel)[1].lower()
        if kind == "file" and suffix in IMAGE_TYPES:
            return self.data_uri(rel, IMAGE_TYPES[suffix])
        why = {
            "external": "is not in the site",
            "outside": "resolves outside the site",
            "missing": "points to no file",
        }.get(kind, "is not an image")
        self.warn(f"{base}: image {url} {why}; left out")
        return None

    def css(self, text: str, base: str, ids: dict[str, str] | None = None) -> str:
        """CSS with every url() inlined (or `none` where left out), `url(#id)` renamed by `ids`, safe inside a
        <style> element."""

        def one(m: re.Match[str]) -> str:
            url = m.group(2)
            if url.startswith("#"):
                return f'url("#{(ids or {}).get(url[1:], url[1:])}")'
            uri = self.image(base, url)
            return f'url("{uri}")' if uri else "none"

        return re.sub(r"</(style)", r"<\\/\1", _CSS_URL.sub(one, text), flags=re.IGNORECASE)


def _attr(name: str, value: str | None) -> str:
    return f" {name}" if value is None else f' {name}="{html.escape(value)}"'


class _Rewrite(HTMLParser):
    """Pass 2: a page re-emitted with its links, images and ids rewritten, split into header, main and footer."""

    def __init__(self, packer: _Packer, page: _Page) -> None:
        super().__init__(convert_charrefs=False)
        self.packer, self.page = packer, page
        self.out: dict[str, list[str]] = {"header": [], "main": [], "footer": []}
        self.nav = ""  # where the header link marked aria-current points, rewritten
        self._region: str | None = None
        self._depth = 0
        self._closers: list[str] = []  # what each open <a> is closed with
        self._seen: set[str] = set()
        self._in_style = False  # inside a <style> element: its text is CSS

    def _emit(self, text: str) -> None:
        if self._region is not None:
            self.out[self._region].append(text)

    def _id(self, value: str) -> str:
        if value in self._seen or value not in self.page.ids:  # a duplicate id in the page: a fresh name
            return self.packer.unique(f"{self.page.ident}--{_safe(value)}")
        self._seen.add(value)
        return self.page.ids[value]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._region is None and tag in self.out:
            self._region, self._depth = tag, 1
            if tag == "main":
                return
        elif tag == self._region:
            self._depth += 1
        self._in_style = tag == "style"
        if self._region is not None:
            self._start(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # HTML ignores the slash: a void element, or a start tag

    def _start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        p, base = self.packer, self.page.path
        out: list[tuple[str, str | None]] = []
        omit, download, current = False, False, False
        for name, value in attrs:
            if name in ("loading", "srcset"):  # data: URIs need no lazy loading; srcset would name files
                continue
            if name == "aria-current" and self._region == "header":
                current = True
                continue
            if value is not None:
                if name == "id":
                    value = self._id(value)
                elif name in _ID_REFS:
                    value = " ".join(self.page.ids.get(v, v) for v in value.split())
                elif name == "href" and tag in ("a", "area"):
                    how, value = p.link(base, value)
                    download = how == "download"
                    if how == "omit":
                        omit = True
                        continue
                elif name in ("href", "xlink:href") and value.startswith("#"):  # SVG <use>, gradients
                    value = "#" + self.page.ids.get(value[1:], value[1:])
                elif name in ("href", "src", "poster"):
                    uri = p.image(base, value)
                    if uri is None:
                        omit = True
                        continue
                    value = uri
                    if tag == "img" and name == "src":
                        p.images += 1
                elif name == "style":
                    value = p.css(value, base, self.page.ids)
                elif name in _SVG_URL_ATTRS:  # fill="url(#gradient)", clip-path="url(#clip)"
                    value = _URL_REF.sub(lambda m: f"url(#{self.page.ids.get(m.group(1), m.group(1))})", value)
            out.append((name, value))
        attrs_d = dict(out)
        if current:
            self.nav = attrs_d.get("href") or ""
        if tag == "img" and omit:
            alt = attrs_d.get("alt") or "an image"
            self._emit(f'<span class="pack-omitted">[{html.escape(alt)}: image left out]</span>')
            return
        if tag == "a" and omit:
            self._emit('<span class="pack-omitted">')
            self._closers.append(f'</span> <small class="pack-omitted">({OMITTED_NOTE})</small>')
            return
        if tag == "a" and download and not attrs_d.get("download"):
            href = next(v for n, v in attrs if n == "href") or ""
            name = posixpath.basename(unquote(urlsplit(href).path))
            out = [(n, v) for n, v in out if n != "download"] + [("download", name)]
        if tag == "a":
            self._closers.append("</a>")
        self._emit(f"<{tag}{''.join(_attr(n, v) for n, v in out)}>")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if self._region is None:
            return
        if tag == self._region:
            self._depth -= 1
            if self._depth == 0:
                if tag != "main":
                    self._emit(f"</{tag}>")
                self._region = None
                return
        if tag == "a" and self._closers:
            self._emit(self._closers.pop())
        elif tag not in _VOID:
            self._emit(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self._emit(self.packer.css(data, self.page.path, self.page.ids) if self._in_style else data)

    def handle_entityref(self, name: str) -> None:
        self._emit(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self._emit(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self._emit(f"<!--{data}-->")


def _pages(root: Path) -> dict[str, _Page]:
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
        found[rel.as_posix()] = _Page(rel.as_posix(), text)
    return found


def _order(packer: _Packer, start: str) -> list[str]:
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


def _stylesheets(packer: _Packer, order: list[str]) -> list[str]:
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


def _section(page: _Page, rewrite: _Rewrite) -> str:
    head = f'<section class="pack-page"{_attr("id", page.ident)}{_attr("data-path", page.path)}'
    head += _attr("data-title", page.title or page.path) + (_attr("data-nav", rewrite.nav) if rewrite.nav else "")
    return f"{head}>\n{''.join(rewrite.out['main']).strip()}\n</section>\n"


def pack_html(site: Path, out: Path, start: str = "index.html") -> PackResult:
    """Write the whole site as one self-contained HTML file (see the module's docstring) at `out`; `start` (a page
    of the site) is shown first and by default."""
    root = check_site(site)
    target = _check_out(root, out)
    pages = _pages(root)
    start = posixpath.normpath(start.replace("\\", "/"))
    if start not in pages:
        raise UserError(f"{start} is not a page of {site}" if pages else f"{site} has no HTML pages")
    packer = _Packer(root, pages)
    try:
        for page in pages.values():
            _Scan(page).feed(page.text)
        order = _order(packer, start)
        for path in order:
            pages[path].ident = packer.unique(_page_ident(path))
        for path in order:
            for raw in pages[path].raw_ids:
                pages[path].ids.setdefault(raw, packer.unique(f"{pages[path].ident}--{_safe(raw)}"))
        styles = _stylesheets(packer, order)
        rewrites = {path: _Rewrite(packer, pages[path]) for path in order}
        for path, rewrite in rewrites.items():
            rewrite.feed(pages[path].text)
            rewrite.close()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the site {site}: {e}") from None
    first, chrome = pages[start], rewrites[start]  # the header and footer of the start page serve every page
    doc = (
        f'<!doctype html>\n<html{_attr("lang", first.lang or "en")}>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(first.title or start)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        + "".join(f"<style>\n{css}\n</style>\n" for css in styles)
        + f"<style>\n{PACK_CSS}</style>\n"
        + '<script>document.documentElement.classList.add("pack-js");</script>\n</head>\n<body>\n'
        + "".join(chrome.out["header"]).strip()
        + "\n<main>\n"
        + "".join(_section(pages[path], rewrite) for path, rewrite in rewrites.items())
        + "</main>\n"
        + "".join(chrome.out["footer"]).strip()
        + f"\n<script>\n{PACK_JS}</script>\n</body>\n</html>\n"
    )
    _write(target, lambda fh: fh.write(doc.encode("utf-8")))
    return PackResult(target, target.stat().st_size, len(order), packer.images, tuple(packer.skipped))


# --- pack_zip -------------------------------------------------------------------------------------------------------


def site_files(root: Path) -> list[str]:
    """Every file of the site, site-relative posix paths, sorted (a symlink out of the site is left out)."""
    files = [p for p in root.rglob("*") if p.is_file() and p.resolve().is_relative_to(root)]
    return sorted(p.relative_to(root).as_posix() for p in files)


def pack_zip(site: Path, out: Path) -> Path:
    """A deterministic zip of the whole site at `out`, entries under the site folder's name (`site/index.html`):
    sorted, dated 1980-01-01, mode 644. The marker and .nojekyll are kept: the zip is an exact copy."""
    root = check_site(site)
    target = _check_out(root, out)
    prefix = root.name or "site"

    def write(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, "w") as z:
            for rel in site_files(root):
                path = root / rel
                info = zipfile.ZipInfo(f"{prefix}/{rel}", date_time=ZIP_DATE)
                info.create_system = 3  # unix, wherever it is made
                info.external_attr = 0o100644 << 16
                stored = posixpath.splitext(rel)[1].lower() in ZIP_STORED_SUFFIXES
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                info.file_size = path.stat().st_size
                with path.open("rb") as src, z.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst)

    _write(target, write)
    return target


# --- serve ----------------------------------------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    """GET and HEAD of the files under `directory` only (nothing that leaves it), with our content types, quietly."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **SERVE_TYPES}

    def translate_path(self, path: str) -> str:
        local = super().translate_path(path)
        root = Path(self.directory).resolve()
        if not Path(local).resolve().is_relative_to(root):  # a symlink out of the site: as if it were not there
            return str(root / ".cnnkreport-not-found")
        return local

    def log_message(self, format: str, *args: object) -> None:
        pass


def make_server(site: Path, host: str = "127.0.0.1", port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server for the site, listening (port 0: any free port; the address is `server.server_address`)."""
    root = check_site(site)
    try:
        return http.server.ThreadingHTTPServer((host, port), partial(_Handler, directory=str(root)))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} is in use; try --port 0 or another port") from None
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def server_url(server: http.server.HTTPServer) -> str:
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else str(host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(
    site: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    open_browser: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the site until Ctrl-C; `on_ready(url)` once it listens. Prints nothing itself."""
    with make_server(site, host, port) as server:
        url = server_url(server)
        if on_ready:
            on_ready(url)
        if open_browser:
            webbrowser.open(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
