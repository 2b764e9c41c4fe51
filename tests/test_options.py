"""Every option of every constructor, fed random values: either accepted and then usable, or a ValueError /
TypeError that names the option (``automl_env.options``). Then the cases the hardening review found."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import automl_env
from automl_env.backends.base import BackendSetupError
from automl_env.backends.registry import make_backend
from automl_env.executors import ExecutorOptions, make_executor
from automl_env.tasks import get_task

TASK = get_task("cifar100")
ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 40),
    st.sampled_from([10**9, 2**63, -(2**63), 2**70]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, 0.5, 2.5, 1.0]),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
)
"""Values of every kind an option might be given by mistake."""


def accepted_or_named(build: Callable[[Any], Any], name: str, value: Any) -> Any:
    """``build(value)``, or None after checking its error is a ValueError/TypeError naming the option."""
    try:
        return build(value)
    except (ValueError, TypeError) as error:
        assert f"'{name}'" in str(error), f"{name}={value!r}: {error}"
        return None


@settings(max_examples=40, deadline=None)
@given(value=ANY)
def test_vector_env_num_envs(value: Any) -> None:
    env = accepted_or_named(
        lambda v: automl_env.vector_env("cifar100", num_envs=v, backend="synthetic"), "num_envs", value
    )
    if env is not None:
        assert isinstance(env.num_envs, int) and 1 <= env.num_envs <= 40
        env.reset(seed=0)
        actions = {a: np.zeros((env.num_envs, s.num_tokens), dtype=np.int64) for a, s in env.codec.spaces.items()}
        _, rewards, *_ = env.step(actions)
        assert np.all(np.isfinite(rewards[env.possible_agents[0]]))


@settings(max_examples=40, deadline=None)
@given(value=ANY)
def test_env_seed(value: Any) -> None:
    env = accepted_or_named(
        lambda v: automl_env.vector_env("cifar100", num_envs=2, backend="synthetic", seed=v), "seed", value
    )
    if env is not None:
        assert isinstance(env.evaluation.seed, int) and env.evaluation.seed >= 0
        env.reset(seed=0)
        actions = {a: np.zeros((2, s.num_tokens), dtype=np.int64) for a, s in env.codec.spaces.items()}
        _, rewards, *_ = env.step(actions)
        assert np.all(np.isfinite(rewards[env.possible_agents[0]]))


@pytest.mark.parametrize("backend", ["synthetic", "synthetic-rugged"])
@settings(max_examples=25, deadline=None)
@given(value=ANY)
def test_synthetic_noise(backend: str, value: Any) -> None:
    built = accepted_or_named(lambda v: make_backend(backend, TASK, noise=v), "noise", value)
    if built is not None:
        if value is not None:
            assert isinstance(built.noise, float) and 0.0 <= built.noise <= 0.5
        [result] = built.evaluate([TASK.default_pipeline()], seed=0)
        assert result.status == "ok" and 0.0 <= result.accuracy <= 1.0


EXECUTOR_FIELDS = ["timeout", "retries", "per_device", "threads", "devices", "ray_address"]


@pytest.mark.parametrize("name", EXECUTOR_FIELDS)
@settings(max_examples=25, deadline=None)
@given(value=ANY)
def test_executor_options(name: str, value: Any) -> None:
    options = accepted_or_named(lambda v: ExecutorOptions.of({name: v}), name, value)
    if options is not None:
        kept = getattr(options, name)
        if name == "timeout":
            assert kept is None or (isinstance(kept, float) and 0 < kept < math.inf)
        elif name in ("retries", "per_device", "threads"):
            assert kept is None or (isinstance(kept, int) and not isinstance(kept, bool) and kept >= 0)
        elif name == "devices":
            assert kept is None or (isinstance(kept, tuple) and all(isinstance(d, str) and d for d in kept))


@settings(max_examples=25, deadline=None)
@given(value=ANY)
def test_executor_workers(value: Any) -> None:
    backend = make_backend("synthetic", TASK)
    executor = accepted_or_named(lambda v: make_executor("pool", backend, workers=v), "workers", value)
    if executor is not None:
        assert isinstance(executor.workers, int) and executor.workers >= 1
        executor.close()


TRAINING_OPTIONS = ["val_size", "num_threads", "download", "profile", "data_root"]


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Fashion-MNIST folder: the training backend checks its data when it is built."""
    pytest.importorskip("torchvision")
    from test_training_data import write_fashion_mnist

    return write_fashion_mnist(tmp_path_factory.mktemp("fashion"), n_train=50, n_test=10)


