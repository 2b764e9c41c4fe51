"""The ``table`` backend: recorded real evaluations, looked up in bulk, with an optional surrogate.

    backend = make_backend("table", get_task("nb201-cifar100"))          # the task's shipped table
    backend = make_backend("table", task, table="runs/store.csv", surrogate="hist_gb")

A pipeline recorded at the requested fidelity gets its recorded accuracy, FLOPs, parameters and
training cost (``metrics["recorded"] == 1``). One the table does not hold is predicted by the
surrogate when there is one (``metrics["recorded"] == 0``; FLOPs and parameters from
``automl_env.cost``, cost the table's mean); without a surrogate it is a failed result whose reason
says so, and in a complete table it cannot happen (a ValueError). A pipeline whose recorded runs
all failed fails again with the recorded reason.

Seeds: a table of seed-averaged values (NAS-Bench-201) gives the same result for every seed. A table
with per-seed runs is noisy (``noisy``): an EvalStore export answers a recorded seed with its own run,
and any other seed (every seed, for a benchmark's anonymous repeats such as HPOLib) with one of the
pipeline's runs drawn from (pipeline, seed) (``Records.runs_at``), so an env with any evaluation seed
can use it. ``runs="mean"`` serves the mean over a pipeline's runs instead (noise-free);
``noise_free``/``noise_free_accuracy`` read those means whatever ``runs`` is, for regret and reports.
Recorded metrics (HPOLib's ``mse``) go into ``EvalResult.metrics`` from the same run (or averaged).

Splits: ``evaluate`` only ever returns validation accuracy, the reward of a search. Test accuracy
(final training) is read with ``retrain``, as the training backend's ``retrain`` trains and tests.

``optimum()`` is the exact best (seed-mean) validation accuracy where the table is complete, else None.
``describe()`` reports the table's groups, completeness and the surrogate's held-out fit.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from automl_env.backends.base import EvalResult, Fidelity, Optimum
from automl_env.backends.table.records import (
    FloatArray,
    IntArray,
    RecordedTable,
    Records,
    Split,
    TableError,
    task_tokens,
)
from automl_env.backends.table.store_export import read_store_export
from automl_env.backends.table.surrogate import Surrogate, SurrogateFit, fit_held_out
from automl_env.batch import BatchResults
from automl_env.cost import arch_cost
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task

log = logging.getLogger(__name__)
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def load_table(
    task: TaskSpec, table: str | Path | RecordedTable | None, *, context: str | None = None
) -> RecordedTable:
    """The table to serve: given, read from an EvalStore export (of one ``context``: ``read_store_export``), or the
    task's own (``task.table``)."""
    if table is not None and not isinstance(table, (str, os.PathLike, RecordedTable)):
        raise TableError(
            f"table={table!r} ({type(table).__name__}): pass the path of an EvalStore export (.csv or .json), a "
            "RecordedTable, or None for the task's own table"
        )
    if context is not None and not isinstance(context, str):
        raise TableError(f"context={context!r} ({type(context).__name__}) is not a string: pass a store context")
    if context is not None and not isinstance(table, (str, os.PathLike)):
        raise TableError("context= selects rows of an EvalStore export: pass it with table= the export's path")
    if isinstance(table, RecordedTable):
        if table.task.name != task.name:
            raise TableError(f"the table was built for task {table.task.name!r}, not {task.name!r}")
        return table
    source = table if table is not None else task.table
    if source is None:
        raise TableError(
            f"task {task.name!r} ships no table: pass table= the path of an EvalStore export (.csv or .json) "
            "of this task's evaluations"
        )
    if isinstance(source, str) and _ENTRY_POINT.match(source):
        module, _, function = source.partition(":")
        loaded = getattr(importlib.import_module(module), function)(task)
        assert isinstance(loaded, RecordedTable)
        return loaded
    path = Path(source).expanduser()
    if not path.is_file():
        raise TableError(f"table file {path} does not exist" if not path.exists() else f"table {path} is not a file")
    return read_store_export(task, path, context=context)


