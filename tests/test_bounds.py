"""Bounds on every size, checked before any worker or folder exists; workers never above the batch; a default
evaluation timeout, so a hung worker is replaced instead of waited for forever."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from executor_backends import QuickTimeoutBackend, pipeline
from test_agents_games import TokenGame

import automl_env
from automl_env.backends.base import Fidelity
from automl_env.executors import ExecutorOptions, make_executor
from automl_env.executors.options import DEFAULT_TIMEOUT, MAX_TIMEOUT, evaluation_timeout
from ma2ml_agents import make_algorithm, run_search


@pytest.mark.parametrize(
    ("name", "value"),
    [("batches", 0), ("batches", -3), ("batches", 2.0), ("batch_size", 0), ("top_k", 0), ("top_k", -1),
     ("top_k", True), ("seed", -1), ("seed", 1.5)],
)  # fmt: skip
def test_run_search_refuses_a_bad_size_before_creating_its_folder(name: str, value: Any, tmp_path: Path) -> None:
    env = TokenGame()
    algorithm = make_algorithm("reinforce", env, seed=0, hidden_size=8)
    settings = {"batches": 2, "batch_size": 4, "top_k": 3, "seed": 0, name: value}
    with pytest.raises((ValueError, TypeError), match=rf"option '{name}' must be an integer"):
        run_search(env, algorithm, out_dir=tmp_path / "run", progress=False, **settings)
    assert not (tmp_path / "run").exists()


def test_workers_above_the_batch_are_refused_saying_why() -> None:
    with pytest.raises(
        ValueError, match=r"'workers' is 24, more than the batch \(num_envs=2\).*at most 2 workers busy"
    ):
        automl_env.vector_env("cifar100", num_envs=2, backend="synthetic", executor="pool", workers=24)


def test_a_default_pool_is_capped_at_the_batch() -> None:
    env = automl_env.vector_env("cifar100", num_envs=1, backend="synthetic", executor="pool")
    try:
        assert env.evaluation.executor is not None and env.evaluation.executor.workers == 1
    finally:
        env.close()


def test_the_default_timeout_follows_the_expected_cost(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    from test_training_data import write_fashion_mnist

    from automl_env.backends.training import TrainingBackend

    synthetic = automl_env.backends.registry.make_backend("synthetic", automl_env.get_task("cifar100"))
    assert evaluation_timeout(synthetic, None, ExecutorOptions()) == DEFAULT_TIMEOUT
    assert evaluation_timeout(synthetic, None, ExecutorOptions(timeout=5)) == 5.0
    root = write_fashion_mnist(tmp_path, n_train=50, n_test=10)  # checked at build, never read here
    training = TrainingBackend("fashion-mnist", data_root=root, device="cpu", download=False)
    small = Fidelity(epochs=1, train_subset=4800, warmup_epochs=0)
    assert evaluation_timeout(training, small, ExecutorOptions()) == 900.0 + 480.0
    assert evaluation_timeout(training, Fidelity(epochs=600), ExecutorOptions()) == MAX_TIMEOUT


def test_a_hung_evaluation_ends_at_the_default_timeout(tmp_path: Path) -> None:
    """No timeout passed: the backend's expected cost (1 s here) sets it, and the hung worker is replaced."""
    hung, fine = pipeline(0), pipeline(1)
    backend = QuickTimeoutBackend(tmp_path, seconds=0.05, behaviours={hung.digest: "hang"})
    executor = make_executor("pool", backend, workers=1, options={"retries": 0})
    try:
        executor.submit(fine)
        while not executor.wait(timeout=60):  # the worker's start-up counts against the first evaluation
            pass
        ticket = executor.submit(hung)
        [done] = executor.wait(timeout=60)
    finally:
        executor.close()
    assert done.ticket == ticket and done.result.status == "failed" and done.result.reason == "timed out after 1 s"
