"""Additive token-group models for the synthetic backend, and their exact optimisation.

A module's tokens are split into groups (a NASNet block, an augmentation operation, a MobileNet
stage). Every joint choice of a group's tokens has a quality (float) and integer units; a module is
summarised by (sum of qualities, sum of units). Units are small integers, so "the best total quality
for each reachable units total" is an exact dynamic programme over the groups, with back-pointers
that rebuild the tokens reaching it.

Qualities are rounded to multiples of 2**-20 (``quantize``): their sums are then exact in float64
whatever the order of addition, so the vectorised evaluation and the DP agree bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from automl_env.modules.base import TokenArray

FloatArray = npt.NDArray[np.float64]
QUANTUM = 2.0**-20


def quantize(values: npt.ArrayLike) -> FloatArray:
    """Round to multiples of 2**-20 (exact sums of up to ~2**30 such terms of magnitude < 1000)."""
    return np.round(np.asarray(values, dtype=np.float64) / QUANTUM) * QUANTUM


@dataclass(frozen=True)
class TokenGroup:
    """Token positions of one group and, over the grid of their joint choices, quality and units."""

    positions: tuple[int, ...]
    quality: FloatArray
    units: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        if self.quality.shape != self.units.shape or self.quality.ndim != len(self.positions):
            raise ValueError(
                f"group over {self.positions}: quality/units shapes {self.quality.shape}, "
                f"{self.units.shape} do not match the positions"
            )
        if np.any(self.units < 0):
            raise ValueError(f"group over {self.positions}: units must be non-negative")


@dataclass(frozen=True)
class Frontier:
    """Best module quality for each units total (-inf where unreachable) and how to reach it."""

    best: FloatArray
    tokens_for: Callable[[int], TokenArray]


class AdditiveModel:
    """Sums of group qualities and units over a module's token vector; vectorised over rows."""

    def __init__(self, groups: Sequence[TokenGroup], num_tokens: int) -> None:
        self.groups = tuple(groups)
        self.num_tokens = num_tokens
        # Groups may share their table objects (every sub-policy of a policy): store and optimise them once.
        tables: dict[tuple[int, int], int] = {}
        for group in self.groups:
            tables.setdefault((id(group.quality), id(group.units)), len(tables))
        self._table_of = [tables[id(g.quality), id(g.units)] for g in self.groups]
        distinct = {t: g for t, g in zip(self._table_of, self.groups, strict=True)}
        sizes = [distinct[t].quality.size for t in range(len(tables))]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._quality = quantize(np.concatenate([distinct[t].quality.ravel() for t in range(len(tables))]))
        self._units = np.concatenate([distinct[t].units.ravel() for t in range(len(tables))]).astype(np.int64)
        self._slices = [slice(int(starts[t]), int(starts[t] + sizes[t])) for t in range(len(tables))]
        # Padded gather plan: flat index of group g = sum_j tokens[:, pos[g, j]] * stride[g, j] + offset[g].
        width = max(len(g.positions) for g in self.groups)
        self._pos = np.zeros((len(self.groups), width), dtype=np.int64)
        self._stride = np.zeros((len(self.groups), width), dtype=np.int64)
        for g, group in enumerate(self.groups):
            shape = group.quality.shape
            self._pos[g, : len(shape)] = group.positions
            self._stride[g, : len(shape)] = [int(np.prod(shape[j + 1 :])) for j in range(len(shape))]
        self._offset = starts[self._table_of]
        self.max_units = int(sum(int(g.units.max()) for g in self.groups))

    def summarise(self, tokens: TokenArray) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """(quality, units) of each row of an (N, num_tokens) token matrix."""
        flat = (tokens[:, self._pos] * self._stride).sum(axis=2) + self._offset
        return self._quality[flat].sum(axis=1), self._units[flat].sum(axis=1)

    def frontier(self) -> Frontier:
        """Exact DP over groups: best quality per units total, with tokens for every reachable total."""
        options = [self._best_per_units(t) for t in range(len(self._slices))]
        best = np.full(self.max_units + 1, -np.inf)
        best[0] = 0.0
        choices: list[npt.NDArray[np.int64]] = []
        for table in self._table_of:
            units, quality, picks = options[table]
            new = np.full_like(best, -np.inf)
            choice = np.full(best.shape, -1, dtype=np.int64)
            for u, q, pick in zip(units.tolist(), quality, picks.tolist(), strict=True):
                cand = np.full_like(best, -np.inf)
                cand[u:] = best[: best.size - u] + q
                better = cand > new
                new[better], choice[better] = cand[better], pick
            best = new
            choices.append(choice)
        return Frontier(best=best, tokens_for=lambda units: self._rebuild(units, choices))

    def _best_per_units(self, table: int) -> tuple[npt.NDArray[np.int64], FloatArray, npt.NDArray[np.int64]]:
        """For each distinct units value of a table: the best quality and the first choice reaching it."""
        quality, units = self._quality[self._slices[table]], self._units[self._slices[table]]
        best = np.full(int(units.max()) + 1, -np.inf)
        np.maximum.at(best, units, quality)
        hits = np.flatnonzero(quality == best[units])
        values, first = np.unique(units[hits], return_index=True)
        return values, best[values], hits[first]

    def _rebuild(self, units: int, choices: list[npt.NDArray[np.int64]]) -> TokenArray:
        if not 0 <= units < choices[-1].size or choices[-1][units] < 0:
            raise ValueError(f"units total {units} is not reachable")
        tokens = np.zeros(self.num_tokens, dtype=np.int64)
        for g in reversed(range(len(self.groups))):
            pick = int(choices[g][units])
            group = self.groups[g]
            tokens[list(group.positions)] = np.unravel_index(pick, group.quality.shape)
            units -= int(group.units.ravel()[pick])
        return tokens

    def fixed_frontier(self, tokens: TokenArray) -> Frontier:
        """The one-point frontier of a module held at ``tokens`` (restricted searches)."""
        quality, units = self.summarise(tokens[None, :])
        best = np.full(self.max_units + 1, -np.inf)
        best[int(units[0])] = quality[0]
        return Frontier(best=best, tokens_for=lambda _: tokens.copy())
