"""The executor protocol: where and when a backend's evaluations run.

A backend (``Evaluator``) says *how* a pipeline is evaluated; an executor says *where* (this process, a
pool of worker processes, Ray actors) and *when* (the order results come back in, and on which clock).
Every executor has the same asynchronous interface:

    ticket = executor.submit(pipeline, fidelity=fidelity, seed=seed)   # returns at once
    for done in executor.wait():                                       # at least one finished evaluation
        done.ticket, done.result, done.started, done.finished, done.worker

``wait`` returns evaluations in the order they finished, which need not be the order they were submitted
in: an asynchronous search keeps every worker busy by submitting a new pipeline as soon as one finishes.
``now()`` is the executor's clock in seconds since it started: wall-clock time for executors that run
evaluations, simulated training time for ``SimulatedExecutor``, so a search reads time the same way
whichever it runs on. ``ExecutorBackend`` turns any executor back into a batched ``Evaluator`` (submit a
batch, wait for all of it, results in order), which is how the env flavours and ``run_search`` use one
without any other change.

A failed evaluation is a result (``status="failed"`` with a reason), as with backends: an executor never
raises for a pipeline. ``BackendSetupError`` (nothing could be evaluated) is raised to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from automl_env.backends.base import EvalResult, Fidelity, Optimum
from automl_env.pipeline import Pipeline

if TYPE_CHECKING:
    from automl_env.backends.base import Evaluator
    from automl_env.tasks import TaskSpec


@dataclass(frozen=True)
class Completed:
    """One finished evaluation, as ``Executor.wait`` returns it."""

    ticket: int
    """What ``submit`` returned for it."""
    pipeline: Pipeline
    result: EvalResult
    started: float
    """``now()`` when a worker started it."""
    finished: float
    """``now()`` when it finished (for ``SimulatedExecutor``: started + the result's ``cost_seconds``)."""
    worker: int
    """Which worker ran it, 0..workers-1 (a replaced worker keeps its number)."""


@runtime_checkable
class Executor(Protocol):
    """Runs evaluations of one backend on ``workers`` workers; see the module docstring."""

    workers: int

    def submit(self, pipeline: Pipeline, *, fidelity: Fidelity | None = None, seed: int = 0) -> int:
        """Queue one evaluation; returns its ticket (0, 1, 2, ... in submission order). Never blocks on training."""
        ...

    def wait(self, timeout: float | None = None) -> list[Completed]:
        """Block until at least one queued evaluation has finished (or ``timeout`` seconds passed: then maybe
        none); return every finished one not returned before, in the order they finished. [] when none is
        queued."""
        ...

    def pending(self) -> int:
        """Evaluations submitted and not yet returned by ``wait``."""
        ...

    def now(self) -> float:
        """Seconds since the executor started, on its clock (wall or simulated)."""
        ...

    def close(self) -> None:
        """Stop the workers (idempotent). Evaluations still pending are abandoned."""
        ...


class ExecutorBackend:
    """A batched ``Evaluator`` over an executor: ``evaluate`` submits the batch and waits for all of it.

    The batch's results come back in the batch's order whatever order the workers finish in, so everything
    written for a backend (the env flavours, ``run_search``) runs on an executor unchanged. ``progress``, when
    set, is called as ``progress(done, total)`` as each evaluation of the batch finishes, as ``TrainingBackend``
    does (a search's progress display).
    """

    def __init__(self, backend: Evaluator, executor: Executor) -> None:
        self.inner = backend
        self.executor = executor
        self.name: str = backend.name
        self.task: TaskSpec = backend.task
        self.progress: Callable[[int, int], None] | None = None

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        if self.executor.pending():
            raise RuntimeError("ExecutorBackend.evaluate: the executor has evaluations in flight from another caller")
        tickets = [self.executor.submit(pipeline, fidelity=fidelity, seed=seed) for pipeline in pipelines]
        results: dict[int, EvalResult] = {}
        while len(results) < len(tickets):
            for done in self.executor.wait():
                results[done.ticket] = done.result
                if self.progress is not None:
                    self.progress(len(results), len(tickets))
        return [results[ticket] for ticket in tickets]

    def optimum(self) -> Optimum | None:
        return self.inner.optimum()

    def close(self) -> None:
        self.executor.close()


class SerialExecutor:
    """Evaluates in this process, one pipeline at a time, in submission order (wall clock).

    ``submit`` only queues; ``wait`` evaluates the oldest queued pipeline and returns it, so a search written
    against executors behaves on this one as it does on a pool with one worker.
    """

    workers = 1

    def __init__(self, backend: Evaluator) -> None:
        self.backend = backend
        self._start = time.perf_counter()
        self._queue: list[tuple[int, Pipeline, Fidelity | None, int]] = []
        self._next_ticket = 0

    def submit(self, pipeline: Pipeline, *, fidelity: Fidelity | None = None, seed: int = 0) -> int:
        ticket = self._next_ticket
        self._next_ticket += 1
        self._queue.append((ticket, pipeline, fidelity, seed))
        return ticket

    def wait(self, timeout: float | None = None) -> list[Completed]:
        if not self._queue:
            return []
        ticket, pipeline, fidelity, seed = self._queue.pop(0)
        started = self.now()
        [result] = self.backend.evaluate([pipeline], fidelity=fidelity, seed=seed)
        return [Completed(ticket, pipeline, result, started, self.now(), worker=0)]

    def pending(self) -> int:
        return len(self._queue)

    def now(self) -> float:
        return time.perf_counter() - self._start

    def close(self) -> None:
        self._queue.clear()
