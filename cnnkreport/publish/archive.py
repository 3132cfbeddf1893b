"""A zip of a site made by cnnkreport: an exact, deterministic copy of the site folder (marker and .nojekyll included,
so that an unzipped copy is still recognised as a cnnkreport site by pack and serve, and may be rebuilt over)."""

from __future__ import annotations

import posixpath
import shutil
import zipfile
from pathlib import Path
from typing import BinaryIO

from .common import check_out, check_site, write_output

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_STORED_SUFFIXES = frozenset({".png", ".gif", ".jpg", ".jpeg", ".webp", ".zip", ".gz"})  # compressed already


def site_files(root: Path) -> list[str]:
    """Every file of the site, site-relative posix paths, sorted (a symlink out of the site is left out)."""
    files = [p for p in root.rglob("*") if p.is_file() and p.resolve().is_relative_to(root)]
    return sorted(p.relative_to(root).as_posix() for p in files)


def pack_zip(site: Path, out: Path) -> Path:
    """A deterministic zip of the whole site at `out`, entries under the site folder's name (`site/index.html`):
    sorted, dated 1980-01-01, mode 644. The marker and .nojekyll are kept: the zip is an exact copy."""
    root = check_site(site)
    target = check_out(root, out)
    prefix = root.name or "site"

    def write(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, "w") as z:
            for rel in site_files(root):
                path = root / rel
                info = zipfile.ZipInfo(f"{prefix}/{rel}", date_time=ZIP_DATE)
                info.create_system = 3  # unix, wherever it is made
                info.external_attr = 0o100644 << 16
                stored = posixpath.splitext(rel)[1].lower() in ZIP_STORED_SUFFIXES
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                info.file_size = path.stat().st_size
                with path.open("rb") as src, z.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst)

    write_output(target, write)
    return target
