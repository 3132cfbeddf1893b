"""Phase 2 of a build: the pages and the JSON, written from the views that phase 1 (build.gather) made: the index,
the methods page, the recipe page and its pictures, a page per run, layer and kernel, the kernel table's later
pages, a page per detector bank, summary.json and the static files. Every path comes from layout.py, and every
link is relative to the page that holds it (templates call url(path))."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from .. import __version__
from ..analysis import recipe, report, scores
from ..analysis.bank import FAMILY_ORDER, Bank
from ..analysis.fit import DENSE_MAX_TAPS
from ..analysis.matching import NEAR
from ..analysis.recipe import RecipeCheck
from ..draw import compact, mosaic
from ..files import atomic_write_text
from ..names import unique_slugs
from ..rundir import Run
from . import layout as paths
from . import published
from .layout import Layout, templates_dir, write_static
from .player import PAGE_CSP, PAGE_JS
from .views import TABLE_PAGE, LayerView, RunView, describe

SUMMARY_INDENTED = 1_000_000  # characters of summary.json up to which it is indented for reading


def _num(v: float | None, digits: int = 2) -> str:
    """A number to `digits` decimals, with no minus sign on a value that rounds to zero."""
    if v is None or not math.isfinite(v):
        return "n/a"
    text = f"{v:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def jinja_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"
    env.filters["num"] = _num
    env.filters["describe"] = describe
    env.filters["recipe"] = lambda cfg: "" if cfg is None else recipe.describe(cfg)
    env.globals["table_page"] = TABLE_PAGE
    env.globals["paths"] = paths  # the site's layout: templates name pages and files only through it
    env.globals["csp"] = PAGE_CSP
    env.globals["negligible"] = f"{scores.NEGLIGIBLE:g}"  # a kernel shrunk to nothing (scores.negligible)
    env.globals["player_js"] = Markup(PAGE_JS)  # noqa: S704 - our own script, allowed by its hash in PAGE_CSP
    return env


def write_page(layout: Layout, env: jinja2.Environment, template: str, path: str, by: str, **context: Any) -> None:
    """Render `template` into the page at `path` (site-relative), claimed for `by`. The template links to any other
    path p of the site with url(p) (the shortest link from this page) or root_url(p) (through the site's root, as
    the links that every page shares are written)."""
    top = paths.root(path)
    html = env.get_template(template).render(url=partial(paths.href, path), root_url=lambda p: top + p, **context)
    atomic_write_text(layout.claim(path, by), html)


def first_layer_png(run_path: Path, path: Path) -> None:
    """The first layer of a run after training (its last snapshot only), as a mosaic PNG: what the recipe page and
    a sweep's comparison page show of each run."""
    run = Run(run_path)
    _, w = run.read_kernels(run.layers()[0].name, keep=[-1])
    mosaic.write_png(path, compact.layer_mosaic(w[-1]))


def write_pages(views: list[RunView], layout: Layout, checks: Sequence[RecipeCheck] = ()) -> None:
    """Phase 2: the HTML pages, JSON and static files."""
    env = jinja_env()
    banks = {paths.bank_slug(lv.analysis.kshape): lv.analysis.bank for v in views for lv in v.layers if lv.analysis}
    # a fitted bank (long 1-D kernels) shows examples of its families; the templates fitted are on the kernel pages
    common = {"version": __version__, "runs": views, "banks": sorted(banks), "checks": {c.run: c for c in checks}}
    page = partial(write_page, layout, env)
    recipe_images = _recipe_figures(checks, layout)
    page("index.html", paths.INDEX, "the index", **common)
    page("methods.html", paths.METHODS, "the methods page", constants=_constants(), **common)
    if checks:
        page("recipe.html", paths.RECIPE, "the recipe page", recipe_images=recipe_images, **common)
    for v in views:
        run_page = paths.run_page(v.slug)
        page("run.html", run_page, f"the page of run {v.name!r}", run=v, published=_published(v), **common)
        page("config.html", paths.config_page(v.slug), f"the config page of run {v.name!r}", run=v, **common)
        for lv in v.layers:
            _layer_pages(layout, env, v, lv, common)
    for bslug, b in banks.items():
        shown = b.display()
        families = _write_bank(shown, bslug, layout)
        page(
            "bank.html",
            paths.bank_page(bslug),
            f"bank {bslug}",
            bank=shown,
            fitted=b.fitted,
            bslug=bslug,
            families=families,
            **common,
        )
    summary = {
        "version": report.SUMMARY_VERSION,
        "runs": [run_summary(v) for v in views],
        "recipe_checks": [c.summary() for c in checks],
    }
    text = report.dumps(summary)
    if len(text) > SUMMARY_INDENTED:  # a large model's: written without indentation, a third smaller
        text = report.dumps(summary, compact=True)
    atomic_write_text(layout.claim(paths.SUMMARY, "summary.json"), text)
    write_static(layout)


