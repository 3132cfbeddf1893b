"""What a packed HTML file leaves out to stay within `cnnkreport pack --max-mb N`: the largest downloads and kernel
pages first (a kernel page with the pictures that only it shows), until the file fits; the note at the top of the
file says what was left out and where the full site is, and each link to something left out says so
(rewrite.CUT_NOTE). Sizes are estimated from a packing of the whole site (each page's text, each file's data: URI,
counted once as the packed file holds it), then the file is packed again and measured, and more is left out while
it is still too large. MB here is 1,000,000 bytes, the smaller reading of an upload limit, so that the file fits
either way."""

from __future__ import annotations

import html
import math
import posixpath
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..errors import UserError
from .rewrite import CUT_NOTE, NOTE_ID, Packer
from .usage import Refs

MB = 1_000_000
KERNELS = "kernels"  # the folder of a layer's kernel pages: the pages that may be left out
MARK = len(CUT_NOTE) + 60  # bytes that a link to something left out grows by
ENTRY = 200  # bytes of an entry in the file list, besides its data, and of a line in the note
ROUNDS = 8  # packings tried after the first
_DATA = re.compile(r"data:[\w/+.-]*;base64,[A-Za-z0-9+/=]*")


class Packed(Protocol):
    """A packing of a site, as pack.py makes it."""

    @property
    def size(self) -> int: ...  # bytes of the document

    @property
    def sections(self) -> dict[str, str]: ...  # each page's section, by path

    @property
    def extra(self) -> int: ...  # bytes of the note and the file list


P = TypeVar("P", bound=Packed)


def optional(pages: list[str], start: str) -> list[str]:
    """The pages that may be left out: kernel pages and the kernel table's later pages (in a kernels/ folder)."""
    return [p for p in pages if KERNELS in p.split("/")[:-1] and p != start]


def uri_size(packer: Packer, rel: str) -> int:
    """Bytes of a file's data: URI."""
    mime = packer.image_type(rel) or packer.inlinable(rel)
    return len(f"data:{mime};base64,") + 4 * math.ceil((packer.root / rel).stat().st_size / 3)


@dataclass
class Costs:
    """A packing's sizes: the frame that is never left out (head, styles, scripts, header, footer), each page's
    section without its data: URIs, and each file's data: URI."""

    refs: Refs
    pages: list[str]
    fixed: int
    text: dict[str, int]
    data: dict[str, int]  # every picture shown and every file that may be inlined

    @classmethod
    def of(cls, packer: Packer, refs: Refs, pages: list[str], packed: Packed) -> Costs:
        sections = {p: s.encode("utf-8") for p, s in packed.sections.items()}
        text = {
            p: len(s) - sum(len(m) for m in _DATA.findall(s.decode("ascii", "replace"))) for p, s in sections.items()
        }
        files = refs.pictures(pages) | {f for f in refs.downloads(pages) if packer.inlinable(f)}
        fixed = packed.size - sum(map(len, sections.values())) - packed.extra
        return cls(refs, pages, fixed, text, {f: uri_size(packer, f) for f in files})

    def estimate(self, left_pages: set[str], left_files: set[str]) -> int:
        """The packed file's size, leaving out `left_pages` and the downloads `left_files`."""
        shown = [p for p in self.pages if p not in left_pages]
        pictures = self.refs.pictures(shown)
        downloads = self.refs.downloads(shown)
        data = sum(self.data[f] for f in pictures)
        data += sum(
            self.data[f] + ENTRY * (n > 1) for f, n in downloads.items() if f in self.data and f not in left_files
        )
        marks = sum(n for f, n in downloads.items() if f in left_files)
        marks += sum(1 for p in shown for q in self.refs.pages[p] if q in left_pages)
        note = (
            ENTRY * (len(left_files) + len({posixpath.dirname(p) for p in left_pages}) + 2)
            if left_pages or left_files
            else 0
        )
        return self.fixed + sum(self.text[p] for p in shown) + data + MARK * marks + note

    def candidates(self, start: str) -> list[tuple[int, str, str]]:
        """What may be left out, the largest first: (bytes, "file" or "page", path); a page with the pictures and
        downloads that only it has."""
        pictures, downloads = self.refs.pictures(self.pages), self.refs.downloads(self.pages)
        items = [(self.data[f], "file", f) for f in downloads if f in self.data and f not in pictures]
        shows = Counter(f for p in self.pages for f in set(self.refs.images[p]))
        links = Counter(f for p in self.pages for f in set(self.refs.files[p]))
        for p in optional(self.pages, start):
            own = {f for f in self.refs.images[p] if shows[f] == 1}
            own |= {f for f in self.refs.files[p] if links[f] == 1 and f not in pictures}
            items.append((self.text[p] + sum(self.data.get(f, 0) for f in own), "page", p))
        return sorted(items, key=lambda item: (-item[0], item[1], item[2]))

    def choose(self, target: int, start: str) -> tuple[set[str], set[str]]:
        """What to leave out for an estimated size within `target` bytes (everything it may, if none is): the
        candidates in turn, each taking its own bytes off a guess, which estimate() checks once it is low enough."""
        left_pages: set[str] = set()
        left_files: set[str] = set()
        guess = self.estimate(left_pages, left_files)
        for cost, kind, path in self.candidates(start):
            if guess <= target:
                guess = self.estimate(left_pages, left_files)
                if guess <= target:
                    break
            (left_pages if kind == "page" else left_files).add(path)
            guess -= cost
        return left_pages, left_files


