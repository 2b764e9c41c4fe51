"""MA2ML, MA2ML on-policy and MA2ML-Lite on climbing-game style cooperative matrix games.

Claus & Boutilier's climbing game (``CLIMBING``: optimum 11 at (0, 0) beside -30 penalties). Every
algorithm converges into the safe region ((2, 2) = 5 or (1, 2) = 6); none reaches the optimum in any seed
(10 seeds; 0/10 with 100 batches of 24, policy_lr 3e-2, 10 critic steps a batch, and 0/10 again with 40
batches, the slow test's setting). This is what the expected gradients predict: a counterfactual baseline
b_i(A_-i) reduces the variance of agent i's gradient but leaves its expectation, E[grad log pi_i (Q - b_i)]
= E[grad log pi_i Q], equal to independent REINFORCE's. From near-uniform policies that expectation pushes
both agents towards action 2 (row means -6.3, -5.7, 1.7; column means -6.3, -7.7, 3.7), away from the
optimum, so MA2ML and MA2ML-Lite mis-coordinate alike. The centralised critic does learn the whole table.

Search for a game where MA2ML's changes (lower-variance per-agent credit, replay + critic) do pay off.
Games (``jackpot``): the optimum O when every agent plays 0, -P when some but not all do (the partial-
deviation penalty), S elsewhere (the safe region); O is set so that from uniform policies action 0 has the
highest expected value for every agent (the expected gradient points at the optimum; its margin is small,
so an agent that drifts away from 0 turns the others' gradient to the safe region). Optional Gaussian
reward noise sigma; ``distract``: the 2-agent game plus a third agent whose 5 actions add 0, 15, .., 60 (its
exploration is noise in Lite's signal for the two others, removed by MA2ML's counterfactual baseline).
Common setting for every algorithm: policy_lr 3e-2, LSTM 16 units, batches of 24, 60 batches (100 where
marked), seeds 0-9, success = the final policies' most played joint action (of 400) is the optimum.
MA2ML: critic 32 units, ``critic_steps`` (regression steps a batch, no extra evaluations) as marked.

    game (agents x actions, O / P / S, sigma)   critic_steps  MA2ML  on-policy  Lite
    climbing (2x3), 100 batches                  10            0      0          0
    jackpot 2x3, 30/10/5                          10            5      -          8   (100 batches)
    jackpot 2x3, 30/10/5                          40           10      9          8
    jackpot 2x3, 30/10/5, sigma 40                10            5      -          7   (100 batches)
    jackpot 2x3, 30/10/5, sigma 60                40            4      -          7
    jackpot 2x4, 50/10/5                          40            5      -          9
    jackpot 2x4, 45/10/5, sigma 40                40            3      -          7
    jackpot 3x3, 60/10/5                          10            2      -          7   (100 batches)
    jackpot 3x3, 60/10/5                          40            5      5          7
    jackpot 3x3, 60/10/5, sigma 40                10            2      -          7   (100 batches)
    jackpot 3x4, 150/10/5                         10            1      -          5   (100 batches)
    jackpot 3x4, 150/10/5                         40            2      -          5
    jackpot 3x5, 300/10/5                         10            2      -          4   (100 batches)
    distract (3 agents: 2x3 jackpot + 5 actions)  40            3      -          5

No game reached "MA2ML clearly (>= 3 seeds of 10) ahead of Lite"; the best, the 2-agent jackpot with a
well-fitted critic (10 vs 9 vs 8), is recorded below. Why: MA2ML's advantage uses the critic's Q, not R,
and the critic (embedding sum + MLP, fitted by gradient descent) learns the main effects of the agents'
actions before their interaction. Early on it therefore sees action 0 as "often penalised" and not yet
the rare jackpot, i.e. the independent learners' view, while the policies are already moving (seed 0 of
the 2x3 game: Q(0, 0) = -1.4, 0.6, 2.6 after batches 2, 4, 5 against a true 30; p(0) fell from 0.33 to
0.14 and never recovered). More critic steps a batch shorten this phase (fitted by batch 3 with 40 steps)
and fix the 2-agent game, but the interaction of 3 agents (optimum played in 1/27 or 1/64 of the first
batches) or one hidden under reward noise or a distractor's main effect is learned too late again, so
there MA2ML does worse than Lite, which uses the true rewards. Lite's own failures come from the noise the
other agents' exploration adds (the distractor lowers it from 8 to 5 of 10), as expected, but the
critic's bias costs MA2ML more than its lower variance gains it on these games.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
import torch
from test_agents_games import CLIMBING, MatrixGame

from ma2ml_agents import MA2ML, BatchEvaluator, ControllerAlgorithm, derived_seed, make_algorithm

SETTINGS = {"policy_lr": 3e-2, "hidden_size": 16}
CRITIC_SETTINGS = {"critic_steps": 10, "critic_hidden_size": 32}  # fit the +-30 table within a few batches
ALGORITHM_NAMES = ("ma2ml", "ma2ml_onpolicy", "ma2ml_lite")


def jackpot(
    agents: int = 2, actions: int = 3, optimum: float = 30.0, penalty: float = 10.0, safe: float = 5.0
) -> np.ndarray:
    """``optimum`` when all agents play 0, ``-penalty`` when some but not all do, ``safe`` otherwise."""
    table = np.full((actions,) * agents, safe)
    for joint in itertools.product(range(actions), repeat=agents):
        zeros = sum(a == 0 for a in joint)
        if zeros:
            table[joint] = optimum if zeros == agents else -penalty
    return table


JACKPOT = jackpot()


def _train(
    name: str, seed: int, batches: int, payoff: np.ndarray = CLIMBING, critic_steps: int = 10
) -> ControllerAlgorithm:
    env = MatrixGame(payoff)
    evaluator = BatchEvaluator(env)
    critic = {**CRITIC_SETTINGS, "critic_steps": critic_steps} if name != "ma2ml_lite" else {}
    algorithm = make_algorithm(name, env, seed=seed, **SETTINGS, **critic)
    for batch in range(batches):
        actions = algorithm.act(24)
        algorithm.update(actions, evaluator.evaluate(actions, seed=derived_seed(seed, batch))[0])
    return algorithm


def _modal_joint_action(algorithm: ControllerAlgorithm) -> tuple[tuple[int, ...], float]:
    actions = algorithm.act(400)
    columns = [actions[agent][:, 0].tolist() for agent in algorithm.space.agents]
    joint, count = Counter(zip(*columns, strict=True)).most_common(1)[0]
    return joint, count / 400


def _marginal_values(payoff: np.ndarray) -> list[np.ndarray]:
    """Expected payoff of each agent's actions when the others play uniformly."""
    return [payoff.mean(axis=tuple(j for j in range(payoff.ndim) if j != i)) for i in range(payoff.ndim)]


