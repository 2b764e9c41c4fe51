"""MA2ML, MA2ML on-policy and MA2ML-Lite on cooperative matrix games where independent learners mis-coordinate.

**Climbing game** (Claus & Boutilier; ``CLIMBING``: optimum 11 at (0, 0) beside -30 penalties). Every
algorithm converges into the safe region ((2, 2) = 5 or (1, 2) = 6) in every seed (0/10 for all three).
This is what the expected gradients predict, and no implementation of METHOD.md's MA2ML can do otherwise:
a counterfactual baseline b_i(A_-i) reduces the variance of agent i's gradient but leaves its expectation,
E[grad log pi_i (Q - b_i)] = E[grad log pi_i Q], equal to independent REINFORCE's, and the KL to the
target only slows the step. From near-uniform policies that expectation pushes both agents towards action
2 (row means -6.3, -5.7, 1.7; column means -6.3, -7.7, 3.7), away from the optimum (relative
overgeneralisation, which defeats every decentralised policy gradient, COMA's included). The centralised
critic does learn the whole table (tested below); the policies cannot use it.

**Where MA2ML's credit assignment pays off: the convention game with a distractor** (``convention_game``).
Agents ``agent_0`` and ``agent_1`` pick one of 4 conventions: both on convention 0 pays 1, both on another
one pays 0.75, a mismatch pays 0. ``agent_2`` adds 0, 1, .., 4 by itself. The optimum is (0, 0, 4).
From uniform policies the expected gradient points both coordinators at convention 0, but only by a
margin of 1/16 per step, while ``agent_2``'s exploration puts a spread of +-1.4 into the shared reward:
independent learners (Lite) read that noise as the coordinators' credit, drift together and lock into a
worse convention (a Pareto-dominated equilibrium, as in the climbing game). MA2ML's counterfactual
baseline removes ``agent_2``'s term from the coordinators' advantage once the critic has learned it.
Measured (20 seeds, 60 batches of 24, policy_lr 3e-2, LSTM 16 units; MA2ML critic 32 units;
success = the final policies' most played (agent_0, agent_1) pair of 400 is (0, 0)):

    game                               critic steps / batch   MA2ML  on-policy  Lite
    convention + distractor (step 1)   40                     20     20         13
    convention + distractor (step 1)   10                     19     19         13
    convention + distractor (step 2)   40                     20     20         14
    convention, no distractor          40                     20     20         17
    convention, no distractor          10                     19     19         17

Without the distractor the gap shrinks to 20 vs 17; with it Lite loses 7 seeds of 20 and MA2ML none: the
distractor's noise in the shared reward is what MA2ML's credit assignment removes.

How MA2ML's policy step is estimated matters here (ma2ml_agents/ma2ml.py): with replayed joint actions in
the policy gradient (no importance weights) each coordinator sees its partner as the partner's historical
average, near uniform, so the coordination signal stays at its 1/16 margin; that froze the coordinators
(11/20 at 40 critic steps). With the current policies' draws, as shipped, 20/20.

The "jackpot" games (optimum only when every agent plays 0, -10 for a partial deviation, 5 elsewhere)
were the earlier search for such a game: there the critic has to learn a rare interaction before the
policies drift, and MA2ML does not gain (2x3, 40 critic steps: 9 / 10 / 8 of 10).

Remeasured 2026-12-06 (the tests below, printed with -s): climbing 0 / 0 / 0 of 10, jackpot 9 / 10 / 9 of 10,
convention with the distractor at 40 critic steps 20 / 20 / 12 of 20; the table's other rows were not rerun.
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
# Fit the +-30 table within a few batches; the payoffs already have the scale lam = 0.2 is meant for.
CRITIC_SETTINGS = {"critic_steps": 10, "critic_hidden_size": 32, "reward_scale": 1.0, "tau": 0.004, "lam": 0.2}
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


def convention_game(conventions: int = 4, distractor: int = 5, step: float = 1.0) -> np.ndarray:
    """Coordinators 0 and 1: 1 both on convention 0, 0.75 both on another, 0 apart; agent 2 adds ``step`` x action."""
    coordinate = np.where(np.eye(conventions, dtype=bool), 0.75, 0.0)
    coordinate[0, 0] = 1.0
    return coordinate[:, :, None] + step * np.arange(distractor)[None, None, :]


CONVENTION = convention_game()


def _train(
    name: str, seed: int, batches: int, payoff: np.ndarray = CLIMBING, critic_steps: int = 10
) -> ControllerAlgorithm:
    env = MatrixGame(payoff)
    evaluator = BatchEvaluator(env)
    # No recall: these games hold 6 to 80 joint actions, all known after a batch or two, and recall would hand Lite
    # up to 32 x 24 exact rewards an update and MA2ML's policy step as many draws, so the games would no longer
    # compare the credit at equal information (docs/ma2ml_study.md, section 21, measures Lite with recall).
    critic = {**CRITIC_SETTINGS, "critic_steps": critic_steps} if name != "ma2ml_lite" else {}
    algorithm = make_algorithm(name, env, seed=seed, recall_known=False, **SETTINGS, **critic)
    for batch in range(batches):
        actions = algorithm.act(24)
        algorithm.update(actions, evaluator.evaluate(actions, seed=derived_seed(seed, batch))[0])
    return algorithm


def _modal_joint_action(algorithm: ControllerAlgorithm, agents: int | None = None) -> tuple[tuple[int, ...], float]:
    """The most played joint action of the first ``agents`` agents (all by default) in 400 draws, and its share."""
    actions = algorithm.act(400)
    columns = [actions[agent][:, 0].tolist() for agent in algorithm.space.agents[:agents]]
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
    coordinator, _, distractor = _marginal_values(CONVENTION)
    np.testing.assert_allclose(coordinator - coordinator.min(), [1 / 16, 0, 0, 0])  # the thin margin
    assert int(distractor.argmax()) == 4
    assert CONVENTION.argmax() == np.ravel_multi_index((0, 0, 4), CONVENTION.shape)


def test_counterfactual_advantage_removes_the_distractor_from_the_coordinators_credit() -> None:
    """MA2ML's per-agent advantage for a coordinator ignores agent_2's action; Lite's shared R - b is mostly it."""
    algorithm = _train("ma2ml", seed=0, batches=15, payoff=CONVENTION, critic_steps=40)
    assert isinstance(algorithm, MA2ML)
    uniform = np.random.default_rng(0).integers(0, CONVENTION.shape, size=(480, 3))  # early-search rows
    tokens = torch.as_tensor(uniform)
    tables = [p.log_prob_table(tokens[:, g]) for g, p in zip(algorithm.groups, algorithm.policies, strict=True)]
    advantages, _ = algorithm.advantages(tokens, tables)
    distractor = tokens[:, 2].double().numpy()
    rewards = CONVENTION[tuple(tokens.T.numpy())]
    assert np.corrcoef(rewards, distractor)[0, 1] > 0.8  # what an independent learner's R - b is made of
    for coordinator in (0, 1):
        assert abs(np.corrcoef(advantages[coordinator].double().numpy(), distractor)[0, 1]) < 0.2
    assert np.corrcoef(advantages[2].double().numpy(), distractor)[0, 1] > 0.8  # agent_2 keeps its own credit


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
    """2x3 jackpot (30 / -10 / 5), 40 critic steps, 60 batches: measured MA2ML 9, on-policy 10, Lite 9 of 10.

    No clear gain for MA2ML here (module docstring), so the test guards only that it is not worse than Lite.
    """
    counts = {}
    for name in ALGORITHM_NAMES:
        finals = [_modal_joint_action(_train(name, seed, 60, JACKPOT, critic_steps=40)) for seed in range(10)]
        counts[name] = sum(joint == (0, 0) for joint, _ in finals)
    print(f"jackpot game: seeds reaching the optimum (of 10): {counts}")
    assert counts["ma2ml"] >= counts["ma2ml_lite"] >= 6


@pytest.mark.slow
def test_convention_game_success_counts() -> None:
    """Seeds (of 20) whose coordinators end on convention 0: measured MA2ML 20, on-policy 20, Lite 12."""
    counts = {}
    for name in ALGORITHM_NAMES:
        finals = [_modal_joint_action(_train(name, s, 60, CONVENTION, critic_steps=40), agents=2) for s in range(20)]
        counts[name] = sum(pair == (0, 0) for pair, _ in finals)
    print(f"convention game: seeds reaching the optimum (of 20): {counts}")
    assert counts["ma2ml"] >= 18 and counts["ma2ml"] >= counts["ma2ml_lite"] + 4
