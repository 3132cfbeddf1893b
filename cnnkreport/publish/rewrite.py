"""The HTML scanning and rewriting behind pack_html: what each page holds (Scan), what the pages of one site share
and how a link, an image or a stylesheet of theirs is inlined or left out (Packer), and each page re-emitted with its
links, images and ids rewritten (Rewrite).

Links between pages become `#page-...` links; an id inside a page becomes `page-...--id`, and links to it follow.
Each distinct file's data is in the packed file once (usage.Plan says where): a picture in the one <img> that carries
it, the others naming that element (data-pack-img: the packed file's script copies it); a link to a picture shown on
the same page points to it (and one wrapped around that picture is dropped); a download linked from several places
is one entry of the file list at the end, the links naming it (data-pack-file). Downloads: text files (.json,
.toml, .csv, .txt) of at most MAX_INLINE_DOWNLOAD bytes, and linked pictures (GIFs, a wide layer's full grid) of at
most MAX_INLINE_LINKED_IMAGE, become data: URIs with a `download` attribute; binary files (weights.pt, .npy) and
larger ones are left out, the link replaced by its text and OMITTED_NOTE; what --max-mb leaves out, by its text and
CUT_NOTE. Nothing outside the site folder is ever read: a link or image that resolves outside it is left out, and
said so in Packer.skipped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import posixpath
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..names import slug
from .usage import Plan

MAX_INLINE_DOWNLOAD = 1_000_000  # bytes: a text download up to this size is inlined into the packed HTML file
MAX_INLINE_LINKED_IMAGE = 2_000_000  # bytes: a linked picture (a GIF, a wide layer's full grid) up to this size too
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
OMITTED_NOTE = "not included in this file: it is in the zip and on the online site"
NOTE_ID, FILES_ID = "pack-note", "pack-files"  # the note on what --max-mb left out; the list of shared downloads
CUT_NOTE = f'(<a href="#{NOTE_ID}">left out of this file</a>)'
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_ID_REFS = frozenset(
    "for headers list form aria-labelledby aria-describedby aria-controls aria-owns aria-flowto aria-details "
    "aria-errormessage aria-activedescendant".split()
)
_SVG_URL_ATTRS = frozenset("fill stroke clip-path mask filter marker-start marker-mid marker-end".split())
_URL_REF = re.compile(r"url\(#([^)\s'\"]+)\)")
Attrs = list[tuple[str, str | None]]  # an element's attributes, in order, as HTMLParser gives them
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)


def page_ident(path: str) -> str:
    """'runs/a/index.html' -> 'page-runs-a', 'methods.html' -> 'page-methods', 'index.html' -> 'page-index'."""
    stem = path.removesuffix("index.html").rstrip("/") if posixpath.basename(path) == "index.html" else path[:-5]
    return "page-" + slug(stem.replace("/", "-") or "index")


def element_id(ident: str, raw: str) -> str:
    """The name in the packed file of id `raw` on the page whose section is `ident` (before it is made unique)."""
    return f"{ident}--{slug(raw)}"


@dataclass
class Page:
    path: str  # posix, relative to the site
    text: str
    ident: str = ""
    title: str = ""
    lang: str = ""
    hrefs: list[str] = field(default_factory=list)  # <a href> values, in document order
    names: list[str] = field(default_factory=list)  # their download attributes ("" where none names a file)
    regions: list[str] = field(default_factory=list)  # where each is: "main", or "" (the header, the footer)
    images: list[tuple[str, str]] = field(default_factory=list)  # (<img src>, its own id or "") in <main>, in order
    stylesheets: list[str] = field(default_factory=list)
    raw_ids: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # id in the page -> id in the packed file


class Scan(HTMLParser):
    """Pass 1: a page's title, language, ids, links and stylesheets."""

    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self._title: list[str] | None = None
        self._main = 0  # depth of <main> elements around the parser

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._main += tag == "main"
        if a.get("id"):
            self.page.raw_ids.append(a["id"] or "")
        if tag == "html" and a.get("lang"):
            self.page.lang = a["lang"] or ""
        elif tag in ("a", "area") and a.get("href") is not None:
            self.page.hrefs.append(a["href"] or "")
            self.page.names.append(a.get("download") or "")
            self.page.regions.append("main" if self._main else "")
        elif tag == "img" and a.get("src") and self._main:
            self.page.images.append((a["src"] or "", a.get("id") or ""))
        elif tag == "link" and "stylesheet" in (a.get("rel") or "").lower().split() and a.get("href"):
            self.page.stylesheets.append(a["href"] or "")
        elif tag == "title":
            self._title = []

    def handle_endtag(self, tag: str) -> None:
        self._main -= tag == "main" and self._main > 0
        if tag == "title" and self._title is not None:
            self.page.title = " ".join("".join(self._title).split())
            self._title = None

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title.append(data)


