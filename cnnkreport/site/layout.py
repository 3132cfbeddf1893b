"""The site's layout: the one place that knows where each page and file of a site goes, as cnnkreport/rundir.py is
for a run folder. Paths are site-relative POSIX strings (a folder's ends with '/'); a page links to any of them
with href(page, target), and a `Layout` hands each out once: a second claim of the same path is a bug, refused.
A folder that phase 1 fills (a run's, a layer's: in a worker process) is handed out as a `Folder`, which hands out
each file in it once, as a `File`: where to write it and the page's link to it, from one name; the layout claims
them all (Layout.adopt) when the folder comes back, before any page is written.

  index.html, methods.html, summary.json, .nojekyll, static/style.css, .cnnkreport-site (the marker)
  recipe.html, recipe/<run>.png      the default recipe checked on more seeds and without its key choice
  runs/<run>/index.html              the run: curves, data, each layer's headline and mosaic; config.html
  runs/<run>/<layer>/index.html      the layer: every view of its kernels, and layer.json
  runs/<run>/<layer>/kernels/<i>.html, kernels/page-<n>.html    a kernel's page; the kernel table's later pages
  banks/<shape>/index.html           the detector bank at that kernel size, a picture per family
A sweep's comparison page: index.html, effects.png, mosaic-<n>.png, static/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UserError, os_error_text
from ..names import unique_slugs
from ..swap import make_temp, recover, replace_dir

MARKER = ".cnnkreport-site"  # in every site cnnkreport makes, so that nothing else is ever replaced or packed
INDEX = "index.html"
METHODS = "methods.html"
RECIPE = "recipe.html"
SUMMARY = "summary.json"
NOJEKYLL = ".nojekyll"
STATIC = "static/"
STYLE = "static/style.css"

# A run's folder: its pages, its figures and its downloads; its layers' folders must not take these names.
CURVES, DATA, CONFIG_TOML, METRICS, WEIGHTS = "curves.png", "data.png", "config.toml", "metrics.csv", "weights.pt"
RUN_PAGE, CONFIG_PAGE = "index.html", "config.html"
RUN_FILES = {RUN_PAGE, CONFIG_PAGE, CURVES, DATA, CONFIG_TOML, METRICS, WEIGHTS}
# A layer's folder: what its page and other code name (its figures' names are in the code that draws them).
LAYER_JSON = "layer.json"
LAYER_WEIGHTS = "weights.npy"  # a large layer's weights, instead of inside layer.json
INPUT_SPACE = "input-space.png"  # a second layer drawn in input space: the index shows it beside the first layer
KERNELS = "kernels/"  # the layer's kernel pages and their pictures

SWEEP_EFFECTS = "effects.png"


class PathClash(RuntimeError):
    """Two parts of the code would write the same output path: a bug, never the user's doing."""


def templates_dir() -> Path:
    """Installed wheels carry the templates inside the package; a source checkout has them at the top level."""
    packaged = Path(str(resources.files("cnnkreport"))) / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "templates"


# --- paths, relative to the site's root -----------------------------------------------------------------------------


def run_slugs(names: Sequence[str]) -> list[str]:
    """The folder of each run under runs/: unique, ignoring case, whatever the names."""
    return unique_slugs(names)


def layer_slugs(names: Sequence[str]) -> list[str]:
    """The folder of each layer of a run: unique, and never one of the run folder's own files."""
    return unique_slugs(names, RUN_FILES)


def run_dir(run: str) -> str:
    return f"runs/{run}/"


def run_file(run: str, name: str) -> str:
    return run_dir(run) + name


def run_page(run: str) -> str:
    return run_file(run, RUN_PAGE)


def config_page(run: str) -> str:
    return run_file(run, CONFIG_PAGE)


def layer_dir(run: str, layer: str) -> str:
    return f"{run_dir(run)}{layer}/"


def layer_file(run: str, layer: str, name: str) -> str:
    return layer_dir(run, layer) + name


