"""Publishing a site: the single self-contained HTML file, the zip, and the local server. The quick site of the
session is packed once; small hand-made sites cover the corners (links out of the site, downloads, odd names)."""

from __future__ import annotations

import base64
import functools
import html.parser
import io
import json
import re
import threading
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.errors import UserError
from cnnkreport.publish import PackResult, budget, common, make_server, pack_html, pack_zip, rewrite, serve, server_url
from cnnkreport.site.layout import MARKER

if TYPE_CHECKING:
    from playwright.sync_api import Browser


class Doc(html.parser.HTMLParser):
    """Every start tag of a document with its attributes, and the sections that hold the pages."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]

    @property
    def ids(self) -> list[str]:
        return [a["id"] or "" for _, a in self.tags if "id" in a]

    @property
    def pages(self) -> dict[str, str]:
        """data-path -> section id of every packed page."""
        return {
            a["data-path"] or "": a["id"] or ""
            for t, a in self.tags
            if t == "section" and "pack-page" in (a.get("class") or "").split()
        }


@functools.lru_cache(maxsize=4)  # the packed quick site is a few MB: parse it once
def parse(text: str) -> Doc:
    doc = Doc()
    doc.feed(text)
    doc.close()
    return doc


def picture(doc: Doc, img: dict[str, str | None]) -> str:
    """The data: URI an <img> of a packed file shows: its own, or that of the <img> its data-pack-img names (the
    one that holds a picture shown in several places; the file's script copies it)."""
    held = img.get("data-pack-img")
    if held is None:
        return img.get("src") or ""
    assert "src" not in img, "an <img> that names its picture's holder has no src of its own"
    holders = [a for a in doc.all("img") if a.get("id") == held]
    assert len(holders) == 1 and "data-pack-img" not in holders[0], held
    return holders[0].get("src") or ""


def decode(uri: str) -> bytes:
    head, _, data = uri.partition(",")
    assert head.endswith(";base64"), head[:60]
    return base64.b64decode(data, validate=True)


def make_site(root: Path, files: dict[str, str | bytes]) -> Path:
    """A hand-made site: the given files, plus the marker."""
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by hand for a test\n")
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def page(main: str, title: str = "A page", css: str = "") -> str:
    link = f'<link rel="stylesheet" href="{css}">' if css else ""
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>{link}</head><body>\n'
        '<header class="top"><nav aria-label="Site"><a href="INDEX">home</a></nav></header>\n'
        f"<main>\n{main}\n</main>\n<footer>footer</footer>\n</body></html>\n"
    )


def png(colour: str = "red", size: tuple[int, int] = (4, 3)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


# --- pack_html on the quick site ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packed(quick_site: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[PackResult, str, Path]:
    """(result, text, site) of the quick site packed once, away from the site."""
    site = quick_site / "site"
    out = tmp_path_factory.mktemp("packed") / "site.html"
    result = pack_html(site, out)
    return result, out.read_text(encoding="utf-8"), site


def test_pack_html_holds_every_page_and_says_what_it_did(packed: tuple[PackResult, str, Path]) -> None:
    result, text, site = packed
    doc = parse(text)
    html_pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    assert set(doc.pages) == html_pages
    assert result.pages == len(html_pages)
    assert result.size == result.path.stat().st_size == len(text.encode("utf-8"))
    assert result.images == len(doc.all("img")) > 0
    # Nothing is left out of a site made by cnnkreport but its binary downloads (weights.pt), each said so.
    assert all(re.search(r": (a binary file|larger than [\d,]+ bytes) \(", s) for s in result.skipped), result.skipped
    binaries = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.suffix in (".pt", ".npy", ".npz")}
    assert {s.split(":")[0] for s in result.skipped} <= binaries
    first = [a for t, a in doc.tags if t == "section" and a.get("data-path")][0]
    assert first["data-path"] == "index.html"  # the start page comes first: it is shown by default


def test_pack_html_makes_no_request_of_any_kind(packed: tuple[PackResult, str, Path]) -> None:
    _, text, _ = packed
    doc = parse(text)
    for tag, attrs in doc.tags:
        for name in ("src", "href", "poster", "srcset", "action"):
            value = attrs.get(name)
            if value is None:
                continue
            assert value.startswith(("data:", "#")), f"<{tag} {name}={value[:80]!r}>"
    css_urls = re.findall(r"url\((?:\"|&quot;|')?([^)\"'&]*)", text)  # in <style>, style="" and SVG attributes
    assert all(u.startswith(("data:", "#")) for u in css_urls), [u for u in css_urls if not u.startswith("data:")]
    assert doc.all("style")  # the site's stylesheet, inlined