def fit(
    costs: Costs,
    pack: Callable[[set[str], set[str]], P],
    limit: int,
    start: str,
    what: str,
) -> tuple[P, set[str], set[str]]:
    """Pack again, leaving out what `costs` says, until the file is within `limit` bytes; UserError (one line,
    nothing written) where even everything that may be left out is not enough. `what` names the site and the
    limit for that line."""
    target = limit
    everything = costs.choose(-1, start)
    for _ in range(ROUNDS):
        left = costs.choose(target, start)
        packed = pack(*left)
        if packed.size <= limit:
            return packed, *left
        if left == everything:
            break
        target -= packed.size - limit + ENTRY
    packed = pack(*everything)
    if packed.size <= limit:
        return packed, *everything
    raise UserError(
        f"cannot pack {what}: even with every download and kernel page left out, the file takes "
        f"{packed.size / MB:.1f} MB"
    )


def size_text(size: int) -> str:
    """A file's size in words: bytes, KB or MB (of 1,000 and 1,000,000 bytes)."""
    return f"{size:,} bytes" if size < 10_000 else f"{size / 1000:,.0f} KB" if size < MB else f"{size / MB:.1f} MB"


def note(name: str, max_mb: float, left_pages: set[str], left_files: set[str], sizes: dict[str, int]) -> str:
    """The note at the top of a packed file that leaves things out: what, and where the full site is."""
    folders: dict[str, int] = {}
    for p in left_pages:
        folders[posixpath.dirname(p) + "/"] = folders.get(posixpath.dirname(p) + "/", 0) + 1
    items = [
        f"<li><code>{html.escape(f)}</code>: {n:,} kernel page{'s' * (n != 1)}</li>" for f, n in sorted(folders.items())
    ]
    items += [f"<li><code>{html.escape(f)}</code> ({size_text(sizes.get(f, 0))})</li>" for f in sorted(left_files)]
    folder = html.escape(name)
    return (
        f'<aside class="pack-note" id="{NOTE_ID}" aria-label="What this file leaves out">\n'
        f"<p><strong>This file leaves part of the site out</strong>, to stay within {max_mb:g} MB: "
        f"{len(left_pages):,} kernel page{'s' * (len(left_pages) != 1)} and {len(left_files):,} "
        f"download{'s' * (len(left_files) != 1)}, the largest first. Each link to them is marked "
        f"<small>(left out of this file)</small>.</p>\n<ul>\n{''.join(items)}\n</ul>\n"
        f"<p>Everything is in the full site: the folder <code>{folder}</code> this file was packed from "
        f"(<code>cnnkreport pack {folder} --format zip</code> zips it whole), and wherever it is published.</p>\n"
        "</aside>\n"
    )
