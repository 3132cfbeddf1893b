"""A local preview server for a site made by cnnkreport: GET and HEAD of the site's files, nothing outside it."""

from __future__ import annotations

import errno
import http.server
import webbrowser
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ..errors import UserError
from .common import check_site

SERVE_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".gif": "image/gif",
    ".toml": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".pt": "application/octet-stream",
    ".npz": "application/octet-stream",
}


class _Handler(http.server.SimpleHTTPRequestHandler):
    """GET and HEAD of the files under `directory` only (nothing that leaves it), with our content types, quietly."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **SERVE_TYPES}

    def translate_path(self, path: str) -> str:
        local = super().translate_path(path)
        root = Path(self.directory).resolve()
        if not Path(local).resolve().is_relative_to(root):  # a symlink out of the site: as if it were not there
            return str(root / ".cnnkreport-not-found")
        return local

    def log_message(self, format: str, *args: object) -> None:
        pass


def make_server(site: Path, host: str = "127.0.0.1", port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server for the site, listening (port 0: any free port; the address is `server.server_address`)."""
    root = check_site(site)
    try:
        return http.server.ThreadingHTTPServer((host, port), partial(_Handler, directory=str(root)))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} is in use; try --port 0 or another port") from None
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def server_url(server: http.server.HTTPServer) -> str:
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else str(host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(
    site: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    open_browser: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the site until Ctrl-C; `on_ready(url)` once it listens. Prints nothing itself."""
    with make_server(site, host, port) as server:
        url = server_url(server)
        if on_ready:
            on_ready(url)
        if open_browser:
            webbrowser.open(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