def test_pack_html_links_resolve_inside_the_file(packed: tuple[PackResult, str, Path]) -> None:
    _, text, _ = packed
    doc = parse(text)
    ids = doc.ids
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    targets = [(a.get("href") or "")[1:] for a in doc.all("a") if (a.get("href") or "").startswith("#")]
    assert targets
    missing = sorted({t for t in targets if t not in set(ids)})
    assert not missing, missing
    pages = doc.pages
    assert pages["runs/pulses-1d/index.html"] in targets  # the nav and the index cards lead to each run
    for attr in ("for", "headers", "aria-labelledby", "aria-describedby", "aria-controls"):
        for _, a in doc.tags:
            for ref in (a.get(attr) or "").split():
                assert ref in set(ids), f"{attr}={ref!r} names no element"


def test_pack_html_keeps_fragments_within_each_page(packed: tuple[PackResult, str, Path]) -> None:
    """The layer page's #scores and #kernels become ids of that page's section, and links to them follow."""
    _, text, site = packed
    doc = parse(text)
    layer = doc.pages["runs/pulses-1d/features.0/index.html"]
    original = parse((site / "runs/pulses-1d/features.0/index.html").read_text(encoding="utf-8")).ids
    assert "scores" in original
    assert f"{layer}--scores" in doc.ids
    assert all(f"{layer}--{i}" in doc.ids for i in original)  # every id of the page, prefixed by the page
    run = doc.pages["runs/pulses-1d/index.html"]
    assert f"{run}--features.0" in doc.ids and f"{run}--features.0" != layer


def test_pack_html_inlines_every_image_and_its_players_and_gifs_to_download(
    packed: tuple[PackResult, str, Path],
) -> None:
    _, text, _ = packed
    doc = parse(text)
    for img in doc.all("img"):
        src = picture(doc, img)
        assert src.startswith("data:image/png;base64,"), src[:60]  # no page shows a looping GIF
        assert (img.get("alt") or "").strip(), "every image keeps its alt text"
        assert "loading" not in img
        with Image.open(io.BytesIO(decode(src))) as im:
            im.load()
    gifs = [a for a in doc.all("a") if (a.get("href") or "").startswith("data:image/gif;base64,")]
    assert gifs and all((a.get("download") or "").endswith(".gif") for a in gifs)
    with Image.open(io.BytesIO(decode(gifs[0].get("href") or ""))) as im:
        assert getattr(im, "n_frames", 1) > 1, "a GIF lost its animation"
    assert text.count("data-player") >= 2 and text.count("<script>") == 3  # the players, and one copy of their script


def test_pack_html_is_a_valid_page_that_shows_everything_without_script(packed: tuple[PackResult, str, Path]) -> None:
    _, text, _ = packed
    doc = parse(text)
    assert doc.all("html")[0].get("lang") == "en"
    assert doc.title.strip() and text.startswith("<!doctype html>")
    assert any(m.get("name") == "viewport" for m in doc.all("meta"))
    assert len(doc.all("main")) == 1 and len([h for h in doc.all("header") if h.get("class") == "top"]) == 1
    assert text.count("<footer") == 1
    # A page is hidden only once the script has run (it adds the class pack-js), and only on screen.
    sections = [a for t, a in doc.tags if t == "section" and a.get("data-path")]
    assert all("hidden" not in a and "style" not in a for a in sections)
    hiding = [line for line in text.splitlines() if "pack-page" in line and "display" in line]
    assert hiding == ["@media screen { html.pack-js section.pack-page:not(.pack-current) { display: none; } }"]
    assert 'addEventListener("hashchange"' in text


def test_pack_html_inlines_text_downloads(packed: tuple[PackResult, str, Path]) -> None:
    _, text, site = packed
    downloads = {a.get("download"): a.get("href") or "" for a in parse(text).all("a") if "download" in a}
    assert json.loads(decode(downloads["summary.json"])) == json.loads((site / "summary.json").read_text())
    assert downloads["summary.json"].startswith("data:application/json;base64,")
    assert (
        decode(downloads["pulses-1d-config.toml"]).decode() == (site / "runs" / "pulses-1d" / "config.toml").read_text()
    )
    assert downloads["pulses-2d-features.0.json"].startswith("data:application/json;base64,")


