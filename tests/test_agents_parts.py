"""Unit tests of the agents' parts against hand-computed values: controllers, KL, critic, baseline, replay."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ma2ml_agents import JointActionSpace, JointCritic, ReplayBuffer, TokenController, polyak_update
from ma2ml_agents.counterfactual import counterfactual


def _controller(nvec: tuple[int, ...], seed: int = 0, hidden: int = 6) -> TokenController:
    controller = TokenController(nvec, hidden_size=hidden, embed_size=4)
    controller.reset_parameters(torch.Generator().manual_seed(seed))
    return controller


def _hand_set(controller: TokenController, biases: list[list[float]]) -> None:
    """Zero every weight, so position t's distribution is softmax(biases[t]) whatever the prefix."""
    with torch.no_grad():
        for parameter in controller.parameters():
            parameter.zero_()
        for t, row in enumerate(biases):
            controller.head_bias[t, : len(row)] = torch.tensor(row)


def test_log_prob_with_hand_set_weights() -> None:
    controller = TokenController((3, 2), hidden_size=5)
    _hand_set(controller, [[0.0, 1.0, 2.0], [0.5, -0.5]])
    actions = torch.tensor([[2, 0], [0, 1]])
    z0 = math.log(1 + math.e + math.e**2)
    z1 = math.log(math.exp(0.5) + math.exp(-0.5))
    expected = torch.tensor([2.0 - z0 + 0.5 - z1, 0.0 - z0 - 0.5 - z1])
    torch.testing.assert_close(controller.log_prob(actions), expected)
    torch.testing.assert_close(controller.position_log_probs(actions)[:, 1], torch.tensor([0.5 - z1, -0.5 - z1]))


def _manual_unroll(controller: TokenController, actions: torch.Tensor) -> torch.Tensor:
    """log pi(actions) by an explicit LSTM unroll (PyTorch gate order i, f, g, o)."""
    lstm, hidden = controller.lstm, controller.hidden_size
    total = torch.zeros(actions.shape[0])
    for row in range(actions.shape[0]):
        h, c = torch.zeros(hidden), torch.zeros(hidden)
        previous_row = 0
        for t, n in enumerate(controller.nvec):
            x = controller.embedding.weight[previous_row]
            gates = lstm.weight_ih_l0 @ x + lstm.bias_ih_l0 + lstm.weight_hh_l0 @ h + lstm.bias_hh_l0
            i, f, g, o = gates.split(hidden)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            logits = controller.head_weight[t, :n] @ h + controller.head_bias[t, :n]
            total[row] += torch.log_softmax(logits, dim=0)[actions[row, t]]
            previous_row = 1 + sum(controller.nvec[:t]) + int(actions[row, t])
    return total


def test_log_prob_matches_a_manual_lstm_unroll() -> None:
    controller = _controller((3, 5, 2), seed=3)
    actions = torch.tensor([[0, 4, 1], [2, 0, 0], [1, 3, 1]])
    with torch.no_grad():
        torch.testing.assert_close(controller.log_prob(actions), _manual_unroll(controller, actions))


def test_sample_is_seeded_in_range_and_consistent_with_teacher_forcing() -> None:
    controller = _controller((3, 5, 2), seed=1)
    first = controller.sample(64, generator=torch.Generator().manual_seed(7))
    second = controller.sample(64, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first.actions, second.actions)
    assert first.actions.shape == (64, 3) and first.actions.dtype == torch.long
    assert bool((first.actions < torch.tensor([3, 5, 2])).all()) and bool((first.actions >= 0).all())
    torch.testing.assert_close(first.log_prob, controller.log_prob(first.actions).detach())
    torch.testing.assert_close(first.log_probs, controller.log_prob_table(first.actions).detach())
    # masked choices of a padded head have zero probability
    assert float(first.log_probs[:, 2, 2:].exp().sum()) == 0.0


