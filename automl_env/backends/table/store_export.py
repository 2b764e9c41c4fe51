"""Recorded evaluations from an ``EvalStore`` export (``.csv`` or ``.json``): read strictly, in one linear pass.

The rows of one task (``<task>/retrain`` rows, the training backend's final trainings, as test-split records)
become a ``RecordedTable`` (``automl_env.backends.table.records``) that the ``table`` backend serves.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from automl_env.backends.base import Fidelity
from automl_env.backends.table.records import RecordedTable, Records, Split, TableError, task_tokens
from automl_env.pipeline import Pipeline
from automl_env.store import StoreError, read_export
from automl_env.tasks import TaskSpec

RETRAIN_SUFFIX = "/retrain"  # the training backend stores final trainings under "<task>/retrain"
STORE_COLUMNS = ("task", "fidelity", "seed", "status", "accuracy", "pipeline")


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
    ``"0.7"`` are refused); an ``ok`` row needs a finite accuracy. The file is read by ``automl_env.store.read_export``
    (size, suffix and flat JSON rows checked there); groups of more than ``MAX_CELLS`` (pipelines x seeds) are refused.
    """
    path = Path(path)
    try:
        rows, text = read_export(path)
    except StoreError as error:
        raise TableError(str(error)) from None
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
