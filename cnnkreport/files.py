"""Writing a file so that a reader never sees half of it: a temp file beside the target, then a rename over it.
Every stage writes through these two functions (runs, figures, pages, packed files)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _temp_file(path: Path) -> tuple[int, Path]:
    """A new, empty temp file beside `path` (`.NAME.RANDOM.tmp`), opened for writing. Created with mode 0o666, so
    the process umask applies as for any ordinary file (mkstemp would make it private)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through `write(fh)` (a binary file) into a temp file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_file(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
