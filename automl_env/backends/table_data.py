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
        from automl_env.backends.synthetic import splitmix64

        h = np.zeros(tokens.shape[0], dtype=np.uint64)
        for column in range(tokens.shape[1]):
            h = splitmix64(h ^ (tokens[:, column].astype(np.uint64) + np.uint64(column << 40)))
        return h

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
        """Accuracy of ``rows`` for an evaluation seed: a recorded seed reads its own run; any other seed reads
        run ``seed % k`` of the row's k recorded runs (in seed order), as NAS-Bench-201's API picks a trial."""
        runs = self.runs_at(rows, seed)
        return np.where(runs >= 0, self.accuracy[rows, np.maximum(runs, 0)], np.nan)

    def cost_at(self, rows: IntArray, seed: int) -> FloatArray:
        """Training seconds of the run ``accuracy_at`` reads (NaN where unknown)."""
        if self.cost_seconds is None:
            return np.full(rows.shape[0], np.nan)
        if self.cost_seconds.ndim == 1:
            return self.cost_seconds[rows]
        runs = self.runs_at(rows, seed)
        return np.where(runs >= 0, self.cost_seconds[rows, np.maximum(runs, 0)], np.nan)

    def runs_at(self, rows: IntArray, seed: int) -> IntArray:
        """Column of ``accuracy`` that ``accuracy_at`` reads for each row (-1 for a row without a successful run)."""
        if not self.seeds:
            return np.zeros(rows.shape[0], dtype=np.int64)
        recorded = np.isfinite(self.accuracy[rows])
        out = np.full(rows.shape[0], -1, dtype=np.int64)
        column = self.seeds.index(seed) if seed in self.seeds else None
        for i in range(rows.shape[0]):
            runs = np.flatnonzero(recorded[i])
            if runs.size:
                out[i] = column if column is not None and recorded[i, column] else int(runs[seed % runs.size])
        return out


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

    Strict, and linear in the rows (one pass, dictionaries, no per-row search): two rows of the same (pipeline,
    fidelity, seed) are one evaluation recorded twice, collapsed when they agree (status and every metric) and
    refused, naming both rows, when they do not (rows of other seeds are that pipeline's other runs). Metrics
    are real numbers: a CSV's text parses as numbers, a JSON's values must be JSON numbers (``true`` or
    ``"0.7"`` are refused); an ``ok`` row needs a finite accuracy. Files over ``MAX_TABLE_BYTES``, JSON nested
    deeper than rows of plain values, and groups of more than ``MAX_CELLS`` (pipelines x seeds) are refused.
    """
    path = Path(path)
    rows, text = _read_rows(path)
    rows = _context_rows(path, rows, context)
    grouped: dict[tuple[str, Split], dict[str, dict[int, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for number, row in enumerate(rows, start=1):
        missing = [c for c in STORE_COLUMNS if c not in row]
        if missing:
            raise TableError(f"{path} row {number}: missing columns {missing}; an EvalStore export has {STORE_COLUMNS}")
        for column in ("task", "fidelity", "status", "pipeline"):
            if not isinstance(row[column], str):
                raise TableError(f"{path} row {number}: {column}={_shown(row[column])} is not a string")
        if row["task"] not in (task.name, task.name + RETRAIN_SUFFIX):
            raise TableError(f"{path} row {number}: recorded for task {row['task']!r}, not {task.name!r}")
        split: Split = "test" if row["task"].endswith(RETRAIN_SUFFIX) else "validation"
        row = {**row, "_row": number}
        runs = grouped[row["fidelity"], split][row["pipeline"]]
        seed = _seed(row, path, text=text)
        if seed in runs:
            _same_evaluation(runs[seed], row, path, text=text)
            continue
        runs[seed] = row
    groups = [_group(task, path, key, split, by_pipeline, text=text) for (key, split), by_pipeline in grouped.items()]
    return RecordedTable(task, groups, source=str(path))


MAX_TABLE_BYTES = 2**31
"""The largest table file read (2 GiB; an export of a million evaluations is about 1 GiB)."""
MAX_CELLS = 50_000_000
"""The most (pipelines x seeds) cells of one group's accuracy matrix (400 MB of float64)."""
_METRICS = ("accuracy", "cost_seconds", "flops", "params")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _seed(row: dict[str, Any], path: Path, *, text: bool) -> int:
    """The row's seed: an integer (a CSV's digits, a JSON integer)."""
    seed = row["seed"]
    if text and isinstance(seed, str) and seed.lstrip("-").isdigit():
        return int(seed)
    if not text and isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    raise TableError(f"{path} row {row['_row']}: seed {seed!r} is not an integer")


def _same_evaluation(first: dict[str, Any], again: dict[str, Any], path: Path, *, text: bool) -> None:
    """Nothing when two rows of one (pipeline, fidelity, seed) agree; a TableError naming both when they do not."""
    differ = [
        column
        for column in _METRICS
        if not _equal(_number(first, column, path, text=text), _number(again, column, path, text=text))
    ]
    if first["status"] != again["status"]:
        differ.insert(0, "status")
    if differ:
        raise TableError(
            f"{path} rows {first['_row']} and {again['_row']} record the same evaluation (pipeline, fidelity "
            f"{first['fidelity']}, seed {first['seed']}) with different {', '.join(differ)}: keep one of them "
            "(rows of other seeds are that pipeline's other runs)"
        )


def _equal(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


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


def _read_rows(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The file's rows and whether their values are text (CSV: numbers parse from text) or JSON values."""
    try:
        size = path.stat().st_size
        if size > MAX_TABLE_BYTES:
            raise TableError(f"table {path} holds {size} bytes, more than the {MAX_TABLE_BYTES} a table may hold")
        if path.suffix == ".json":
            return _json_rows(path, json.loads(path.read_text())), False
        if path.suffix == ".csv":
            with path.open(newline="") as handle:
                return list(csv.DictReader(handle)), True
    except RecursionError:
        raise TableError(
            f"cannot read table {path}: its JSON is nested too deeply; an export's rows are flat"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as error:
        raise TableError(f"cannot read table {path}: {error}") from None
    raise TableError(f"table {path}: read .csv or .json (an EvalStore export), not {path.suffix!r}; never pickles")


def _json_rows(path: Path, data: Any) -> list[dict[str, Any]]:
    """``data["rows"]``, each a flat object (values are strings, numbers, booleans or null)."""
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise TableError(f"{path}: expected an EvalStore JSON export ({{'schema_version', 'rows'}})")
    for number, row in enumerate(rows, start=1):
        for column, value in row.items():
            if isinstance(value, (dict, list)):
                raise TableError(
                    f"{path} row {number}: {column} holds a JSON {type(value).__name__}; an export's values are "
                    "strings, numbers or null"
                )
    return rows


def _number(row: dict[str, Any], column: str, path: Path, *, text: bool) -> float:
    """A metric: NaN where absent (or empty in a CSV); a CSV's text parsed, a JSON number as it is, else an error."""
    value = row.get(column)
    if value is None or (text and value == ""):
        return math.nan
    if text and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    elif not text and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    kind = "" if text else " (a JSON number is needed: not a string or a boolean)"
    raise TableError(f"{path} row {row['_row']}: {column}={_shown(value)} is not a number{kind}")


def _group(
    task: TaskSpec,
    path: Path,
    key: str,
    split: Split,
    by_pipeline: Mapping[str, Mapping[int, dict[str, Any]]],
    *,
    text: bool,
) -> Records:
    try:
        fidelity = Fidelity.from_key(key)
        pipelines = [Pipeline.from_json(json_text) for json_text in by_pipeline]
        tokens = task_tokens(task, pipelines)
    except (ValueError, KeyError, TypeError) as error:
        raise TableError(f"{path}: {error}") from None
    seeds = sorted({seed for runs in by_pipeline.values() for seed in runs})
    if len(pipelines) * len(seeds) > MAX_CELLS:
        raise TableError(
            f"{path}, fidelity {key} ({split}): {len(pipelines)} pipelines x {len(seeds)} seeds is more than the "
            f"{MAX_CELLS} cells a table holds; export fewer seeds (or one seed per pipeline's runs)"
        )
    column = {seed: i for i, seed in enumerate(seeds)}
    accuracy = np.full((len(pipelines), len(seeds)), np.nan)
    flops, params = np.full(len(pipelines), np.nan), np.full(len(pipelines), np.nan)
    cost = np.full((len(pipelines), len(seeds)), np.nan)
    failures: dict[int, str] = {}
    for i, runs in enumerate(by_pipeline.values()):
        for seed, row in runs.items():
            cost[i, column[seed]] = _number(row, "cost_seconds", path, text=text)
            value = _number(row, "accuracy", path, text=text)
            if row["status"] == "ok":
                if not math.isfinite(value):
                    raise TableError(
                        f"{path} row {row['_row']}: status 'ok' with accuracy {row['accuracy']!r}; an ok evaluation "
                        "has a finite accuracy (one that failed is recorded with status 'failed' and its reason)"
                    )
                accuracy[i, column[seed]] = value
            elif row["status"] != "failed":
                raise TableError(f"{path} row {row['_row']}: status {row['status']!r} is neither 'ok' nor 'failed'")
        first = next(iter(runs.values()))
        flops[i], params[i] = _number(first, "flops", path, text=text), _number(first, "params", path, text=text)
        if not np.isfinite(accuracy[i]).any():
            failures[i] = next((str(r.get("reason") or "failed") for r in runs.values()), "failed")
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