def data_uris(text: str) -> list[str]:
    return re.findall(r"data:[\w/+.-]*;base64,[A-Za-z0-9+/=]+", text)


def test_pack_html_holds_each_file_once(packed: tuple[PackResult, str, Path]) -> None:
    """Every picture's data, and every download's, appears once in the file (a figure and the link to its full-size
    file were inlined twice, a layer's GIFs once per kernel page); the <img> elements that show a picture held
    elsewhere name their holder, links to a picture shown in the file point to it, and a download linked from
    several pages is one entry of the file list, which the links name."""
    _, text, site = packed
    doc = parse(text)
    uris = data_uris(text)
    repeated = [u[:60] for u, n in Counter(uris).items() if n > 1]
    assert uris and not repeated, repeated
    shared = [a for a in doc.all("a") if a.get("data-pack-file")]
    assert shared and all(a["href"] == "#" + (a["data-pack-file"] or "") and "download" not in a for a in shared)
    entries = {a.get("id"): a for a in doc.all("a") if (a.get("id") or "").startswith("pack-file-")}
    assert {a["data-pack-file"] for a in shared} == set(entries)
    assert all((e.get("href") or "").startswith("data:") and e.get("download") for e in entries.values())
    assert any(img.get("data-pack-img") for img in doc.all("img"))  # the first layer's mosaic: index and layer page
    for gif in site.rglob("*.gif"):  # a layer's GIFs: linked from its page and each of its kernel pages, held once
        assert text.count(base64.b64encode(gif.read_bytes()).decode()) == 1, gif


def test_pack_html_within_max_mb_leaves_out_the_largest_and_says_so(quick_site: Path, tmp_path: Path) -> None:
    """--max-mb small enough to force leaving things out: the file is within it; the note at its top lists what
    was left out (the largest downloads and kernel pages first) and where the full site is; each link to a
    left-out page or file is marked, every remaining link works, and the page still parses, each file's data once."""
    site = quick_site / "site"
    whole = pack_html(site, tmp_path / "whole.html")
    max_mb = round(0.6 * whole.size / budget.MB, 2)
    result = pack_html(site, tmp_path / "small.html", max_mb=max_mb)
    text = result.path.read_text(encoding="utf-8")
    assert result.size == len(text.encode("utf-8")) <= max_mb * budget.MB < whole.size
    assert result.left_out and result.pages < whole.pages
    doc = parse(text)
    note = text[text.index('<aside class="pack-note"') : text.index("</aside>")]
    assert f"within {max_mb:g} MB" in note and f"folder <code>{site.name}</code>" in note
    left_pages = [p for p in result.left_out if p.endswith(".html")]
    left_files = [p for p in result.left_out if not p.endswith(".html")]
    assert all(p.split("/")[-2] == "kernels" for p in left_pages)  # only kernel pages (and table pages) go
    assert all(f"<code>{p.rsplit('/', 1)[0]}/</code>" in note for p in left_pages)
    assert all(f"<code>{f}</code>" in note for f in left_files)
    assert set(doc.pages) == {p.relative_to(site).as_posix() for p in site.rglob("*.html")} - set(left_pages)
    assert text.count(rewrite.CUT_NOTE) >= len(result.left_out)  # every left-out thing is linked, and marked
    ids = set(doc.ids)
    for a in doc.all("a"):
        href = a.get("href") or ""
        assert href.startswith(("data:", "http")) or href[1:] in ids, href  # no link to a missing page or file
    repeated = [u[:60] for u, n in Counter(data_uris(text)).items() if n > 1]
    assert not repeated, repeated
    # largest first: every download left out is at least as large as every one kept
    kept = {decode(a.get("href") or "") for a in doc.all("a") if (a.get("href") or "").startswith("data:")}
    if left_files:
        smallest_left = min((site / f).stat().st_size for f in left_files)
        assert all(len(k) <= smallest_left for k in kept)