def layer_page(run: str, layer: str) -> str:
    return layer_file(run, layer, INDEX)


def layer_json(run: str, layer: str) -> str:
    return layer_file(run, layer, LAYER_JSON)


def layer_download(run: str, layer: str) -> str:
    """The file name a browser saves a layer's layer.json as."""
    return f"{run}-{layer}.json"


def kernel_page_name(index: int) -> str:
    """A kernel's page, in the layer's kernels/ folder."""
    return f"{index}.html"


def kernel_file(index: int, what: str) -> str:
    """A picture of one kernel, in the layer's kernels/ folder beside its page: '3-kernel.png'."""
    return f"{index}-{what}"


def kernel_page(run: str, layer: str, index: int) -> str:
    return layer_file(run, layer, KERNELS + kernel_page_name(index))


def table_page(run: str, layer: str, n: int) -> str:
    """Page `n` (from 2) of a layer's kernel table; page 1 is on the layer page."""
    return layer_file(run, layer, f"{KERNELS}page-{n}.html")


def bank_slug(kshape: tuple[int, ...]) -> str:
    return f"{len(kshape)}d-" + "x".join(map(str, kshape))


def bank_dir(bank: str) -> str:
    return f"banks/{bank}/"


def bank_page(bank: str) -> str:
    return bank_dir(bank) + INDEX


def bank_image(bank: str, family: str) -> str:
    return f"{bank_dir(bank)}{family}.png"


def recipe_image(run: str) -> str:
    """The first layer of a run behind the recipe page (`run` a slug)."""
    return f"recipe/{run}.png"


def sweep_mosaic(n: int) -> str:
    return f"mosaic-{n}.png"


def depth(page: str) -> int:
    """How many folders deep a page lies: 0 for index.html, 2 for runs/<run>/index.html."""
    return page.count("/")


def root(page: str) -> str:
    """The site's root as seen from `page`: '', '../', '../../', ..."""
    return "../" * depth(page)


def href(page: str, target: str) -> str:
    """The link from `page` to `target` (both site-relative), as short as it gets: 'layer.json' beside it, '../x'."""
    here, there = page.split("/")[:-1], target.split("/")
    common = 0
    while common < min(len(here), len(there) - 1) and here[common] == there[common]:
        common += 1
    return root("/".join([*here[common:], ""])) + "/".join(there[common:])


def _check_path(path: str) -> str:
    """`path` (a folder's with its trailing '/') as a key, if it stays inside the site."""
    key = path[:-1] if path.endswith("/") else path
    parts = key.split("/")
    if not key or "\\" in key or any(p in ("", ".", "..") for p in parts) or os.path.isabs(key) or ":" in parts[0]:
        raise PathClash(f"{path!r} is not a path inside the site")
    return key


def _take(owners: dict[str, tuple[str, str]], path: str, by: str) -> str:
    """Record `by` as the one writer of `path` in `owners` (by casefolded key), or raise PathClash naming both;
    returns the path's key."""
    key = _check_path(path)
    seen = owners.get(key.casefold())
    if seen is not None:
        raise PathClash(f"two parts of the site would write {path!r}: {seen[1]} ({seen[0]!r}) and {by}")
    owners[key.casefold()] = (path, by)
    return key


@dataclass(frozen=True)
class File:
    """A file handed out by a Folder: `path`, where to write it, and `src`, the link to it from a page in that
    folder (its name there)."""

    path: Path
    src: str


