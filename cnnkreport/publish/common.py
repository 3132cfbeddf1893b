"""What pack, zip and serve share: the check that a folder is a site made by cnnkreport, the check of an output
path, and the atomic write of an output file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..errors import UserError
from ..files import atomic_write
from ..site.layout import MARKER


def check_site(site: Path) -> Path:
    """The site folder, resolved; UserError unless it is a folder made by cnnkreport."""
    if not site.exists():
        raise UserError(f"site folder {site} does not exist")
    if not site.is_dir():
        raise UserError(f"{site} is not a folder")
    if not (site / MARKER).is_file():
        raise UserError(f"{site} is not a site made by cnnkreport (no {MARKER} in it)")
    return site.resolve()


def check_out(root: Path, out: Path) -> Path:
    """Where to write `out`, resolved; UserError for a folder, a missing parent, or a place inside the site."""
    if out.is_dir():
        raise UserError(f"output {out} is a folder; give a file name")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise UserError(f"cannot write {out}: folder {parent} does not exist")
    target = parent.resolve() / out.name
    if target.is_relative_to(root):
        raise UserError(f"output {out} is inside the site folder {root}; write it elsewhere")
    return target


def write_output(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """`write(fh)` into `path` atomically (a failed write leaves the previous file); UserError if it fails."""
    try:
        atomic_write(path, write)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
