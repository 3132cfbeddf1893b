"""The site's layout (cnnkreport/site/layout.py): relative roots, paths that stay inside the site, one writer per
path, unique folder names for any names, and templates that take every path from the layout."""

from __future__ import annotations

import html.parser
import pickle
import posixpath
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkreport.names import slug, unique_slugs
from cnnkreport.rundir import LayerInfo, Run, RunMeta
from cnnkreport.site import build_site, templates_dir
from cnnkreport.site import layout as paths
from cnnkreport.site.layout import MARKER, Layout, PathClash


def test_the_root_of_a_page_is_one_step_up_per_folder() -> None:
    assert [paths.depth(p) for p in ("index.html", "runs/a/index.html", "runs/a/conv/kernels/3.html")] == [0, 2, 4]
    assert paths.root("index.html") == ""
    assert paths.root(paths.run_page("a")) == "../../"
    assert paths.root(paths.layer_page("a", "conv")) == "../../../"
    assert paths.root(paths.kernel_page("a", "conv", 3)) == "../../../../"


def test_links_are_relative_to_the_page() -> None:
    layer = paths.layer_page("a", "conv")
    assert paths.href(layer, paths.layer_json("a", "conv")) == "layer.json"
    assert paths.href(layer, paths.run_page("a")) == "../index.html"
    assert paths.href(layer, paths.kernel_page("a", "conv", 3)) == "kernels/3.html"
    assert paths.href(paths.kernel_page("a", "conv", 3), paths.INDEX) == "../../../../index.html"
    assert paths.href(paths.run_page("a"), paths.layer_dir("a", "conv")) == "conv/"
    assert paths.href(paths.INDEX, paths.run_page("a")) == "runs/a/index.html"
    assert paths.href(paths.run_page("a"), paths.run_page("b")) == "../b/index.html"


def every_path(run: str, layer: str) -> list[str]:
    """Every kind of path the layout hands out, for one run and layer."""
    return [
        paths.INDEX,
        paths.METHODS,
        paths.RECIPE,
        paths.SUMMARY,
        paths.NOJEKYLL,
        paths.STATIC,
        paths.STYLE,
        paths.SWEEP_EFFECTS,
        paths.sweep_mosaic(3),
        paths.run_dir(run),
        paths.run_page(run),
        paths.config_page(run),
        *(paths.run_file(run, f) for f in sorted(paths.RUN_FILES - {paths.RUN_PAGE, paths.CONFIG_PAGE})),
        paths.layer_dir(run, layer),
        paths.layer_page(run, layer),
        paths.layer_json(run, layer),
        paths.layer_file(run, layer, paths.LAYER_WEIGHTS),
        paths.kernel_page(run, layer, 7),
        paths.layer_file(run, layer, paths.KERNELS + paths.kernel_file(7, "kernel.png")),
        paths.table_page(run, layer, 2),
        paths.bank_dir(paths.bank_slug((5, 5))),
        paths.bank_page(paths.bank_slug((31,))),
        paths.bank_image(paths.bank_slug((7, 7)), "edge"),
        paths.recipe_image(run),
    ]


