"""The budget diagnostics (ma2ml_agents.diagnostics), the screen (ma2ml_agents.screening) and screened MA2ML."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ma2ml_agents import JointActionSpace, TokenController, make_algorithm
from ma2ml_agents.diagnostics import (
    DuplicateCounter,
    average_ranks,
    entropy_fraction,
    evaluations_to_reach,
    rank_correlation,
)
from ma2ml_agents.screening import CriticEnsemble, row_keys, screen


def test_entropy_fraction_is_one_at_uniform_and_falls_as_a_policy_commits() -> None:
    policy = TokenController([4, 1, 3], hidden_size=8)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.zero_()
    assert entropy_fraction(policy) == pytest.approx(1.0, abs=1e-6)
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.3)
    target = torch.tensor([[2, 0, 1]])
    for _ in range(30):  # maximise the likelihood of one row: the policy becomes nearly deterministic
        optimizer.zero_grad()
        (-policy.log_prob(target).sum()).backward()
        optimizer.step()
    assert entropy_fraction(policy) < 0.1
    assert math.isnan(entropy_fraction(TokenController([1, 1])))


def test_rank_correlation_is_spearman_and_nan_when_undefined() -> None:
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(rank_correlation([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="1-d arrays of one length"):
        rank_correlation([1, 2], [1, 2, 3])


def test_average_ranks_share_ties() -> None:
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [2.5, 0.0, 2.5, 1.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=30))
def test_average_ranks_are_scipys_rankdata_less_one(values: list[int]) -> None:
    rankdata = pytest.importorskip("scipy.stats").rankdata
    np.testing.assert_allclose(average_ranks(np.array(values, dtype=float)), rankdata(values) - 1)


def test_duplicates_count_repeats_within_and_across_batches() -> None:
    counter = DuplicateCounter()
    assert counter.add([[0, 1], [0, 1], [1, 1]]) == 1
    assert counter.add([[1, 1], [2, 2]]) == 1
    assert (counter.evaluations, counter.duplicates, counter.fraction) == (5, 2, 0.4)


def test_evaluations_to_reach_is_one_based_and_inf_when_never() -> None:
    assert evaluations_to_reach([0.1, 0.5, 0.7], 0.5) == 2
    assert evaluations_to_reach([0.1, 0.5], 0.9) == math.inf


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_screen_prefers_new_rows_by_score_then_known(data: st.DataObject) -> None:
    m = data.draw(st.integers(1, 12))
    row = st.lists(st.integers(0, 2), min_size=2, max_size=2)
    rows = torch.tensor(data.draw(st.lists(row, min_size=m, max_size=m)))
    scores = torch.tensor(data.draw(st.lists(st.floats(-5, 5), min_size=m, max_size=m)))
    known = set(data.draw(st.lists(st.sampled_from(row_keys(rows)), max_size=m)))
    n = data.draw(st.integers(1, m))
    chosen = row_keys(screen(rows, n, scores=scores, known=known))
    fresh = {key for key in row_keys(rows) if key not in known}
    assert len(chosen) == n
    new = chosen[: min(n, len(fresh))]  # as many distinct new rows as were drawn come first
    assert len(set(new)) == len(new) and not set(new) & known
    best = {key: max(float(s) for k, s in zip(row_keys(rows), scores, strict=True) if k == key) for key in fresh}
    left_out = fresh - set(new)
    if new and left_out:  # the new rows taken score at least as well as any new row left out
        assert min(best[k] for k in new) >= max(best[k] for k in left_out)


def test_screen_needs_enough_candidates() -> None:
    with pytest.raises(ValueError, match="draw more"):
        screen(torch.zeros(2, 3, dtype=torch.long), 3, scores=torch.zeros(2))


def test_ensemble_members_fit_their_own_rows() -> None:
    ensemble = CriticEnsemble([3, 3], size=2, hidden_size=8)
    ensemble.reset_parameters(torch.Generator().manual_seed(0))
    rows = torch.tensor([[0, 1], [2, 2], [0, 1], [2, 2]])
    targets = torch.tensor([1.0, -1.0, 5.0, 5.0])  # member 0 gets the first two, member 1 the last two
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        ensemble.loss(rows, targets).backward()
        optimizer.step()
    values = ensemble.members(rows[:2]).detach()
    assert torch.allclose(values, torch.tensor([[1.0, -1.0], [5.0, 5.0]]), atol=0.1)
    assert torch.allclose(ensemble(rows[:2]).detach(), torch.tensor([3.0, 2.0]), atol=0.1)
    with pytest.raises(ValueError, match="split evenly"):
        ensemble.loss(rows[:3], targets[:3])


def _tiny_space() -> JointActionSpace:
    from gymnasium import spaces

    return JointActionSpace.from_spaces({"a": spaces.MultiDiscrete([3, 2]), "b": spaces.Discrete(4)})


def test_screened_ma2ml_evaluates_every_pipeline_once_before_any_twice() -> None:
    # 24 joint actions; 128 policy draws (plus 128 uniform ones once the policies repeat) hold the last 8 new ones
    space = _tiny_space()
    algorithm = make_algorithm("ma2ml_screened", space, seed=3, critic_hidden_size=8, proposal_pool=16)
    seen: list[tuple[int, ...]] = []
    for _ in range(3):
        actions = algorithm.act(8)
        tokens = space.to_tensor(actions)
        seen += row_keys(tokens)
        algorithm.update(actions, tokens.sum(dim=1).numpy().astype(np.float32))
    assert len(set(seen)) == len(seen) == 24


def test_screened_ma2ml_state_round_trip_keeps_what_it_has_evaluated() -> None:
    space = _tiny_space()
    algorithm = make_algorithm("ma2ml_screened", space, seed=1, critic_hidden_size=8)
    actions = algorithm.act(6)
    algorithm.update(actions, np.arange(6, dtype=np.float32))
    copy = make_algorithm("ma2ml_screened", space, seed=1, critic_hidden_size=8)
    copy.load_state_dict(algorithm.state_dict())
    assert copy.known == algorithm.known and len(copy.known) == 6
    assert all(np.array_equal(a, b) for a, b in zip(copy.act(5).values(), algorithm.act(5).values(), strict=True))


@settings(max_examples=25, deadline=None)
@given(parents=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_local_candidates_are_one_token_mutants_of_the_best_evaluated(parents: int, seed: int) -> None:
    space = _tiny_space()
    algorithm = make_algorithm("ma2ml_screened", space, seed=seed, critic_hidden_size=8, local_parents=parents)
    tokens = algorithm.uniform_tokens(10)
    rewards = torch.randn(10, generator=torch.Generator().manual_seed(seed))
    algorithm.replay.add(tokens, rewards)  # what update() keeps of an evaluated batch
    best = tokens[torch.topk(rewards, parents).indices]
    mutants = algorithm.local_tokens(64)
    assert bool((mutants >= 0).all()) and bool((mutants < torch.tensor(space.flat_nvec)).all())
    distance = (mutants[:, None, :] != best[None, :, :]).sum(dim=2)  # (mutant, parent) Hamming distance
    assert bool((distance == 1).any(dim=1).all())  # (a mutant may also equal another parent)


@pytest.mark.parametrize(
    ("nvec", "coverage", "expected"),
    [
        ([5] * 6, 0.5, 192),  # a NAS-Bench-201 cell: 8 parents' neighbourhoods hold 192 rows, the share stands
        ([15] * 50, 0.5, 13),  # 8 x 700 = 5,600 neighbours: 192 x 192 / 2,800 = 13.2
        ([15] * 50, 0.0, 192),  # never cut
    ],
)
def test_local_candidates_are_cut_where_a_screen_covers_little_of_the_neighbourhoods(
    nvec: list[int], coverage: float, expected: int
) -> None:
    from gymnasium import spaces

    space = JointActionSpace.from_spaces({"a": spaces.MultiDiscrete(nvec)})
    algorithm = make_algorithm("ma2ml_screened", space, seed=0, critic_hidden_size=8, local_coverage=coverage)
    assert algorithm.local_count(384) == 0  # nothing evaluated yet: no parents
    algorithm.replay.add(algorithm.uniform_tokens(24), torch.zeros(24))
    assert algorithm.local_count(384) == expected


BAD_SCREENS = [
    ("proposal_pool", 0),
    ("critic_ensemble", 0),
    ("exploration_bonus", -1.0),
    ("local_share", -0.5),
    ("local_parents", 0),
    ("local_coverage", -1.0),
    ("imitation", -1.0),
    ("entropy", -0.01),
    ("critic_weight_decay", -0.1),
]


@pytest.mark.parametrize(("field", "value"), BAD_SCREENS)
def test_screened_config_refuses_bad_values(field: str, value: float) -> None:
    from ma2ml_agents.ma2ml_screened import ScreenedConfig

    with pytest.raises(ValueError, match=field):
        ScreenedConfig(**{field: value})


def test_screened_config_refuses_an_entropy_bonus_without_the_per_token_loss() -> None:
    from ma2ml_agents.ma2ml_screened import ScreenedConfig

    with pytest.raises(ValueError, match="token_credit=True"):
        ScreenedConfig(entropy=0.01, token_credit=False)


def _one_standout(algorithm: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Eight of ``algorithm``'s draws and their rewards: the sixth (index 5) at 10, far above the others' 0."""
    rewards = np.zeros(8, dtype=np.float32)
    rewards[5] = 10.0
    return algorithm.act(8), rewards


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entropy_bonus_keeps_the_policies_wider_on_the_same_results(seed: int) -> None:
    # One pipeline far above the rest pulls both policies towards it; the bonus holds the policies' entropy higher.
    space = _tiny_space()
    entropies = []
    for entropy in (0.0, 1.0):
        algorithm = make_algorithm("ma2ml_screened", space, seed=seed, critic_hidden_size=8, entropy=entropy)
        actions, rewards = _one_standout(algorithm)
        for _ in range(5):
            stats = algorithm.update(actions, rewards)
        entropies.append(stats["policy_entropy"])
    uniform = float(np.log(3) + np.log(2) + np.log(4))
    assert 0.0 < entropies[0] < entropies[1] <= uniform + 1e-6


