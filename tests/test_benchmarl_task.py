"""BenchMARL on the TorchRL-native env (``automl_env.benchmarl_task``): the task's specs, BenchMARL experiments of a
few frames run to completion, and the trained policies act inside the masks (no masked choice remapped).

Pipeline mode in BenchMARL is this path: the native env's tokens are padded pipeline mode's
(``tests/test_torchrl_env.py`` checks its rewards against the vector env's), without the PettingZoo wrapper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.interop
pytest.importorskip("benchmarl", reason='BenchMARL is not installed: pip install "automl-env[interop]"')

TASK = "nb201-cifar100-nodes"
"""For the specs: 3 modules of 1, 2 and 3 tokens, all of 5 choices."""
RUN_TASK = "cifar100"
"""For the experiments: 100 tokens of 2 to 15 choices, so a policy that ignored the masks would remap tokens."""
FAST = ("mappo",)
"""MAPPO in the default suite; the other algorithms are slow."""


def _task(task: str = TASK, backend: str = "table") -> Any:
    from automl_env.benchmarl_task import AutoMLTask

    return AutoMLTask(name=f"automl_{task}", config={"task": task, "backend": backend, "seed": 0})


def _experiment(algorithm: str, folder: Path, *, envs: int, iterations: int) -> Any:
    from benchmarl.algorithms import IppoConfig, IqlConfig, MappoConfig, QmixConfig, VdnConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    configs = {"mappo": MappoConfig, "ippo": IppoConfig, "iql": IqlConfig, "vdn": VdnConfig, "qmix": QmixConfig}
    config = ExperimentConfig.get_from_yaml()
    settings = {
        "max_n_frames": envs * iterations,
        "evaluation": False,
        "render": False,
        "loggers": [],
        "create_json": False,
        "checkpoint_interval": 0,
        "checkpoint_at_end": False,
        "save_folder": str(folder),
        **dict.fromkeys(("on_policy_collected_frames_per_batch", "off_policy_collected_frames_per_batch"), envs),
        **dict.fromkeys(("on_policy_n_envs_per_worker", "off_policy_n_envs_per_worker"), envs),
        "on_policy_minibatch_size": envs,
        "on_policy_n_minibatch_iters": 2,
        "off_policy_n_optimizer_steps": 2,
        "off_policy_train_batch_size": envs,
        "off_policy_memory_size": envs * iterations,
    }
    for field, value in settings.items():
        setattr(config, field, value)
    return Experiment(
        task=_task(RUN_TASK, "synthetic"),
        algorithm_config=configs[algorithm].get_from_yaml(),
        model_config=MlpConfig.get_from_yaml(),
        critic_model_config=MlpConfig.get_from_yaml(),
        seed=0,
        config=config,
    )


def test_the_task_gives_benchmarl_one_categorical_per_token() -> None:
    task = _task()
    env = task.get_env_fun(num_envs=4, continuous_actions=False, seed=0, device="cpu")()
    assert env.batch_size == (4,) and task.group_map(env) == {
        "tokens": ["node1_0", "node2_0", "node2_1", "node3_0", "node3_1", "node3_2"]
    }
    assert list(task.observation_spec(env)["tokens"].keys()) == ["observation"]
    assert task.observation_spec(env)["tokens", "observation"].shape == (6, 6)
    assert task.action_mask_spec(env)["tokens", "action_mask"].shape == (6, 5)
    assert task.action_spec(env)["tokens", "action"].shape == (6,)
    assert task.state_spec(env)["state"].shape == (env.vector.codec.state_size,)
    assert task.max_steps(env) == 1 and not task.supports_continuous_actions() and task.supports_discrete_actions()


def test_a_config_without_a_task_name_is_refused() -> None:
    from automl_env.benchmarl_task import AutoMLTask

    with pytest.raises(ValueError, match="the task's name under 'task'"):
        AutoMLTask(name="automl", config={"backend": "table"})


@pytest.mark.parametrize(
    "algorithm",
    [a if a in FAST else pytest.param(a, marks=pytest.mark.slow) for a in ("mappo", "ippo", "iql", "vdn", "qmix")],
)
def test_an_experiment_runs_to_completion_and_its_policy_keeps_to_the_masks(algorithm: str, tmp_path: Path) -> None:
    from torchrl.envs.utils import ExplorationType, set_exploration_type

    experiment = _experiment(algorithm, tmp_path, envs=8, iterations=3)
    experiment.run()
    assert (experiment.total_frames, experiment.n_iters_performed) == (24, 3)
    with set_exploration_type(ExplorationType.RANDOM):
        rollout = experiment.test_env.rollout(2, policy=experiment.policy, break_when_any_done=False)
    assert rollout["tokens", "action_mask"].sum(-1).lt(15).any()  # some tokens have fewer choices than others
    assert rollout["next", "tokens", "masked_remaps"].eq(0).all()  # every sampled token was one of its choices
    reward = rollout["next", "tokens", "reward"]
    assert ((reward > 0) & (reward < 1)).all() and (reward == reward[..., :1, :]).all()
