"""A data set made ready to train on, whatever file it came from: the test set held out where there is no test file
(stratified, seeded), train and test checked against each other, series z-normalised per series and channel and
padded to one length, images standardised with the training set's mean and standard deviation per channel; and each
step said in words for the run page (`Prepared`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..names import printable
from .checks import Raw, bad, shown

BLOCK = 2**22  # values z-normalised at once
CONSTANT = 1e-10  # a series whose standard deviation is below this share of its mean is constant: it becomes zeros


@dataclass(frozen=True)
class Prepared:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    split: str
    lengths: str
    standardised: str
    mean: tuple[float, ...] | None  # images: the training set's mean per channel (of values in [0, 1])
    std: tuple[float, ...] | None


def holdout(raw: Raw, y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices: of each class, round(share x its count) rows to test, at least one where the class
    has two or more and never its last one; seeded, so the same file and seed give the same split."""
    if not 0 < share < 1:
        raise ValueError(f"test_share must be between 0 and 1, got {share}")
    rng = np.random.default_rng(seed)
    test = []
    for k in range(int(y.max()) + 1):
        rows = np.flatnonzero(y == k)
        if len(rows) < 2:
            continue
        count = min(max(round(share * len(rows)), 1), len(rows) - 1)
        test.append(rng.permutation(rows)[:count])
    if not test:
        raise bad(raw.file, None, "too few series of each class to hold a test set out: give a test file")
    held = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(len(y)), held), held


def check_pair(train: Raw, test: Raw) -> None:
    """A test file fits its training file: the same kind of data, channels, image size, and (where both are of
    one length each) series length."""
    (_, c, *rest), (_, ct, *rest_t) = train.x.shape, test.x.shape
    if train.kind != test.kind:
        raise bad(test.file, None, f"holds {test.kind}s, where {shown(train.file)} holds {train.kind}s")
    if c != ct:
        raise bad(test.file, None, f"{ct} channel(s), where {shown(train.file)} has {c}")
    if train.kind == "image" and rest != rest_t:
        (h, w), (ht, wt) = rest, rest_t
        raise bad(test.file, None, f"images of {wt} x {ht} pixels, where {shown(train.file)} has {w} x {h}")
    if train.lengths is not None and test.lengths is not None:
        one, one_t = _one_length(train), _one_length(test)
        if one is not None and one_t is not None and one != one_t:
            raise bad(test.file, None, f"series of {one_t} values, where {shown(train.file)} has {one}")


def _one_length(raw: Raw) -> int | None:
    """The length of every series of a file, None where they differ (or where a .ts header says they may)."""
    assert raw.lengths is not None
    if raw.equal_length is False or raw.lengths.min() != raw.lengths.max():
        return None
    return int(raw.lengths[0])


def znorm(x: np.ndarray, lengths: np.ndarray, length: int) -> np.ndarray:
    """Each series z-normalised per channel over its own length, zeros after it, to `length` steps, float32; a
    constant series becomes zeros."""
    n, c, have = x.shape
    out = np.zeros((n, c, length), dtype=np.float32)
    step = max(1, BLOCK // max(1, c * have))
    for start in range(0, n, step):  # in blocks, so that the float64 temporaries stay small
        block, ln = x[start : start + step], lengths[start : start + step, None, None]
        mask = np.arange(have) < ln
        mean = np.where(mask, block, 0).sum(axis=2, keepdims=True) / ln
        centred = np.where(mask, block - mean, 0)
        std = np.sqrt((centred**2).sum(axis=2, keepdims=True) / ln)
        flat = std <= CONSTANT * np.abs(mean)
        out[start : start + step, :, :have] = np.where(flat, 0, centred / np.where(flat, 1, std))
    return out


def _series(train: Raw, test: Raw | None) -> tuple[np.ndarray, np.ndarray | None, str]:
    assert train.lengths is not None
    both = [train] + ([test] if test is not None else [])
    lengths = np.concatenate([r.lengths for r in both if r.lengths is not None])
    longest, shortest = int(lengths.max()), int(lengths.min())
    x_test = None if test is None or test.lengths is None else znorm(test.x, test.lengths, longest)
    if shortest == longest:
        words = "equal"
    else:
        words = (
            f"unequal, {shortest} to {longest} values: each series z-normalised over its own length, then padded "
            f"with zeros at the end to {longest}"
        )
    return znorm(train.x, train.lengths, longest), x_test, words


def _images(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both sets standardised with the training set's mean and standard deviation per channel (1 where it is 0)."""
    mean = x_train.mean(axis=(0, 2, 3), dtype=np.float64)
    std = x_train.std(axis=(0, 2, 3), dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    m, s = mean[None, :, None, None].astype(np.float32), std[None, :, None, None].astype(np.float32)
    return (x_train - m) / s, (x_test - m) / s, mean, std


def prepare(
    train: Raw, test: Raw | None, y: np.ndarray, y_test: np.ndarray | None, share: float, seed: int
) -> Prepared:
    """The arrays to train on, and each step in words (see the module)."""
    if test is not None:
        assert y_test is not None
        check_pair(train, test)
        split = "the test file"
    else:
        split = f"a stratified {share * 100:g}% of {printable(train.file.name)} held out, seed {seed}"
    if train.kind == "signal":
        x, x_test, lengths = _series(train, test)
        standardised = "each series z-normalised per channel (mean 0, standard deviation 1; a constant one: zeros)"
    else:
        x, x_test, lengths = train.x, None if test is None else test.x, "equal"
    if test is None:
        keep, held = holdout(train, y, share, seed)
        x, x_test, y, y_test = x[keep], x[held], y[keep], y[held]
    assert x_test is not None and y_test is not None
    mean = std = None
    if train.kind == "image":
        x, x_test, m, s = _images(x, x_test)
        mean, std = tuple(float(v) for v in m), tuple(float(v) for v in s)
        stats = ", ".join(f"{a:.3g}/{b:.3g}" for a, b in zip(mean, std, strict=True))
        standardised = (
            "scaled to [0, 1], then standardised per channel with the training set's mean and standard deviation "
            f"(mean/std {stats})"
        )
    return Prepared(
        np.ascontiguousarray(x, dtype=np.float32),
        y.astype(np.int64),
        np.ascontiguousarray(x_test, dtype=np.float32),
        y_test.astype(np.int64),
        split,
        lengths,
        standardised,
        mean,
        std,
    )
