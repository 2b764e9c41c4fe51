"""Evaluations of a batch as arrays: the token fast path of the vector env.

A backend that can score token matrices directly (the synthetic and table backends) implements
``TokenBatchEvaluator.evaluate_batch``: it takes one (N, num_tokens) matrix per module of the task, in
canonical form (``ModuleSpace.canonical``: the tokens ``encode(decode(row))`` gives), and returns a
``BatchResults`` of arrays. Its ``evaluate(pipelines)`` is ``evaluate_batch`` of the pipelines' encodings
turned into ``EvalResult`` objects (``BatchResults.results``), so both paths give the same numbers by
construction; the vector env uses it to skip decoding N pipelines, building N result objects and writing N
JSON infos per step, which took most of a step (issue 21).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from automl_env.backends.base import EvalResult, Fidelity

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BatchResults:
    """N evaluations as arrays: ``EvalResult``'s numbers, with failures as a sparse row -> reason map.

    A failed row keeps the FLOPs and parameters the backend knows and has accuracy and cost 0, as
    ``EvalResult.failed`` does; ``metrics`` holds each ``EvalResult.metrics`` key as an (N,) array.
    """

    backend: str
    accuracy: FloatArray
    flops: FloatArray
    params: FloatArray
    cost_seconds: FloatArray
    failures: Mapping[int, str] = field(default_factory=dict)
    metrics: Mapping[str, FloatArray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.accuracy.shape[0])

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """True where the evaluation succeeded."""
        ok = np.ones(len(self), dtype=bool)
        ok[list(self.failures)] = False
        return ok

    @classmethod
    def all_failed(cls, n: int, *, reason: str, backend: str) -> BatchResults:
        """N failures for one reason (a backend that raised on the batch), as ``EvalResult.failed`` makes them."""
        zeros = np.zeros(n, dtype=np.float64)
        return cls(backend, zeros, zeros, zeros, zeros, dict.fromkeys(range(n), reason))

    def result(self, i: int) -> EvalResult:
        """Row ``i`` as the ``EvalResult`` that ``evaluate`` returns for it."""
        if i in self.failures:
            return EvalResult.failed(
                reason=self.failures[i],
                backend=self.backend,
                flops=float(self.flops[i]),
                params=float(self.params[i]),
                cost_seconds=float(self.cost_seconds[i]),
            )
        # NaN marks a metric this row does not have (a table column of a pipeline the table does not hold).
        metrics = {key: float(values[i]) for key, values in self.metrics.items() if not np.isnan(values[i])}
        return EvalResult(
            accuracy=float(self.accuracy[i]),
            flops=float(self.flops[i]),
            params=float(self.params[i]),
            cost_seconds=float(self.cost_seconds[i]),
            backend=self.backend,
            metrics=metrics,
        )

    def results(self) -> list[EvalResult]:
        return [self.result(i) for i in range(len(self))]


@runtime_checkable
class TokenBatchEvaluator(Protocol):
    """A backend that also scores canonical token matrices (one per task module) without pipelines."""

    def evaluate_batch(
        self, tokens: Mapping[str, IntArray], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> BatchResults:
        """The results ``evaluate`` gives for the pipelines these rows decode to, as arrays."""
        ...


def same_owner(obj: Any, method: str, batched: str) -> bool:
    """Whether ``obj``'s class defines ``batched`` where it defines ``method`` (so the batched form is the
    one ``method`` is built on): a subclass that overrides ``evaluate`` alone must not be served by its
    parent's ``evaluate_batch``, nor an objective that overrides ``__call__`` by its parent's ``of_batch``."""

    def owner(name: str) -> type | None:
        return next((cls for cls in type(obj).__mro__ if name in vars(cls)), None)

    return owner(batched) is not None and owner(batched) is owner(method)