class TableBackend:
    """Serves a ``RecordedTable`` through the evaluator protocol; see the module docstring."""

    name = "table"

    def __init__(
        self,
        task: TaskSpec | str,
        *,
        table: str | Path | RecordedTable | None = None,
        surrogate: str | None = None,
        surrogate_train_fraction: float = 0.8,
        surrogate_seed: int = 0,
        context: str | None = None,
        runs: Literal["one", "mean"] = "one",
    ) -> None:
        """``surrogate`` (``surrogate.SURROGATES``) is fitted on ``surrogate_train_fraction`` of each
        validation group's rows and scored on the rest; None serves recorded pipelines only. ``context`` picks the
        rows of one store context from an export that holds several (``read_store_export``). ``runs``: "one"
        recorded run per evaluation (real seed noise where there are several), or their "mean"."""
        if runs not in ("one", "mean"):
            raise ValueError(f"runs must be 'one' (a recorded run per evaluation) or 'mean' (their mean), got {runs!r}")
        self.runs = runs
        self.task = get_task(task)
        self.table = load_table(self.task, table, context=context)
        self.surrogates: dict[str, tuple[Surrogate, SurrogateFit]] = {}
        if surrogate is not None:
            for (key, split), records in self.table.groups.items():
                if split == "validation":
                    self.surrogates[key] = fit_held_out(
                        surrogate,
                        self.table.nvec,
                        records.tokens,
                        records.mean_accuracy(),
                        train_fraction=surrogate_train_fraction,
                        seed=surrogate_seed,
                    )
        partial = [k for (k, s) in self.table.groups if s == "validation" and not self.complete(Fidelity.from_key(k))]
        if partial and surrogate is None:
            log.warning("%s is partial and has no surrogate: unrecorded pipelines will fail", self.table.source)

    @property
    def noisy(self) -> bool:
        """Whether one pipeline's reward varies with the evaluation seed (several recorded runs, ``runs="one"``)."""
        return self.runs == "one" and any(
            len(g.seeds) > 1 for (_, s), g in self.table.groups.items() if s == "validation"
        )

    def noise_free(self, tokens: IntArray, *, fidelity: Fidelity | None = None) -> FloatArray:
        """Seed-mean validation accuracy of each row of an (n, T) token matrix: the noise-free value for regret."""
        records = self.table.records(fidelity or self.task.search_fidelity, "validation")
        tokens = np.asarray(tokens, dtype=np.int64)
        rows = self.table.lookup(records.fidelity, "validation", tokens)
        values = np.full(rows.shape[0], np.nan)
        values[rows >= 0] = records.mean_accuracy()[rows[rows >= 0]]
        if not (rows >= 0).all():
            values[rows < 0] = self._predict(records, tokens[rows < 0])
        return values

    def noise_free_accuracy(self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None) -> FloatArray:
        """``noise_free`` of pipelines (NaN where a pipeline has no successful recorded run)."""
        return self.noise_free(task_tokens(self.task, list(pipelines)), fidelity=fidelity)

    def complete(self, fidelity: Fidelity | None = None, split: Split = "validation") -> bool:
        return self.table.complete(fidelity or self.task.search_fidelity, split)

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        """Recorded (or predicted) validation accuracy of each pipeline at ``fidelity`` (the task's search fidelity)."""
        if not pipelines:
            return []
        records = self.table.records(fidelity or self.task.search_fidelity, "validation")
        return self._batch(records, task_tokens(self.task, pipelines), list(pipelines).__getitem__, seed).results()

    def evaluate_batch(
        self, tokens: Mapping[str, IntArray], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> BatchResults:
        """``evaluate``'s results as arrays, from canonical (N, num_tokens) matrices (``automl_env.batch``);
        a row is decoded only where its FLOPs are not recorded and must be priced from its architecture."""
        records = self.table.records(fidelity or self.task.search_fidelity, "validation")
        joint = np.concatenate([np.asarray(tokens[name], dtype=np.int64) for name in self.task.modules], axis=1)
        return self._batch(records, joint, lambda i: self.pipeline_of(joint[i]), seed)

    def evaluate_tokens(self, tokens: IntArray, *, fidelity: Fidelity | None = None, seed: int = 0) -> FloatArray:
        """Validation accuracy of each row of an (n, T) matrix of the task's tokens (all modules, task order).

        The fast path for analyses and benchmarks; a row that is neither recorded nor predictable is a ValueError.
        """
        records = self.table.records(fidelity or self.task.search_fidelity, "validation")
        tokens = np.asarray(tokens, dtype=np.int64)
        rows = self.table.lookup(records.fidelity, "validation", tokens)
        if self.runs == "mean":
            return self.noise_free(tokens, fidelity=records.fidelity)
        accuracy = np.full(rows.shape[0], np.nan)
        found = rows >= 0
        accuracy[found] = records.accuracy_at(rows[found], seed)
        if not found.all():
            accuracy[~found] = self._predict(records, tokens[~found])
        return accuracy

    def retrain(
        self, pipeline: Pipeline, *, fidelity: Fidelity | None = None, seed: int = 0, lr_scale: float = 1.0
    ) -> EvalResult:
        """The recorded final training of ``pipeline``: ``accuracy`` is test accuracy at ``fidelity``
        (the task's final fidelity); a table cannot change the recorded recipe, so ``lr_scale`` must be 1."""
        if lr_scale != 1.0:
            raise ValueError(f"the table recorded one training recipe; lr_scale={lr_scale} cannot be served")
        records = self.table.records(fidelity or self.task.final_fidelity, "test")
        return self._batch(records, task_tokens(self.task, [pipeline]), [pipeline].__getitem__, seed).result(0)

    def optimum(self, *, fidelity: Fidelity | None = None, split: Split = "validation") -> Optimum | None:
        """Exact best (seed-averaged) accuracy at ``fidelity`` and ``split`` where the table is complete, else None."""
        fidelity = fidelity or (self.task.search_fidelity if split == "validation" else self.task.final_fidelity)
        if not self.table.complete(fidelity, split):
            return None
        records = self.table.records(fidelity, split)
        mean = records.mean_accuracy()
        best = int(np.nanargmax(mean))
        pipeline = self.pipeline_of(records.tokens[best])
        return Optimum(float(mean[best]), pipeline, float(mean[best]), exact=True)

    def pipeline_of(self, tokens: IntArray) -> Pipeline:
        """The pipeline of one row of the task's tokens."""
        configs, start = {}, 0
        for name, space in self.task.modules.items():
            configs[name] = space.decode(tokens[start : start + space.num_tokens])
            start += space.num_tokens
        return Pipeline.of(configs)

    def describe(self) -> dict[str, Any]:
        """The table's source, ``runs`` (unless "one"), its groups (fidelity, split, rows, seeds, completeness) and the
        surrogate's fit."""
        return {
            "backend": self.name,
            "task": self.task.name,
            "source": self.table.source,
            **({"runs": self.runs} if self.runs != "one" else {}),  # the default is left out: older run configs match
            "space_size": self.table.space_size,
            "groups": [
                {
                    "fidelity": key,
                    "split": split,
                    "rows": g.rows,
                    "seeds": list(g.seeds) or "averaged",
                    "complete": g.rows == self.table.space_size,
                    "failed_rows": len(g.failures),
                }
                for (key, split), g in self.table.groups.items()
            ],
            "surrogate": {key: fit.to_dict() for key, (_, fit) in self.surrogates.items()} or None,
        }

    def _predict(self, records: Records, tokens: IntArray) -> FloatArray:
        if records.fidelity.key in self.surrogates and records.split == "validation":
            return self.surrogates[records.fidelity.key][0].predict(tokens)
        if self.table.complete(records.fidelity, records.split):
            raise ValueError(f"tokens {tokens[0].tolist()} are not in the complete table {self.table.source}")
        raise ValueError(f"{len(tokens)} pipeline(s) are not recorded in {self.table.source} and there is no surrogate")

    def _batch(
        self, records: Records, tokens: IntArray, pipeline: Callable[[int], Pipeline], seed: int
    ) -> BatchResults:
        """Results of the (n, T) token rows; ``pipeline(i)`` is row i's pipeline, asked for only to price its cost."""
        rows = self.table.lookup(records.fidelity, records.split, tokens)
        found = rows >= 0
        accuracy = np.full(rows.shape[0], np.nan)
        mean = self.runs == "mean"
        accuracy[found] = records.mean_accuracy()[rows[found]] if mean else records.accuracy_at(rows[found], seed)
        recorded = records.mean_metrics(rows[found]) if mean else records.metrics_at(rows[found], seed)
        recorded_cost = np.full(rows.shape[0], np.nan)
        recorded_cost[found] = records.cost_at(rows[found], seed)
        predictable = records.fidelity.key in self.surrogates and records.split == "validation"
        if not found.all() and (predictable or self.table.complete(records.fidelity, records.split)):
            accuracy[~found] = self._predict(records, tokens[~found])
        cost = np.where(np.isfinite(recorded_cost), recorded_cost, _finite_mean(records.cost_seconds))
        flops, params = self._costs(records, rows, pipeline)
        failures: dict[int, str] = {}
        for i in np.flatnonzero(found).tolist():
            if int(rows[i]) in records.failures:
                failures[i] = f"recorded as failed in {self.table.source}: {records.failures[int(rows[i])]}"
        for i in np.flatnonzero(~np.isfinite(accuracy)).tolist():
            failures.setdefault(
                i,
                f"not recorded in {self.table.source} at fidelity {records.fidelity.key} ({records.rows} of "
                f"{self.table.space_size:.3g} pipelines) and the backend has no surrogate: pass surrogate='hist_gb'",
            )
        failed = list(failures)
        accuracy[failed], cost[failed] = 0.0, 0.0  # as EvalResult.failed makes them
        metrics = {"recorded": found.astype(np.float64)}
        for name, values in recorded.items():  # the table's own columns (HPOLib: the run's MSE), NaN where unrecorded
            metrics[name] = np.full(rows.shape[0], np.nan)
            metrics[name][found] = values
        return BatchResults(self.name, accuracy, flops, params, cost, failures, metrics)

    def _costs(
        self, records: Records, rows: IntArray, pipeline: Callable[[int], Pipeline]
    ) -> tuple[FloatArray, FloatArray]:
        """Recorded FLOPs and parameters of each row, else ``automl_env.cost``'s (0 where no cost model applies)."""
        flops, params = np.full(rows.shape[0], np.nan), np.full(rows.shape[0], np.nan)
        found = rows >= 0
        if records.flops is not None and records.params is not None:
            flops[found], params[found] = records.flops[rows[found]], records.params[rows[found]]
        for i in np.flatnonzero(~(np.isfinite(flops) & np.isfinite(params))).tolist():
            flops[i], params[i] = self._cost(records, pipeline(i))
        return flops, params

    def _cost(self, records: Records, pipeline: Pipeline) -> tuple[float, float]:
        """``automl_env.cost``'s FLOPs and parameters of an unrecorded pipeline (0 where no cost model applies)."""
        arch = self.task.architecture(pipeline)
        if arch is None:
            return 0.0, 0.0
        try:
            cost = arch_cost(
                arch,
                num_classes=self.task.num_classes,
                image_size=self.task.image_size,
                in_channels=self.task.in_channels,
                cells=records.fidelity.cells,
                channels=records.fidelity.channels,
            )
        except TypeError:  # no cost model for this architecture type
            return 0.0, 0.0
        return float(cost.macs), float(cost.params)


def _finite_mean(values: FloatArray | None) -> float:
    if values is None:
        return 0.0
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0
