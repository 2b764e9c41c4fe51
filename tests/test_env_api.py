"""The environment against its clients' own checkers, for every registered task and action mode."""

from __future__ import annotations

import tempfile
import warnings
from functools import cache
from pathlib import Path

import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test
from pettingzoo.test.state_test import state_test

import automl_env
from automl_env.backends.synthetic.backend import CALIBRATIONS

CASES = [(task, mode) for task in automl_env.list_tasks() for mode in ("pipeline", "token")]


@cache
def tiny_fashion_mnist() -> Path:
    """A few hundred written Fashion-MNIST-format images (one folder per test process)."""
    from test_training_data import write_fashion_mnist

    return write_fashion_mnist(Path(tempfile.mkdtemp(prefix="env-api-")), n_train=300, n_test=50)


def fast_backend(task: str) -> dict:
    """The synthetic backend, with noise, where it is calibrated; else the task's recorded table; else (the
    one-shot task, fashion-mnist-nb201) the weight-sharing backend on tiny data."""
    if automl_env.get_task(task).default_backend == "table":
        return {"backend": "table"}
    if task in CALIBRATIONS:
        return {"backend": "synthetic", "backend_options": {"noise": 0.01}}
    pytest.importorskip("torch")
    options = {"data_root": tiny_fashion_mnist(), "download": False, "val_size": 60, "val_batch_size": 16}
    return {"backend": "weight-sharing", "backend_options": options}


def history_dependent(task: str) -> bool:
    """The weight-sharing backend's rewards depend on every earlier evaluation (its shared weights train), by
    design: reset(seed) cannot replay them, so the seed checkers do not apply to it."""
    return fast_backend(task)["backend"] == "weight-sharing"


@pytest.fixture(autouse=True)
def _quiet_checker_warnings() -> None:
    # The checkers warn about our agent names and MultiDiscrete spaces: recommendations, not failures.
    warnings.filterwarnings("ignore", category=UserWarning, module="pettingzoo")


@pytest.mark.parametrize(("task", "mode"), CASES)
def test_parallel_api_and_seed(task: str, mode: str) -> None:
    def make() -> automl_env.AutoMLEnv:
        return automl_env.parallel_env(task, action_mode=mode, **fast_backend(task))

    parallel_api_test(make(), num_cycles=20)
    if not history_dependent(task):
        parallel_seed_test(make)


@pytest.mark.parametrize(("task", "mode"), CASES)
def test_aec_api_seed_and_state(task: str, mode: str) -> None:
    def make() -> automl_env.AutoMLEnv:
        return automl_env.env(task, action_mode=mode, **fast_backend(task))

    api_test(make(), num_cycles=20)
    if not history_dependent(task):
        seed_test(make, num_cycles=20)
    state_test(make(), automl_env.parallel_env(task, action_mode=mode, **fast_backend(task)))


@pytest.mark.parametrize("task", automl_env.list_tasks())
def test_joint_env_passes_check_env(task: str) -> None:
    if history_dependent(task):
        pytest.skip("gymnasium's check_env requires a step after reset(seed) to repeat; this backend's cannot")
    check_env(automl_env.joint_env(task, **fast_backend(task)), skip_render_check=False)