@pytest.mark.parametrize("name", ["ma2ml", "ma2ml_screened"])
def test_critic_weight_decay_shrinks_the_critic_fitted_on_the_same_results(name: str) -> None:
    space = _tiny_space()
    rng = np.random.default_rng(0)
    batches = [
        ({"a": rng.integers(0, [3, 2], size=(8, 2)), "b": rng.integers(0, 4, size=8)}, rng.normal(size=8))
        for _ in range(4)
    ]
    norms = {}
    for decay in (0.0, 1.0):
        algorithm = make_algorithm(name, space, seed=1, critic_hidden_size=8, critic_weight_decay=decay)
        for actions, rewards in batches:
            algorithm.update(actions, rewards)
        norms[decay] = sum(float(p.detach().norm()) for p in algorithm.critic.parameters())
    assert norms[1.0] < 0.95 * norms[0.0]


def test_screened_asks_between_updates_share_one_screen() -> None:
    space = _tiny_space()
    batch, single = (make_algorithm("ma2ml_screened", space, seed=2, critic_hidden_size=8) for _ in range(2))
    for algorithm in (batch, single):
        actions = algorithm.act(4)
        algorithm.update(actions, space.to_tensor(actions).sum(dim=1).numpy().astype(np.float32))
    at_once = space.to_tensor(batch.act(5))
    one_by_one = torch.cat([space.to_tensor(single.act(1)) for _ in range(5)])
    assert torch.equal(at_once, one_by_one)  # an asynchronous search's asks = one batch of their total size