def run_summary(v: RunView) -> dict[str, Any]:
    """A run's entry of summary.json: every layer the site draws (one whose kernels are too small for a pattern
    score with null pattern fields and `not_scored` saying what it is), the layers not drawn and the tensors not read
    as conv weights."""
    return {
        "name": v.name,
        "source": v.meta.source,
        "test_accuracy": v.test_accuracy,
        "layers": [layer_record(lv) for lv in v.layers],
        "not_shown": report.listed(v.meta.unshown),
        "other_tensors": report.listed(v.meta.other_tensors),
        "data": data_record(v),
    }


def _published(v: RunView) -> published.Context | None:
    """The archive's published figures for the run's data set, where it is one of the archive's."""
    src = v.meta.data
    return None if src is None else published.context(src.name, src.n_train, src.n_test)


def data_record(v: RunView) -> dict[str, Any] | None:
    """A run's `data` in summary.json: where a user's data set came from (userdata.DataSource, every field), and
    `published`, the archive's published accuracies for it (null where there are none); null for the waveforms."""
    if v.meta.data is None:
        return None
    context = _published(v)
    return {**dataclasses.asdict(v.meta.data), "published": None if context is None else context.summary()}


def layer_record(lv: LayerView) -> dict[str, Any]:
    """A drawn layer's entry of summary.json."""
    info = lv.info
    record = lv.summary or report.unscored_summary(info.name, info.kind, info.shape)
    return {**record.as_dict(), **({"sparse_coding": lv.reference.summary()} if lv.reference is not None else {})}


def _layer_pages(layout: Layout, env: jinja2.Environment, v: RunView, lv: LayerView, common: dict[str, Any]) -> None:
    """A layer's page, its kernel table's later pages, and its kernels' pages."""
    who = f"layer {lv.info.name!r} of run {v.name!r}"
    here = paths.layer_page(v.slug, lv.slug)
    bank_href = paths.href(here, paths.bank_page(paths.bank_slug(lv.analysis.kshape))) if lv.analysis else None

    def page(template: str, path: str, by: str, **context: Any) -> None:
        write_page(layout, env, template, path, by, run=v, layer=lv, **common, **context)

    page("layer.html", here, f"the page of {who}", bank_href=bank_href)
    for n, rows in enumerate(lv.table_pages[1:], start=2):
        page(
            "kernel_table.html",
            paths.table_page(v.slug, lv.slug, n),
            f"table page {n} of {who}",
            rows=rows,
            page_index=n - 1,
        )
    for i, k in enumerate(lv.kernels):
        prev, nxt = (lv.kernels[i - 1] if i else None), (lv.kernels[i + 1] if i + 1 < len(lv.kernels) else None)
        page(
            "kernel.html",
            paths.kernel_page(v.slug, lv.slug, k.index),
            f"kernel {k.index} of {who}",
            k=k,
            prev=prev,
            next=nxt,
        )


def _write_bank(b: Bank, bslug: str, layout: Layout) -> list[dict[str, Any]]:
    """One mosaic per family; returns what the bank page lists."""
    families = []
    for fam in sorted({t.family for t in b.templates}, key=FAMILY_ORDER.index):
        idx = [i for i, t in enumerate(b.templates) if t.family == fam]
        img, shown = compact.bank_mosaic(b.weights[idx])
        path = paths.bank_image(bslug, fam)
        target = layout.claim(path, f"the {fam} family of bank {bslug}")
        target.parent.mkdir(parents=True, exist_ok=True)
        mosaic.write_png(target, img)
        names = sorted({b.templates[i].name for i in idx})
        src = paths.href(paths.bank_page(bslug), path)
        families.append({"family": fam, "count": len(idx), "shown": shown, "names": names, "src": src})
    return families


def _recipe_figures(checks: Sequence[RecipeCheck], layout: Layout) -> dict[Path, str]:
    """The first layer of every run behind the recipe page, after training; returns each run's picture by its
    path."""
    judged = [j for c in checks for j in [*c.seeds, *([c.ablation] if c.ablation else [])]]
    images = {}
    for j, slug in zip(judged, unique_slugs([j.name for j in judged]), strict=True):
        path = paths.recipe_image(slug)
        target = layout.claim(path, f"the recipe page's picture of run {j.name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        first_layer_png(j.path, target)
        images[j.path] = path
    return images


def _constants() -> dict[str, Any]:
    return {
        "null_samples": scores.NULL_SAMPLES,
        "quantile": int(100 * scores.THRESHOLD_QUANTILE),
        "surrogates": scores.SURROGATES,
        "alpha": scores.SURROGATE_ALPHA,
        "dense_max_taps": DENSE_MAX_TAPS,
        "near": NEAR,
    }
