"""The TorchRL-native batched env: TorchRL's check_env_specs passes, random rollouts share one reward per
pipeline, and its rewards are the vector env's for the unpadded tokens (the padded mode's rule)."""

from __future__ import annotations

import numpy as np
import pytest

import automl_env

pytestmark = pytest.mark.interop
pytest.importorskip("torchrl", reason='TorchRL is not installed: pip install "automl-env[interop]"')


@pytest.mark.parametrize(("task", "backend"), [("nb201-cifar100-nodes", "table"), ("cifar100", "synthetic")])
def test_check_env_specs_passes_and_random_rollouts_share_rewards(task: str, backend: str) -> None:
    from torchrl.envs.utils import check_env_specs

    from automl_env.torchrl_env import TorchRLAutoMLEnv

    env = TorchRLAutoMLEnv(task, num_envs=3, backend=backend)
    check_env_specs(env)
    rollout = env.rollout(2, break_when_any_done=False)
    agents = len(env.agents)
    assert rollout["next", "modules", "reward"].shape == (3, 2, agents, 1)
    assert rollout["next", "modules", "masked_remaps"].ge(0).all()  # unmasked random actions: remapped, counted
    assert rollout["next", "done"].all() and rollout["next", "modules", "terminated"].all()
    reward = rollout["next", "modules", "reward"]
    assert (reward == reward[:, :, :1]).all() and ((reward > 0) & (reward < 1)).all()  # shared by the agents


def test_rewards_are_the_vector_envs_for_the_unpadded_tokens() -> None:
    import torch

    from automl_env.torchrl_env import TorchRLAutoMLEnv

    env = TorchRLAutoMLEnv("nb201-cifar100-nodes", num_envs=5, backend="table", seed=2)
    vector = automl_env.vector_env("nb201-cifar100-nodes", num_envs=5, backend="table", seed=2)
    rng = np.random.default_rng(0)
    padded = rng.integers(0, env.padded.choices, size=(5, len(env.agents), env.padded.width))
    td = env.reset()
    td["modules", "action"] = torch.as_tensor(padded)
    out = env.step(td)["next"]
    tokens, remaps = {}, []
    for i, agent in enumerate(env.agents):
        nvec = np.asarray(vector.codec.spaces[agent].nvec)
        tokens[agent] = padded[:, i, : len(nvec)] % nvec
        remaps.append((padded[:, i, : len(nvec)] >= nvec).sum(1) + np.count_nonzero(padded[:, i, len(nvec) :], 1))
    vector.reset()
    _, rewards, *_ = vector.step(tokens)
    expected = torch.as_tensor(rewards["node1"], dtype=torch.float32)
    assert torch.equal(out["modules", "reward"][:, 0, 0], expected)
    assert out["modules", "masked_remaps"][..., 0].numpy().tolist() == np.stack(remaps, axis=1).tolist()
    assert np.array_equal(out["state"].numpy(), vector.state())
