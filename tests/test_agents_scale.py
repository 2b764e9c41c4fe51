"""The MA2ML family at its defaults does not depend on the rewards' units.

Rewards are standardised by their running moments (ma2ml_agents.normalize), so multiplying every reward
by a constant must leave what the algorithms learn unchanged: lam, the learning rates and the critic's
fit mean the same on accuracies in [0, 1] and on game payoffs of order 10.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_agents_climbing import _modal_joint_action, convention_game
from test_agents_games import MatrixGame

from ma2ml_agents import ALGORITHMS, BatchEvaluator, derived_seed, make_algorithm
from ma2ml_agents.normalize import RunningMoments

GAME = 10.0 * convention_game()  # payoffs 0 .. 50: "rewards of order 10"


def _run(name: str, payoff: np.ndarray, seed: int, batches: int) -> object:
    env = MatrixGame(payoff)
    evaluator = BatchEvaluator(env)
    algorithm = make_algorithm(name, env, seed=seed)
    for batch in range(batches):
        actions = algorithm.act(24)
        algorithm.update(actions, evaluator.evaluate(actions, seed=derived_seed(seed, batch))[0])
    return algorithm


def test_running_moments_are_exact_and_scale_free() -> None:
    values = torch.tensor([3.0, 5.0, 11.0, -2.0, 7.5])
    moments = RunningMoments()
    moments.update(values[:2])
    moments.update(values[2:])
    assert moments.mean == pytest.approx(float(values.double().mean()))
    assert moments.std == pytest.approx(float(values.double().std(unbiased=False)))
    scaled = RunningMoments()
    scaled.update(values * 1e-3)
    torch.testing.assert_close(scaled.standardise(values * 1e-3), moments.standardise(values))
    constant = RunningMoments()
    constant.update(torch.full((4,), 2.0))
    assert torch.equal(constant.standardise(torch.full((2,), 2.0)), torch.zeros(2))  # std 0: only centred


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_defaults_learn_the_same_on_rewards_divided_by_100(name: str) -> None:
    """Same seed, rewards x 1 and x 0.01: the same policies after a few updates (up to float rounding)."""
    big, small = _run(name, GAME, seed=3, batches=4), _run(name, GAME / 100, seed=3, batches=4)
    untrained = _run(name, GAME, seed=3, batches=0)
    pairs = zip(big.controllers.parameters(), small.controllers.parameters(), strict=True)  # type: ignore[attr-defined]
    for a, b in pairs:
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)
    moved = [  # the updates did change the policies, so the agreement above is not that of two idle learners
        float((a - b).detach().abs().max())
        for a, b in zip(big.controllers.parameters(), untrained.controllers.parameters(), strict=True)  # type: ignore[attr-defined]
    ]
    assert max(moved) > 1e-3, moved


@pytest.mark.slow
def test_ma2ml_finds_the_optimum_as_often_at_either_scale() -> None:
    """At its defaults, on the convention game with a distractor: the optimal (0, 0) convention as often at x1/100."""
    successes = {}
    for scale in (1.0, 0.01):
        finals = [_modal_joint_action(_run("ma2ml", GAME * scale, seed, 40), agents=2)[0] for seed in range(10)]
        successes[scale] = sum(joint == (0, 0) for joint in finals)
    assert abs(successes[1.0] - successes[0.01]) <= 1, successes
    assert successes[1.0] >= 6, successes  # measured: 7 of 10 at x 1 (default settings, 40 batches of 24)