@pytest.mark.browser
def test_a_file_within_max_mb_opens_and_works_offline(browser: Browser, quick_site: Path, tmp_path: Path) -> None:
    """The file that --max-mb writes, in Chromium: every page section shows, every picture decodes (those held
    by another <img> too), no request, every link within the file, no accessibility violation (axe-core, where it
    is installed); a click on a download of the file list downloads it."""
    from .browser_support import axe_path, block_outside, check_packed

    site = quick_site / "site"
    max_mb = round(0.6 * pack_html(site, tmp_path / "whole.html").size / budget.MB, 2)
    (tmp_path / "alone").mkdir()  # away from the site: a relative reference left in the file cannot resolve
    result = pack_html(site, tmp_path / "alone" / "small.html", max_mb=max_mb)
    assert result.left_out
    context = browser.new_context(accept_downloads=True)
    block_outside(context)
    try:
        axe = axe_path()
        report = check_packed(context, result.path, result.pages, axe if axe.is_file() else None)
        page = context.new_page()
        page.goto(result.path.resolve().as_uri())
        section = page.evaluate("() => document.querySelector('section a[data-pack-file]').closest('section').id")
        page.goto(f"{result.path.resolve().as_uri()}#{section}")
        link = page.locator(f'section[id="{section}"] a[data-pack-file]').first
        with page.expect_download() as download:
            link.click()
        name = download.value.suggested_filename
    finally:
        context.close()
    assert report.images > 0 and not report.problems + report.a11y, report.problems + report.a11y
    assert name == "summary.json" or name.endswith((".json", ".gif", ".csv", ".toml")), name


