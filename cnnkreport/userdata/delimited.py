"""Series as rows of a delimited text file: the UCR `.tsv` (tab-separated, no header, the label first, as aeon's
`load_from_tsv_file` reads it) and `.csv` (comma-separated, the label in the first column or the one `label_column`
names, with or without a header row).

One series a row, univariate. NaN or empty fields at the end of a row are padding (the 2018 archive pads unequal
lengths so), and a shorter row is a shorter series: both are unequal lengths. A missing value anywhere else (`?`,
NaN, an empty field), a value that is no number, or an infinite one is refused in one line naming the row.

The header row of a `.csv`: with `label_column` the first row must be one and must name that column; without, the
first row is a header when one of its value fields (every field but the first) is not a number, else it is data."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from . import checks
from .checks import Raw, bad, quoted

_PADDING = ("", "nan")  # trailing fields that are padding (lower case, stripped)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_bad(values: list[str]) -> tuple[int, str]:
    """The first value of a row that is no finite number, and what is wrong with it (the slow path, on error)."""
    for i, text in enumerate(values):
        if text.strip() in ("", "?"):
            return i, f"is missing ({quoted(text.strip())}): only trailing NaN are read, as padding"
        try:
            value = float(text)
        except ValueError:
            return i, f"is {quoted(text)}, not a number"
        if math.isnan(value):
            return i, "is NaN inside the series: only trailing NaN are read, as padding"
        if not math.isfinite(value):
            return i, "is infinite"
    raise AssertionError("no bad field found")  # pragma: no cover


class _Rows:
    """The series of one file as rows are read: each row's label and values, checked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.names: list[str] = []  # the header's column names, where there is a header
        self.values: list[np.ndarray] = []
        self.labels: list[str] = []
        self.total = 0

    def field(self, column: int) -> str:
        """A row's field by its column (from 0), as a message names it: "field 7", or "field 7 ('t5')"."""
        name = f" ({quoted(self.names[column], 20)})" if column < len(self.names) else ""
        return f"field {column + 1}{name}"

    def add(self, lineno: int, fields: list[str], label_at: int) -> None:
        """One row: its fields, the label at `label_at`, the values in the others."""
        where = f"line {lineno}"
        if self.names and len(fields) > len(self.names):
            raise bad(self.path, where, f"{len(fields)} fields, where the header names {len(self.names)}")
        if label_at >= len(fields):
            raise bad(self.path, where, f"no field {label_at + 1} (the label's)")
        values = fields[:label_at] + fields[label_at + 1 :]
        end = len(values)
        while end and values[end - 1].strip().lower() in _PADDING:
            end -= 1
        if not end:
            raise bad(self.path, where, "a label and no values")
        del values[end:]
        self.total += end
        checks.check_values(self.path, where, self.total, len(self.values) + 1)
        try:
            row = np.array(values, dtype=np.float64)
        except ValueError:
            row = None
        if row is None or not np.isfinite(row).all():
            i, what = _first_bad(values)
            raise bad(self.path, f"{where}, {self.field(i + (i >= label_at))}", what)
        self.values.append(row.reshape(1, -1))
        self.labels.append(checks.check_label(self.path, f"{where}, {self.field(label_at)}", fields[label_at]))

    def raw(self, fmt: str) -> Raw:
        if not self.values:
            raise bad(self.path, None, "no series: the file holds no data rows")
        x, lengths = checks.stack(self.path, self.values)
        return Raw(
            file=self.path,
            format=fmt,
            kind="signal",
            x=x,
            lengths=lengths,
            labels=tuple(self.labels),
            declared=None,
            name=checks.dataset_name(self.path.stem),
        )


def read_tsv(path: Path) -> Raw:
    """A UCR `.tsv`: no header, tab-separated, the label first, then the values."""
    rows = _Rows(path)
    for lineno, line in enumerate(checks.text_lines(path, "a .tsv file"), 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) == 1 and "," in line:
            raise bad(path, f"line {lineno}", "no tab: a .tsv file separates its fields by tabs (a .csv by commas)")
        rows.add(lineno, fields, 0)
    return rows.raw("tsv")


def _label_index(path: Path, header: list[str], label_column: str) -> int:
    names = [h.strip() for h in header]
    if label_column in names:
        return names.index(label_column)
    folded = [i for i, h in enumerate(names) if h.casefold() == label_column.casefold()]
    if len(folded) == 1:
        return folded[0]
    shown = ", ".join(quoted(h, 20) for h in names[:8]) + (", ..." if len(names) > 8 else "")
    raise bad(path, "line 1", f"no column named {quoted(label_column)} in the header ({shown})")


def read_csv(path: Path, label_column: str | None = None) -> Raw:
    """A `.csv`: comma-separated, one series a row, the label in the first column or in `label_column`."""
    reader = csv.reader(checks.text_lines(path, "a .csv file"), strict=True)
    rows, label_at, first = _Rows(path), 0, True
    try:
        for fields in reader:
            if not fields or not "".join(fields).strip():
                continue
            if first:
                first = False
                is_header = label_column is not None or not all(_is_number(f) or not f.strip() for f in fields[1:])
                if label_column is not None:
                    label_at = _label_index(path, fields, label_column)
                if is_header:
                    rows.names = [f.strip() for f in fields]
                    continue
            rows.add(reader.line_num, fields, label_at)
    except csv.Error as e:
        raise bad(path, f"line {reader.line_num}", f"not CSV ({e})") from None
    return rows.raw("csv")
