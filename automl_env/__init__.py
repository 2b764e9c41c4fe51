"""automl-env: a PettingZoo environment in which every AutoML module is an agent.

    import automl_env
    env = automl_env.parallel_env("cifar100")          # PettingZoo ParallelEnv
    obs, infos = env.reset(seed=0)
    actions = {a: env.action_space(a).sample() for a in env.agents}
    obs, rewards, terms, truncs, infos = env.step(actions)

The joint single-agent env of every task is registered with Gymnasium as ``automl/<task>-v<version>``
(``gymnasium.make("automl/cifar100-v0", backend="synthetic")``), by a string entry point.

Importing this package is cheap: no torch; backends are imported when first made.
"""

from __future__ import annotations

from typing import Any

import gymnasium
from gymnasium.envs.registration import parse_env_id
from pettingzoo import AECEnv
from pettingzoo.utils.conversions import parallel_to_aec

from automl_env import tasks
from automl_env.backends.base import EvalResult, Evaluator, Fidelity, Optimum
from automl_env.env import AutoMLEnv
from automl_env.joint import JointAutoMLEnv
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task, list_tasks
from automl_env.vector import AutoMLVectorEnv

__version__ = "0.1.0"


def parallel_env(task: str | TaskSpec = "cifar100", **kwargs: Any) -> AutoMLEnv:
    """The PettingZoo ParallelEnv; keyword arguments are those of ``AutoMLEnv``."""
    return AutoMLEnv(task, **kwargs)


def env(task: str | TaskSpec = "cifar100", **kwargs: Any) -> AECEnv:
    """The AEC version (agents act in turn), for clients that only take AEC envs (Tianshou)."""
    return parallel_to_aec(AutoMLEnv(task, **kwargs))


def vector_env(task: str | TaskSpec = "cifar100", *, num_envs: int = 24, **kwargs: Any) -> AutoMLVectorEnv:
    """``num_envs`` pipeline-mode episodes per step, evaluated as one batch."""
    return AutoMLVectorEnv(task, num_envs=num_envs, **kwargs)


def joint_env(task: str | TaskSpec = "cifar100", **kwargs: Any) -> JointAutoMLEnv:
    """Gymnasium env in which one agent chooses every module (the single-agent baseline's view)."""
    return JointAutoMLEnv(task, **kwargs)


GYMNASIUM_NAMESPACE = "automl"


def gymnasium_id(task: str | TaskSpec) -> str:
    """The Gymnasium id of a task's joint env: ``automl/<task>-v<version>`` (the version goes up with results)."""
    spec = get_task(task)
    return f"{GYMNASIUM_NAMESPACE}/{spec.name}-v{spec.version}"


def _register_with_gymnasium(spec: TaskSpec) -> None:
    # A string entry point: registering imports nothing and builds nothing.
    env_id = gymnasium_id(spec)
    gymnasium.registry.pop(env_id, None)  # a task re-registered with overwrite=True replaces its env quietly
    gymnasium.register(id=env_id, entry_point="automl_env.joint:JointAutoMLEnv", kwargs={"task": spec.name})


def register_task(spec: TaskSpec, *, overwrite: bool = False) -> TaskSpec:
    """Add a task to the registry (``overwrite=True`` to replace one of the same name) and its joint env to
    Gymnasium's, as ``gymnasium_id(spec)``."""
    parse_env_id(gymnasium_id(spec))  # a name Gymnasium refuses fails here, before either registry changes
    tasks.register_task(spec, overwrite=overwrite)
    _register_with_gymnasium(spec)
    return spec


for _name in list_tasks():  # the built-in tasks, which automl_env.tasks registered when it was imported
    _register_with_gymnasium(get_task(_name))
del _name


__all__ = [
    "AutoMLEnv",
    "AutoMLVectorEnv",
    "EvalResult",
    "Evaluator",
    "Fidelity",
    "JointAutoMLEnv",
    "Optimum",
    "Pipeline",
    "TaskSpec",
    "__version__",
    "env",
    "get_task",
    "gymnasium_id",
    "joint_env",
    "list_tasks",
    "parallel_env",
    "register_task",
    "vector_env",
]
