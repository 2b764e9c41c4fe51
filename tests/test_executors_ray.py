"""The Ray executor on a local Ray instance: concurrency and a killed actor (skipped where Ray is not installed).

One module-scoped Ray instance (starting one takes seconds); the actors find the test backend through the
PYTHONPATH the instance gives its workers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from executor_backends import SleepBackend, evaluated, pipeline

import automl_env
from automl_env.executors import ExecutorBackend, ExecutorOptions, make_executor
from automl_env.store import EvalStore

ray = pytest.importorskip("ray")

TESTS = Path(__file__).parent
REPO = Path(automl_env.__file__).parents[1]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    path = os.pathsep.join([str(TESTS), str(REPO), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def test_two_actors_overlap_their_evaluations(local_ray: None, tmp_path: Path) -> None:
    seconds, n = 1.0, 6  # long sleeps: per-result overhead under machine load must not decide the outcome
    backend = SleepBackend(tmp_path, seconds=seconds)
    executor = make_executor("ray", backend, workers=2)
    try:
        batched = ExecutorBackend(backend, executor)
        batched.evaluate([pipeline(100), pipeline(101)])  # starts both actors: their start-up is not measured
        start = time.perf_counter()
        results = batched.evaluate([pipeline(i) for i in range(n)])
        wall = time.perf_counter() - start
    finally:
        executor.close()
    assert all(result.status == "ok" for result in results)
    assert wall < 0.75 * n * seconds, f"{n} evaluations of {seconds} s on 2 actors took {wall:.2f} s"
    assert ray.is_initialized(), "an executor must not shut down a Ray instance it did not start"


def test_a_killed_actor_is_replaced_and_its_evaluation_retried(local_ray: None, tmp_path: Path) -> None:
    """As in the pool: a crash every time fails, a crash once succeeds, a lost answer is read back, not retrained."""
    pipelines = [pipeline(i) for i in range(4)]
    behaviours = {pipelines[0].digest: "crash", pipelines[1].digest: "crash_once", pipelines[2].digest: "lost_ack"}
    backend = SleepBackend(tmp_path, seconds=0.3, behaviours=behaviours, store=EvalStore(tmp_path / "store.sqlite"))
    executor = make_executor("ray", backend, workers=2, options=ExecutorOptions(retries=1))
    try:
        tickets = [executor.submit(p) for p in pipelines]
        results = {}
        while executor.pending():
            for done in executor.wait():
                assert done.ticket not in results
                results[done.ticket] = done.result
    finally:
        executor.close()
    assert sorted(results) == tickets
    crashed = results[tickets[0]]
    assert crashed.status == "failed" and crashed.reason.startswith("Ray actor died")
    assert crashed.reason.endswith("gave up after 2 attempts")
    assert all(results[t].status == "ok" for t in tickets[1:])
    assert sorted(evaluated(tmp_path)) == sorted(p.digest for p in pipelines[1:])


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_workers_are_refused_before_ray_starts(workers: object, tmp_path: Path) -> None:
    started = ray.is_initialized()
    with pytest.raises((ValueError, TypeError), match="option 'workers' must be an integer"):
        make_executor("ray", SleepBackend(tmp_path), workers=workers)  # type: ignore[arg-type]
    assert ray.is_initialized() == started, "a bad setting started (or stopped) Ray"
