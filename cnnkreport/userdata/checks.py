"""What every reader of a user's data set shares: the limits checked before anything is read (the file against
memory, the values against a fixed maximum), the one-line refusal naming the file and the line or field, the record
a reader returns (`Raw`), and the labels made into classes (declared order, or sorted, numbers by value)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import MAX_DATA_VALUES, MAX_SAMPLES
from ..errors import UserError
from ..names import printable

MAX_VALUES = MAX_DATA_VALUES  # values (samples x channels x length, or x pixels) of one file, padding included
MAX_SERIES = MAX_SAMPLES  # series or images in one file
MEMORY_LIMIT: int | None = None  # bytes a file may take; None: a quarter of the physical memory (memory_limit)
MEMORY_SHARE = 4  # a file may take 1/MEMORY_SHARE of the physical memory
FALLBACK_MEMORY = 8 * 2**30  # physical memory assumed where the system does not say
MAX_LABEL = 200  # characters of one label


def memory_limit() -> int:
    """The bytes one file may take in memory: MEMORY_LIMIT where set (tests set it), else a quarter of the physical
    memory as os.sysconf reports it."""
    if MEMORY_LIMIT is not None:
        return MEMORY_LIMIT
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        physical = FALLBACK_MEMORY
    return max(physical, 2**20) // MEMORY_SHARE


def shown(path: Path) -> str:
    """The file as the user named it, printable in one line."""
    return printable(str(path))


def bad(path: Path, where: str | None, what: str) -> UserError:
    """The one-line refusal: "GunPoint_TRAIN.ts, line 23: value 17 of channel 1 is 'x', not a number"."""
    return UserError(f"{shown(path)}{f', {where}' if where else ''}: {what}")


def quoted(text: str, limit: int = 40) -> str:
    """A field of the user's file, quoted for a message, cut short if long."""
    text = printable(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def size_of(path: Path) -> int:
    """The file's size in bytes (a missing or unreadable file is a one-line refusal)."""
    try:
        return path.stat().st_size
    except OSError as e:
        raise bad(path, None, f"cannot be read ({e.strerror or e})") from None


def megabytes(nbytes: int) -> str:
    """A size for a message: "3.2 MB", "0.0012 MB"."""
    return f"{nbytes / 2**20:,.0f} MB" if nbytes >= 10 * 2**20 else f"{nbytes / 2**20:.2g} MB"


def check_memory(path: Path, nbytes: int, what: str = "the file") -> None:
    """Refuse, before reading, data that would not fit: `nbytes` (the file's size, or what its headers declare)
    against memory_limit()."""
    limit = memory_limit()
    if nbytes > limit:
        raise bad(
            path,
            None,
            f"{what} is {megabytes(nbytes)}, more than the {megabytes(limit)} that one data file may take here "
            f"(1/{MEMORY_SHARE} of the memory)",
        )


def text_lines(path: Path, kind: str) -> Iterator[str]:
    """A text file's lines, decoded one by one (so that a byte that is not UTF-8 is named by its line), after the
    size check; a leading byte-order mark is dropped."""
    check_memory(path, size_of(path))
    try:
        fh = path.open("rb")
    except OSError as e:
        raise bad(path, None, f"cannot be read ({e.strerror or e})") from None
    with fh:
        for lineno, data in enumerate(fh, 1):
            try:
                yield data.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise bad(path, f"line {lineno}", f"not UTF-8 text: {kind} is text") from None


def check_values(path: Path, where: str | None, n_values: int, n_series: int) -> None:
    """Refuse more values or more series than a data set may have (MAX_VALUES, MAX_SERIES)."""
    if n_values > MAX_VALUES:
        raise bad(path, where, f"more than {MAX_VALUES:,} values: too large a data set to train on here")
    if n_series > MAX_SERIES:
        raise bad(path, where, f"more than {MAX_SERIES:,} series or images: too large a data set to train on here")


def check_label(path: Path, where: str, label: str) -> str:
    """A label as a class name: stripped, not empty, not over MAX_LABEL characters."""
    label = label.strip()
    if not label:
        raise bad(path, where, "the label is empty")
    if len(label) > MAX_LABEL:
        raise bad(path, where, f"the label {quoted(label)} is over {MAX_LABEL} characters long")
    return label


@dataclass(frozen=True)
class Raw:
    """What a reader found in one file, before splitting and standardising.

    Series: `x` (n, channels, length) float64, each series' values in its first `lengths[i]` steps and zeros after
    (the longest series sets `length`). Images: `x` (n, channels, H, W) float32 in [0, 1], `lengths` None."""

    file: Path
    format: str  # "ts" | "tsv" | "csv" | "npz" | "image-folder"
    kind: str  # "signal" | "image"
    x: np.ndarray
    lengths: np.ndarray | None  # (n,) int64, series only
    labels: tuple[str, ...]
    declared: tuple[str, ...] | None  # the classes in the order the file declares them (@classLabel, folders)
    name: str  # the data set's name: @problemName, or the file's stem less _TRAIN / _TEST
    equal_length: bool | None = None  # what the file says (.ts @equalLength), None where it says nothing


_SPLIT_SUFFIX = re.compile(r"_(train|test)$", re.IGNORECASE)


def dataset_name(stem: str) -> str:
    """A data set's name from a file's stem or a @problemName: less a `.ts` and a `_TRAIN`/`_TEST` suffix."""
    stem = stem.strip()
    if stem.lower().endswith(".ts"):
        stem = stem[:-3]
    return printable(_SPLIT_SUFFIX.sub("", stem) or stem)


def _number(label: str) -> float | None:
    try:
        value = float(label)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def sorted_labels(labels: set[str]) -> tuple[str, ...]:
    """Labels in order: by value where every one is a number ("2" before "10"), else as text."""
    numbers = {label: _number(label) for label in labels}
    if all(v is not None for v in numbers.values()):
        return tuple(sorted(labels, key=lambda s: (numbers[s], s)))
    return tuple(sorted(labels))


def classes_of(train: Raw) -> tuple[str, ...]:
    """The classes trained on: those the training file declares (in its order) and uses, else its labels sorted.
    One class only is refused."""
    present = set(train.labels)
    if train.declared is not None:
        classes = tuple(c for c in train.declared if c in present)
    else:
        classes = sorted_labels(present)
    if len(classes) < 2:
        only = f"only the class {quoted(classes[0])}" if classes else "no class"
        raise bad(train.file, None, f"{only} in the training set: a classifier needs two or more")
    return classes


def indices(raw: Raw, classes: tuple[str, ...], train_file: Path) -> np.ndarray:
    """Each label as an index into `classes`; a test label absent from the training set is refused."""
    index = {c: i for i, c in enumerate(classes)}
    missing = sorted({label for label in raw.labels if label not in index})
    if missing:
        named = ", ".join(quoted(m) for m in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise bad(raw.file, None, f"{len(missing)} label(s) absent from the training set {shown(train_file)}: {named}")
    return np.fromiter((index[label] for label in raw.labels), dtype=np.int64, count=len(raw.labels))


def stack(path: Path, values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Series of (channels, length_i) as one (n, channels, longest) array, zeros after each one's end, and the
    lengths."""
    lengths = np.array([v.shape[1] for v in values], dtype=np.int64)
    n, c, longest = len(values), values[0].shape[0], int(lengths.max())
    if lengths.min() == longest:
        return np.stack(values), lengths
    check_values(path, f"padded to the longest series ({longest} values)", n * c * longest, n)
    x = np.zeros((n, c, longest))
    for i, v in enumerate(values):
        x[i, :, : v.shape[1]] = v
    return x, lengths
