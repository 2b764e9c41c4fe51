"""Screened MA2ML's per-token credit: the critic's one-token counterfactuals and the exact per-token gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ma2ml_agents import JointActionSpace, make_algorithm
from ma2ml_agents.critic import JointCritic
from ma2ml_agents.screening import CriticEnsemble


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_substitutions_equal_the_critic_on_every_one_token_change(data: st.DataObject) -> None:
    nvec = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    critic = JointCritic(nvec, hidden_size=data.draw(st.integers(1, 6)), num_layers=data.draw(st.integers(1, 3)))
    critic.reset_parameters(torch.Generator().manual_seed(data.draw(st.integers(0, 2**16))))
    n = data.draw(st.integers(1, 4))
    rows = torch.tensor([[data.draw(st.integers(0, k - 1)) for k in nvec] for _ in range(n)])
    with torch.no_grad():
        table = critic.substitutions(rows)
        assert table.shape == (n, len(nvec), max(nvec))
        for t, count in enumerate(nvec):
            for v in range(max(nvec)):
                changed = rows.clone()
                changed[:, t] = min(v, count - 1)  # past the position's count: its last value's entry
                torch.testing.assert_close(table[:, t, v], critic(changed), rtol=1e-5, atol=1e-5)


def test_ensemble_substitutions_are_the_members_mean() -> None:
    ensemble = CriticEnsemble([3, 2, 4], size=3, hidden_size=5)
    ensemble.reset_parameters(torch.Generator().manual_seed(0))
    rows = torch.tensor([[0, 1, 3], [2, 0, 0]])
    with torch.no_grad():
        members = torch.stack([critic.substitutions(rows) for critic in ensemble.critics])  # type: ignore[operator]
        torch.testing.assert_close(ensemble.substitutions(rows), members.mean(dim=0))


def _space() -> JointActionSpace:
    from gymnasium import spaces

    return JointActionSpace.from_spaces({"a": spaces.MultiDiscrete([3, 4]), "b": spaces.Discrete(4)})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_token_the_critic_ignores_gets_no_gradient_from_token_credit(seed: int) -> None:
    # The critic's Q does not depend on agent a's second token (all its values share one embedding row) and the
    # policies equal their targets (KL 0, zero gradient): the exact expectation over that token's values gives its
    # head no gradient, where MA2ML's sampled gradient gives it the noise of the rows drawn.
    space = _space()
    grads = {}
    for token_credit in (True, False):
        algorithm = make_algorithm(
            "ma2ml_screened", space, seed=seed, critic_ensemble=1, critic_hidden_size=8, token_credit=token_credit
        )
        critic = algorithm.critic
        with torch.no_grad():
            rows = critic.embedding.weight[3:7]  # position 1 (offset 3, four values)
            rows.copy_(rows[0].expand_as(rows))
            critic.embedding.weight[3:7] = rows
        tokens = algorithm.sample_tokens(16)
        loss, _ = algorithm._policy_loss(tokens)
        loss.backward()
        policy = algorithm.policies[0]
        assert policy.head_bias.grad is not None
        grads[token_credit] = policy.head_bias.grad
    assert grads[True][1].abs().max() < 1e-6  # float rounding of Q's differences, nothing else
    assert grads[True][0].abs().max() > 1e-3  # the token Q depends on does move
    assert grads[False][1].abs().max() > 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_token_credit_moves_each_token_towards_the_value_the_critic_prefers(seed: int) -> None:
    space = _space()
    algorithm = make_algorithm("ma2ml_screened", space, seed=seed, critic_hidden_size=16, token_credit=True)

    def chance_of_best() -> float:  # pi_b(token = 2): agent b has a single token
        with torch.no_grad():
            return float(algorithm.policies[1].log_prob(torch.tensor([[2]])).exp())

    before = chance_of_best()
    for _ in range(8):
        actions = algorithm.act(12)
        rewards = (space.to_tensor(actions)[:, 2] == 2).numpy().astype(np.float32)
        algorithm.update(actions, rewards)
    assert chance_of_best() > before + 0.1