class Packer:
    """What the pages of one site share: the files, the id names taken, what was inlined and what left out."""

    def __init__(self, root: Path, pages: dict[str, Page]) -> None:
        self.root, self.pages = root, pages
        self.skipped: list[str] = []
        self.images = 0
        self.taken: set[str] = {NOTE_ID, FILES_ID}
        self._uris: dict[str, str] = {}
        self._digests: dict[str, str] = {}
        self.plan = Plan()  # where each file's data goes, and what is left out (pack sets it)

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

    def digest(self, rel: str) -> str:
        """A file's content, as a hash: files of the same content are held once in the packed file."""
        if rel not in self._digests:
            self._digests[rel] = hashlib.sha256((self.root / rel).read_bytes()).hexdigest()
        return self._digests[rel]

    def data_uri(self, rel: str, mime: str) -> str:
        if rel not in self._uris:
            data = base64.b64encode((self.root / rel).read_bytes()).decode("ascii")
            self._uris[rel] = f"data:{mime};base64,{data}"
        return self._uris[rel]

    def image_type(self, rel: str) -> str | None:
        """The MIME type of a picture file, None for any other file."""
        return IMAGE_TYPES.get(posixpath.splitext(rel)[1].lower())

    def inlinable(self, rel: str) -> str:
        """The MIME type a linked file of the site is inlined as, or "" for one left out: a binary file, or a file
        over MAX_INLINE_LINKED_IMAGE (a picture) or MAX_INLINE_DOWNLOAD (text)."""
        suffix = posixpath.splitext(rel)[1].lower()
        mime = IMAGE_TYPES.get(suffix) or TEXT_TYPES.get(suffix)
        limit = MAX_INLINE_LINKED_IMAGE if suffix in IMAGE_TYPES else MAX_INLINE_DOWNLOAD
        return mime if mime and (self.root / rel).stat().st_size <= limit else ""

    def link(self, base: str, url: str) -> tuple[str, str]:
        """What an <a href> becomes: ("keep", url), ("href", "#id") (a page), ("picture", "#id") (a picture shown
        in the file), ("download", data URI), ("shared", "#id") (an entry of the file list), ("omit", path) (a file
        the packed file never holds) or ("cut", path) (a page or download left out by --max-mb)."""
        kind, rel, frag = self.locate(base, url)
        if kind == "external":
            return "keep", url
        if kind == "page":
            return ("cut", rel) if rel in self.plan.left_pages else ("href", self.anchor(rel, frag))
        if kind == "file":
            picture = self.plan.picture(base, rel)
            if picture is not None:
                return "picture", "#" + picture
            if rel in self.plan.left_files:
                return "cut", rel
            if rel in self.plan.shared:
                return "shared", "#" + self.plan.shared[rel]
            mime = self.inlinable(rel)
            if mime:
                return "download", self.data_uri(rel, mime)
            size = (self.root / rel).stat().st_size
            limit = MAX_INLINE_LINKED_IMAGE if self.image_type(rel) else MAX_INLINE_DOWNLOAD
            binary = not (self.image_type(rel) or TEXT_TYPES.get(posixpath.splitext(rel)[1].lower()))
            why = "a binary file" if binary else f"larger than {limit:,} bytes"
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


def attr(name: str, value: str | None) -> str:
    return f" {name}" if value is None else f' {name}="{html.escape(value)}"'