def test_expected_gradients_from_uniform_policies() -> None:
    """Climbing: every agent's best action against uniform others is 2 (safe); jackpot: 0 (the optimum)."""
    assert all(int(values.argmax()) == 2 for values in _marginal_values(CLIMBING))
    for game in (JACKPOT, jackpot(3, 3, 60.0), jackpot(3, 4, 150.0)):
        assert all(int(values.argmax()) == 0 for values in _marginal_values(game))


def test_ma2ml_critic_learns_the_climbing_table_and_policies_avoid_penalties() -> None:
    algorithm = _train("ma2ml", seed=0, batches=30)
    assert isinstance(algorithm, MA2ML)
    every = torch.tensor(list(itertools.product(range(3), range(3))))
    with torch.no_grad():
        q = algorithm.critic(every).numpy()
    np.testing.assert_allclose(q, CLIMBING.reshape(-1), atol=2.0)
    pair, share = _modal_joint_action(algorithm)
    assert CLIMBING[pair] >= 5.0 and share > 0.5


@pytest.mark.slow
def test_climbing_game_success_counts() -> None:
    """Seeds (of 10) whose final policies play the optimum (0, 0) most: measured 0 for every algorithm.

    40 batches (the docstring's 100 gave the same 0/10 for all three; every seed is in the safe region).
    """
    counts = {}
    for name in ALGORITHM_NAMES:
        finals = [_modal_joint_action(_train(name, seed, batches=40)) for seed in range(10)]
        counts[name] = sum(pair == (0, 0) for pair, _ in finals)
        assert all(CLIMBING[pair] >= 5.0 for pair, _ in finals), (name, finals)
    print(f"climbing game: seeds reaching the optimum (of 10): {counts}")
    assert counts["ma2ml"] >= counts["ma2ml_lite"] - 1  # no worse than Lite beyond one seed of noise


@pytest.mark.slow
def test_jackpot_game_success_counts() -> None:
    """2x3 jackpot (30 / -10 / 5), 40 critic steps, 60 batches: measured ma2ml 10, on-policy 9, Lite 8 of 10.

    The best case for MA2ML that the search (module docstring) found; not the "clearly more" the issue
    hoped for, so the test guards only the ordering.
    """
    counts = {}
    for name in ALGORITHM_NAMES:
        finals = [_modal_joint_action(_train(name, seed, 60, JACKPOT, critic_steps=40)) for seed in range(10)]
        counts[name] = sum(joint == (0, 0) for joint, _ in finals)
    print(f"jackpot game: seeds reaching the optimum (of 10): {counts}")
    assert counts["ma2ml"] >= counts["ma2ml_lite"] >= 6
