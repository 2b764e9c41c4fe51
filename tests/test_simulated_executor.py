"""SimulatedExecutor: results in simulated finishing order, the clock, worker placement, batches' makespan."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

import automl_env
from automl_env.backends.base import EvalResult, Fidelity
from automl_env.codec import JointCodec
from automl_env.executors import ExecutorBackend, SimulatedExecutor
from automl_env.pipeline import Pipeline
from automl_env.tasks import get_task


def distinct_pipelines(n: int, task: str = "cifar100") -> list[Pipeline]:
    codec = JointCodec(get_task(task))
    rng = np.random.default_rng(0)
    found: dict[str, Pipeline] = {}
    while len(found) < n:
        tokens = {a: rng.integers(0, space.nvec) for a, space in codec.spaces.items()}
        pipeline = codec.pipeline(tokens)
        found[pipeline.digest] = pipeline
    return list(found.values())


class CostBackend:
    """Answers at once with the cost it was given for each pipeline; counts its calls."""

    name = "costs"

    def __init__(self, pipelines: Sequence[Pipeline], costs: Sequence[float]) -> None:
        self.task = get_task("cifar100")
        self.cost = {p.digest: float(c) for p, c in zip(pipelines, costs, strict=True)}
        self.calls: list[int] = []

    def evaluate(
        self, pipelines: Sequence[Pipeline], *, fidelity: Fidelity | None = None, seed: int = 0
    ) -> list[EvalResult]:
        self.calls.append(len(pipelines))
        return [EvalResult(0.5, 0.0, 0.0, self.cost[p.digest], self.name) for p in pipelines]

    def optimum(self) -> None:
        return None


def drain(executor: SimulatedExecutor) -> list[tuple[int, float, float, int, float]]:
    """Every completion as (ticket, started, finished, worker, clock after its wait)."""
    out = []
    while executor.pending():
        for done in executor.wait():
            out.append((done.ticket, done.started, done.finished, done.worker, executor.now()))
    return out


def test_two_workers_replay_the_hand_computed_schedule() -> None:
    # costs 5, 3, 4, 1 submitted at 0 on two workers: #0 on w0 [0, 5], #1 on w1 [0, 3], #2 waits for the first
    # free worker, w1 at 3 -> [3, 7], #3 waits for w0 at 5 -> [5, 6]; they finish in the order 1, 0, 3, 2.
    pipelines = distinct_pipelines(4)
    executor = SimulatedExecutor(CostBackend(pipelines, [5, 3, 4, 1]), workers=2)
    assert [executor.submit(p) for p in pipelines] == [0, 1, 2, 3]
    assert executor.now() == 0.0 and executor.pending() == 4
    assert drain(executor) == [(1, 0, 3, 1, 3), (0, 0, 5, 0, 5), (3, 5, 6, 0, 6), (2, 3, 7, 1, 7)]
    assert executor.wait() == [] and executor.now() == 7.0


def test_one_worker_runs_them_back_to_back_in_submission_order() -> None:
    pipelines = distinct_pipelines(4)
    executor = SimulatedExecutor(CostBackend(pipelines, [5, 3, 4, 1]), workers=1)
    for pipeline in pipelines:
        executor.submit(pipeline)
    assert drain(executor) == [(0, 0, 5, 0, 5), (1, 5, 8, 0, 8), (2, 8, 12, 0, 12), (3, 12, 13, 0, 13)]


def test_a_pipeline_submitted_later_starts_at_the_clock_and_may_finish_first() -> None:
    pipelines = distinct_pipelines(3)
    executor = SimulatedExecutor(CostBackend(pipelines, [5, 3, 1]), workers=2)
    executor.submit(pipelines[0]), executor.submit(pipelines[1])
    [first] = executor.wait()
    assert (first.ticket, executor.now()) == (1, 3.0)
    executor.submit(pipelines[2])  # at 3, on the worker just freed: [3, 4], before #0 ends at 5
    assert [(d.ticket, d.started, d.finished, d.worker) for d in executor.wait()] == [(2, 3.0, 4.0, 1)]
    assert [d.ticket for d in executor.wait()] == [0] and executor.now() == 5.0


def test_evaluations_finishing_together_come_back_together_in_ticket_order() -> None:
    pipelines = distinct_pipelines(3)
    executor = SimulatedExecutor(CostBackend(pipelines, [2, 2, 1]), workers=3)
    for pipeline in pipelines:
        executor.submit(pipeline)
    assert [d.ticket for d in executor.wait()] == [2]
    assert [d.ticket for d in executor.wait()] == [0, 1] and executor.pending() == 0


def test_a_batch_submitted_at_once_is_evaluated_in_one_backend_call() -> None:
    pipelines = distinct_pipelines(6)
    backend = CostBackend(pipelines, [1, 2, 3, 4, 5, 6])
    executor = SimulatedExecutor(backend, workers=2)
    for pipeline in pipelines[:4]:
        executor.submit(pipeline)
    executor.wait()
    executor.submit(pipelines[4]), executor.submit(pipelines[5])
    drain(executor)
    assert backend.calls == [4, 2]


def test_a_synchronous_batch_ends_with_its_slowest_pipeline() -> None:
    # ExecutorBackend waits for the whole batch: two batches of two on two workers take max(5, 3) + max(4, 1).
    pipelines = distinct_pipelines(4)
    executor = SimulatedExecutor(CostBackend(pipelines, [5, 3, 4, 1]), workers=2)
    batched = ExecutorBackend(executor.backend, executor)
    batched.evaluate(pipelines[:2])
    assert executor.now() == 5.0
    batched.evaluate(pipelines[2:])
    assert executor.now() == 9.0


def test_the_recorded_table_reports_costs_to_simulate() -> None:
    env = automl_env.parallel_env("nb201-cifar100", backend="table")
    pipelines = distinct_pipelines(6, task="nb201-cifar100")
    executor = SimulatedExecutor(env.backend, workers=3)
    for pipeline in pipelines:
        executor.submit(pipeline, fidelity=env.evaluation.fidelity)
    done = [d for _ in range(6) for d in executor.wait()]
    assert sorted(d.ticket for d in done) == list(range(6))
    assert all(d.result.cost_seconds > 0 and d.finished == d.started + d.result.cost_seconds for d in done)
    assert [d.finished for d in done] == sorted(d.finished for d in done)
    assert executor.now() == done[-1].finished


def test_a_result_without_a_cost_cannot_be_simulated() -> None:
    [pipeline] = distinct_pipelines(1)
    executor = SimulatedExecutor(CostBackend([pipeline], [math.nan]), workers=1)
    executor.submit(pipeline)
    with pytest.raises(ValueError, match="cost_seconds of nan"):
        executor.wait()


def test_bad_worker_counts_and_close() -> None:
    [pipeline] = distinct_pipelines(1)
    backend = CostBackend([pipeline], [1.0])
    for workers in (0, -1):
        with pytest.raises(ValueError, match="at least one worker"):
            SimulatedExecutor(backend, workers=workers)
    with pytest.raises(TypeError, match="workers must be an int"):
        SimulatedExecutor(backend, workers=2.0)  # type: ignore[arg-type]
    executor = SimulatedExecutor(backend, workers=1)
    executor.submit(pipeline)
    executor.close()
    executor.close()
    assert executor.pending() == 0 and executor.wait() == []
