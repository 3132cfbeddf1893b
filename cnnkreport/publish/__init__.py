"""The publish stage: a site made by cnnkreport as one self-contained HTML file (pack, with rewrite re-emitting each
page with its links and pictures inlined, usage saying where each file's data goes so that it is in the file once,
and budget what to leave out to stay within --max-mb), a zip (archive), or served on 127.0.0.1 (server); common
checks that a folder is such a site and writes the result."""

from .archive import pack_zip
from .common import check_site
from .pack import PackResult, pack_html
from .server import make_server, serve, server_url

__all__ = ["PackResult", "check_site", "make_server", "pack_html", "pack_zip", "serve", "server_url"]
