"""MA2ML-Lite's recall (``recall_known``): every pipeline evaluated once, every draw still in the gradient."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ma2ml_agents import LiteConfig, make_algorithm
from ma2ml_agents.lite import MA2MLLite
from ma2ml_agents.screening import row_keys
from ma2ml_agents.spaces import JointActionSpace

SMALL = JointActionSpace.from_spaces({"a": spaces.Discrete(3), "b": spaces.Discrete(3), "c": spaces.Discrete(3)})
"""27 joint actions: repeats come within a few batches."""


def payoff(tokens: torch.Tensor) -> torch.Tensor:
    """A deterministic reward of token rows."""
    weights = torch.arange(1, tokens.shape[1] + 1, dtype=torch.float32)
    return (tokens.float() * weights).sum(dim=1) / tokens.shape[1]


def rows_of(algorithm: MA2MLLite, actions: dict[str, np.ndarray]) -> torch.Tensor:
    return algorithm.space.to_tensor(actions, device=algorithm.device)


def test_each_pipeline_is_evaluated_once_until_the_space_runs_out() -> None:
    # Near-uniform policies and rounds enough that the last new pipelines are always drawn, whatever the seed.
    lite = make_algorithm("ma2ml_lite", SMALL, seed=0, hidden_size=8, policy_lr=1e-4, recall_draws=1000)
    evaluated: list[tuple[int, ...]] = []
    for _ in range(6):  # 6 x 4 = 24 of the 27 joint actions
        rows = rows_of(lite, lite.act(4))
        evaluated += row_keys(rows)
        lite.update_tokens(rows, payoff(rows))
    assert len(set(evaluated)) == len(evaluated) == 24
    rows = rows_of(lite, lite.act(4))  # 3 new ones left: they come first, then one pipeline evaluated again
    keys = row_keys(rows)
    assert len(set(keys[:3]) | set(evaluated)) == 27 and keys[3] in set(evaluated)


def test_the_update_learns_from_every_draw_up_to_the_last_new_one() -> None:
    """Recall's update is plain REINFORCE on all the draws (evaluated and recalled) at their rewards; a twin
    without recall, fed those draws by the documented rule, ends with the same weights."""
    kwargs = {"hidden_size": 8, "policy_lr": 3e-2, "normalize_rewards": False}
    lite = make_algorithm("ma2ml_lite", SMALL, seed=1, recall_draws=1000, **kwargs)  # the twin draws until 6 are new
    twin = make_algorithm("ma2ml_lite", SMALL, seed=1, recall_known=False, **kwargs)
    known: set[tuple[int, ...]] = set()
    recalled = 0
    for _ in range(4):
        rounds: list[torch.Tensor] = []
        new: list[tuple[int, ...]] = []
        while len(new) < 6:  # the twin's generator and weights are the search's: the same rounds of draws
            batch = twin.sample_tokens(6)
            for row, key in zip(batch, row_keys(batch), strict=True):
                rounds.append(row)
                if key not in known and key not in new:
                    new.append(key)
                    if len(new) == 6:
                        break
        rows = rows_of(lite, lite.act(6))
        assert row_keys(rows) == new
        stats = lite.update_tokens(rows, payoff(rows))
        drawn = torch.stack(rounds)
        assert stats["recalled"] == drawn.shape[0] - 6
        recalled += drawn.shape[0] - 6
        twin.update_tokens(drawn, payoff(drawn))
        known |= set(new)
        for mine, theirs in zip(lite.controllers.parameters(), twin.controllers.parameters(), strict=True):
            torch.testing.assert_close(mine, theirs)
    assert recalled > 0  # the rule was exercised


def test_without_repeats_recall_changes_nothing() -> None:
    """On a space too large to repeat a draw, recall proposes and learns exactly what Lite without it does."""
    large = JointActionSpace.from_spaces({"a": spaces.MultiDiscrete([10] * 20), "b": spaces.MultiDiscrete([7] * 20)})
    runs = [make_algorithm("ma2ml_lite", large, seed=2, hidden_size=8, recall_known=flag) for flag in (True, False)]
    for _ in range(5):
        proposals = [rows_of(lite, lite.act(8)) for lite in runs]
        torch.testing.assert_close(proposals[0], proposals[1], rtol=0, atol=0)
        for lite, rows in zip(runs, proposals, strict=True):
            lite.update_tokens(rows, payoff(rows))
    for mine, theirs in zip(runs[0].controllers.parameters(), runs[1].controllers.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)


def test_a_checkpoint_taken_between_act_and_update_continues_identically(tmp_path: Path) -> None:
    original = make_algorithm("ma2ml_lite", SMALL, seed=3, hidden_size=8)
    for _ in range(3):
        rows = rows_of(original, original.act(5))
        original.update_tokens(rows, payoff(rows))
    rows = rows_of(original, original.act(5))  # recalled draws and asked rows are pending now
    torch.save(original.state_dict(), tmp_path / "state.pt")
    restored = make_algorithm("ma2ml_lite", SMALL, seed=99, hidden_size=8)
    restored.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert original.update_tokens(rows, payoff(rows)) == restored.update_tokens(rows, payoff(rows))
    assert original.update_tokens(rows, payoff(rows))["recalled"] == 0.0  # pending draws are consumed once
    restored.update_tokens(rows, payoff(rows))
    torch.testing.assert_close(rows_of(original, original.act(5)), rows_of(restored, restored.act(5)))


def test_the_papers_lite_evaluates_every_draw_and_recall_draws_must_be_positive() -> None:
    assert not LiteConfig.paper().recall_known and LiteConfig().recall_known
    with pytest.raises(ValueError, match="recall_draws must be >= 1"):
        LiteConfig(recall_draws=0)