def _log_prob(algorithm: object, row: torch.Tensor) -> float:
    with torch.no_grad():
        parts = zip(algorithm.groups, algorithm.policies, strict=True)  # type: ignore[attr-defined]
        return float(sum(policy.log_prob(row[None, group]).sum() for group, policy in parts))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_self_imitation_pulls_the_policies_towards_an_evaluated_pipeline_that_beat_them(seed: int) -> None:
    # One evaluated pipeline far above the rest: the critic has seen it once, the self-imitation term also makes the
    # policies draw it more often; without the term (imitation 0) the policies learn from the critic's scores only.
    space = _tiny_space()
    gains = []
    for imitation in (0.0, 1.0):
        algorithm = make_algorithm("ma2ml_screened", space, seed=seed, critic_hidden_size=8, imitation=imitation)
        actions, rewards = _one_standout(algorithm)
        tokens = space.to_tensor(actions)
        before = _log_prob(algorithm, tokens[5])
        for _ in range(3):  # the same results told three times (nine policy steps)
            stats = algorithm.update(actions, rewards)
        gains.append(_log_prob(algorithm, tokens[5]) - before)
        assert ("imitation_share" in stats) == (imitation > 0)
    assert gains[1] > gains[0] + 0.1


@pytest.mark.parametrize(
    ("adaptive", "pairs", "noise", "pool"),
    [
        (False, 192, 0.0, 16),  # off: always proposal_pool
        (True, 95, 0.0, 16),  # too few scored evaluations to judge the critic
        (True, 192, 0.0, 16),  # rho 1: the critic ranks well, the screen stays greedy
        (True, 192, 100.0, 1),  # rho near 0: the policies' own draws, unscreened
    ],
)
def test_adaptive_pool_follows_the_critics_measured_skill(adaptive: bool, pairs: int, noise: float, pool: int) -> None:
    algorithm = make_algorithm("ma2ml_screened", _tiny_space(), seed=0, critic_hidden_size=8, adaptive_pool=adaptive)
    scores = torch.arange(pairs, dtype=torch.float32)
    rewards = scores + noise * pairs * torch.randn(pairs, generator=torch.Generator().manual_seed(0))
    algorithm.skill_pairs = torch.stack([scores, rewards], dim=1)
    assert algorithm.pool_size() == pool