class Folder:
    """A folder of the site claimed in a Layout, handed to the code that fills it (in a worker process, say: it
    pickles). It hands out each file and subfolder in it once: a second claim of a name (ignoring case) raises
    PathClash at once. It keeps what it handed out (`taken`, shared with its subfolders), for Layout.adopt to claim
    in the site's layout when it comes back, so that a file in it and a page of the same path clash too."""

    def __init__(self, root: Path, path: str, by: str, taken: dict[str, tuple[str, str]] | None = None) -> None:
        self.root, self.path, self.by = root, path, by  # the site's root; this folder (site-relative, with its '/')
        self.taken: dict[str, tuple[str, str]] = {} if taken is None else taken  # casefolded key -> (path, claimant)

    @property
    def dir(self) -> Path:
        return self.root / _check_path(self.path)

    def file(self, name: str, what: str) -> File:
        """The file `name` in this folder, for `what` (what it holds, in words)."""
        return File(self.root / _take(self.taken, self.path + name, f"{what} of {self.by}"), name)

    def folder(self, name: str, what: str) -> Folder:
        """The subfolder `name` (with its '/'), made, for `what`: its files' links are from a page in it, and they are
        claimed for the same claimant as this folder's."""
        sub = Folder(self.root, self.path + name, self.by, self.taken)
        _take(self.taken, sub.path, f"{what} of {self.by}")
        sub.dir.mkdir(parents=True, exist_ok=True)
        return sub


class Layout:
    """Hands out a site's output paths under `root`, each to one claimant: a second claim of a path (ignoring case, as
    macOS and Windows do) raises PathClash naming both. A folder that phase 1 fills is handed out as a Folder, and
    what that hands out is claimed here too when it comes back (adopt)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._owners: dict[str, tuple[str, str]] = {}  # casefolded key -> (path, claimant)
        self.claim(MARKER, "the site marker")

    def claim(self, path: str, by: str) -> Path:
        """The file or folder `path` (site-relative) under the root, for `by` (who writes it, in words)."""
        return self.root / _take(self._owners, path, by)

    def folder(self, path: str, by: str) -> Folder:
        """claim() a folder, make it, and hand it out: the Folder that hands out the files in it."""
        self.claim(path, by).mkdir(parents=True, exist_ok=True)
        return Folder(self.root, path, by)

    def adopt(self, folder: Folder) -> None:
        """claim() every file and subfolder that `folder` handed out (in another process, say), for its claimant."""
        for path, by in folder.taken.values():
            self.claim(path, by)

    @property
    def claimed(self) -> list[str]:
        return [path for path, _ in self._owners.values()]


def write_static(layout: Layout) -> None:
    """The stylesheet and .nojekyll (GitHub Pages serves the site as it is)."""
    shutil.copytree(templates_dir() / "static", layout.claim(STATIC, "the static files"), dirs_exist_ok=True)
    layout.claim(NOJEKYLL, ".nojekyll").write_text("")


# --- the swap -------------------------------------------------------------------------------------------------------


def check_out_dir(out: Path) -> None:
    """Refuse to replace anything that is not a previous cnnkreport site."""
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} exists and is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UserError(f"output folder {out} is not empty and was not made by cnnkreport; choose another --out")
    parent = out.resolve().parent
    existing = next(p for p in (parent, *parent.parents) if p.exists())  # missing folders are made, as mkdocs does
    if not existing.is_dir():
        raise UserError(f"cannot write the site: {existing} is a file, not a folder; choose another --out")
    try:  # a real probe: permission bits say nothing for root, or on a read-only mount
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=existing))
    except OSError as e:
        raise UserError(f"cannot write the site in {existing}: {e.strerror}; choose another --out") from None


def swap_in(out: Path, fill: Callable[[Layout], Any]) -> Any:
    """Let fill(layout) write a site into a temporary folder beside `out` (layout.root), then swap it in for `out`;
    returns what fill returns. A failure, or a kill at any moment, leaves the previous site at `out` untouched."""
    recover(out)  # a previous command killed in the middle of its swap
    check_out_dir(out)
    out = out.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_temp(out)
    except OSError as e:
        raise UserError(f"cannot write the site in {out.parent}: {e.strerror}") from None
    try:
        result = fill(Layout(tmp))
        (tmp / MARKER).write_text(f"made by cnnkreport {__version__}\n")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a published site is not
        replace_dir(tmp, out)
    except OSError as e:  # a full disk, a file that vanished: one line, and the previous site stays
        raise UserError(f"cannot write the site: {os_error_text(e)}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return result
