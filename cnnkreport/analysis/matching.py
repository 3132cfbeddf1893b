"""Kernels against a bank: each family's best template, r*, and which template names the kernel.

For a kernel and a template, both zero-mean and unit-norm, the match is |cos| (sign-invariant); r* is the best match
over the bank. A bank here is anything with `family_best(rows)` and `best_score(rows)`: the dense template bank of
bank.py, or the fitted families of fit.py for long 1-D kernels. Naming: when templates of several families score
within NEAR of r*, the simplest family (the first in FAMILY_ORDER) names the kernel, and the others are its
near-equal alternatives; a Gabor that happens to sit closer to a derivative of Gaussian does not rename an edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .bank import FAMILY_ORDER, Bank, Template, normalise
from .filters import unit_peak

TOP = 3  # matches listed per kernel: the named one, then the best of other families
NEAR = 0.01  # |cos| within this of r*: near-equal matches, of which the simplest family names the kernel


class Scorer(Protocol):
    """What a bank offers the matcher and the pages (bank.Bank, fit.FittedBank)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def templates(self) -> Sequence[Template]: ...

    @property
    def weights(self) -> Any: ...  # weights[idx] for an integer array idx: (*idx.shape, *shape)

    @property
    def rows_per_block(self) -> int: ...  # kernels scored at a time, to bound memory

    @property
    def fitted(self) -> bool: ...  # True for families fitted to each kernel (no fixed bank)

    def __len__(self) -> int: ...

    def family_best(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def best_score(self, rows: np.ndarray) -> np.ndarray: ...

    def display(self) -> Bank: ...  # what the bank page shows


@dataclass(frozen=True)
class Matches:
    score: np.ndarray  # (N,) r*, the best |cos| over the bank
    family: np.ndarray  # (N, F) index of each family's best template (-1: the bank has no such family)
    family_scores: np.ndarray  # (N, F) its |cos| (0 where the family is absent)

    @property
    def order(self) -> np.ndarray:
        """(N, F) families of each kernel, the named one first, then the others by score (absent ones last)."""
        n, f = self.family_scores.shape
        near = (self.family_scores >= self.score[:, None] - NEAR) & (self.family >= 0)
        named = np.where(near.any(axis=1), near.argmax(axis=1), 0)  # the first (simplest) near-equal family
        key = np.where(self.family >= 0, -self.family_scores, np.inf)
        key[np.arange(n), named] = -np.inf
        return np.argsort(key, axis=1, kind="stable")

    @property
    def top(self) -> np.ndarray:
        """(N, TOP) template indices: the named match first, then the best template of other families by score."""
        cols = self.order[:, : min(TOP, self.present)]
        return np.take_along_axis(self.family, cols, axis=1)

    @property
    def top_scores(self) -> np.ndarray:
        cols = self.order[:, : min(TOP, self.present)]
        return np.take_along_axis(self.family_scores, cols, axis=1)

    @property
    def present(self) -> int:
        """How many families the bank has."""
        return int((self.family[:1] >= 0).sum()) if len(self.family) else len(FAMILY_ORDER)

    def alternatives(self, i: int) -> list[tuple[int, float]]:
        """(template, |cos|) of kernel i's near-equal matches of other families than the named one, best first."""
        order = self.order[i]
        return [
            (int(self.family[i, f]), float(self.family_scores[i, f]))
            for f in order[1:]
            if self.family[i, f] >= 0 and self.family_scores[i, f] >= self.score[i] - NEAR
        ]

    def take(self, rows: slice | np.ndarray) -> Matches:
        return Matches(self.score[rows], self.family[rows], self.family_scores[rows])


def empty_matches() -> Matches:
    f = len(FAMILY_ORDER)
    return Matches(np.zeros(0), np.zeros((0, f), dtype=np.int64), np.zeros((0, f)))


def rows_of(kernels: np.ndarray) -> np.ndarray:
    """Kernels (n, *shape) as zero-mean, unit-norm rows (n, D); huge rows scaled down by a power of two first (exact),
    so that their norm does not overflow."""
    return normalise(unit_peak(np.asarray(kernels, dtype=np.float64).reshape(len(kernels), -1), shrink_only=True))


class Matcher:
    """match() over kernels that arrive in pieces (`add`, then `result` once). The kernels are scored in blocks of
    `block` rows counted from the first kernel, whatever pieces they came in, so every number is the one that
    match() gives on all of them at once; memory: one block and its scores."""

    def __init__(self, b: Scorer) -> None:
        self.bank = b
        self.block = b.rows_per_block
        self._pending: list[np.ndarray] = []  # normalised rows not yet scored: fewer than a block
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []  # (family indices, family scores) per scored block

    def add(self, kernels: np.ndarray) -> None:
        """Kernels (n, *shape), after those added before."""
        self._pending.append(rows_of(kernels))
        if sum(len(p) for p in self._pending) >= self.block:
            rows = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
            full = len(rows) - len(rows) % self.block
            for i in range(0, full, self.block):
                self._parts.append(self.bank.family_best(rows[i : i + self.block]))
            self._pending = [rows[full:].copy()] if full < len(rows) else []

    def result(self) -> Matches:
        """The matches of every kernel added, in order."""
        if self._pending:
            self._parts.append(self.bank.family_best(np.concatenate(self._pending)))
            self._pending = []
        if not self._parts:
            return empty_matches()
        if len(self._parts) > 1:  # one part from now on: the blocks' copies are not kept beside it
            self._parts = [(np.concatenate([i for i, _ in self._parts]), np.concatenate([s for _, s in self._parts]))]
        family, scores = self._parts[0]
        return Matches(scores.max(axis=1), family, scores)


def match(kernels: np.ndarray, b: Scorer) -> Matches:
    """Best matches of kernels (N, *shape) in bank b."""
    m = Matcher(b)
    m.add(kernels)
    return m.result()


def best_scores(kernels: np.ndarray, b: Scorer) -> np.ndarray:
    """r* of kernels (N, *shape) only, in blocks of bounded memory."""
    block = b.rows_per_block
    out = [b.best_score(rows_of(kernels[i : i + block])) for i in range(0, len(kernels), block)]
    return np.concatenate(out) if out else np.zeros(0)