@pytest.mark.parametrize(
    ("adaptive", "pairs", "noise", "temperature"),
    [
        (False, 192, 100.0, 1.0),  # off: the policies' draws as they are
        (True, 95, 100.0, 1.0),  # too few scored evaluations to judge the critic: the screen is greedy instead
        (True, 192, 0.0, 1.0),  # rho 1: the critic ranks, the policies need not be greedy too
        (True, 192, 100.0, 0.5),  # rho near 0: proposal_temperature
    ],
)
def test_proposal_temperature_follows_the_critics_measured_skill(
    adaptive: bool, pairs: int, noise: float, temperature: float
) -> None:
    algorithm = make_algorithm(
        "ma2ml_screened", _tiny_space(), seed=0, critic_hidden_size=8, adaptive_pool=adaptive, proposal_temperature=0.5
    )
    scores = torch.arange(pairs, dtype=torch.float32)
    rewards = scores + noise * pairs * torch.randn(pairs, generator=torch.Generator().manual_seed(0))
    algorithm.skill_pairs = torch.stack([scores, rewards], dim=1)
    assert algorithm.proposal_temperature() == temperature
    middle = (algorithm.SKILL_LOW + algorithm.SKILL_HIGH) / 2
    algorithm.critic_skill = lambda: middle  # type: ignore[method-assign]
    assert math.isclose(algorithm.proposal_temperature(), 0.5**0.5 if adaptive else 1.0)


def test_proposals_are_drawn_nearer_the_policies_mode_where_the_critic_cannot_rank() -> None:
    from gymnasium import spaces

    space = JointActionSpace.from_spaces({"a": spaces.MultiDiscrete([6] * 4), "b": spaces.MultiDiscrete([6] * 4)})
    shares = []
    for temperature in (1.0, 0.5):
        algorithm = make_algorithm(
            "ma2ml_screened", space, seed=0, critic_hidden_size=8, proposal_temperature=temperature
        )
        with torch.no_grad():
            for policy in algorithm.policies:
                policy.head_bias[:, 0] += 1.0  # every policy prefers value 0 at every position
        algorithm.critic_skill = lambda: 0.0  # type: ignore[method-assign]
        tokens = space.to_tensor(algorithm.act(200))
        shares.append(float((tokens == 0).double().mean()))
    # softmax([1, 0, 0, 0, 0, 0]) gives value 0 a share of 0.35; at T = 0.5, softmax([2, 0, ...]) 0.60
    assert shares[0] < 0.45 and shares[1] > 0.5


