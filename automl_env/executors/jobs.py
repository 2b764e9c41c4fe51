"""What the pool and Ray executors share: tickets, the queue, retries, finished evaluations, and the wait loop.

An evaluation whose worker died or timed out goes back to the front of the queue (it has waited longest) until
it has had ``1 + retries`` attempts; then it becomes a failed result whose reason says what happened to the
last attempt and how many there were. Retrying is safe because a training backend with a store reads it first:
an evaluation that finished before its acknowledgement was lost is read back, not trained again.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from automl_env.backends.base import EvalResult, Fidelity
from automl_env.executors.base import Completed
from automl_env.pipeline import Pipeline


@dataclass
class Job:
    """One submitted evaluation and how many times a worker has started it."""

    ticket: int
    pipeline: Pipeline
    fidelity: Fidelity | None
    seed: int
    attempts: int = 0
    started: float = 0.0
    """``now()`` when its current attempt started."""
    timeout: float = float("inf")
    """Seconds an attempt may run before its worker is killed (``options.evaluation_timeout``)."""


class Jobs:
    """Queue, clock and finished list of one executor; ``retries`` is ``ExecutorOptions.retries``."""

    def __init__(
        self, *, backend_name: str, retries: int, timeout: Callable[[Fidelity | None], float] | None = None
    ) -> None:
        self.backend_name = backend_name
        self.timeout = timeout
        self.retries = retries
        self.queue: deque[Job] = deque()
        self.finished: list[Completed] = []
        self.running = 0
        self._next_ticket = 0
        self._start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._start

    def submit(self, pipeline: Pipeline, fidelity: Fidelity | None, seed: int) -> int:
        ticket = self._next_ticket
        self._next_ticket += 1
        limit = self.timeout(fidelity) if self.timeout is not None else float("inf")
        self.queue.append(Job(ticket, pipeline, fidelity, seed, timeout=limit))
        return ticket

    def pending(self) -> int:
        """Submitted and not yet handed out by ``take_finished``."""
        return len(self.queue) + self.running + len(self.finished)

    def start(self) -> Job:
        """The next queued job, counted as running from now."""
        job = self.queue.popleft()
        job.attempts += 1
        job.started = self.now()
        self.running += 1
        return job

    def finish(self, job: Job, result: EvalResult, worker: int) -> None:
        self.running -= 1
        self.finished.append(Completed(job.ticket, job.pipeline, result, job.started, self.now(), worker))

    def lost(self, job: Job, reason: str, worker: int) -> None:
        """``job``'s worker died or timed out: queue it again, or record it as failed once out of attempts."""
        self.running -= 1
        if job.attempts <= self.retries:
            self.queue.appendleft(job)
            return
        tries = f"; gave up after {job.attempts} attempts" if job.attempts > 1 else ""
        failed = EvalResult.failed(reason=f"{reason}{tries}", backend=self.backend_name)
        self.finished.append(Completed(job.ticket, job.pipeline, failed, job.started, self.now(), worker))

    def take_finished(self) -> list[Completed]:
        done, self.finished = self.finished, []
        return done

    def abandon(self) -> None:
        self.queue.clear()
        self.finished.clear()
        self.running = 0


class WorkerExecutor(ABC):
    """The executor protocol over ``Jobs`` for executors whose workers run elsewhere (processes, Ray actors).

    A subclass starts its workers (``_start_workers``, at the first ``submit``), hands queued jobs to idle workers
    (``_dispatch``), blocks until some worker answers or ``budget`` seconds pass (``_collect``), and replaces the
    workers whose evaluation ran past the timeout (``_time_out``, with ``_seconds_to_next_timeout`` saying how
    long ``_collect`` may block before one does).
    """

    workers: int
    _jobs: Jobs

    def submit(self, pipeline: Pipeline, *, fidelity: Fidelity | None = None, seed: int = 0) -> int:
        self._start_workers()
        ticket = self._jobs.submit(pipeline, fidelity, seed)
        self._dispatch()
        return ticket

    def pending(self) -> int:
        return self._jobs.pending()

    def now(self) -> float:
        return self._jobs.now()

    def wait(self, timeout: float | None = None) -> list[Completed]:
        if not self.pending():
            return []
        deadline = None if timeout is None else self.now() + timeout
        while not self._jobs.finished:
            budget = self._seconds_to_next_timeout()
            if deadline is not None:
                left = max(0.0, deadline - self.now())
                budget = left if budget is None else min(budget, left)
            self._collect(budget)
            self._time_out()
            self._dispatch()
            if deadline is not None and self.now() >= deadline:
                break
        return self._jobs.take_finished()

    @abstractmethod
    def _start_workers(self) -> None:
        """Start the workers if they are not running (the first submit, or the first after ``close``)."""

    @abstractmethod
    def _dispatch(self) -> None:
        """Give queued jobs to idle workers."""

    @abstractmethod
    def _collect(self, budget: float | None) -> None:
        """Block until a worker answers or dies (or ``budget`` seconds pass: None waits); record what arrived."""

    @abstractmethod
    def _time_out(self) -> None:
        """Replace the workers whose evaluation ran past the timeout, losing (retrying or failing) their jobs."""

    @abstractmethod
    def _seconds_to_next_timeout(self) -> float | None:
        """How long until the earliest running evaluation times out (None: no timeout)."""
