"""The UCR/UEA `.ts` format, read as aeon's `load_from_ts_file` reads it (the archive's reference reader; the same
values and labels on the archive's own files, bench/bench_readers.py), and stricter where it would guess.

A header of `@tags` (case-insensitive; `#` and `%` lines are comments) up to `@data`, then one series a line: its
channels separated by `:`, their values by `,`, the label last. Refused, each in one line naming the file and line:
`@timeStamps true`, `@targetLabel true` (regression), `@classLabel false` (no labels), a header with no data, a
series whose channels differ in length, lengths that differ where `@equalLength true` (or from `@seriesLength`),
channel counts that differ (or from `@dimensions`, or more than one where `@univariate true`), a value that is no
number, a missing value (`?`, NaN) or an infinite one, a label that `@classLabel` does not declare."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import checks
from .checks import Raw, bad, quoted

_BOOLEANS = ("timestamps", "missing", "univariate", "equallength", "targetlabel")
_SPACE = re.compile(r"\s+")


@dataclass
class Header:
    name: str | None = None
    flags: dict[str, bool] = field(default_factory=dict)  # the boolean tags, lower-case keys
    declared: tuple[str, ...] | None = None  # @classLabel true a b ...
    series_length: int | None = None
    dimensions: int | None = None


def _flag(path: Path, where: str, tokens: list[str]) -> bool:
    if len(tokens) != 2 or tokens[1].lower() not in ("true", "false"):
        raise bad(path, where, f"{tokens[0]} takes one value, true or false")
    return tokens[1].lower() == "true"


def _count(path: Path, where: str, tokens: list[str]) -> int:
    if len(tokens) != 2 or not tokens[1].isdigit() or int(tokens[1]) < 1:
        raise bad(path, where, f"{tokens[0]} takes one whole number, 1 or more")
    return int(tokens[1])


def _class_labels(path: Path, where: str, tokens: list[str]) -> tuple[str, ...]:
    if len(tokens) < 2 or tokens[1].lower() not in ("true", "false"):
        raise bad(path, where, "@classLabel takes true and the class labels, or false")
    if tokens[1].lower() == "false":
        raise bad(path, where, "@classLabel false: the series have no labels to learn (classification only)")
    labels = tuple(checks.check_label(path, where, t) for t in tokens[2:])
    if not labels:
        raise bad(path, where, "@classLabel true names no class labels")
    if len(set(labels)) != len(labels):
        raise bad(path, where, "@classLabel names a class twice")
    return labels


def _tag(path: Path, where: str, tokens: list[str], header: Header) -> None:
    """One header line's @tag into `header`; unknown tags are passed over, as aeon does."""
    key = tokens[0][1:].lower()
    if key in _BOOLEANS:
        header.flags[key] = _flag(path, where, tokens)
    elif key == "problemname":
        if len(tokens) < 2:
            raise bad(path, where, "@problemName names no problem")
        header.name = tokens[1]
    elif key == "classlabel":
        header.declared = _class_labels(path, where, tokens)
    elif key == "serieslength":
        header.series_length = _count(path, where, tokens)
    elif key == "dimensions":
        header.dimensions = _count(path, where, tokens)


def read_header(path: Path, lines: Iterator[tuple[int, str]]) -> Header:
    """The tags up to `@data` (the iterator is left at the first line after it)."""
    header = Header()
    for lineno, text in lines:
        line = text.strip()
        if not line or line.startswith(("#", "%")):
            continue
        where = f"line {lineno}"
        if not line.startswith("@"):
            raise bad(path, where, f"{quoted(line)} before @data is no @tag and no # comment")
        tokens = _SPACE.split(line)
        if tokens[0].lower() == "@data":
            if len(tokens) != 1:
                raise bad(path, where, "@data takes no value")
            break
        _tag(path, where, tokens, header)
    else:
        raise bad(path, None, "no @data line: the series of a .ts file follow a line '@data'")
    flags = header.flags
    if flags.get("timestamps"):
        raise bad(path, None, "@timeStamps true: series with time stamps are not read (write the values only)")
    if flags.get("targetlabel"):
        raise bad(path, None, "@targetLabel true: a regression problem; only classification data sets are read")
    return header