NAMES = st.lists(
    st.one_of(
        st.text(max_size=300),
        st.sampled_from(["", ".", "..", "../..", "/", "a/../..", "CON", "index.html", "curves.png", "a", "A", "a-2"]),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(NAMES)
def test_any_names_get_unique_safe_slugs(names: list[str]) -> None:
    slugs = unique_slugs(names)
    assert len(slugs) == len(names)
    assert len({s.casefold() for s in slugs}) == len(slugs)  # unique, even on a case-insensitive file system
    for s in slugs:
        assert s not in ("", ".", "..") and "/" not in s and "\\" not in s and s.isascii() and s.isprintable()
        assert len(s) < 120
    layers = paths.layer_slugs(names)
    assert not {s.casefold() for s in layers} & {f.casefold() for f in paths.RUN_FILES}


@pytest.mark.slow
@settings(max_examples=50, deadline=None)
@given(NAMES)
def test_every_path_handed_out_stays_inside_the_site(names: list[str]) -> None:
    root = Path("/site")
    layout = Layout(root)
    for run in paths.run_slugs(names or ["x"]):
        for layer in paths.layer_slugs(names or ["x"]):
            fresh = Layout(root)  # every path once per run and layer, and each claimed without complaint
            for p in every_path(run, layer):
                target = Path(posixpath.normpath((root / p.rstrip("/")).as_posix()))
                assert target.is_relative_to(root) and target != root, p
                assert fresh.claim(p, p) == target
    for bad in ("", "/etc/passwd", "../x", "runs/../../x", "runs//x", "a\\b", "./x", "C:/x"):
        with pytest.raises(PathClash):
            layout.claim(bad, "a test")


def test_slugs_of_names_that_used_to_collide_are_unique() -> None:
    # these used to become a, a-2, a-2: two runs silently wrote one folder
    assert unique_slugs(["a", "a", "a-2"]) == ["a", "a-2", "a-2-2"]
    assert unique_slugs(["A", "a"]) == ["A", "a-2"]
    assert paths.layer_slugs(["index.html", "conv"]) == ["index.html-2", "conv"]


def test_a_second_claim_of_a_path_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert layout.claim(paths.run_page("a"), "the page of run 'a'") == tmp_path / "runs" / "a" / "index.html"
    with pytest.raises(PathClash, match="the page of run 'a'.*the page of run 'A'"):
        layout.claim(paths.run_page("A"), "the page of run 'A'")  # one file on macOS and Windows
    layout.folder(paths.layer_dir("a", "conv"), "layer 'conv'")
    assert (tmp_path / "runs" / "a" / "conv").is_dir()
    with pytest.raises(PathClash, match="layer 'conv'.*layer 'conv!'"):
        layout.folder(paths.layer_dir("a", slug("conv!")), "layer 'conv!'")
    with pytest.raises(PathClash, match="marker"):
        layout.claim(MARKER, "a page")


def test_a_folder_hands_out_each_file_once_and_the_layout_claims_them_all(tmp_path: Path) -> None:
    """A Folder (a layer's, filled in a worker process) hands out each name once, ignoring case, with the one name
    giving both where to write and the page's link; the layout then claims them all, so a page of the same path
    clashes too."""
    layout = Layout(tmp_path)
    folder = layout.folder(paths.layer_dir("a", "conv"), "layer 'conv'")
    scores = folder.file("scores.png", "the score histogram")
    assert (scores.path, scores.src) == (tmp_path / "runs" / "a" / "conv" / "scores.png", "scores.png")
    with pytest.raises(PathClash, match="the score histogram of layer 'conv'.*the mosaic of layer 'conv'"):
        folder.file("Scores.png", "the mosaic")
    kernels = folder.folder(paths.KERNELS, "the kernels' pages")
    assert kernels.dir.is_dir()
    picture = kernels.file(paths.kernel_file(3, "kernel.png"), "the picture of kernel 3")
    assert picture.src == "3-kernel.png" and picture.path == kernels.dir / "3-kernel.png"  # linked from kernels/
    with pytest.raises(PathClash, match="not a path inside the site"):
        folder.file("../b/x.png", "a picture")
    layout.adopt(pickle.loads(pickle.dumps(folder)))  # as it comes back from a worker process
    assert {"runs/a/conv/scores.png", "runs/a/conv/kernels/", "runs/a/conv/kernels/3-kernel.png"} <= set(layout.claimed)
    with pytest.raises(PathClash, match="the picture of kernel 3 of layer 'conv'.*a page"):
        layout.claim(paths.layer_file("a", "conv", paths.KERNELS + "3-kernel.png"), "a page")


def fake_run(path: Path, name: str, layers: tuple[str, ...] = ("conv",)) -> Path:
    """A recorder-style run folder: small conv layers, three snapshots, no config."""
    run = Run(path)
    rng = np.random.default_rng(0)
    shape = (4, 1, 5, 5)
    infos = tuple(LayerInfo(n, "conv2d", shape) for n in layers)
    run.write_meta(RunMeta(name, "recorder", "complete", 30, infos))
    run.write_snapshots([(10 * s, {n: rng.normal(size=shape).astype(np.float32) for n in layers}) for s in range(3)])
    return path


class Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("href", "src") and value and not value.startswith(("data:", "#")):
                self.refs.append(value.split("#")[0])


def broken_links(site: Path, page: Path) -> list[str]:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return [ref for ref in parser.refs if not (page.parent / ref).resolve().is_relative_to(site.resolve())] + [
        ref for ref in parser.refs if not (page.parent / ref).exists()
    ]


@pytest.mark.slow
def test_two_runs_of_one_name_get_a_folder_each_and_link_right(tmp_path: Path) -> None:
    runs = [fake_run(tmp_path / "x" / "a", "a"), fake_run(tmp_path / "y" / "a", "a", ("conv", "conv!"))]
    site = tmp_path / "site"
    build_site(runs, site)
    assert (site / "runs" / "a" / "index.html").is_file() and (site / "runs" / "a-2" / "index.html").is_file()
    assert (site / "runs" / "a-2" / "conv-2" / "index.html").is_file()  # 'conv!' beside 'conv'
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="runs/a/index.html"' in index and 'href="runs/a-2/index.html"' in index
    pages = [
        site / "index.html",
        *sorted((site / "runs").glob("*/index.html")),
        *(site / "runs").glob("*/*/index.html"),
    ]
    assert len(pages) == 6
    for page in pages:
        assert broken_links(site, page) == [], page
    second = (site / "runs" / "a-2" / "index.html").read_text(encoding="utf-8")
    assert 'href="conv-2/index.html"' in second and 'aria-current="page"' in second


def test_two_layers_in_one_folder_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net under unique slugs: were two layers ever given one folder, the build stops, naming both."""
    monkeypatch.setattr(paths, "layer_slugs", lambda names: [slug(n) for n in names])
    run = fake_run(tmp_path / "run", "run", ("conv a", "conv;a"))
    with pytest.raises(PathClash, match="'conv a'.*'conv;a'"):
        build_site([run], tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_two_figures_of_one_name_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were two figures of a layer ever given one name (every kernel's picture 'kernel.png', say), the worker that
    draws them stops at the second, naming both, and the build leaves no site."""
    monkeypatch.setattr(paths, "kernel_file", lambda index, what: what)
    run = fake_run(tmp_path / "run", "run")
    with pytest.raises(PathClash, match="'runs/run/conv/kernels/kernel.png': the picture of kernel 0 .*kernel 1"):
        build_site([run], tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_a_figure_and_a_page_of_one_name_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A figure drawn in a worker process and a page written later of the same path clash too: the layout claims
    every file that the workers handed out before any page is written."""
    kernel_file = paths.kernel_file
    monkeypatch.setattr(
        paths, "kernel_file", lambda i, what: f"{i}.html" if what == "kernel.png" else kernel_file(i, what)
    )
    run = fake_run(tmp_path / "run", "run")
    with pytest.raises(PathClash, match="the picture of kernel 0 of layer 'conv' of run 'run'.*kernel 0 of layer"):
        build_site([run], tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_no_template_builds_a_path_by_hand() -> None:
    """Templates take every path from the layout (url(paths...)); none climbs folders or names a page itself."""
    found = []
    for template in sorted(templates_dir().glob("*.html")):
        for n, line in enumerate(template.read_text(encoding="utf-8").splitlines(), start=1):
            if "../" in line or re.search(r'(href|src)="[^"{]*\.(html|png|gif|json)', line):
                found.append(f"{template.name}:{n}: {line.strip()}")
    assert found == []
