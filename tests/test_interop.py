"""Smoke tests: other MARL libraries run on the environment (the examples/interop_*.py scripts, tiny budgets).

Each is skipped, with the reason, where its library is not installed (``pip install "automl-env[interop]"``).
The infos tests say what the libraries' wrappers need of the plain env: numbers only, unless asked for more.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
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


def _numbers_only(info: dict) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in info.values())


@pytest.mark.parametrize("mode", ["pipeline", "token"])
def test_default_infos_of_the_parallel_and_aec_envs_are_numbers(mode: str) -> None:
    """What TorchRL and BenchMARL turn into specs: numbers only, the same keys and types at reset and step."""
    import automl_env
    from automl_env import Pipeline

    env = automl_env.parallel_env("cifar10", backend="synthetic", action_mode=mode)
    _, reset_infos = env.reset(seed=0)
    for _ in range(env.horizon if mode == "token" else 1):
        _, rewards, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
    for agent in env.possible_agents:
        assert _numbers_only(reset_infos[agent]) and _numbers_only(infos[agent])
        assert {k: type(v) for k, v in reset_infos[agent].items()} == {k: type(v) for k, v in infos[agent].items()}
        assert (reset_infos[agent]["status_code"], infos[agent]["status_code"]) == (-1, 1)
        assert infos[agent]["reward"] == rewards[agent]
    full = env.last_info  # the pipeline stays reachable
    assert full["status"] == "ok" and Pipeline.from_json(full["pipeline"]).digest == full["digest"]
    aec = automl_env.env("cifar10", backend="synthetic", action_mode=mode)
    aec.reset(seed=0)
    assert all(_numbers_only(aec.infos[a]) for a in aec.possible_agents)


def test_infos_full_or_numeric_in_every_flavour() -> None:
    import automl_env
    from automl_env import Pipeline

    full_keys = {"status", "reason", "backend", "pipeline", "digest"}
    parallel = automl_env.parallel_env("cifar10", backend="synthetic", infos="full")
    parallel.reset(seed=0)
    _, _, _, _, infos = parallel.step({a: parallel.action_space(a).sample() for a in parallel.agents})
    assert full_keys <= set(infos["nas"]) and infos["nas"]["pipeline"] == parallel.last_info["pipeline"]
    for infos_mode, expect_full in (("full", True), ("numeric", False)):
        vector = automl_env.vector_env("cifar10", num_envs=2, backend="synthetic", infos=infos_mode)
        vector.reset(seed=0)
        batch = {a: np.stack([vector.action_space(a).sample() for _ in range(2)]) for a in vector.agents}
        _, _, _, _, vector_infos = vector.step(batch)
        assert all((full_keys <= set(i)) == expect_full for i in vector_infos["nas"])
        assert [Pipeline.from_json(i["pipeline"]) for i in vector.last_infos] == vector.last_pipelines
        joint = automl_env.joint_env("cifar10", backend="synthetic", infos=infos_mode)
        joint.reset(seed=0)
        _, reward, _, _, info = joint.step(joint.action_space.sample())
        assert (full_keys <= set(info)) == expect_full and info["reward"] == reward
        assert Pipeline.from_json(joint.last_info["pipeline"]).digest == joint.last_info["digest"]
    defaults = (
        automl_env.vector_env("cifar10", num_envs=1, backend="synthetic"),
        automl_env.joint_env("cifar10", backend="synthetic"),
    )
    assert [e.infos for e in defaults] == ["full", "full"]  # searches record the pipeline from the vector env's infos
    with pytest.raises(ValueError, match=r"infos must be one of \('numeric', 'full'\), got 'strings'"):
        automl_env.parallel_env("cifar10", backend="synthetic", infos="strings")


@pytest.mark.parametrize("mode", ["pipeline", "token"])
def test_torchrl_wraps_the_plain_env(mode: str) -> None:
    """No NumericInfos: TorchRL's PettingZooWrapper and check_env_specs take ``parallel_env`` as it is."""
    pytest.importorskip("torchrl", reason='TorchRL is not installed: pip install "automl-env[interop]"')
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper
    from torchrl.envs.utils import check_env_specs

    import automl_env

    env = automl_env.parallel_env("cifar100", backend="synthetic", action_mode=mode)
    token = mode == "token"
    group_map = {"modules": list(env.possible_agents)} if token else None
    wrapped = PettingZooWrapper(
        env=env, return_state=True, group_map=group_map, use_mask=token, categorical_actions=True
    )
    check_env_specs(wrapped, seed=0)
    rollout = wrapped.rollout(env.horizon if token else 1, break_when_any_done=False)  # one episode
    for group in wrapped.group_map:
        info = rollout["next", group, "info"]
        assert set(info.keys()) >= {"reward", "accuracy", "flops", "status_code", "masked_remaps"}
        assert bool((info["status_code"][-1] == 1).all())
        assert bool((info["reward"][-1] == rollout["next", group, "reward"][-1].squeeze(-1)).all())
    assert env.last_info["status"] == "ok" and env.last_info["pipeline"]