def _first_bad(channels: list[str]) -> str:
    """The first value of a line that is no finite number, as the message names it (the slow path, on error)."""
    for c, text in enumerate(channels, 1):
        for v, field_ in enumerate(text.split(","), 1):
            at = f"value {v} of channel {c}" if len(channels) > 1 else f"value {v}"
            try:
                value = float(field_)
            except ValueError:
                if field_.strip() == "?":
                    return f"{at} is missing ('?'): missing values are not read (fill or drop those series)"
                return f"{at} is {quoted(field_)}, not a number"
            if np.isnan(value):
                return f"{at} is NaN: missing values are not read (fill or drop those series)"
            if not np.isfinite(value):
                return f"{at} is infinite"
    raise AssertionError("no bad value found")  # pragma: no cover


class _Series:
    """The series of one file as they are read: checks each line against the header and the lines before it."""

    def __init__(self, path: Path, header: Header) -> None:
        self.path, self.header = path, header
        self.values: list[np.ndarray] = []
        self.labels: list[str] = []
        self.first: tuple[int, int, int] | None = None  # (line, channels, length) of the first series
        self.total = 0
        lower: dict[str, str] = {}
        for label in header.declared or ():
            lower[label.lower()] = label if label.lower() not in lower else ""
        self.lower = lower  # declared labels by their lower case ("" where two differ only in case)

    def label(self, where: str, text: str) -> str:
        label = checks.check_label(self.path, where, text)
        declared = self.header.declared
        if declared is None or label in declared:
            return label
        if self.lower.get(label.lower()):  # aeon reads labels in lower case: "standing" is "Standing"
            return self.lower[label.lower()]
        raise bad(self.path, where, f"the label {quoted(label)} is not one that @classLabel declares")

    def shape(self, lineno: int, channels: list[str]) -> tuple[int, int]:
        """(channels, length) of a line, checked against the header and the first series."""
        where = f"line {lineno}"
        counts = [text.count(",") + 1 for text in channels]
        c, n = len(counts), counts[0]
        if any(k != n for k in counts):
            k = next(i for i, k in enumerate(counts, 1) if k != n)
            raise bad(
                self.path,
                where,
                f"channel {k} has {counts[k - 1]} values, channel 1 {n}: the channels of a series must be equally long",
            )
        h = self.header
        if h.flags.get("univariate") and c > 1:
            raise bad(self.path, where, f"{c} channels, where the header says @univariate true")
        if h.dimensions is not None and c != h.dimensions:
            raise bad(self.path, where, f"{c} channels, where the header says @dimensions {h.dimensions}")
        if self.first is None:
            self.first = (lineno, c, n)
        line, c0, n0 = self.first
        if c != c0:
            raise bad(self.path, where, f"{c} channels, where line {line} has {c0}")
        if h.flags.get("equallength", True):
            if h.series_length is not None and n != h.series_length:
                raise bad(self.path, where, f"{n} values, where the header says @seriesLength {h.series_length}")
            if n != n0:
                raise bad(
                    self.path,
                    where,
                    f"{n} values, where line {line} has {n0}: series are equally long unless the header says "
                    "@equalLength false",
                )
        return c, n

    def add(self, lineno: int, line: str) -> None:
        where = f"line {lineno}"
        body, sep, label = line.rpartition(":")
        if not sep:
            raise bad(self.path, where, "no ':' before the label: a series is its values, ':', then its label")
        channels = body.split(":")
        c, n = self.shape(lineno, channels)
        self.total += c * n
        checks.check_values(self.path, where, self.total, len(self.values) + 1)
        try:
            values = np.array(body.replace(":", ",").split(","), dtype=np.float64)
        except ValueError:
            raise bad(self.path, where, _first_bad(channels)) from None
        if not np.isfinite(values).all():
            raise bad(self.path, where, _first_bad(channels))
        self.values.append(values.reshape(c, n))
        self.labels.append(self.label(where, label))


def read_ts(path: Path) -> Raw:
    """One `.ts` file, its series as float64 (n, channels, longest) with their lengths; checked as the module says."""
    lines = enumerate(checks.text_lines(path, "a .ts file"), 1)
    header = read_header(path, lines)
    series = _Series(path, header)
    for lineno, text in lines:
        line = text.strip()
        if line:
            series.add(lineno, line)
    if not series.values:
        raise bad(path, None, "a header with no data: no series after @data")
    x, lengths = checks.stack(path, series.values)
    return Raw(
        file=path,
        format="ts",
        kind="signal",
        x=x,
        lengths=lengths,
        labels=tuple(series.labels),
        declared=header.declared,
        name=checks.dataset_name(header.name or path.stem),
        equal_length=header.flags.get("equallength"),
    )
