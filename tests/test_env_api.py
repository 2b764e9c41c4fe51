"""The environment against its clients' own checkers, for every registered task and action mode."""

from __future__ import annotations

import warnings

import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test
from pettingzoo.test.state_test import state_test

import automl_env

CASES = [(task, mode) for task in automl_env.list_tasks() for mode in ("pipeline", "token")]


def fast_backend(task: str) -> dict:
    """The synthetic backend, with noise, where it is calibrated; else the task's recorded table."""
    if automl_env.get_task(task).default_backend == "table":
        return {"backend": "table"}
    return {"backend": "synthetic", "backend_options": {"noise": 0.01}}


@pytest.fixture(autouse=True)
def _quiet_checker_warnings() -> None:
    # The checkers warn about our agent names and MultiDiscrete spaces: recommendations, not failures.
    warnings.filterwarnings("ignore", category=UserWarning, module="pettingzoo")


@pytest.mark.parametrize(("task", "mode"), CASES)
def test_parallel_api_and_seed(task: str, mode: str) -> None:
    def make() -> automl_env.AutoMLEnv:
        return automl_env.parallel_env(task, action_mode=mode, **fast_backend(task))

    parallel_api_test(make(), num_cycles=20)
    parallel_seed_test(make)


@pytest.mark.parametrize(("task", "mode"), CASES)
def test_aec_api_seed_and_state(task: str, mode: str) -> None:
    def make() -> automl_env.AutoMLEnv:
        return automl_env.env(task, action_mode=mode, **fast_backend(task))

    api_test(make(), num_cycles=20)
    seed_test(make, num_cycles=20)
    state_test(make(), automl_env.parallel_env(task, action_mode=mode, **fast_backend(task)))


@pytest.mark.parametrize("task", automl_env.list_tasks())
def test_joint_env_passes_check_env(task: str) -> None:
    check_env(automl_env.joint_env(task, **fast_backend(task)), skip_render_check=False)