def test_pack_max_mb_that_cannot_be_met_is_one_line_exit_2_nothing_written(
    quick_site: Path, tmp_path: Path, runner: CliRunner
) -> None:
    out = tmp_path / "site.html"
    result = runner.invoke(
        app, ["pack", str(quick_site / "site"), "--format", "html", "--max-mb", "0.05", "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot pack" in lines[0] and "0.05 MB" in lines[0], result.output
    assert not out.exists()
    for args in (["--max-mb", "0"], ["--max-mb", "5", "--format", "zip"]):
        result = runner.invoke(app, ["pack", str(quick_site / "site"), *args, "--out", str(tmp_path / "x")])
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output


# --- pack_html corners, on hand-made sites ------------------------------------------------------------------------


def test_pack_html_leaves_out_what_lies_outside_the_site(tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(png("blue", (7, 7)))
    (tmp_path / "notes.txt").write_text("private")
    site = make_site(
        tmp_path / "site",
        {
            "index.html": page(
                '<img src="../secret.png" alt="a secret">'
                '<img src="/etc/hostname.png" alt="absolute">'
                '<img src="https://example.org/x.png" alt="remote">'
                '<a href="../notes.txt">notes</a> <a href="https://example.org/paper">a paper</a>'
                '<img src="a%20b&amp;c.png" alt="odd name">'
            ).replace("INDEX", "index.html"),
            "a b&c.png": png(),
        },
    )
    (site / "link.png").symlink_to(secret)  # a symlink out of the site is outside it too
    text = (site / "index.html").read_text().replace('alt="odd name">', 'alt="odd name"><img src="link.png" alt="l">')
    (site / "index.html").write_text(text)
    result = pack_html(site, tmp_path / "out.html")
    out = result.path.read_text()
    assert base64.b64encode(secret.read_bytes()).decode() not in out
    assert "private" not in out and base64.b64encode(b"private").decode() not in out
    joined = "\n".join(result.skipped)
    for what in ("../secret.png", "/etc/hostname.png", "https://example.org/x.png", "../notes.txt", "link.png"):
        assert what in joined, (what, joined)
    assert "resolves outside the site" in joined
    assert result.images == 1  # the odd name, escaped in the HTML and in the URL, is found and inlined
    doc = parse(out)
    assert [a.get("src", "")[:15] for a in doc.all("img")] == ["data:image/png;"]
    assert "[a secret: image left out]" in out
    assert {a.get("href") for a in doc.all("a")} >= {"https://example.org/paper"}  # a link away is no request


def test_pack_html_downloads_inline_small_text_and_drop_binary_or_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rewrite, "MAX_INLINE_DOWNLOAD", 100)
    monkeypatch.setattr(rewrite, "MAX_INLINE_LINKED_IMAGE", 200)
    site = make_site(
        tmp_path / "site",
        {
            "index.html": page(
                '<a href="data/metrics.csv" download>metrics</a> <a href="data/big.json">big</a> '
                '<a href="data/weights.pt">weights</a> <a href="data/grid-1.png">grid</a>'
            ).replace("INDEX", "index.html"),
            "data/metrics.csv": "step,loss\n1,0.5\n",
            "data/big.json": json.dumps(list(range(100))),
            "data/weights.pt": b"\x80\x02binary",
            "data/grid-1.png": b"\x89PNG\r\n\x1a\n" + bytes(300),  # a wide layer's full grid: too big to inline
        },
    )
    result = pack_html(site, tmp_path / "out.html")
    doc = parse(result.path.read_text())
    links = {a.get("download"): a.get("href") or "" for a in doc.all("a") if "download" in a}
    assert list(links) == ["metrics.csv"]
    assert decode(links["metrics.csv"]) == b"step,loss\n1,0.5\n"
    text = result.path.read_text()
    assert text.count(rewrite.OMITTED_NOTE) == 3 and ">big</span>" in text and ">weights</span>" in text
    assert any("data/grid-1.png: larger than 200 bytes" in s for s in result.skipped)
    assert any("data/weights.pt: a binary file" in s for s in result.skipped)
    assert any("data/big.json: larger than 100 bytes" in s for s in result.skipped)


def test_pack_html_holds_a_picture_once_wherever_it_is_shown_or_linked(tmp_path: Path) -> None:
    """A picture shown on two pages is held by the <img> of its own folder's page, the other naming it; the link
    wrapped around it is dropped, a "full size" link points to it; a copy of it under another name is the same
    picture; a download linked from two pages is one entry of the file list."""
    pic, other = png("red", (9, 5)), png("blue", (3, 3))
    figure = '<a href="{0}"><img src="{0}" alt="the {1}"></a> <a href="{0}">full size</a>'
    site = make_site(
        tmp_path / "site",
        {
            "index.html": page(
                figure.format("a/pic.png", "pic") + '<img src="copy.png" alt="a copy"> <a href="a/data.csv">csv</a>'
            ).replace("INDEX", "index.html"),
            "a/index.html": page(
                figure.format("pic.png", "pic") + '<img src="blue.png" alt="blue"> <a href="data.csv">csv</a>'
            ).replace("INDEX", "../index.html"),
            "a/pic.png": pic,
            "copy.png": pic,
            "a/blue.png": other,
            "a/data.csv": "x,y\n1,2\n",
        },
    )
    result = pack_html(site, tmp_path / "out.html")
    text = result.path.read_text()
    doc = parse(text)
    assert text.count(base64.b64encode(pic).decode()) == 1 and text.count(base64.b64encode(other).decode()) == 1
    holders = [a for a in doc.all("img") if a.get("src") and decode(a["src"] or "") == pic]
    assert len(holders) == 1 and holders[0].get("alt") == "a copy"  # held on the page of its own folder
    copies = [a for a in doc.all("img") if a.get("data-pack-img")]
    assert sorted(a.get("alt") or "" for a in copies) == ["the pic", "the pic"]
    assert all(a["data-pack-img"] == holders[0]["id"] for a in copies)
    assert result.images == len(doc.all("img")) == 4
    links = [a for a in doc.all("a") if (a.get("href") or "").startswith("#page-") and "pack" not in a["href"]]
    full = [a["href"] for a in links if a["href"] != "#page-index" and "--pic-" in a["href"]]
    assert len(full) == 2 and all(h[1:] in set(doc.ids) for h in full)  # each "full size" link, to a picture
    assert not re.search(r"<a [^>]*><img", text)  # the links around the pictures are gone
    csv = [a for a in doc.all("a") if a.get("data-pack-file")]
    assert len(csv) == 2 and len({a["href"] for a in csv}) == 1
    assert text.count(base64.b64encode(b"x,y\n1,2\n").decode()) == 1
    entry = next(a for a in doc.all("a") if a.get("id") == csv[0]["data-pack-file"])
    assert entry.get("download") == "data.csv" and decode(entry.get("href") or "") == b"x,y\n1,2\n"


def test_pack_html_renames_ids_and_their_references_per_page(tmp_path: Path) -> None:
    """The same id on two pages stays unique; same-page #links, cross-page links with #fragments, label/for, SVG
    url(#...) references and folder links (runs/a/) all follow."""
    site = make_site(
        tmp_path / "site",
        {
            "index.html": page(
                '<h1 id="top">Home</h1><a href="#top">up</a> <a href="runs/a/#scores">a scores</a> '
                '<a href="runs/a/">a</a> <a href="other.html#nowhere">other</a> <a href="#">here</a>',
                css="static/s.css",
            ).replace("INDEX", "index.html"),
            "other.html": page(
                '<h1 id="top">Other</h1><label for="q">q</label><input id="q"><p id="top">dup</p>'
                '<svg><defs><linearGradient id="g"></linearGradient></defs>'
                '<rect fill="url(#g)" style="stroke: url(#g)"></rect></svg>'
                '<img src="static/bg.png" alt="see url(#g)">'
                '<map name="m"><area href="missing.pdf" alt="gone"></map>',
                css="static/s.css",
            ).replace("INDEX", "index.html"),
            "runs/a/index.html": page('<h2 id="scores">S</h2><a href="../../index.html#top">home top</a>').replace(
                "INDEX", "../../index.html"
            ),
            "static/s.css": "body { background: url(bg.png) }\nh1 { color: red }\n",
            "static/bg.png": png("green"),
        },
    )
    result = pack_html(site, tmp_path / "out.html")
    text = result.path.read_text()
    doc = parse(text)
    ids = doc.ids
    assert len(ids) == len(set(ids)), ids
    assert doc.pages == {"index.html": "page-index", "other.html": "page-other", "runs/a/index.html": "page-runs-a"}
    hrefs = [a.get("href") for a in doc.all("a")]
    for want in ("#page-index--top", "#page-runs-a--scores", "#page-runs-a", "#page-other", "#page-index"):
        assert want in hrefs, (want, hrefs)
    assert all((h or "")[1:] in ids for h in hrefs)
    assert doc.all("label")[0]["for"] == "page-other--q"
    assert 'fill="url(#page-other--g)"' in text and "stroke: url(&quot;#page-other--g&quot;)" in text
    assert 'alt="see url(#g)"' in text  # text that looks like CSS is left alone
    assert "data:image/png;base64," in text.split("</style>")[0]  # the stylesheet's url() is inlined
    assert result.skipped == ("other.html: link missing.pdf points to no file; left out",)
    assert [a.get("href") for a in doc.all("area")] == [None]


def test_pack_html_start_page_and_order(tmp_path: Path) -> None:
    site = make_site(
        tmp_path / "site",
        {
            "index.html": page('<a href="b/index.html">b</a> <a href="a/index.html">a</a>').replace(
                "INDEX", "index.html"
            ),
            "a/index.html": page('<a href="k/1.html">1</a>').replace("INDEX", "../index.html"),
            "a/k/1.html": page("one").replace("INDEX", "../../index.html"),
            "b/index.html": page("b").replace("INDEX", "../index.html"),
            "orphan.html": page("nobody links here").replace("INDEX", "index.html"),
        },
    )
    order = list(parse(pack_html(site, tmp_path / "o.html").path.read_text()).pages)
    assert order == ["index.html", "b/index.html", "a/index.html", "a/k/1.html", "orphan.html"]
    order = list(parse(pack_html(site, tmp_path / "o.html", start="a/index.html").path.read_text()).pages)
    assert order[0] == "a/index.html" and len(order) == 5
    with pytest.raises(UserError, match="nope.html is not a page"):
        pack_html(site, tmp_path / "o.html", start="nope.html")


# --- pack_zip -----------------------------------------------------------------------------------------------------


def test_pack_zip_holds_the_whole_site_deterministically(quick_site: Path, tmp_path: Path) -> None:
    site = quick_site / "site"
    first = pack_zip(site, tmp_path / "one.zip")
    second = pack_zip(site, tmp_path / "two.zip")
    assert first.read_bytes() == second.read_bytes()
    files = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert {".nojekyll", MARKER, "index.html", "summary.json", "static/style.css"} <= files
    with zipfile.ZipFile(first) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert names == sorted(names)
        assert set(names) == {f"site/{f}" for f in files}
        for info in z.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644
        assert z.read("site/summary.json") == (site / "summary.json").read_bytes()
        gif = next(n for n in names if n.endswith(".gif"))
        assert z.read(gif) == (site / gif.removeprefix("site/")).read_bytes()


# --- serve --------------------------------------------------------------------------------------------------------


@pytest.fixture
def served(quick_site: Path) -> Iterator[str]:
    server = make_server(quick_site / "site", port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server_url(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert not thread.is_alive()


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), b""


def test_serve_answers_with_the_right_content_types(served: str, quick_site: Path) -> None:
    assert served.startswith("http://127.0.0.1:")
    status, kind, body = get(served + "index.html")
    assert status == 200 and kind.startswith("text/html") and b"<main>" in body
    gif = next((quick_site / "site").rglob("*.gif")).relative_to(quick_site / "site").as_posix()
    status, kind, body = get(served + gif)
    assert (status, kind) == (200, "image/gif") and body.startswith(b"GIF8")
    assert get(served + "summary.json")[:2] == (200, "application/json")
    assert get(served + "runs/pulses-1d/config.toml")[1].startswith("text/plain")
    assert get(served + "static/style.css")[1].startswith("text/css")
    assert get(served + "no/such/page.html")[0] == 404
    assert get(served)[0] == 200  # the folder's index.html


def test_serve_is_read_only_and_stays_in_the_site(served: str, tmp_path: Path) -> None:
    request = urllib.request.Request(served + "index.html", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code == 501
    assert get(served + "../../../../etc/passwd")[0] == 404


def test_serve_hides_symlinks_out_of_the_site(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("private")
    site = make_site(tmp_path / "site", {"index.html": page("hi")})
    (site / "leak.txt").symlink_to(tmp_path / "secret.txt")
    server = make_server(site, port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        assert get(server_url(server) + "leak.txt")[0] == 404
        assert get(server_url(server) + "index.html")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


def test_serve_refuses_a_port_in_use_and_a_missing_site(quick_site: Path, tmp_path: Path) -> None:
    server = make_server(quick_site / "site", port=0)
    try:
        port = server.server_address[1]
        with pytest.raises(UserError, match=f"port {port} is in use; try --port 0 or another port"):
            make_server(quick_site / "site", port=port)
    finally:
        server.server_close()
    with pytest.raises(UserError, match="does not exist"):
        make_server(tmp_path / "nope", port=0)
    with pytest.raises(UserError, match="does not exist"):
        serve(tmp_path / "nope", port=0)


# --- bad input ----------------------------------------------------------------------------------------------------


@pytest.fixture
def small_site(tmp_path: Path) -> Path:
    return make_site(tmp_path / "site", {"index.html": page("<h1>hi</h1>").replace("INDEX", "index.html")})


@pytest.mark.parametrize("pack", [pack_html, pack_zip])
def test_bad_input_is_one_line(pack: Callable[[Path, Path], object], small_site: Path, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "file.txt").write_text("x")
    cases = [
        (tmp_path / "nope", tmp_path / "o", "does not exist"),
        (tmp_path / "file.txt", tmp_path / "o", "is not a folder"),
        (tmp_path / "plain", tmp_path / "o", "not a site made by cnnkreport"),
        (small_site, tmp_path / "plain", "is a folder"),
        (small_site, tmp_path / "missing" / "o", "does not exist"),
        (small_site, small_site / "inside.html", "inside the site folder"),
        (small_site, small_site / "index.html", "inside the site folder"),
        (small_site, tmp_path / "site" / ".." / "site" / "new.html", "inside the site folder"),
        (small_site, small_site, "is a folder"),
    ]
    for site, out, message in cases:
        with pytest.raises(UserError, match=message) as e:
            pack(site, out)
        assert "\n" not in str(e.value)
    assert (small_site / "index.html").read_text().startswith("<!doctype html>")  # the site itself untouched
    assert sorted(p.name for p in small_site.iterdir()) == [MARKER, "index.html"]


@pytest.mark.parametrize("pack", [pack_html, pack_zip])
def test_a_failed_pack_leaves_the_previous_output(
    pack: Callable[[Path, Path], object], small_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.bin"
    out.write_bytes(b"previous")
    with pytest.raises(UserError):
        pack(tmp_path / "nope", out)
    assert out.read_bytes() == b"previous"

    real = common.atomic_write

    def disk_full(path: Path, write: Callable[[BinaryIO], object]) -> None:
        def half(fh: BinaryIO) -> None:
            fh.write(b"the first bytes")
            raise OSError(28, "No space left on device")

        real(path, half)

    monkeypatch.setattr(common, "atomic_write", disk_full)
    with pytest.raises(UserError, match="No space left on device"):
        pack(small_site, out)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "site"]  # no temp file left behind