def test_adaptive_pool_measures_only_the_newest_evaluations() -> None:
    space = _tiny_space()
    algorithm = make_algorithm("ma2ml_screened", space, seed=0, critic_hidden_size=8, adaptive_pool=True)
    actions = algorithm.act(6)
    algorithm.update(actions, np.arange(6, dtype=np.float32))
    window = algorithm.SKILL_WINDOW
    older = torch.arange(-window, 0, dtype=torch.float32)  # a full window of earlier rewards, oldest first
    algorithm.skill_pairs = torch.stack([older, older], dim=1)
    actions = algorithm.act(6)
    algorithm.update(actions, np.arange(6, 12, dtype=np.float32))
    assert algorithm.skill_pairs.shape == (window, 2)  # the six oldest dropped, the six new ones kept
    assert algorithm.skill_pairs[:, 1].tolist() == [*range(6 - window, 0), *range(6, 12)]


def test_adaptive_pool_interpolates_geometrically_between_the_two_skills() -> None:
    algorithm = make_algorithm("ma2ml_screened", _tiny_space(), seed=0, critic_hidden_size=8, adaptive_pool=True)
    middle = (algorithm.SKILL_LOW + algorithm.SKILL_HIGH) / 2
    algorithm.critic_skill = lambda: middle  # type: ignore[method-assign]
    assert algorithm.pool_size() == round(16**0.5) == 4


def test_adaptive_pool_scores_each_batch_before_the_critic_learns_from_it() -> None:
    space = _tiny_space()
    algorithm = make_algorithm("ma2ml_screened", space, seed=0, critic_hidden_size=8, adaptive_pool=True)
    actions = algorithm.act(6)
    algorithm.update(actions, np.arange(6, dtype=np.float32))
    assert algorithm.skill_pairs.shape == (0, 2)  # the first batch meets a critic that has learnt nothing
    actions = algorithm.act(6)
    tokens, rewards = space.to_tensor(actions), np.arange(6, 12, dtype=np.float32)
    with torch.no_grad():
        before = algorithm.critic(tokens)
    algorithm.update(actions, rewards)
    assert torch.equal(algorithm.skill_pairs[:, 0], before) and algorithm.skill_pairs[:, 1].tolist() == rewards.tolist()


def test_adaptive_pool_draws_wider_where_the_critic_cannot_rank() -> None:
    from gymnasium import spaces

    space = JointActionSpace.from_spaces({"a": spaces.MultiDiscrete([6] * 4), "b": spaces.MultiDiscrete([6] * 4)})
    algorithm = make_algorithm("ma2ml_screened", space, seed=0, critic_hidden_size=16, adaptive_pool=True)
    for _ in range(5):  # 120 evaluations, the last 96 scored by a fitted critic: enough to judge it
        actions = algorithm.act(24)
        rewards = [np.random.default_rng([int(v) for v in row]).random() for row in space.to_tensor(actions)]
        stats = algorithm.update(actions, np.array(rewards, dtype=np.float32))  # a hash: nothing to learn
    assert abs(stats["critic_skill"]) < algorithm.SKILL_LOW
    assert algorithm.pool_size() == stats["pool"] == algorithm.MIN_POOL


def test_screened_state_round_trip_keeps_the_critics_measured_skill() -> None:
    space = _tiny_space()
    algorithm = make_algorithm("ma2ml_screened", space, seed=1, critic_hidden_size=8, adaptive_pool=True)
    for _ in range(3):
        actions = algorithm.act(4)
        algorithm.update(actions, space.to_tensor(actions).sum(dim=1).numpy().astype(np.float32))
    assert algorithm.skill_pairs.shape == (8, 2)  # the first batch is scored by no fitted critic
    copy = make_algorithm("ma2ml_screened", space, seed=1, critic_hidden_size=8, adaptive_pool=True)
    copy.load_state_dict(algorithm.state_dict())
    assert torch.equal(copy.skill_pairs, algorithm.skill_pairs)
