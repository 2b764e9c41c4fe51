"""automl-env: a PettingZoo environment in which every AutoML module is an agent.

    import automl_env
    env = automl_env.parallel_env("cifar100")          # PettingZoo ParallelEnv
    obs, infos = env.reset(seed=0)
    actions = {a: env.action_space(a).sample() for a in env.agents}
    obs, rewards, terms, truncs, infos = env.step(actions)

Importing this package is cheap: no torch; backends are imported when first made.
"""

from __future__ import annotations

from typing import Any

from pettingzoo import AECEnv
from pettingzoo.utils.conversions import parallel_to_aec

from automl_env.backends.base import EvalResult, Evaluator, Fidelity, Optimum
from automl_env.env import AutoMLEnv
from automl_env.joint import JointAutoMLEnv
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec, get_task, list_tasks, register_task
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
    "joint_env",
    "list_tasks",
    "parallel_env",
    "register_task",
    "vector_env",
]
