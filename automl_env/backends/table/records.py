"""Recorded evaluations as the ``table`` backend serves them: checked, indexed, looked up in bulk.

A ``RecordedTable`` holds groups of ``Records``, one per (fidelity, split). A group has one row per
pipeline: the tokens of every module of the task in task order (``TableIndex``), the recorded
accuracy and training cost for each recorded seed (NaN where that seed was not run or the value is
unknown), and per row the FLOPs (MACs), parameters and the reason of a recorded failure. ``split``
says which data the accuracy was measured on: "validation" (what a search is rewarded with) or
"test" (final training, for reporting only).

Tables are read from plain files only, never pickles: an ``EvalStore`` export (``.csv`` or
``.json``, read by ``automl_env.backends.table.store_export``), so that anyone can record a table with
``backend="train"`` and a store, then serve it; NAS-Bench-201 has its own reader (``automl_env.nb201``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from automl_env.backends.base import BackendSetupError, Fidelity
from automl_env.hashing import splitmix64
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Split = Literal["validation", "test"]


class TableError(BackendSetupError, ValueError):
    """A table that cannot serve the search: unreadable, wrong schema, rows that are not the task's, or no
    records at the requested fidelity. A setup error: it stops a search instead of failing every evaluation."""


def task_tokens(task: TaskSpec, pipelines: Sequence[Pipeline]) -> IntArray:
    """(n, T) tokens of every module of the task, in task order; ValueError naming what cannot be encoded."""
    rows = []
    for pipeline in pipelines:
        row = []
        for name, space in task.modules.items():
            try:
                row.append(space.encode(pipeline[name]))
            except (KeyError, ValueError, TypeError, AttributeError) as error:
                raise ValueError(
                    f"task {task.name!r} cannot encode module {name!r} of this pipeline: {error}"
                ) from None
        rows.append(np.concatenate(row))
    width = sum(space.num_tokens for space in task.modules.values())
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), width)


class TableIndex:
    """Token rows -> row numbers, vectorised: exact mixed-radix codes, sorted, found by binary search.

    Spaces with more than 2^62 token vectors get a 64-bit hash instead of the exact code; a hash match
    is confirmed by comparing the tokens, so a collision can only make a lookup miss, never return a
    wrong row (and collisions between recorded rows are refused when the index is built).
    """

    def __init__(self, nvec: Sequence[int], tokens: IntArray) -> None:
        self.nvec = np.asarray(nvec, dtype=np.int64)
        self.size = math.prod(int(n) for n in nvec)
        self.exact = self.size < 2**62
        self.tokens = tokens
        codes = self.codes(tokens)
        self._order = np.argsort(codes, kind="stable")
        self._sorted = codes[self._order]
        if np.any(self._sorted[1:] == self._sorted[:-1]):
            first = int(self._order[int(np.flatnonzero(self._sorted[1:] == self._sorted[:-1])[0])])
            raise TableError(f"the pipeline of record {first} appears twice (or two records share a hash)")

    def codes(self, tokens: IntArray) -> npt.NDArray[np.uint64]:
        if self.exact:
            weights = np.cumprod(np.concatenate([[1], self.nvec[:0:-1]]))[::-1].astype(np.int64)
            return (tokens @ weights).astype(np.uint64)
        return token_hash(tokens)

    def rows(self, tokens: IntArray) -> IntArray:
        """Row of each token vector, -1 where the table does not hold it."""
        if tokens.shape[0] == 0 or self._sorted.size == 0:
            return np.full(tokens.shape[0], -1, dtype=np.int64)
        codes = self.codes(tokens)
        at = np.clip(np.searchsorted(self._sorted, codes), 0, self._sorted.size - 1)
        rows = self._order[at].astype(np.int64)
        hit = (self._sorted[at] == codes) & np.all(self.tokens[rows] == tokens, axis=1)
        return np.where(hit, rows, -1)


@dataclass(frozen=True, eq=False)
class Records:
    """The recorded results of one (fidelity, split); row i of every array is pipeline ``tokens[i]``."""

    fidelity: Fidelity
    split: Split
    tokens: IntArray
    accuracy: FloatArray
    """(rows, max(1, len(seeds))): fractions in [0, 1]; NaN where a seed was not run or the run failed."""
    seeds: tuple[int, ...] = ()
    """Recorded seeds (columns of ``accuracy``); empty when the values are averaged over the benchmark's seeds."""
    flops: FloatArray | None = None
    params: FloatArray | None = None
    cost_seconds: FloatArray | None = None
    """Training seconds: (rows,) shared by every seed, or the shape of ``accuracy``, one per run; NaN where unknown."""
    failures: Mapping[int, str] = field(default_factory=dict)
    """Row -> reason, for pipelines whose recorded evaluations all failed (they would fail again)."""
    seed_keyed: bool = True
    """Whether ``seeds`` are the evaluation seeds that produced the runs (an EvalStore export: evaluating with a
    recorded seed replays its run); False for a benchmark's anonymous repeats (HPOLib), which every seed draws from."""
    metrics: Mapping[str, FloatArray] = field(default_factory=dict)
    """Further recorded figures of each run (e.g. HPOLib's raw ``mse``), the shape of ``accuracy``."""

    def __post_init__(self) -> None:
        rows = self.tokens.shape[0]
        if self.accuracy.shape != (rows, max(1, len(self.seeds))):
            raise TableError(f"accuracy has shape {self.accuracy.shape}, expected ({rows}, {max(1, len(self.seeds))})")
        finite = self.accuracy[np.isfinite(self.accuracy)]
        if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
            raise TableError("accuracies must be fractions in [0, 1] (a table in percent must be divided by 100)")
        for name in ("flops", "params"):
            column = getattr(self, name)
            if column is not None and column.shape != (rows,):
                raise TableError(f"{name} has shape {column.shape}, expected ({rows},)")
        for name, values in self.metrics.items():
            if values.shape != self.accuracy.shape:
                raise TableError(f"metric {name!r} has shape {values.shape}, expected {self.accuracy.shape}")
        if self.cost_seconds is not None and self.cost_seconds.shape not in ((rows,), self.accuracy.shape):
            raise TableError(
                f"cost_seconds has shape {self.cost_seconds.shape}, expected ({rows},) or {self.accuracy.shape}"
            )

    @property
    def rows(self) -> int:
        return int(self.tokens.shape[0])

    def mean_accuracy(self) -> FloatArray:
        """Per row, the mean over recorded seeds (NaN for rows with no successful run)."""
        recorded = np.isfinite(self.accuracy)
        total = np.where(recorded, self.accuracy, 0.0).sum(axis=1)
        count = recorded.sum(axis=1)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def accuracy_at(self, rows: IntArray, seed: int) -> FloatArray:
        """Accuracy of ``rows`` for an evaluation seed: the run ``runs_at`` draws (NaN for rows without one)."""
        return self._at(self.accuracy, rows, self.runs_at(rows, seed))

    def metrics_at(self, rows: IntArray, seed: int) -> dict[str, FloatArray]:
        """Each recorded metric of the run ``accuracy_at`` reads."""
        runs = self.runs_at(rows, seed)
        return {name: self._at(values, rows, runs) for name, values in self.metrics.items()}

    def mean_metrics(self, rows: IntArray) -> dict[str, FloatArray]:
        """Each recorded metric averaged over the runs ``mean_accuracy`` averages."""
        ok = np.isfinite(self.accuracy[rows])
        count = np.maximum(ok.sum(axis=1), 1)
        return {name: np.where(ok, v[rows], 0.0).sum(axis=1) / count for name, v in self.metrics.items()}

    def cost_at(self, rows: IntArray, seed: int) -> FloatArray:
        """Training seconds of the run ``accuracy_at`` reads (NaN where unknown)."""
        if self.cost_seconds is None:
            return np.full(rows.shape[0], np.nan)
        if self.cost_seconds.ndim == 1:
            return self.cost_seconds[rows]
        return self._at(self.cost_seconds, rows, self.runs_at(rows, seed))

    @staticmethod
    def _at(values: FloatArray, rows: IntArray, runs: IntArray) -> FloatArray:
        return np.where(runs >= 0, values[rows, np.maximum(runs, 0)], np.nan)

    def runs_at(self, rows: IntArray, seed: int) -> IntArray:
        """Column of ``accuracy`` read for each row under an evaluation seed (-1 for a row without a successful run).

        A seed-keyed table answers a recorded seed with its own run. Otherwise a row with k successful runs reads
        its ``(h + seed) mod k``-th one (in column order), where h is a hash of the row's tokens: each pipeline's
        run is a pure function of (pipeline, seed), the pipelines evaluated under one seed read independent,
        uniformly drawn runs (not all the same column), and seeds s, s + 1, ..., s + k - 1 read all k runs of a
        pipeline once each. Seed-averaged tables (no ``seeds``) read their one column.
        """
        if not self.seeds:
            return np.zeros(rows.shape[0], dtype=np.int64)
        recorded = np.isfinite(self.accuracy[rows])
        count = recorded.sum(axis=1)
        k = np.maximum(count, 1).astype(np.uint64)
        # seed mod lcm(1..columns) keeps ``seed mod k`` exact for every k without overflowing int64.
        cycle = math.lcm(*range(1, recorded.shape[1] + 1))
        draw = ((token_hash(self.tokens[rows]) % k) + np.uint64(seed % cycle)) % k
        rank = np.cumsum(recorded, axis=1) - 1
        out = np.argmax(recorded & (rank == draw.astype(np.int64)[:, None]), axis=1).astype(np.int64)
        out[count == 0] = -1
        if self.seed_keyed and seed in self.seeds:
            column = self.seeds.index(seed)
            out = np.where(recorded[:, column], column, out)
        return out


