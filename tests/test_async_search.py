"""run_async_search: busy workers, every evaluation recorded once, the exact budget, learning, the refusals."""

from __future__ import annotations

import csv
import itertools
import json
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import automl_env
from automl_env.executors import Completed, SerialExecutor, SimulatedExecutor
from automl_env.pipeline import Pipeline
from baselines import SEARCHES, make_search
from ma2ml_agents import ALGORITHMS, SynchronousOnlyError, make_algorithm, run_async_search
from ma2ml_agents.evaluator import BatchEvaluator
from ma2ml_agents.incumbent import INCUMBENT_FILE, Incumbent, choose_incumbent, evaluator_measure
from ma2ml_agents.run_folder import RunExistsError

SMALL = {"hidden_size": 16, "critic_hidden_size": 16, "baseline_samples": 4}
"""Small networks: MA2ML's loop, not its capacity, is under test."""


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: on a loaded machine a second one only waits (MA2ML's updates were 7x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "evaluations.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def env_of(task: str = "cifar100", **options: Any) -> Any:
    return automl_env.parallel_env(task, backend="table" if task.startswith("nb201") else "synthetic", **options)


class WatchedExecutor(SimulatedExecutor):
    """Records, at every ``wait``, how many evaluations were in flight and how many had been submitted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.submitted = 0
        self.at_wait: list[tuple[int, int]] = []

    def submit(self, pipeline: Pipeline, **kwargs: Any) -> int:
        self.submitted += 1
        return super().submit(pipeline, **kwargs)

    def wait(self, timeout: float | None = None) -> list[Completed]:
        self.at_wait.append((self.pending(), self.submitted))
        return super().wait(timeout)


@pytest.mark.parametrize("name", ["random", "rea", "ma2ml"])
def test_async_keeps_every_worker_busy_and_records_each_evaluation_once(name: str, tmp_path: Path) -> None:
    env = env_of()
    algorithm = (
        make_algorithm(name, env, seed=0, **SMALL) if name == "ma2ml" else make_search(name, env, seed=0, batches=1)
    )
    executor = WatchedExecutor(env.backend, workers=8)
    budget = 30  # neither a multiple of the workers nor of MA2ML's update_every (8)
    result = run_async_search(env, algorithm, executor=executor, evaluations=budget, out_dir=tmp_path)
    # Never idle while the budget remains: every wait finds all 8 workers busy until the whole budget is submitted.
    assert all(pending == 8 for pending, submitted in executor.at_wait if submitted < budget)
    assert executor.submitted == budget and result.evaluations == budget
    recorded = rows(tmp_path)
    assert sorted(int(r["ticket"]) for r in recorded) == list(range(budget))
    assert len({r["ticket"] for r in recorded}) == budget
    finished = [float(r["finished"]) for r in recorded]
    assert finished == sorted(finished)  # recorded in finishing order
    for row in recorded:
        assert float(row["finished"]) == pytest.approx(float(row["started"]) + float(row["cost_seconds"]))
    assert result.elapsed == max(finished)
    busy = sum(float(r["finished"]) - float(r["started"]) for r in recorded)
    assert result.utilisation == pytest.approx(busy / (8 * result.elapsed))  # idle only once the budget is spent


def test_each_worker_takes_the_next_pipeline_the_moment_it_is_free(tmp_path: Path) -> None:
    env = env_of()
    algorithm = make_search("rea", env, seed=0, batches=1)
    run_async_search(
        env, algorithm, executor=SimulatedExecutor(env.backend, workers=4), evaluations=40, out_dir=tmp_path
    )
    recorded = rows(tmp_path)
    for worker in range(4):
        runs = sorted((float(r["started"]), float(r["finished"])) for r in recorded if int(r["worker"]) == worker)
        assert runs[0][0] == 0.0
        assert all(nxt[0] == previous[1] for previous, nxt in itertools.pairwise(runs))


def test_synchronous_batches_end_with_their_slowest_pipeline(tmp_path: Path) -> None:
    env = env_of()
    algorithm = make_search("rea", env, seed=0, batches=1)
    executor = SimulatedExecutor(env.backend, workers=8)
    result = run_async_search(env, algorithm, executor=executor, evaluations=20, out_dir=tmp_path, synchronous=True)
    recorded = rows(tmp_path)
    assert [sum(int(r["batch"]) == b for r in recorded) for b in range(3)] == [8, 8, 4]
    start = 0.0
    for batch in range(3):
        members = [r for r in recorded if int(r["batch"]) == batch]
        assert all(float(r["started"]) == start for r in members)  # the batch waits for the whole previous one
        start = max(float(r["finished"]) for r in members)  # its makespan
        assert start == pytest.approx(max(float(r["started"]) + float(r["cost_seconds"]) for r in members))
    assert result.elapsed == start


def test_with_one_worker_asynchronous_rea_is_synchronous_rea(tmp_path: Path) -> None:
    """One worker, one result per tell: the two loops ask, evaluate and learn in the same order."""
    recorded = {}
    for synchronous in (False, True):
        env = env_of()
        algorithm = make_search("rea", env, seed=3, batches=1)
        out = tmp_path / str(synchronous)
        executor = SimulatedExecutor(env.backend, workers=1)
        run_async_search(env, algorithm, executor=executor, evaluations=60, out_dir=out, synchronous=synchronous)
        recorded[synchronous] = [(r["tokens"], r["reward"], r["finished"]) for r in rows(out)]
    assert recorded[False] == recorded[True]


def test_runs_on_the_serial_executor_too(tmp_path: Path) -> None:
    env = env_of()
    algorithm = make_search("rea", env, seed=0, batches=1)
    result = run_async_search(env, algorithm, executor=SerialExecutor(env.backend), evaluations=12, out_dir=tmp_path)
    recorded = rows(tmp_path)
    assert result.evaluations == 12 and [int(r["ticket"]) for r in recorded] == list(range(12))
    assert {r["worker"] for r in recorded} == {"0"}
    assert all(float(r["finished"]) >= float(r["started"]) for r in recorded)


def test_the_recorded_table_runs_on_simulated_time(tmp_path: Path) -> None:
    env = env_of("nb201-cifar100")
    algorithm = make_search("rea", env, seed=0, batches=1)
    executor = SimulatedExecutor(env.backend, workers=4)
    result = run_async_search(env, algorithm, executor=executor, evaluations=16, out_dir=tmp_path)
    assert result.elapsed > 0 and result.evaluations == 16
    assert all(float(r["cost_seconds"]) > 0 for r in rows(tmp_path))


def test_a_noisy_run_ends_with_the_incumbent_step_on_the_workers(tmp_path: Path) -> None:
    env = automl_env.parallel_env("hpolib-naval", backend="table", seed=0)
    executor = WatchedExecutor(env.backend, workers=4)
    result = run_async_search(
        env, make_search("rea", env, seed=0, batches=1), executor=executor, evaluations=48, out_dir=tmp_path
    )
    record = json.loads((tmp_path / INCUMBENT_FILE).read_text())
    assert result.incumbent == record and record["reevaluations"] == Incumbent().cost
    assert len(rows(tmp_path)) == result.evaluations == 48  # the re-evaluations are beside the budget,
    assert executor.submitted == 48 + Incumbent().cost  # and ran on the workers
    # The step's choice is the one it makes on the env itself: a table's run is a function of (pipeline, seed)
    # (the same rewards, but for the last bit of a score computed one pipeline at a time rather than as a batch).
    on_env = choose_incumbent(
        result.topk, settings=Incumbent(), searched_seed=0, measure=evaluator_measure(BatchEvaluator(env), seed=0)
    )
    assert on_env is not None and on_env["digest"] == record["digest"]
    for ours, theirs in zip(record["candidates"], on_env["candidates"], strict=True):
        assert ours["rewards"] == pytest.approx(theirs["rewards"], abs=1e-12)
    skipped = run_async_search(
        env,
        make_search("rea", env, seed=0, batches=1),
        executor=SimulatedExecutor(env.backend, workers=4),
        evaluations=48,
        out_dir=tmp_path / "none",
        incumbent=None,
    )
    assert skipped.incumbent is None and not (tmp_path / "none" / INCUMBENT_FILE).exists()


def _improvement(name: str, seeds: range, tmp_path: Path, **options: Any) -> tuple[float, float, float, float]:
    """Over the seeds, of an asynchronous search on 8 workers: the mean reward of its first and last 48 results,
    the best of its first 24 and the best of all. ``options`` go to the env, plus MA2ML's ``update_every``."""
    update_every = options.pop("update_every", None)
    first, last, early_best, best = [], [], [], []
    for seed in seeds:
        env = env_of(seed=seed, **options)
        if name == "ma2ml":  # fast learning on an easy task: the loop's learning is under test, not the defaults
            algorithm = make_algorithm(name, env, seed=seed, **SMALL, policy_lr=0.03, critic_steps=2)
        else:
            algorithm = make_search(name, env, seed=seed, batches=1)
        out = tmp_path / f"{name}{seed}"
        executor = SimulatedExecutor(env.backend, workers=8)
        evaluations = 192 if name == "ma2ml" else 144
        run_async_search(
            env, algorithm, executor=executor, evaluations=evaluations, out_dir=out, update_every=update_every
        )
        rewards = np.array([float(r["reward"]) for r in rows(out)])
        first.append(rewards[:48].mean()), last.append(rewards[-48:].mean())
        early_best.append(rewards[:24].max()), best.append(rewards.max())
    return float(np.mean(first)), float(np.mean(last)), float(np.mean(early_best)), float(np.mean(best))


def test_asynchronous_rea_and_random_search_improve_on_their_first_results(tmp_path: Path) -> None:
    first, last, _, _ = _improvement("rea", range(3), tmp_path)
    assert last > first + 0.01  # the children of the population beat its random founders
    _, _, early_best, best = _improvement("random", range(3), tmp_path)
    assert best > early_best  # random search learns nothing: only its best improves, by sampling more


def test_asynchronous_ma2ml_improves_on_its_first_results(tmp_path: Path) -> None:
    first, last, _, _ = _improvement("ma2ml", range(3), tmp_path, modules=("hpo",), update_every=8)
    assert last > first + 0.005  # measured: +0.012 averaged over these seeds (HPO only, synthetic v0)


@pytest.mark.parametrize("name", SEARCHES)
def test_every_search_runs_asynchronously_or_is_refused_saying_why(name: str, tmp_path: Path) -> None:
    env = env_of()
    if name in ALGORITHMS:  # small networks
        critic = {"critic_hidden_size": 16, "baseline_samples": 4} if ALGORITHMS[name].uses_critic else {}
        algorithm = make_algorithm(name, env, seed=0, hidden_size=16, **critic)
    else:
        algorithm = make_search(name, env, seed=0, batches=3)
    executor = SimulatedExecutor(env.backend, workers=2)
    if not getattr(algorithm, "asynchronous", False):  # on-policy searches (MA2ML-Lite, AutoHAS, ...)
        with pytest.raises(SynchronousOnlyError, match="synchronous=True"):
            run_async_search(env, algorithm, executor=executor, evaluations=4, out_dir=tmp_path)
        assert not (tmp_path / "evaluations.csv").exists()  # refused before evaluating anything
        result = run_async_search(env, algorithm, executor=executor, evaluations=6, out_dir=tmp_path, synchronous=True)
    else:
        result = run_async_search(env, algorithm, executor=executor, evaluations=6, out_dir=tmp_path)
    assert result.evaluations == 6


def test_the_searches_that_learn_on_policy_say_so() -> None:
    env = env_of()
    on_policy = {"ma2ml_onpolicy", "ma2ml_lite", "reinforce", "autohas"}
    for name in SEARCHES:
        algorithm = make_search(name, env, seed=0, batches=3)
        if name in on_policy or name.startswith("sequential"):
            assert not getattr(algorithm, "asynchronous", False), name


def test_ma2ml_without_replay_is_refused(tmp_path: Path) -> None:
    env = env_of()
    algorithm = make_algorithm("ma2ml", env, seed=0, use_replay=False, **SMALL)
    with pytest.raises(SynchronousOnlyError, match="on-policy"):
        run_async_search(
            env, algorithm, executor=SimulatedExecutor(env.backend, workers=2), evaluations=4, out_dir=tmp_path
        )


def test_bad_arguments_are_refused_with_what_to_do(tmp_path: Path) -> None:
    env = env_of()
    algorithm = make_search("random", env, seed=0, batches=1)
    executor = SimulatedExecutor(env.backend, workers=2)
    for evaluations in (0, 2.5, True):
        with pytest.raises(ValueError, match="evaluations is the budget"):
            run_async_search(env, algorithm, executor=executor, evaluations=evaluations, out_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top_k is how many"):
        run_async_search(env, algorithm, executor=executor, evaluations=4, out_dir=tmp_path, top_k=0)
    with pytest.raises(ValueError, match="update_every must be a positive int"):
        run_async_search(env, algorithm, executor=executor, evaluations=4, out_dir=tmp_path, update_every=0)
    with pytest.raises(ValueError, match="update_every is for asynchronous searches"):
        run_async_search(
            env, algorithm, executor=executor, evaluations=4, out_dir=tmp_path, synchronous=True, update_every=2
        )
    with pytest.raises(TypeError, match="needs an automl_env env"):
        run_async_search(object(), algorithm, executor=executor, evaluations=4, out_dir=tmp_path)
    other = SimulatedExecutor(env_of("nb201-cifar100").backend, workers=2)
    with pytest.raises(ValueError, match=r"build the executor on env\.backend"):
        run_async_search(env, algorithm, executor=other, evaluations=4, out_dir=tmp_path)
    run_async_search(env, algorithm, executor=executor, evaluations=4, out_dir=tmp_path)
    with pytest.raises(RunExistsError):
        run_async_search(env, algorithm, executor=executor, evaluations=4, out_dir=tmp_path)


def test_bench_async_times_each_run_so_one_slow_seed_does_not_decide_the_speed_up() -> None:
    bench = runpy.run_path(str(Path(__file__).parents[1] / "examples" / "bench_async.py"))
    timeline = bench["Timeline"]

    def run(times: list[float], rewards: list[float]) -> Any:
        values = np.array(rewards)
        return timeline(np.array(times), values, values, [str(i) for i in range(len(times))])

    fast = [run([1.0, 2.0, 3.0], [0.1, 0.5, 0.9]) for _ in range(4)]
    slow = run([1.0, 2.0, 30.0], [0.1, 0.2, 0.9])
    never = run([1.0, 2.0, 3.0], [0.1, 0.2, 0.3])
    # The mean curve over these five reaches 0.9 only at t = 30, when the slow run does; four of the five runs at t = 3.
    assert bench["median_time_to_reach"]([*fast, slow], 0.9) == (3.0, 5)
    assert bench["median_time_to_reach"]([fast[0], never, never], 0.5) == (np.inf, 1)
    assert bench["_days"](np.inf) == "never"
