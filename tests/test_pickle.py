"""Every env flavour pickles with every backend, round-trips, and the copy steps to the same rewards.

Stdlib ``multiprocessing``, and the subprocess vector envs of the MARL libraries built on it, pickle
envs; none of them should need a wrapper. The episode-based flavours are pickled mid-episode, so the
copy also carries the actions played so far. The training backend pickles before it has read any
data (construction touches none), and its copies train to the same result from the same seed.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import automl_env
from automl_env import Fidelity
from automl_env.backends.registry import BACKENDS

# A task each backend answers, with the options it needs ("train": a tiny network on tiny data).
BACKEND_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "synthetic": ("cifar10", {}),
    "synthetic-rugged": ("cifar10", {}),
    "table": ("nb201-cifar10", {}),
    "train": ("fashion-mnist", {"device": "cpu", "download": False, "val_size": 20, "num_threads": 1}),
    "weight-sharing": ("fashion-mnist-nb201", {"download": False, "val_size": 20, "val_batch_size": 16}),
}
TINY = Fidelity(epochs=1, train_subset=32, cells=1, channels=2, batch_size=16, warmup_epochs=0)


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from test_training_data import write_fashion_mnist

    return write_fashion_mnist(tmp_path_factory.mktemp("fashion"), n_train=120, n_test=20)


def _options(backend: str, request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    task, options = BACKEND_CASES[backend]
    if backend not in ("train", "weight-sharing"):
        return task, {"backend": backend}
    pytest.importorskip("torch", reason='the training backends need torch: pip install "automl-env[train]"')
    root = request.getfixturevalue("fashion_root")
    fidelity = {"fidelity": TINY} if backend == "train" else {}  # the supernet is built at the task's own
    return task, {"backend": backend, "backend_options": {**options, "data_root": root}, **fidelity}


def _round_trip(env: Any) -> Any:
    return pickle.loads(pickle.dumps(env))


def _parallel(task: str, options: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    env = automl_env.parallel_env(task, **options)
    env.reset(seed=0)
    actions = {a: rng.integers(0, env.action_space(a).nvec) for a in env.agents}
    clone = _round_trip(env)
    return env.step(actions)[1], clone.step(actions)[1]


def _token(task: str, options: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    env = automl_env.parallel_env(task, action_mode="token", **options)
    env.reset(seed=0)
    moves = [{a: int(rng.integers(0, env.action_space(a).n)) for a in env.possible_agents} for _ in range(env.horizon)]
    for move in moves[:3]:
        env.step(move)
    clone = _round_trip(env)  # mid-episode: the tokens chosen so far travel with it
    return [env.step(move)[1] for move in moves[3:]][-1], [clone.step(move)[1] for move in moves[3:]][-1]


def _aec(task: str, options: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    env = automl_env.env(task, **options)
    env.reset(seed=0)
    actions = {a: rng.integers(0, env.action_space(a).nvec) for a in env.possible_agents}
    env.step(actions[env.agent_selection])
    clone = _round_trip(env)  # mid-episode: the first agent's action is buffered in the AEC wrapper
    return _finish_aec(env, actions), _finish_aec(clone, actions)


def _finish_aec(env: Any, actions: dict[str, np.ndarray]) -> dict[str, float]:
    total: dict[str, float] = {}
    for agent in env.agent_iter():
        _, reward, terminated, truncated, _ = env.last()
        total[agent] = total.get(agent, 0.0) + reward
        env.step(None if terminated or truncated else actions[agent])
    return total


def _vector(task: str, options: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    env = automl_env.vector_env(task, num_envs=2, **options)
    env.reset(seed=0)
    actions = {a: rng.integers(0, env.action_space(a).nvec, size=(2, env.action_space(a).shape[0])) for a in env.agents}
    clone = _round_trip(env)
    first, second = env.step(actions)[1], clone.step(actions)[1]
    return {a: r.tolist() for a, r in first.items()}, {a: r.tolist() for a, r in second.items()}


def _joint(task: str, options: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    env = automl_env.joint_env(task, **options)
    env.reset(seed=0)
    action = rng.integers(0, env.action_space.nvec)
    clone = _round_trip(env)
    return env.step(action)[1], clone.step(action)[1]


FLAVOURS: dict[str, Callable[[str, dict[str, Any], np.random.Generator], tuple[Any, Any]]] = {
    "parallel": _parallel,
    "parallel-token": _token,
    "aec": _aec,
    "vector": _vector,
    "joint": _joint,
}
"""Flavour -> play one episode on an env and on its pickled copy; returns both rewards."""


def test_the_cases_cover_every_registered_backend() -> None:
    assert set(BACKEND_CASES) == set(BACKENDS), "add the new backend to BACKEND_CASES"


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
@pytest.mark.parametrize("backend", sorted(BACKEND_CASES))
def test_a_pickled_env_steps_to_the_same_rewards(backend: str, flavour: str, request: pytest.FixtureRequest) -> None:
    task, options = _options(backend, request)
    original, copy = FLAVOURS[flavour](task, options, np.random.default_rng(0))
    assert original == copy
    assert original  # an episode was played to its end


def test_the_training_backend_pickles_before_touching_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building checks that the files are there but reads none: the pickle carries no data, and the copy reads the
    files at its first step (gone by then here, so that step fails naming the folder)."""
    pytest.importorskip("torchvision", reason='the training backend needs torch: pip install "automl-env[train]"')
    import shutil

    from test_training_data import trust_cifar100_files, write_cifar100

    trust_cifar100_files(monkeypatch, write_cifar100(tmp_path, n_train=20, n_test=5))
    env = automl_env.parallel_env("cifar100", backend_options={"data_root": tmp_path, "download": False})
    clone = _round_trip(env)
    shutil.rmtree(tmp_path / "cifar-100-python")
    clone.reset(seed=0)
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        clone.step({a: clone.action_space(a).sample() for a in clone.agents})
