"""Images in a folder with a subfolder per class (torchvision's ImageFolder layout), PNG and JPEG read with Pillow.

The classes are the subfolders' names, sorted; each class's images are the PNG and JPEG files anywhere below its
folder (found by their suffix, in sorted order; other files and hidden ones are passed over, symbolic links to
folders are not followed). Every image must have the size of the first; greyscale images (modes 1, L, LA, I, I;16,
F) give one channel, any other mode three (RGB; alpha dropped, a palette expanded), and where both kinds are in one
folder the greyscale ones are made RGB (their grey in all three channels): nothing is thrown away. Values are scaled
to [0, 1] (8 bits / 255, 16 bits / 65535). Refused, each in one line naming the file: one that Pillow cannot read as
PNG or JPEG, an image larger than MAX_PIXELS (or one Pillow calls a decompression bomb), an image of another size
than the first, an empty class folder, more images or values than a data set may have."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from ..errors import UserError
from . import checks
from .checks import Raw, bad

T = TypeVar("T")

SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_PIXELS = 4096 * 4096  # of one image; Pillow's own bomb limit (Image.MAX_IMAGE_PIXELS) is far higher
GREY = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def _files(folder: Path) -> list[Path]:
    """The PNG and JPEG files below a class folder, in sorted order (symbolic links to folders not followed)."""
    found = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(top, n) for n in sorted(names) if not n.startswith(".") and n.lower().endswith(SUFFIXES)]
    return found


def _layout(root: Path) -> list[tuple[str, Path]]:
    """(class, file) for every image, classes sorted by name; an empty class folder is refused."""
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as e:
        raise bad(root, None, f"cannot be read ({e.strerror or e})") from None
    if not folders:
        raise bad(root, None, "no class folders: an image folder holds a subfolder per class, of PNG or JPEG files")
    pairs = []
    for folder in folders:
        files = _files(folder)
        if not files:
            raise bad(folder, None, "a class folder with no PNG or JPEG file")
        label = checks.check_label(folder, "the folder's name", folder.name)
        pairs += [(label, f) for f in files]
        checks.check_values(root, None, 0, len(pairs))
    return pairs


def _grey(im: Image.Image) -> np.ndarray:
    """A greyscale image's pixels in [0, 1], float32 (H, W): 8 bits / 255, 16 bits / 65535, floats as they are."""
    if im.mode.startswith("I"):
        return (np.asarray(im, dtype=np.float64) / 65535.0).clip(0, 1).astype(np.float32)
    if im.mode == "F":
        return np.asarray(im, dtype=np.float32).clip(0, 1)
    return np.asarray(im.convert("L"), dtype=np.float32) / np.float32(255)


def _pixels(im: Image.Image, colour: bool) -> np.ndarray:
    """An opened image's pixels in [0, 1], float32 (channels, H, W): one channel, or three where `colour` (a
    greyscale image's grey in each)."""
    if im.mode in GREY:
        grey = _grey(im)[None]
        return np.repeat(grey, 3, axis=0) if colour else grey
    return (np.asarray(im.convert("RGB"), dtype=np.float32) / np.float32(255)).transpose(2, 0, 1)


def _open(path: Path) -> Image.Image:
    """An image file opened (its header read, not its pixels), after the size checks of MAX_PIXELS and Pillow's."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        im = Image.open(path, formats=("PNG", "JPEG"))
    width, height = im.size
    if width * height > MAX_PIXELS:
        im.close()
        raise bad(path, None, f"{width} x {height} pixels, more than the {MAX_PIXELS:,} an image may have")
    return im


def _guarded(path: Path, read: Callable[[Image.Image], T]) -> T:
    """`read(image)` on an opened image file; whatever Pillow fails with is a one-line refusal naming the file."""
    try:
        with _open(path) as im:
            return read(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise bad(path, None, f"refused as a decompression bomb ({e})") from None
    except UserError:
        raise
    except Exception as e:  # Pillow's decoders fail in many ways on a broken file: each one is an unreadable image
        raise bad(path, None, f"cannot be read as a PNG or JPEG image ({type(e).__name__}: {e})") from None


def _survey(root: Path, pairs: list[tuple[str, Path]]) -> tuple[int, int, bool]:
    """(W, H, colour) of the images, from their headers: every one the size of the first, the memory checked."""
    first: tuple[Path, tuple[int, int]] | None = None
    colour = False
    for _, path in pairs:
        size, mode = _guarded(path, lambda im: (im.size, im.mode))
        if first is None:
            first = (path, size)
        elif size != first[1]:
            (w0, h0), (w, h) = first[1], size
            raise bad(
                path,
                None,
                f"{w} x {h} pixels, where {checks.shown(first[0])} is {w0} x {h0}: every image must be the same size",
            )
        colour = colour or mode not in GREY
    assert first is not None
    (width, height), channels = first[1], 3 if colour else 1
    values = len(pairs) * channels * width * height
    checks.check_values(root, None, values, len(pairs))
    checks.check_memory(root, 4 * values, "its images, decoded,")
    return width, height, colour


def read_folder(root: Path) -> Raw:
    """An image folder, read as the module says: (n, channels, H, W) float32 in [0, 1]."""
    pairs = _layout(root)
    width, height, colour = _survey(root, pairs)
    x = np.empty((len(pairs), 3 if colour else 1, height, width), dtype=np.float32)
    for i, (_, path) in enumerate(pairs):
        pixels = _guarded(path, lambda im: _pixels(im, colour))
        if pixels.shape[1:] != (height, width):  # the header said otherwise
            raise bad(path, None, "its pixels do not match the size its header declares")
        x[i] = pixels
    return Raw(
        file=root,
        format="image-folder",
        kind="image",
        x=x,
        lengths=None,
        labels=tuple(label for label, _ in pairs),
        declared=tuple(dict.fromkeys(label for label, _ in pairs)),
        name=checks.dataset_name(root.name),
    )
