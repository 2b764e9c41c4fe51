"""The BenchMARL tasks of the AutoML env (token mode through the PettingZoo wrapper, pipeline mode on the native
env), with their episodes recorded (imports BenchMARL: load lazily).

A module of its own because BenchMARL pickles the task into its experiment folder: the class must be importable
by name, and the recorder (an open run folder) stays out of the pickle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarl.environments.pettingzoo.common import PettingZooClass
from torchrl.envs.libs.pettingzoo import PettingZooWrapper

import automl_env
from automl_env.benchmarl_task import AutoMLTask
from automl_env.torchrl_env import TorchRLAutoMLEnv
from baselines.marl.recorder import EvaluationRecorder, RecordedEnv


class AutoMLTokenTask(PettingZooClass):
    """One group ``modules`` of every agent (same Discrete space and mask: a shared policy), a global state.

    ``config`` holds the env's ``task``, ``backend``, ``backend_options`` and evaluation ``seed``; every env it
    builds reports its finished episodes to ``recorder``.
    """

    def __init__(self, *, name: str, config: dict[str, Any], recorder: EvaluationRecorder) -> None:
        super().__init__(name=name, config=config)
        self.recorder = recorder

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "recorder"}

    def make_env(self) -> Any:
        """The token-mode parallel env of the config, recorded."""
        config = self.config
        env = automl_env.parallel_env(
            config["task"],
            backend=config["backend"],
            backend_options=config["backend_options"],
            action_mode="token",
            seed=config["seed"],
        )
        return RecordedEnv(env, self.recorder)

    def get_env_fun(self, num_envs: int, continuous_actions: bool, seed: int | None, device: Any) -> Callable[[], Any]:
        def make() -> Any:
            env = self.make_env()
            group_map = {"modules": list(env.possible_agents)}
            wrapped = PettingZooWrapper(
                env=env, return_state=True, group_map=group_map, use_mask=True, categorical_actions=True
            )
            return wrapped.to(device)

        return make

    def supports_continuous_actions(self) -> bool:
        return False

    def supports_discrete_actions(self) -> bool:
        return True

    def has_state(self) -> bool:
        return True

    def has_render(self, env: Any) -> bool:
        return False

    def max_steps(self, env: Any) -> int:
        return self.recorder.horizon

    @staticmethod
    def env_name() -> str:
        return "automl"


class RecordedTorchRLEnv(TorchRLAutoMLEnv):
    """The native env with the full info of each of its N evaluations per step handed to ``recorder``."""

    def __init__(self, task: str, *, recorder: EvaluationRecorder, **kwargs: Any) -> None:
        super().__init__(task, **kwargs)
        self.recorder = recorder

    def _step(self, tensordict: Any) -> Any:
        out = super()._step(tensordict)
        for info in self.vector.last_infos:  # decoded here, for the run folder: the step itself needs none
            self.recorder.add(info)
        return out


class AutoMLPipelineTask(AutoMLTask):
    """Pipeline mode on the native env (``automl_env.benchmarl_task.AutoMLTask``), every evaluation recorded.

    ``config`` holds the env's ``task``, ``backend``, ``backend_options`` and evaluation ``seed``.
    """

    def __init__(self, *, name: str, config: dict[str, Any], recorder: EvaluationRecorder) -> None:
        super().__init__(name=name, config=config)
        self.recorder = recorder

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "recorder"}

    def make_env(self, num_envs: int, device: Any) -> TorchRLAutoMLEnv:
        options = {key: value for key, value in self.config.items() if key != "task"}
        return RecordedTorchRLEnv(
            self.config["task"], recorder=self.recorder, num_envs=num_envs, layout="tokens", device=device, **options
        )
