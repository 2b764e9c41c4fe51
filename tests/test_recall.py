"""Recall (``recall_known``, ``ma2ml_agents.recall``): every pipeline evaluated once, every draw still learnt from.

MA2ML-Lite's REINFORCE learns from every draw at its reward; MA2ML's policy step takes every draw, its critic only
the evaluated rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from gymnasium import spaces

from ma2ml_agents import LiteConfig, MA2MLConfig, make_algorithm
from ma2ml_agents.base import ControllerAlgorithm
from ma2ml_agents.ma2ml import MA2ML
from ma2ml_agents.ma2ml_screened import ScreenedConfig
from ma2ml_agents.screening import row_keys
from ma2ml_agents.spaces import JointActionSpace

SMALL = JointActionSpace.from_spaces({"a": spaces.Discrete(3), "b": spaces.Discrete(3), "c": spaces.Discrete(3)})
"""27 joint actions: repeats come within a few batches."""
RECALLING = ("ma2ml_lite", "ma2ml", "ma2ml_onpolicy")
"""The searches with recall on by default."""


def payoff(tokens: torch.Tensor) -> torch.Tensor:
    """A deterministic reward of token rows."""
    weights = torch.arange(1, tokens.shape[1] + 1, dtype=torch.float32)
    return (tokens.float() * weights).sum(dim=1) / tokens.shape[1]


def rows_of(algorithm: ControllerAlgorithm, actions: dict[str, np.ndarray]) -> torch.Tensor:
    return algorithm.space.to_tensor(actions, device=algorithm.device)


@pytest.mark.parametrize("name", RECALLING)
def test_each_pipeline_is_evaluated_once_until_the_space_runs_out(name: str) -> None:
    # Near-uniform policies and rounds enough that the last new pipelines are always drawn, whatever the seed.
    lite = make_algorithm(name, SMALL, seed=0, hidden_size=8, policy_lr=1e-4, recall_draws=1000)
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


@pytest.mark.parametrize("name", RECALLING)
def test_without_repeats_recall_changes_nothing(name: str) -> None:
    """On a space too large to repeat a draw, recall proposes and learns exactly what the search without it does."""
    large = JointActionSpace.from_spaces({"a": spaces.MultiDiscrete([10] * 20), "b": spaces.MultiDiscrete([7] * 20)})
    runs = [make_algorithm(name, large, seed=2, hidden_size=8, recall_known=flag) for flag in (True, False)]
    for _ in range(5):
        proposals = [rows_of(lite, lite.act(8)) for lite in runs]
        torch.testing.assert_close(proposals[0], proposals[1], rtol=0, atol=0)
        for lite, rows in zip(runs, proposals, strict=True):
            lite.update_tokens(rows, payoff(rows))
    for mine, theirs in zip(*(state_tensors(lite) for lite in runs), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)


def state_tensors(algorithm: ControllerAlgorithm) -> list[torch.Tensor]:
    """Every weight of every module (the controllers, and MA2ML's critic and targets)."""
    return [t for module in algorithm.modules().values() for t in module.state_dict().values()]


def recording(method: Callable[..., Any], log: list[torch.Tensor]) -> Callable[..., Any]:
    """``method``, logging the token rows it is called with (its first argument)."""

    def recorded(*args: Any) -> Any:
        log.append(args[0])
        return method(*args)

    return recorded


@pytest.mark.parametrize("name", ["ma2ml", "ma2ml_onpolicy"])
def test_ma2mls_policy_step_takes_every_draw_and_its_critic_the_evaluated_rows(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The policy gradient is an expectation under the policies: the evaluated rows alone are the novel draws, a
    biased sample; with the recalled ones they are every draw up to the n-th new one. The critic learns from what
    was evaluated (and the replay, which holds every evaluated row)."""
    algorithm = make_algorithm(name, SMALL, seed=4, hidden_size=8, recall_draws=1000, updates_per_batch=1)
    assert isinstance(algorithm, MA2ML) and algorithm.recall is not None
    policy_rows: list[torch.Tensor] = []
    critic_rows: list[torch.Tensor] = []
    monkeypatch.setattr(algorithm, "_policy_step", recording(algorithm._policy_step, policy_rows))
    monkeypatch.setattr(algorithm, "_minibatch", recording(algorithm._minibatch, critic_rows))
    recalled = 0
    for _ in range(5):
        rows = rows_of(algorithm, algorithm.act(4))
        pending = torch.stack(algorithm.recall.recalled) if algorithm.recall.recalled else rows[:0]
        stats = algorithm.update_tokens(rows, payoff(rows))
        torch.testing.assert_close(policy_rows[-1], torch.cat([rows, pending]))
        assert critic_rows and all(torch.equal(batch, rows) for batch in critic_rows)
        assert stats["recalled"] == pending.shape[0]
        recalled += pending.shape[0]
        critic_rows.clear()
    assert recalled > 0  # the rule was exercised


@pytest.mark.parametrize("name", RECALLING)
def test_a_checkpoint_taken_between_act_and_update_continues_identically(name: str, tmp_path: Path) -> None:
    original = make_algorithm(name, SMALL, seed=3, hidden_size=8)
    for _ in range(3):
        rows = rows_of(original, original.act(5))
        original.update_tokens(rows, payoff(rows))
    rows = rows_of(original, original.act(5))  # recalled draws and asked rows are pending now
    torch.save(original.state_dict(), tmp_path / "state.pt")
    restored = make_algorithm(name, SMALL, seed=99, hidden_size=8)
    restored.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert original.update_tokens(rows, payoff(rows)) == restored.update_tokens(rows, payoff(rows))
    assert original.update_tokens(rows, payoff(rows))["recalled"] == 0.0  # pending draws are consumed once
    restored.update_tokens(rows, payoff(rows))
    torch.testing.assert_close(rows_of(original, original.act(5)), rows_of(restored, restored.act(5)))


def test_the_papers_algorithms_evaluate_every_draw_and_recall_draws_must_be_positive() -> None:
    assert not LiteConfig.paper().recall_known and LiteConfig().recall_known
    assert not MA2MLConfig.paper().recall_known and MA2MLConfig().recall_known
    with pytest.raises(ValueError, match="recall_draws must be >= 1"):
        LiteConfig(recall_draws=0)
    with pytest.raises(ValueError, match="recall_draws must be > 0"):
        MA2MLConfig(recall_draws=0)


def test_screened_ma2ml_has_no_recall_its_screen_drops_known_pipelines() -> None:
    assert not ScreenedConfig().recall_known
    with pytest.raises(ValueError, match="recall_known"):
        ScreenedConfig(recall_known=True)


def test_lites_checkpoints_from_before_the_recall_component_still_load() -> None:
    """Lite's checkpoints from before recall was a component kept its state among Lite's own (``extra``)."""
    original = make_algorithm("ma2ml_lite", SMALL, seed=5, hidden_size=8)
    for _ in range(3):
        rows = rows_of(original, original.act(5))
        original.update_tokens(rows, payoff(rows))
    rows = rows_of(original, original.act(5))
    state = original.state_dict()
    state["extra"].update(state.pop("recall"))  # the layout Lite wrote then
    restored = make_algorithm("ma2ml_lite", SMALL, seed=99, hidden_size=8)
    restored.load_state_dict(state)
    assert original.update_tokens(rows, payoff(rows)) == restored.update_tokens(rows, payoff(rows))
    torch.testing.assert_close(rows_of(original, original.act(5)), rows_of(restored, restored.act(5)))