@pytest.mark.parametrize("name", TRAINING_OPTIONS)
@settings(max_examples=25, deadline=None)
@given(value=ANY)
def test_training_options_are_setup_errors(name: str, value: Any, fashion_root: Path) -> None:
    from automl_env.backends.training import TrainingBackend
    from automl_env.backends.training.datasets import DatasetNotFoundError

    options = {"data_root": fashion_root, "download": False, name: value}
    try:
        backend = TrainingBackend("fashion-mnist", device="cpu", **options)
    except DatasetNotFoundError as error:  # a folder that holds no Fashion-MNIST: named, with the option
        assert name == "data_root" and "data_root" in str(error), error
        return
    except (ValueError, TypeError) as error:
        assert f"'{name}'" in str(error) and isinstance(error, BackendSetupError), error
        return
    kept = getattr(backend, name, None) if name in ("num_threads", "profile") else None
    if name == "num_threads":
        assert kept is None or (isinstance(kept, int) and kept >= 1)
    if name == "val_size":
        assert backend.data_config.val_size is None or backend.data_config.val_size >= 1


def test_unknown_backend_options_are_refused_listing_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['nois'\]; the options are .*'noise'"):
        automl_env.vector_env("cifar100", num_envs=2, backend="synthetic-rugged", backend_options={"nois": 0.1})
    with pytest.raises(TypeError, match="backend_options"):
        automl_env.vector_env("cifar100", num_envs=2, backend_options=[("noise", 0.1)])  # type: ignore[arg-type]


REVIEW_CASES: list[tuple[str, dict[str, Any]]] = [
    ("noise", {"backend_options": {"noise": math.inf}}),
    ("noise", {"backend_options": {"noise": math.nan}}),
    ("noise", {"backend_options": {"noise": True}}),
    ("noise", {"backend_options": {"noise": 1e308}}),
    ("seed", {"seed": None}),
    ("seed", {"seed": "abc"}),
    ("seed", {"seed": 1.5}),
    ("seed", {"seed": -1}),
    ("num_envs", {"num_envs": 2.5}),
    ("num_envs", {"num_envs": True}),
    ("num_envs", {"num_envs": 1e9}),
    ("num_envs", {"num_envs": 10**9}),
]


@pytest.mark.parametrize(("name", "options"), REVIEW_CASES)
def test_the_review_s_garbage_settings_are_refused(name: str, options: dict[str, Any]) -> None:
    arguments = {"num_envs": 2, "backend": "synthetic-rugged", **options}
    with pytest.raises((ValueError, TypeError), match=rf"option '{name}' must be"):
        automl_env.vector_env("cifar100", **arguments)


@pytest.mark.parametrize(
    "options",
    [{"num_threads": "2"}, {"num_threads": 0}, {"val_size": "x"}, {"val_size": 2.5}, {"val_size": 0}, {"val_size": -5}],
)
def test_training_options_fail_at_construction_not_at_every_evaluation(options: dict[str, Any]) -> None:
    from automl_env.backends.training import TrainingBackend

    with pytest.raises(BackendSetupError, match=rf"option '{next(iter(options))}' must be an integer in \[1, "):
        TrainingBackend("fashion-mnist", device="cpu", **options)
