"""``SimulatedExecutor``: N simulated workers on a simulated clock, for backends that report a training cost.

The backend answers at once (a closed-form benchmark, a recorded table), but each result says how long its
training would have taken (``EvalResult.cost_seconds``). The executor replays what N workers would have done:
a pipeline starts when it has been submitted and a worker is free (submissions wait in a first-in first-out
queue while every worker is busy; a free worker with the lowest number takes it), finishes at start +
``cost_seconds``, and ``wait`` returns evaluations in order of their simulated finishing times. ``now()`` is
the simulated clock: the finishing time of the latest evaluation ``wait`` returned (0 before the first), and
a pipeline submitted after that ``wait`` is submitted at that time. So an asynchronous search with 32
simulated workers over a thousand pipelines replays in seconds, and searches are compared in the simulated
wall-clock time they would have taken (syne-tune's simulator backend does the same).

Each pipeline is evaluated with the backend when a ``wait`` first needs its cost: the pipelines submitted
since the previous ``wait`` are evaluated together, one backend call per (fidelity, seed), so a batch
submitted at once is evaluated as one vectorised call. Results are the backend's, unchanged: only their
order and times are simulated. ``timeout`` is accepted and ignored (simulated time never blocks), and a
result without a finite, non-negative ``cost_seconds`` raises ``ValueError``: there is no time to simulate.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

from automl_env.backends.base import Evaluator, Fidelity, check_int
from automl_env.executors.base import Completed
from automl_env.pipeline import Pipeline


@dataclass(frozen=True)
class _Submission:
    ticket: int
    pipeline: Pipeline
    fidelity: Fidelity | None
    seed: int
    submitted: float
    """The simulated clock when it was submitted: it cannot start earlier."""


class SimulatedExecutor:
    """``workers`` simulated workers replaying each result's ``cost_seconds``; see the module docstring."""

    def __init__(self, backend: Evaluator, *, workers: int) -> None:
        self.workers = check_int(workers, "workers")
        if self.workers < 1:
            raise ValueError(f"SimulatedExecutor needs at least one worker, got workers={workers}")
        self.backend = backend
        self._clock = 0.0
        self._free_at = [0.0] * self.workers
        """When each worker finishes the last evaluation placed on it."""
        self._queued: list[_Submission] = []
        """Submitted since the last ``wait``: not evaluated yet, so not placed on a worker yet."""
        self._running: list[tuple[float, int, Completed]] = []
        """Placed and not yet returned: a heap of (finished, ticket, completion)."""
        self._next_ticket = 0

    def submit(self, pipeline: Pipeline, *, fidelity: Fidelity | None = None, seed: int = 0) -> int:
        ticket = self._next_ticket
        self._next_ticket += 1
        self._queued.append(_Submission(ticket, pipeline, fidelity, seed, self._clock))
        return ticket

    def wait(self, timeout: float | None = None) -> list[Completed]:
        """The evaluations that finish next on the simulated clock (several only when they finish at the same
        time), which moves to their finishing time; [] when none is pending."""
        self._place(self._queued)
        self._queued = []
        if not self._running:
            return []
        finished = self._running[0][0]
        done = []
        while self._running and self._running[0][0] == finished:
            done.append(heapq.heappop(self._running)[2])
        self._clock = finished
        return done

    def pending(self) -> int:
        return len(self._queued) + len(self._running)

    def now(self) -> float:
        return self._clock

    def close(self) -> None:
        self._queued.clear()
        self._running.clear()

    def _place(self, submissions: Sequence[_Submission]) -> None:
        """Evaluate ``submissions`` and put each, in submission order, on the worker that can start it first."""
        results = {}
        groups: dict[tuple[Fidelity | None, int], list[_Submission]] = {}
        for submission in submissions:
            groups.setdefault((submission.fidelity, submission.seed), []).append(submission)
        for (fidelity, seed), group in groups.items():
            evaluated = self.backend.evaluate([s.pipeline for s in group], fidelity=fidelity, seed=seed)
            results.update({s.ticket: result for s, result in zip(group, evaluated, strict=True)})
        for submission in submissions:
            result = results[submission.ticket]
            if not (math.isfinite(result.cost_seconds) and result.cost_seconds >= 0):
                raise ValueError(
                    f"SimulatedExecutor: backend {self.backend.name!r} gave pipeline {submission.pipeline.digest} a "
                    f"cost_seconds of {result.cost_seconds!r}, so its training time cannot be simulated; simulate "
                    "backends that report a finite training cost (synthetic, synthetic-rugged, table)"
                )
            worker = min(range(self.workers), key=lambda w: (max(self._free_at[w], submission.submitted), w))
            started = max(self._free_at[worker], submission.submitted)
            finished = started + result.cost_seconds
            self._free_at[worker] = finished
            completed = Completed(submission.ticket, submission.pipeline, result, started, finished, worker)
            heapq.heappush(self._running, (finished, submission.ticket, completed))