def test_a_controller_that_is_not_autoregressive_draws_independent_tokens() -> None:
    """Its per-position distributions do not depend on the prefix, sampling agrees with teacher forcing, and the
    same weights are autoregressive (prefix-dependent) when the flag is on."""
    nvec = (3, 5, 2)
    independent = TokenController(nvec, hidden_size=6, embed_size=4, autoregressive=False)
    independent.reset_parameters(torch.Generator().manual_seed(2))
    chained = _controller(nvec, seed=2)
    actions = torch.tensor(list(itertools.product(range(3), range(5), range(2))))
    with torch.no_grad():
        table = independent.log_prob_table(actions)
        torch.testing.assert_close(table, table[:1].expand_as(table))
        assert not torch.allclose(chained.log_prob_table(actions), chained.log_prob_table(actions)[:1])
        assert math.isclose(float(independent.log_prob(actions).exp().sum()), 1.0, rel_tol=1e-5)
    drawn = independent.sample(256, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(drawn.log_prob, independent.log_prob(drawn.actions).detach())
    torch.testing.assert_close(drawn.log_probs, independent.log_prob_table(drawn.actions).detach())


def test_sampling_frequencies_follow_the_policy() -> None:
    controller = TokenController((3,), hidden_size=4)
    _hand_set(controller, [[0.0, 1.0, 2.0]])
    draws = controller.sample(30000, generator=torch.Generator().manual_seed(0)).actions[:, 0]
    frequencies = torch.bincount(draws, minlength=3).double() / draws.numel()
    torch.testing.assert_close(frequencies, torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0).double(), atol=0.01, rtol=0)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_sampling_at_a_temperature_follows_the_tempered_policy(temperature: float) -> None:
    controller = TokenController((3,), hidden_size=4)
    _hand_set(controller, [[0.0, 1.0, 2.0]])
    drawn = controller.sample(30000, generator=torch.Generator().manual_seed(0), temperature=temperature)
    frequencies = torch.bincount(drawn.actions[:, 0], minlength=3).double() / drawn.actions.shape[0]
    tempered = torch.softmax(torch.tensor([0.0, 1.0, 2.0]) / temperature, 0)
    torch.testing.assert_close(frequencies, tempered.double(), atol=0.01, rtol=0)
    torch.testing.assert_close(drawn.log_probs[0, 0], tempered.log())


def test_kl_single_position_matches_hand_computation() -> None:
    pi, rho = TokenController((3,), hidden_size=4), TokenController((3,), hidden_size=4)
    _hand_set(pi, [[0.0, 1.0, 2.0]])
    _hand_set(rho, [[1.0, 0.0, 0.0]])
    p, q = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0), torch.softmax(torch.tensor([1.0, 0.0, 0.0]), 0)
    expected = float((p * (p / q).log()).sum())
    actions = torch.tensor([[0], [2]])
    torch.testing.assert_close(pi.kl(rho, actions), torch.full((2,), expected))
    one_sample = pi.kl(rho, actions, exact=False)
    torch.testing.assert_close(one_sample, (p / q).log()[torch.tensor([0, 2])])


def test_per_position_kl_averages_to_the_sequence_kl() -> None:
    """E_{a~pi}[sum_t KL(pi_t || rho_t | a_<t)] equals the KL of the sequence distributions (chain rule)."""
    pi, rho = _controller((3, 2, 2), seed=0, hidden=5), _controller((3, 2, 2), seed=1, hidden=5)
    with torch.no_grad():
        for parameter in pi.parameters():
            parameter.mul_(20.0)  # make the conditionals depend strongly on the prefix
        every = torch.tensor(list(itertools.product(range(3), range(2), range(2))))
        log_pi, log_rho = pi.log_prob(every), rho.log_prob(every)
        sequence_kl = float((log_pi.exp() * (log_pi - log_rho)).sum())
        expected_per_position = float((log_pi.exp() * pi.kl(rho, every)).sum())
    assert sequence_kl > 0.05
    assert expected_per_position == pytest.approx(sequence_kl, rel=1e-5)


def test_polyak_update() -> None:
    target, source = _controller((3, 2), seed=0), _controller((3, 2), seed=1)
    before = [p.clone() for p in target.parameters()]
    polyak_update(target, source, tau=0.25)
    for new, old, src in zip(target.parameters(), before, source.parameters(), strict=True):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * src)


