"""Padded pipeline mode: one shared MultiDiscrete and a mask for every agent, a pipeline-mode step underneath
(PettingZoo's API test, the unpadding rule, errors), and the clients that need identical spaces take it:
TorchRL with all agents in one group and SuperSuit (marked interop, as in tests/test_interop.py). BenchMARL's
stock models cannot act in it (docs/marl.md): its MLP emits one logit vector per agent, not one per position;
BenchMARL's pipeline mode is the native env's tokens layout (tests/test_benchmarl_task.py)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pettingzoo.test import parallel_api_test

import automl_env
from automl_env.env import AutoMLEnv

CASES = [("nb201-cifar100-nodes", "table"), ("cifar100", "synthetic")]


def padded_env(task: str, backend: str) -> AutoMLEnv:
    return automl_env.parallel_env(task, backend=backend, action_mode="padded")


@functools.cache
def env_pair(task: str, backend: str) -> tuple[AutoMLEnv, AutoMLEnv]:
    """A padded and a pipeline-mode env on one backend (built once: the property test steps them many times)."""
    padded = padded_env(task, backend)
    return padded, automl_env.parallel_env(task, backend=padded.backend)


@pytest.mark.parametrize(("task", "backend"), CASES)
def test_pettingzoo_parallel_api_test_passes(task: str, backend: str) -> None:
    parallel_api_test(padded_env(task, backend), num_cycles=3)


@pytest.mark.parametrize(("task", "backend"), CASES)
def test_every_agent_has_the_same_space_and_a_mask_of_its_own_choices(task: str, backend: str) -> None:
    env = padded_env(task, backend)
    observations, _ = env.reset()
    assert len({id(env.action_space(a)) for a in env.possible_agents}) == 1
    assert len({id(env.observation_space(a)) for a in env.possible_agents}) == 1
    width, choices = env.observation_space(env.possible_agents[0])["action_mask"].shape
    for agent in env.possible_agents:
        nvec = env.codec.spaces[agent].nvec
        mask = observations[agent]["action_mask"]
        assert mask.shape == (width, choices) and mask.dtype == np.int8
        assert mask.sum(axis=1).tolist() == list(nvec) + [1] * (width - len(nvec))  # padded: choice 0 only
        assert env.observation_space(agent).contains(observations[agent])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), task=st.sampled_from(CASES))
def test_a_padded_step_is_the_pipeline_step_of_its_unpadded_tokens(seed: int, task: tuple[str, str]) -> None:
    """Padded positions are ignored; a masked choice plays ``token % choices`` and counts as a remap."""
    padded, plain = env_pair(*task)
    rng = np.random.default_rng(seed)
    actions = {a: padded.action_space(a).sample() for a in padded.possible_agents}
    for agent, action in actions.items():  # some padded positions non-zero, whatever sample drew
        action[len(padded.codec.spaces[agent].nvec) :] = rng.integers(
            0, 2, action.size - len(padded.codec.spaces[agent].nvec)
        )
    unpadded = {}
    remaps = {}
    for agent, action in actions.items():
        nvec = np.asarray(padded.codec.spaces[agent].nvec)
        own = action[: len(nvec)]
        unpadded[agent] = own % nvec
        remaps[agent] = int((own >= nvec).sum() + np.count_nonzero(action[len(nvec) :]))
    padded.reset()
    plain.reset()
    _, rewards, done, _, infos = padded.step(actions)
    _, plain_rewards, *_ = plain.step(unpadded)
    assert rewards == plain_rewards and all(done.values())
    assert padded.last_info == plain.last_info
    assert {a: info["masked_remaps"] for a, info in infos.items()} == remaps
    assert np.array_equal(padded.state(), plain.state())


def test_bad_padded_actions_name_the_agent_and_change_nothing() -> None:
    env = padded_env("nb201-cifar100-nodes", "table")
    env.reset()
    good = {a: np.zeros(3, dtype=np.int64) for a in env.possible_agents}
    cases = {
        "shape": {**good, "node2": np.zeros(2, dtype=np.int64)},
        "outside": {**good, "node3": np.array([0, 5, 0])},
        "integers": {**good, "node1": np.array([0.5, 0, 0])},
        "dtype": {**good, "node1": np.array(["a", "b", "c"])},
    }
    messages = {
        "shape": "'node2': padded action has shape",
        "outside": "'node3': position 1 is 5",
        "integers": "'node1': position 0",
        "dtype": "'node1': action dtype",
    }
    for name, actions in cases.items():
        with pytest.raises(ValueError, match=messages[name]):
            env.step(actions)
        assert env.agents == env.possible_agents and env.state().sum() == 0
    env.step(good)
    assert env.agents == []


# -- clients -------------------------------------------------------------------------------------------------------


@pytest.mark.interop
def test_torchrl_takes_padded_mode_in_one_group() -> None:
    pytest.importorskip("torchrl", reason='TorchRL is not installed: pip install "automl-env[interop]"')
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper
    from torchrl.envs.utils import check_env_specs

    from automl_env.wrappers import NumericInfos

    env = padded_env("nb201-cifar100-nodes", "table")
    wrapped = PettingZooWrapper(
        env=NumericInfos(env),
        group_map={"modules": list(env.possible_agents)},
        use_mask=True,
        categorical_actions=True,
        return_state=True,
    )
    check_env_specs(wrapped)
    rollout = wrapped.rollout(4, break_when_any_done=False)  # random actions drawn under the mask
    assert rollout["next", "modules", "reward"].shape == (4, 3, 1)  # 3 node agents of widths 1, 2, 3
    assert rollout["next", "modules", "info", "masked_remaps"].sum() == 0
    assert rollout["next", "modules", "info", "status_code"].eq(1).all()


@pytest.mark.interop
def test_supersuit_vectorises_padded_mode() -> None:
    supersuit = pytest.importorskip("supersuit", reason='SuperSuit is not installed: pip install "automl-env[interop]"')
    env = padded_env("nb201-cifar100-nodes", "table")
    vector = supersuit.concat_vec_envs_v1(
        supersuit.pettingzoo_env_to_vec_env_v1(env), 2, num_cpus=0, base_class="gymnasium"
    )
    observations, _ = vector.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        masks = np.asarray(observations["action_mask"])  # (entries, W, C)
        actions = (rng.random(masks.shape) * masks).argmax(axis=2)
        observations, rewards, terminations, _, infos = vector.step(actions)
        assert np.all(terminations) and np.all((rewards > 0.0) & (rewards < 1.0))
        assert all(info["masked_remaps"] == 0 for info in infos)
    vector.close()