class Rewrite(HTMLParser):
    """Pass 2: a page re-emitted with its links, images and ids rewritten, split into header, main and footer."""

    def __init__(self, packer: Packer, page: Page) -> None:
        super().__init__(convert_charrefs=False)
        self.packer, self.page = packer, page
        self.out: dict[str, list[str]] = {"header": [], "main": [], "footer": []}
        self.nav = ""  # where the header link marked aria-current points, rewritten
        self._region: str | None = None
        self._depth = 0
        self._closers: list[str] = []  # what each open <a> is closed with
        self._anchors: list[tuple[str, int, str] | None] = []  # each open <a> to a picture shown here (_wrapper)
        self._pictures: set[str] = set()  # the pictures whose first <img> on this page is written
        self._seen: set[str] = set()
        self._in_style = False  # inside a <style> element: its text is CSS

    def _emit(self, text: str) -> None:
        if self._region is not None:
            self.out[self._region].append(text)

    def _id(self, value: str) -> str:
        if value in self._seen or value not in self.page.ids:  # a duplicate id in the page: a fresh name
            return self.packer.unique(element_id(self.page.ident, value))
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
        attrs, extra = self._img(attrs) if tag == "img" and self._region == "main" else (attrs, [])
        out: list[tuple[str, str | None]] = []
        says, current = "", False
        for name, value in attrs:
            if name in ("loading", "srcset"):  # data: URIs need no lazy loading; srcset would name files
                continue
            if name == "aria-current" and self._region == "header":
                current = True
                continue
            new, said = (value, "") if value is None else self._attribute(tag, name, value)
            if said in ("omit", "cut"):
                says = said
                continue
            says = says or said
            out.append((name, new))
        if current:
            self.nav = dict(out).get("href") or ""
        self._open(tag, attrs, out + extra, says)

    def _img(self, attrs: Attrs) -> tuple[Attrs, Attrs]:
        """An <img> of <main> as the plan says (its attributes without src, and what to add to them): the data: URI
        where it carries its picture's data, else data-pack-img naming the <img> that does; the id that links on the
        page point to, on its page's first <img> of that picture. A link wrapped around it to the same picture is
        dropped."""
        p, here = self.packer, self.page.path
        src = dict(attrs).get("src") or ""
        kind, rel, _ = p.locate(here, src) if src and not src.startswith("data:") else ("", "", "")
        if kind != "file" or rel not in p.plan.carriers:
            return attrs, []
        if self._anchors and self._anchors[-1] is not None and self._anchors[-1][2] == rel:
            region, index, _ = self._anchors[-1]
            self.out[region][index], self._closers[-1], self._anchors[-1] = "", "", None
        mine = p.plan.page_images[here, rel] if rel not in self._pictures else None
        self._pictures.add(rel)
        extra: Attrs = [("id", mine)] if mine and not dict(attrs).get("id") else []
        if mine is not None and mine == p.plan.carriers[rel]:
            extra.append(("src", p.data_uri(rel, p.image_type(rel) or "")))
        else:
            extra.append(("data-pack-img", p.plan.carriers[rel]))
        p.images += 1
        return [(n, v) for n, v in attrs if n != "src"], extra

    def _attribute(self, tag: str, name: str, value: str) -> tuple[str, str]:
        """One attribute as the packed page writes it, and what it says of its element: "" (nothing), "omit" or
        "cut" (what it points to is left out of the file, or by --max-mb: drop the attribute, mark the element), or
        for a link, what Packer.link made of it ("download", "shared", "picture")."""
        p, base, ids = self.packer, self.page.path, self.page.ids
        if name == "id":
            return self._id(value), ""
        if name in _ID_REFS:
            return " ".join(ids.get(v, v) for v in value.split()), ""
        if name == "href" and tag in ("a", "area"):
            how, target = p.link(base, value)
            return target, how if how in ("omit", "cut", "download", "shared", "picture") else ""
        if name in ("href", "xlink:href") and value.startswith("#"):  # SVG <use>, gradients
            return "#" + ids.get(value[1:], value[1:]), ""
        if name in ("href", "src", "poster"):
            uri = p.image(base, value)
            if uri is None:
                return value, "omit"
            if tag == "img" and name == "src":
                p.images += 1
            return uri, ""
        if name == "style":
            return p.css(value, base, ids), ""
        if name in _SVG_URL_ATTRS:  # fill="url(#gradient)", clip-path="url(#clip)"
            return _URL_REF.sub(lambda m: f"url(#{ids.get(m.group(1), m.group(1))})", value), ""
        return value, ""

    def _open(self, tag: str, attrs: Attrs, out: Attrs, says: str) -> None:
        """Write an element's start tag with its rewritten attributes `out` (or, for a left-out image or link, the
        note that says so), and remember what its end tag must close."""
        if tag == "img" and says == "omit":
            alt = dict(out).get("alt") or "an image"
            self._emit(f'<span class="pack-omitted">[{html.escape(alt)}: image left out]</span>')
            return
        if tag == "a" and says in ("omit", "cut"):
            self._emit('<span class="pack-omitted">')
            note = f"({OMITTED_NOTE})" if says == "omit" else CUT_NOTE
            self._closers.append(f'</span> <small class="pack-omitted">{note}</small>')
            self._anchors.append(None)
            return
        if tag == "a" and says == "download" and not dict(out).get("download"):
            href = next(v for n, v in attrs if n == "href") or ""
            name = posixpath.basename(unquote(urlsplit(href).path))
            out = [(n, v) for n, v in out if n != "download"] + [("download", name)]
        if tag == "a" and says in ("shared", "picture"):  # a link within the file: nothing to download from it
            out = [(n, v) for n, v in out if n != "download"]
            if says == "shared":
                out.append(("data-pack-file", (dict(out).get("href") or "#")[1:]))
        if tag == "a":
            self._closers.append("</a>")
            self._anchors.append(self._wrapper(attrs) if says == "picture" else None)
        self._emit(f"<{tag}{''.join(attr(n, v) for n, v in out)}>")

    def _wrapper(self, attrs: Attrs) -> tuple[str, int, str] | None:
        """For a link to a picture that this page shows: where its start tag is about to be written, and the
        picture, so that _img drops it if it wraps that picture."""
        _, rel, _ = self.packer.locate(self.page.path, dict(attrs).get("href") or "")
        if self._region is None or (self.page.path, rel) not in self.packer.plan.page_images:
            return None
        return self._region, len(self.out[self._region]), rel

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
            self._anchors.pop()
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
