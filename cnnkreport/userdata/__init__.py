"""A user's own data set, read as data (no code from any file is run; `.npz` with allow_pickle off): time series in
the UCR/UEA `.ts` format, the UCR `.tsv`, `.csv`, `.npz` (`x`, `y`), and image folders (a subfolder per class).
`read_dataset` is the one entry point; every reader returns a `UserData`, whatever the format.

Series come out as (n, channels, length), images as (n, channels, H, W), float32, standardised as the archive's
users expect (each series z-normalised per channel; images scaled to [0, 1] and then standardised with the training
set's statistics). Labels are indices into `classes` (sorted as the file declares them, or in sorted order).

Its modules: `checks` (the limits checked before reading, the one-line refusal, the `Raw` record every reader
returns, labels made classes), the readers `ts` (UCR/UEA `.ts`, as aeon reads it), `delimited` (UCR `.tsv` and
`.csv`), `arrays` (`.npz`, checked before it is loaded) and `images` (an image folder, with Pillow), and `prepare`
(the test set held out, train and test checked against each other, standardising and padding, in words).
docs/formats.md says what each format may hold and what is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import arrays, checks, delimited, images, ts
from .checks import Raw, bad
from .prepare import prepare

FORMATS = {".ts": "ts", ".tsv": "tsv", ".csv": "csv", ".npz": "npz"}


@dataclass(frozen=True)
class DataSource:
    """Where a run's data came from, as the run page and summary.json (`data`) say it."""

    file: str  # the training file or folder, as the user named it (printable)
    test_file: str | None  # the test file, or None when the test set was held out of `file`
    format: str  # "ts" | "tsv" | "csv" | "npz" | "image-folder"
    kind: str  # "signal" | "image"
    n_train: int
    n_test: int
    length: int | None  # series: the length trained on
    image_size: tuple[int, int] | None  # images: (H, W)
    channels: int
    classes: tuple[str, ...]
    split: str  # how the test set was made, in words ("the test file", "a stratified 20% of TRAIN held out, seed 0")
    lengths: str  # "equal" or what was done to unequal lengths, in words ("padded with zeros to 150 ...")
    standardised: str  # in words ("each series z-normalised per channel")
    name: str  # the data set's name (`@problemName`, or the file's stem less _TRAIN): for the published baselines
    mean: tuple[float, ...] | None = None  # images: the training set's mean per channel (values in [0, 1])
    std: tuple[float, ...] | None = None  # images: its standard deviation per channel (x = (pixel - mean) / std)


@dataclass(frozen=True)
class UserData:
    x_train: np.ndarray  # (n, c, L) or (n, c, H, W), float32
    y_train: np.ndarray  # (n,) int64, indices into classes
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: DataSource


def format_of(path: Path) -> str:
    """The format of a data set by its name: a folder is an image folder, a file goes by its suffix."""
    if path.is_dir():
        return "image-folder"
    if not path.exists():
        raise bad(path, None, "no such file or folder")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise bad(path, None, "not a data set this reads: a .ts, .tsv, .csv or .npz file, or a folder of class folders")
    return fmt


def _read(path: Path, fmt: str, label_column: str | None) -> Raw:
    if fmt == "ts":
        return ts.read_ts(path)
    if fmt == "tsv":
        return delimited.read_tsv(path)
    if fmt == "csv":
        return delimited.read_csv(path, label_column)
    if fmt == "npz":
        return arrays.read_npz(path)
    return images.read_folder(path)


def read_dataset(
    train: Path,
    test: Path | None = None,
    *,
    label_column: str | None = None,
    seed: int = 0,
    test_share: float = 0.2,
) -> UserData:
    """Read a user's data set: `train` (a file, or an image folder), and `test` (the same format) or, without it,
    a stratified `test_share` of `train` held out (seeded). Bad data is a one-line UserError naming the file and
    the line or field; nothing is written anywhere."""
    train, test = Path(train), None if test is None else Path(test)
    fmt = format_of(train)
    if test is not None and format_of(test) != fmt:
        raise bad(test, None, f"a test set must have the training set's format ({fmt}), as {checks.shown(train)}")
    if label_column is not None and fmt != "csv":
        raise bad(train, None, "a label column is named for .csv files only")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise bad(train, None, f"the seed of the held-out split must be a whole number, 0 or more, not {seed!r}")
    if test is None and not 0 < test_share < 1:
        raise bad(train, None, f"the share of it held out as a test set must be between 0 and 1, not {test_share}")
    raw = _read(train, fmt, label_column)
    raw_test = None if test is None else _read(test, fmt, label_column)
    classes = checks.classes_of(raw)
    y = checks.indices(raw, classes, train)
    y_test = None if raw_test is None else checks.indices(raw_test, classes, train)
    ready = prepare(raw, raw_test, y, y_test, test_share, seed)
    n, c, *rest = ready.x_train.shape
    source = DataSource(
        file=checks.shown(train),
        test_file=None if test is None else checks.shown(test),
        format=fmt,
        kind=raw.kind,
        n_train=n,
        n_test=len(ready.y_test),
        length=rest[0] if raw.kind == "signal" else None,
        image_size=(rest[0], rest[1]) if raw.kind == "image" else None,
        channels=c,
        classes=classes,
        split=ready.split,
        lengths=ready.lengths,
        standardised=ready.standardised,
        name=raw.name,
        mean=ready.mean,
        std=ready.std,
    )
    return UserData(ready.x_train, ready.y_train, ready.x_test, ready.y_test, classes, source)