def token_hash(tokens: IntArray) -> npt.NDArray[np.uint64]:
    """A 64-bit splitmix64 hash of each token row (a pure function of the row, not of where it is stored)."""
    h = np.zeros(tokens.shape[0], dtype=np.uint64)
    for column in range(tokens.shape[1]):
        h = splitmix64(h ^ (tokens[:, column].astype(np.uint64) + np.uint64(column << 40)))
    return h


class RecordedTable:
    """Every ``Records`` group of one task, with an index per group; see the module docstring."""

    def __init__(self, task: TaskSpec, groups: Sequence[Records], *, source: str) -> None:
        self.task = task
        self.source = source
        self.nvec = tuple(n for space in task.modules.values() for n in space.nvec)
        self.groups: dict[tuple[str, Split], Records] = {}
        self.indexes: dict[tuple[str, Split], TableIndex] = {}
        for group in groups:
            key = (group.fidelity.key, group.split)
            if key in self.groups:
                raise TableError(f"{source}: two groups of records for fidelity {key[0]} ({key[1]})")
            self._check_tokens(group)
            self.groups[key] = group
            try:
                self.indexes[key] = TableIndex(self.nvec, group.tokens)
            except TableError as error:
                raise TableError(f"{source}, fidelity {key[0]} ({key[1]}): {error}") from None
        if not self.groups:
            raise TableError(f"{source}: no records for task {task.name!r}")

    def _check_tokens(self, group: Records) -> None:
        tokens = group.tokens
        if tokens.ndim != 2 or tokens.shape[1] != len(self.nvec):
            raise TableError(
                f"{self.source}: rows have {tokens.shape[-1]} tokens, task {self.task.name!r} has {len(self.nvec)}"
            )
        bad = np.flatnonzero(np.any((tokens < 0) | (tokens >= np.asarray(self.nvec)), axis=1))
        if bad.size:
            raise TableError(f"{self.source}: row {int(bad[0])} has tokens outside the task's spaces: {tokens[bad[0]]}")

    @property
    def space_size(self) -> int:
        return math.prod(self.nvec)

    def complete(self, fidelity: Fidelity, split: Split = "validation") -> bool:
        """Whether every pipeline of the task's space is recorded at this fidelity and split."""
        key = (fidelity.key, split)
        return key in self.groups and self.groups[key].rows == self.space_size

    def records(self, fidelity: Fidelity, split: Split = "validation") -> Records:
        """The group at (fidelity, split), or a TableError saying what the table does hold."""
        key = (fidelity.key, split)
        if key in self.groups:
            return self.groups[key]
        held = [f"{k} ({s}, {g.rows} rows)" for (k, s), g in self.groups.items()]
        hint = ""
        if split == "validation" and (fidelity.key, "test") in self.groups:
            hint = (
                " At this fidelity the table holds only test accuracy, which is for reporting and never a reward: "
                "search at a validation fidelity and read the test accuracy with retrain()."
            )
        raise TableError(
            f"{self.source} records no {split} accuracy at fidelity {fidelity.key}.{hint} It holds: {held}"
        )

    def lookup(self, fidelity: Fidelity, split: Split, tokens: IntArray) -> IntArray:
        return self.indexes[fidelity.key, split].rows(tokens)
