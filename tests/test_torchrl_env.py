"""The TorchRL-native batched env, in both layouts (one entry per module, one per token): TorchRL's
check_env_specs passes, random rollouts share one reward per pipeline, and its rewards are the vector env's for
the unpadded tokens (the padded mode's rule)."""

from __future__ import annotations

import numpy as np
import pytest

import automl_env

pytestmark = pytest.mark.interop
pytest.importorskip("torchrl", reason='TorchRL is not installed: pip install "automl-env[interop]"')


CASES = [("nb201-cifar100-nodes", "table", 3, 6), ("cifar100", "synthetic", 3, 100)]
"""(task, backend, agents, tokens of a pipeline)."""


@pytest.mark.parametrize("layout", ["modules", "tokens"])
@pytest.mark.parametrize(("task", "backend", "agents", "tokens"), CASES)
def test_check_env_specs_passes_and_random_rollouts_share_rewards(
    task: str, backend: str, agents: int, tokens: int, layout: str
) -> None:
    from torchrl.envs.utils import check_env_specs

    from automl_env.torchrl_env import TorchRLAutoMLEnv

    env = TorchRLAutoMLEnv(task, num_envs=3, backend=backend, layout=layout)  # type: ignore[arg-type]
    check_env_specs(env)
    group, entries = layout, agents if layout == "modules" else tokens
    assert env.group == group and len(env.group_map[group]) == entries
    tail = (env.padded.width,) if layout == "modules" else ()
    assert env.full_action_spec_unbatched[group, "action"].shape == (entries, *tail)
    rollout = env.rollout(2, break_when_any_done=False)
    assert rollout[group, "action_mask"].shape == (3, 2, entries, *tail, env.padded.choices)
    assert rollout["next", group, "reward"].shape == (3, 2, entries, 1)
    assert rollout["next", group, "masked_remaps"].ge(0).all()  # unmasked random actions: remapped, counted
    assert rollout["next", "done"].all() and rollout["next", group, "terminated"].all()
    reward = rollout["next", group, "reward"]
    assert (reward == reward[:, :, :1]).all() and ((reward > 0) & (reward < 1)).all()  # shared by the entries


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


def test_the_tokens_layout_plays_one_token_per_entry() -> None:
    """Entry ``<agent>_<p>`` plays token p of its agent's module under that position's own mask; its rewards,
    remaps and state are the vector env's for those tokens."""
    import torch

    from automl_env.torchrl_env import TorchRLAutoMLEnv

    env = TorchRLAutoMLEnv("cifar100", num_envs=5, backend="synthetic-rugged", seed=1, layout="tokens")
    vector = automl_env.vector_env("cifar100", num_envs=5, backend="synthetic-rugged", seed=1)
    names = env.group_map["tokens"]
    nvec = np.asarray([vector.codec.spaces[n.rsplit("_", 1)[0]].nvec[int(n.rsplit("_", 1)[1])] for n in names])
    td = env.reset()
    assert td["tokens", "action_mask"].sum(-1)[0].tolist() == nvec.tolist()  # each entry's own choices
    assert td["tokens", "action_mask"][0, np.arange(len(nvec)), nvec - 1].all()
    action = np.random.default_rng(0).integers(0, env.padded.choices, size=(5, len(names)))
    td["tokens", "action"] = torch.as_tensor(action)
    out = env.step(td)["next"]
    tokens = {a: np.zeros((5, vector.codec.spaces[a].num_tokens), dtype=np.int64) for a in env.agents}
    for entry, name in enumerate(names):
        agent, position = name.rsplit("_", 1)
        tokens[agent][:, int(position)] = action[:, entry] % nvec[entry]
    vector.reset()
    _, rewards, *_ = vector.step(tokens)
    assert torch.equal(out["tokens", "reward"][:, 0, 0], torch.as_tensor(rewards["aug"], dtype=torch.float32))
    assert out["tokens", "masked_remaps"][..., 0].numpy().tolist() == (action >= nvec).astype(int).tolist()
    assert np.array_equal(out["state"].numpy(), vector.state())


def test_an_unknown_layout_is_refused() -> None:
    from automl_env.torchrl_env import TorchRLAutoMLEnv

    with pytest.raises(ValueError, match="layout must be one of"):
        TorchRLAutoMLEnv("nb201-cifar100-nodes", num_envs=2, backend="table", layout="positions")  # type: ignore[arg-type]