def _additive_critic(values: list[float]) -> JointCritic:
    """A JointCritic set by hand so that Q(A) = sum over columns of values[offset + token]."""
    critic = JointCritic([2, 3], hidden_size=3, num_layers=2)
    with torch.no_grad():
        for parameter in critic.parameters():
            parameter.zero_()
        critic.embedding.weight[:, 0] = torch.tensor(values)
        critic.input_bias[0] = 100.0  # keep the ReLUs in their linear part
        critic.hidden[0].weight[0, 0] = 1.0
        critic.output.weight[0, 0] = 1.0
        critic.output.bias[0] = -100.0
    return critic


def test_critic_forward_and_loss_by_hand() -> None:
    critic = _additive_critic([1.0, 2.0, 10.0, 20.0, 30.0])
    actions = torch.tensor([[0, 0], [1, 2]])
    q = critic(actions)
    torch.testing.assert_close(q, torch.tensor([11.0, 32.0]))
    torch.testing.assert_close(critic.loss(actions, torch.tensor([10.0, 30.0])), torch.tensor((1.0 + 4.0) / 2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_critic_fits_a_table(seed: int) -> None:
    """The critic can represent a non-additive table of the joint action: a full-batch L-BFGS fit reaches it.

    L-BFGS with a line search converges to the table from any of these initialisations, whatever the thread
    count (a fixed number of Adam steps at a large learning rate did not, where summation order changed).
    """
    critic = JointCritic([3, 3], hidden_size=32)
    critic.reset_parameters(torch.Generator().manual_seed(seed))
    every = torch.tensor(list(itertools.product(range(3), range(3))))
    table = torch.tensor([11.0, -30.0, 0.0, -30.0, 7.0, 6.0, 0.0, 0.0, 5.0])
    optimizer = torch.optim.LBFGS(
        critic.parameters(), max_iter=500, line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-12
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = critic.loss(every, table)
        loss.backward()
        return loss

    optimizer.step(closure)
    torch.testing.assert_close(critic(every).detach(), table, atol=0.05, rtol=0)


def test_counterfactual_baseline_on_a_hand_set_critic() -> None:
    """Agent 1 (columns 1:2, 3 choices) with softmax(0, 1, 2); Q = v0[a0] + v1[a1], so b = v0[a0] + E_pi v1."""
    critic = _additive_critic([1.0, 2.0, 10.0, 20.0, 30.0])
    pi, rho = TokenController((3,), hidden_size=4), TokenController((3,), hidden_size=4)
    _hand_set(pi, [[0.0, 1.0, 2.0]])
    _hand_set(rho, [[0.0, 0.0, 0.0]])
    p = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)
    mean_agent_1 = float(p @ torch.tensor([10.0, 20.0, 30.0]))
    tokens = torch.tensor([[0, 2], [1, 0]])
    kl = float((p * (p * 3).log()).sum())
    kwargs = {"policy": pi, "target": rho, "generator": torch.Generator().manual_seed(0)}
    exact = counterfactual(critic, tokens, slice(1, 2), samples=4, exact_max=64, **kwargs)
    torch.testing.assert_close(exact.baseline, torch.tensor([1.0 + mean_agent_1, 2.0 + mean_agent_1]))
    assert exact.kl is not None and float(exact.kl) == pytest.approx(kl, rel=1e-5)
    sampled = counterfactual(critic, tokens, slice(1, 2), samples=20000, exact_max=1, **kwargs)
    torch.testing.assert_close(sampled.baseline, exact.baseline, atol=0.2, rtol=0)
    assert sampled.kl is None  # left to the caller when the space is not enumerated


def test_counterfactual_holds_the_other_agents() -> None:
    """With Q depending only on the other agent's token, b_i = Q(A) exactly."""
    critic = _additive_critic([1.0, 2.0, 0.0, 0.0, 0.0])
    pi = _controller((3,), seed=0)
    tokens = torch.tensor([[0, 1], [1, 2]])
    result = counterfactual(
        critic, tokens, slice(1, 2), policy=pi, target=pi, samples=5, exact_max=0, generator=torch.Generator()
    )
    torch.testing.assert_close(result.baseline, torch.tensor([1.0, 2.0]))


def test_replay_sampling_is_deterministic_and_covers_the_buffer() -> None:
    buffer = ReplayBuffer(10, 2)
    for start in range(0, 15, 5):  # 15 rows into 10 slots: rows 5..14 remain
        rows = torch.arange(start, start + 5)
        buffer.add(torch.stack([rows, rows], dim=1), rows.float())
    assert len(buffer) == 10
    first = buffer.sample(500, generator=torch.Generator().manual_seed(3))
    second = buffer.sample(500, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert set(first[1].long().tolist()) == set(range(5, 15))
    assert torch.equal(first[0][:, 0].float(), first[1])


def test_replay_state_round_trip() -> None:
    buffer = ReplayBuffer(4, 3)
    buffer.add(torch.tensor([[1, 2, 3], [4, 5, 6]]), torch.tensor([0.5, 1.5]))
    copy = ReplayBuffer(4, 3)
    copy.load_state_dict(buffer.state_dict())
    assert len(copy) == 2 and copy.position == 2
    generator_a, generator_b = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(copy.sample(8, generator=generator_a)[0], buffer.sample(8, generator=generator_b)[0])


def test_joint_action_space_round_trip_and_checks() -> None:
    space = JointActionSpace.from_spaces(
        {"a": spaces.Discrete(3, start=1), "b": spaces.MultiDiscrete([2, 4], start=[0, 10])}
    )
    assert space.flat_nvec == (3, 2, 4) and space.slice_of(1) == slice(1, 3)
    actions = {"a": np.array([1, 3]), "b": np.array([[0, 13], [1, 10]])}
    tokens = space.to_tensor(actions)
    assert tokens.tolist() == [[0, 0, 3], [2, 1, 0]]
    back = space.to_env(tokens)
    assert back["a"].tolist() == [[1], [3]] and back["b"].tolist() == actions["b"].tolist()
    with pytest.raises(ValueError, match="column 2"):
        space.to_tensor({"a": np.array([1]), "b": np.array([[0, 14]])})
    with pytest.raises(TypeError):
        JointActionSpace.from_spaces({"a": spaces.Box(0, 1, (2,))})


@pytest.mark.parametrize(
    ("name", "field", "value", "message"),
    [
        ("ma2ml", "tau", 0.0, "tau is a Polyak rate"),
        ("ma2ml", "lam", -0.1, "lam weighs a KL divergence"),
        ("ma2ml", "reward_scale", 0.0, "reward_scale must be > 0"),
        ("ma2ml_onpolicy", "critic_steps", 0, "critic_steps must be > 0"),
        ("ma2ml_lite", "baseline_decay", 1.0, "baseline_decay must be in [0, 1)"),
        ("ma2ml_screened", "proposal_temperature", 0.0, "proposal_temperature must be > 0"),
    ],
)
def test_configs_reject_bad_values(name: str, field: str, value: float, message: str) -> None:
    from ma2ml_agents import ALGORITHMS

    with pytest.raises(ValueError, match=re.escape(message)):
        ALGORITHMS[name].config_cls(**{field: value})


def test_critic_learns_scaled_rewards_from_the_first_batch_level() -> None:
    """The first update shifts Q by reward_scale x the first batch's mean: the critic starts at the rewards' level."""
    from test_agents_games import CLIMBING, MatrixGame

    from ma2ml_agents import make_algorithm

    env = MatrixGame(CLIMBING)
    every = torch.tensor(list(itertools.product(range(3), range(3))))
    # A vanishing critic lr isolates the shift from the regression step.
    algorithm = make_algorithm("ma2ml", env, seed=0, critic_lr=1e-30, reward_scale=10.0)
    with torch.no_grad():
        before = algorithm.critic(every)
    rewards = np.array([11.0, -30.0, 5.0, 6.0])
    algorithm.update({"agent_0": np.array([0, 0, 2, 1]), "agent_1": np.array([0, 1, 2, 2])}, rewards)
    with torch.no_grad():
        after = algorithm.critic(every)
    torch.testing.assert_close(after - before, torch.full((9,), 10.0 * rewards.mean()), rtol=0, atol=1e-4)
    algorithm.update({"agent_0": np.array([0, 0, 2, 1]), "agent_1": np.array([0, 1, 2, 2])}, rewards)
    with torch.no_grad():
        torch.testing.assert_close(algorithm.critic(every), after, rtol=0, atol=1e-4)  # only the first batch shifts
