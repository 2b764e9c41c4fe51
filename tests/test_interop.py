"""Smoke tests: other MARL libraries run on the environment (the examples/interop_*.py scripts, tiny budgets).

Each is skipped, with the reason, where its library is not installed (``pip install "automl-env[interop]"``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.interop


@pytest.fixture(autouse=True)
def _examples_on_path() -> Iterator[None]:
    sys.path.insert(0, str(EXAMPLES))
    yield
    sys.path.remove(str(EXAMPLES))


def test_tianshou_independent_dqn_trains_on_token_mode() -> None:
    pytest.importorskip("tianshou", reason='Tianshou is not installed: pip install "automl-env[interop]"')
    import interop_tianshou

    # Two agents (hpo: 20 tokens, aug: 30) keep an episode at 60 moves and the test quick.
    config = interop_tianshou.TianshouConfig(modules=("aug", "hpo"), steps=120, eval_episodes=1)
    results = interop_tianshou.train(config)
    assert results["steps"] >= 120
    for key in ("before", "after", "greedy_before", "greedy_after"):
        assert 0.0 < results[key] < 1.0, (key, results)


def test_torchrl_wrapper_passes_check_env_specs_and_rolls_out_both_modes() -> None:
    pytest.importorskip("torchrl", reason='TorchRL is not installed: pip install "automl-env[interop]"')
    import interop_torchrl

    summary = interop_torchrl.run()
    assert summary["pipeline"]["episodes"] == summary["pipeline"]["steps"] == 5  # one step per episode
    assert summary["token"]["episodes"] == 2  # 120 steps of 50-step episodes
    assert summary["token"]["masked_remaps"] == 0  # the masked policy only plays valid tokens
    assert all(0.0 < s["mean_reward"] < 1.0 for s in summary.values())


def test_supersuit_vectorises_token_mode() -> None:
    pytest.importorskip("supersuit", reason='SuperSuit is not installed: pip install "automl-env[interop]"')
    import interop_supersuit

    stats = interop_supersuit.run(envs=2, steps=60)
    assert stats["entries"] == 2 * 3  # envs x agents
    assert stats["finished_agent_episodes"] == 2 * 3  # one 50-step episode per entry in 60 steps
    assert stats["masked_remaps"] == 0 and 0.0 < stats["mean_reward"] < 1.0


def test_benchmarl_task_wraps_token_mode_and_trains() -> None:
    pytest.importorskip("benchmarl", reason="BenchMARL is not installed: pip install benchmarl (pins torchrl<0.12)")
    import interop_benchmarl

    stats = interop_benchmarl.train(frames=150)
    assert stats["frames"] >= 150 and stats["iterations"] >= 1
