"""The AutoML env as a BenchMARL task, on the TorchRL-native batched env (no PettingZoo wrapper).

    from automl_env.benchmarl_task import AutoMLTask    # needs BenchMARL: pip install "automl-env[interop]"
    task = AutoMLTask(name="automl_cifar100", config={"task": "cifar100", "backend": "synthetic-rugged"})
    Experiment(task=task, algorithm_config=MappoConfig.get_from_yaml(), model_config=MlpConfig.get_from_yaml(), ...)

One episode is one pipeline (pipeline mode: one step). The env is ``TorchRLAutoMLEnv(layout="tokens")``: one
group ``"tokens"`` with one entry per token of the pipeline, each acting in one masked categorical (the
position's choices, padded to the task's most choices C), observing its one-hot id, all sharing the pipeline's
reward; ``state`` (the joint tokens) feeds centralised critics and mixers. Why that layout and not one entry
per module with a (W,) action: BenchMARL builds a policy's logits as ``(*action shape, C)`` but its stock MLP
emits one logit vector per entry, and its losses take one log-probability or chosen Q-value per entry; with one
token per entry every BenchMARL algorithm for discrete actions (MAPPO, IPPO, IQL, VDN, QMIX...) and every
stock model acts unchanged.

``config`` is ``{"task": <task name>, **env options}`` (``automl_env.env_options.EnvOptions``: ``backend``,
``backend_options``, ``seed``...). BenchMARL's ``seed`` argument is not passed on: nothing in the env is random
(its evaluation seed is the ``seed`` option). ``num_envs`` (BenchMARL's ``n_envs_per_worker``) is the env's batch
size: the pipelines evaluated per step, on the vector env's token fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from benchmarl.environments.common import TaskClass
    from torchrl.data import Composite
    from torchrl.envs import EnvBase
except ImportError as error:  # this module is only imported by whoever asks for the BenchMARL task
    raise ImportError(f'the BenchMARL task needs BenchMARL: pip install "automl-env[interop]" ({error})') from None

from automl_env.torchrl_env import TorchRLAutoMLEnv


class AutoMLTask(TaskClass):
    """Pipeline mode on the native env, one group entry per token (the module docstring)."""

    def __init__(self, *, name: str, config: dict[str, Any]) -> None:
        if not isinstance(config, dict) or not isinstance(config.get("task"), str):
            raise ValueError(
                f"AutoMLTask: config must be a dict with the task's name under 'task' (and env options), got {config!r}"
            )
        super().__init__(name=name, config=config)

    def make_env(self, num_envs: int, device: Any) -> TorchRLAutoMLEnv:
        """The native env of this task with ``num_envs`` pipelines per step."""
        options = {key: value for key, value in self.config.items() if key != "task"}
        return TorchRLAutoMLEnv(self.config["task"], num_envs=num_envs, layout="tokens", device=device, **options)

    def get_env_fun(
        self, num_envs: int, continuous_actions: bool, seed: int | None, device: Any
    ) -> Callable[[], EnvBase]:
        return lambda: self.make_env(num_envs, device)

    def supports_continuous_actions(self) -> bool:
        return False

    def supports_discrete_actions(self) -> bool:
        return True

    def has_render(self, env: EnvBase) -> bool:
        return False

    def max_steps(self, env: EnvBase) -> int:
        return 1

    def group_map(self, env: EnvBase) -> dict[str, list[str]]:
        return dict(env.group_map)

    def _group_keys(self, env: EnvBase, keep: str) -> Composite:
        spec = env.full_observation_spec_unbatched.clone()
        del spec["state"]
        for group in self.group_map(env):
            for key in list(spec[group].keys()):
                if key != keep:
                    del spec[group, key]
        return spec

    def observation_spec(self, env: EnvBase) -> Composite:
        return self._group_keys(env, "observation")

    def action_mask_spec(self, env: EnvBase) -> Composite:
        return self._group_keys(env, "action_mask")

    def state_spec(self, env: EnvBase) -> Composite:
        return Composite({"state": env.full_observation_spec_unbatched["state"].clone()})

    def info_spec(self, env: EnvBase) -> None:
        return None

    def action_spec(self, env: EnvBase) -> Composite:
        return env.full_action_spec_unbatched

    @staticmethod
    def env_name() -> str:
        return "automl"
