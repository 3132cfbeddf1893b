"""Publish a site made by cnnkreport: one self-contained HTML file (pack_html), a zip (pack_zip), a local server
(serve)."""

from .archive import pack_zip
from .common import check_site
from .pack import PackResult, pack_html
from .server import make_server, serve, server_url

__all__ = ["PackResult", "check_site", "make_server", "pack_html", "pack_zip", "serve", "server_url"]
