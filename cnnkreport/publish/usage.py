"""Where each file of a site is used, and where its data goes in the packed HTML file: each distinct file once.

`Refs` is what every page refers to (found once, from the scanned pages): the pictures its <main> shows, the files
and pages it links to. A `Plan` is one packing of it: the pages in the file (some left out by --max-mb, with the
downloads it leaves out), the <img> that carries each picture's data (on the page in the picture's own folder where
that page shows it, else the first page in reading order that does), the id of each page's first <img> of a picture
(links to the picture on that page point there), and the downloads linked from more than one place, each given one
entry in the file list at the end of the packed file.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rewrite import Packer

FILES_PREFIX = "pack-file-"  # the ids of the file list's entries
IMAGE_SUFFIX = "pic"  # an id given to a page's first <img> of a picture: page-...--pic-N


@dataclass(frozen=True)
class Refs:
    """What each page (site-relative) refers to: pictures shown in its <main> (with repeats, in order), files
    and pages linked (with repeats: from its <main>, and from the start page's header and footer, which the packed
    file shows once), and the name each linked file is downloaded as."""

    images: dict[str, list[str]]
    files: dict[str, list[str]]
    pages: dict[str, list[str]]
    names: dict[str, str]

    @classmethod
    def of(cls, packer: Packer, start: str) -> Refs:
        images: dict[str, list[str]] = {}
        files: dict[str, list[str]] = {}
        linked: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        for path, page in packer.pages.items():
            shown = [packer.locate(path, src) for src, _ in page.images]
            images[path] = [rel for kind, rel, _ in shown if kind == "file" and packer.image_type(rel)]
            files[path], linked[path] = [], []
            for href, name, region in zip(page.hrefs, page.names, page.regions, strict=True):
                if region != "main" and path != start:
                    continue  # another page's header and footer are not in the packed file
                kind, rel, _ = packer.locate(path, href)
                if kind == "file":
                    files[path].append(rel)
                    if name:
                        names.setdefault(rel, name)
                elif kind == "page" and rel != path:
                    linked[path].append(rel)
        return cls(images, files, linked, names)

    def pictures(self, pages: Iterable[str]) -> set[str]:
        """The pictures that `pages` show."""
        return {rel for p in pages for rel in self.images[p]}

    def downloads(self, pages: Iterable[str]) -> Counter[str]:
        """The files that `pages` link to and do not show, with how often they are linked."""
        pages = list(pages)
        shown = self.pictures(pages)
        return Counter(rel for p in pages for rel in self.files[p] if rel not in shown)


@dataclass
class Plan:
    """One packing: the pages and downloads left out (--max-mb), the id of the <img> carrying each picture's data
    (files of the same content share one), each page's first <img> of each picture it shows, and the file list's
    entries (download -> id; files of the same content share one)."""

    left_pages: set[str] = field(default_factory=set)
    left_files: set[str] = field(default_factory=set)
    carriers: dict[str, str] = field(default_factory=dict)
    page_images: dict[tuple[str, str], str] = field(default_factory=dict)
    shared: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def picture(self, page: str, rel: str) -> str | None:
        """Where a link from `page` to the file `rel` points, if it is a picture shown in the file: its first
        <img> on this page, else the one that carries it; None for any other file."""
        return self.page_images.get((page, rel)) or self.carriers.get(rel)

    def download_name(self, rel: str) -> str:
        return self.names.get(rel) or posixpath.basename(rel)


def make_plan(packer: Packer, refs: Refs, order: list[str], left_pages: set[str], left_files: set[str]) -> Plan:
    """The plan for the pages `order` (in reading order, those left out already removed; their sections' ids
    assigned), leaving out `left_pages` and the downloads `left_files`."""
    plan = Plan(set(left_pages), set(left_files), names=dict(refs.names))
    for path in order:
        page = packer.pages[path]
        for src, own in page.images:
            kind, rel, _ = packer.locate(path, src)
            if kind != "file" or packer.image_type(rel) is None or (path, rel) in plan.page_images:
                continue
            ident = page.ids.get(own) if own else None
            plan.page_images[path, rel] = ident or packer.unique(
                f"{page.ident}--{IMAGE_SUFFIX}-{len(plan.page_images)}"
            )
    same: dict[str, list[tuple[str, str]]] = {}  # a picture's content -> (page, file) showing it, in order
    for path, rel in plan.page_images:
        same.setdefault(packer.digest(rel), []).append((path, rel))
    held = {}  # a picture's content -> the id of the <img> that holds it
    for digest, where in same.items():
        home = [(p, r) for p, r in where if p == posixpath.join(posixpath.dirname(r), "index.html")]
        held[digest] = plan.page_images[(home or where)[0]]
        plan.carriers.update((rel, held[digest]) for _, rel in where)
    linked: dict[str, list[str]] = {}  # a download's content -> its files, each once per link to it
    for rel, times in refs.downloads(order).items():
        if rel not in left_files and packer.inlinable(rel):
            if packer.digest(rel) in held:  # the same as a picture shown: a link to that
                plan.carriers[rel] = held[packer.digest(rel)]
            else:
                linked.setdefault(packer.digest(rel), []).extend([rel] * times)
    for rels in linked.values():
        if len(rels) > 1:
            ident = packer.unique(f"{FILES_PREFIX}{len(set(plan.shared.values()))}")
            plan.shared.update((rel, ident) for rel in rels)
    return plan
