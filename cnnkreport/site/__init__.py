"""The site stage: build_site() gathers every run's views in parallel processes (build: a layer's sections, kernel
pages and first-layer reference drawn by sections, as_filters, kernels and reference into the records of views,
each layer's numbers where downloads puts them),
writes the pages (pages, with the one inline script and its Content-Security-Policy from player, and the
archive's published accuracies from published beside a run on an archive data set), and swaps the
result in (layout, which also names and claims every file). The names below are imported on first use, so that
importing one module of the site (the layout's MARKER, say) does not import them all."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .build import build_site as build_site
    from .layout import Layout as Layout
    from .layout import check_out_dir as check_out_dir
    from .layout import swap_in as swap_in
    from .layout import templates_dir as templates_dir
    from .layout import write_static as write_static
    from .pages import first_layer_png as first_layer_png
    from .pages import jinja_env as jinja_env
    from .pages import write_page as write_page
    from .views import LayerView as LayerView
    from .views import RunView as RunView

_HOME = {
    "build_site": "build",
    "Layout": "layout",
    "check_out_dir": "layout",
    "swap_in": "layout",
    "templates_dir": "layout",
    "write_static": "layout",
    "first_layer_png": "pages",
    "jinja_env": "pages",
    "write_page": "pages",
    "LayerView": "views",
    "RunView": "views",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
