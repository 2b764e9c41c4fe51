"""Recorded evaluations as the ``table`` backend serves them: checked, indexed, looked up in bulk.

A ``RecordedTable`` holds groups of ``Records``, one per (fidelity, split). A group has one row per
pipeline: the tokens of every module of the task in task order (``TableIndex``), the recorded
accuracy and training cost for each recorded seed (NaN where that seed was not run or the value is
unknown), and per row the FLOPs (MACs), parameters and the reason of a recorded failure. ``split``
says which data the accuracy was measured on: "validation" (what a search is rewarded with) or
"test" (final training, for reporting only).

Tables are read from plain files only, never pickles: an ``EvalStore`` export (``.csv`` or
``.json``), so that anyone can record a table with ``backend="train"`` and a store, then serve it;
NAS-Bench-201 has its own reader (``automl_env.nb201``).
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from automl_env.backends.base import BackendSetupError, Fidelity
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Split = Literal["validation", "test"]
RETRAIN_SUFFIX = "/retrain"  # the training backend stores final trainings under "<task>/retrain"
STORE_COLUMNS = ("task", "fidelity", "seed", "status", "accuracy", "pipeline")


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
    from automl_env.backends.synthetic import splitmix64

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


def read_store_export(task: TaskSpec, path: str | Path, *, context: str | None = None) -> RecordedTable:
    """A table from ``EvalStore.export`` output (``.csv`` or ``.json``) of this task's evaluations.

    Rows of ``<task>/retrain`` (the training backend's final trainings) become test-split records.

    ``context`` (the store's: the training code version, data fingerprint and split settings) selects the rows
    of one context. Without it the export must hold one context only: results trained on other data or by
    other code are never merged into one table (an export of schema-1 rows has none, the empty context).
    """
    path = Path(path)
    rows = _context_rows(path, _read_rows(path), context)
    grouped: dict[tuple[str, Split], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for number, row in enumerate(rows, start=1):
        missing = [c for c in STORE_COLUMNS if c not in row]
        if missing:
            raise TableError(f"{path} row {number}: missing columns {missing}; an EvalStore export has {STORE_COLUMNS}")
        if row["task"] not in (task.name, task.name + RETRAIN_SUFFIX):
            raise TableError(f"{path} row {number}: recorded for task {row['task']!r}, not {task.name!r}")
        split: Split = "test" if row["task"].endswith(RETRAIN_SUFFIX) else "validation"
        grouped[row["fidelity"], split][row["pipeline"]].append({**row, "_row": number})
    groups = [_group(task, path, key, split, by_pipeline) for (key, split), by_pipeline in grouped.items()]
    return RecordedTable(task, groups, source=str(path))


def _context_rows(path: Path, rows: list[dict[str, Any]], context: str | None) -> list[dict[str, Any]]:
    """The rows of ``context`` (all rows when None and they share one); TableError naming the contexts otherwise."""
    found = sorted({str(row.get("context") or "") for row in rows})
    if context is None:
        if len(found) > 1:
            listed = "; ".join(repr(c) for c in found)
            raise TableError(
                f"{path} holds results of {len(found)} contexts (training code version, data or split settings), "
                f"which must not be served as one table: {listed}. Pass context= one of them "
                "(backend_options={'table': ..., 'context': ...}), or export a store holding one"
            )
        return rows
    chosen = [row for row in rows if str(row.get("context") or "") == context]
    if not chosen:
        raise TableError(f"{path} has no rows of context {context!r}; it holds {found}")
    return chosen


def _read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            rows = data.get("rows") if isinstance(data, dict) else None
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise TableError(f"{path}: expected an EvalStore JSON export ({{'schema_version', 'rows'}})")
            return rows
        if path.suffix == ".csv":
            with path.open(newline="") as handle:
                return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as error:
        raise TableError(f"cannot read table {path}: {error}") from None
    raise TableError(f"table {path}: read .csv or .json (an EvalStore export), not {path.suffix!r}; never pickles")


def _number(row: dict[str, Any], column: str, path: Path) -> float:
    value = row.get(column)
    if value in (None, ""):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TableError(f"{path} row {row['_row']}: {column}={value!r} is not a number") from None


def _group(
    task: TaskSpec, path: Path, key: str, split: Split, by_pipeline: Mapping[str, list[dict[str, Any]]]
) -> Records:
    try:
        fidelity = Fidelity.from_key(key)
        pipelines = [Pipeline.from_json(text) for text in by_pipeline]
        tokens = task_tokens(task, pipelines)
    except (ValueError, KeyError, TypeError) as error:
        raise TableError(f"{path}: {error}") from None
    for runs in by_pipeline.values():
        for row in runs:
            if not str(row["seed"]).lstrip("-").isdigit():
                raise TableError(f"{path} row {row['_row']}: seed {row['seed']!r} is not an integer")
    seeds = sorted({int(row["seed"]) for runs in by_pipeline.values() for row in runs})
    accuracy = np.full((len(pipelines), len(seeds)), np.nan)
    flops, params = np.full(len(pipelines), np.nan), np.full(len(pipelines), np.nan)
    cost = np.full((len(pipelines), len(seeds)), np.nan)
    failures: dict[int, str] = {}
    for i, runs in enumerate(by_pipeline.values()):
        for row in runs:
            column = seeds.index(int(row["seed"]))
            cost[i, column] = _number(row, "cost_seconds", path)
            if row["status"] == "ok":
                accuracy[i, column] = _number(row, "accuracy", path)
            elif row["status"] != "failed":
                raise TableError(f"{path} row {row['_row']}: status {row['status']!r} is neither 'ok' nor 'failed'")
        flops[i], params[i] = _number(runs[0], "flops", path), _number(runs[0], "params", path)
        if not np.isfinite(accuracy[i]).any():
            failures[i] = next((str(r.get("reason") or "failed") for r in runs), "failed")
    try:
        return Records(
            fidelity=fidelity,
            split=split,
            tokens=tokens,
            accuracy=accuracy,
            seeds=tuple(seeds),
            flops=flops,
            params=params,
            cost_seconds=cost,
            failures=failures,
        )
    except TableError as error:
        raise TableError(f"{path}: {error}") from None
