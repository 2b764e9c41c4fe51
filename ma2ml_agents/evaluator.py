"""One interface over the environments a search can use: evaluate n joint actions, get n rewards and infos.

- A vector env (``num_envs`` attribute; ``reset(seed)`` then one ``step`` of arrays (N, T_agent)) evaluates
  the whole batch in one call, so its backend sees the N pipelines together.
- A PettingZoo ParallelEnv with one-step episodes is stepped n times: ``reset(seed=seed)`` once, then
  ``reset()`` before every further episode, so the env's randomness is a pure function of ``seed``.

Rewards are cooperative; the reward of a joint action is the mean over agents (the shared value when the
env is cooperative). Infos of the agents are merged into one dict per joint action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ma2ml_agents.spaces import JointActionSpace


class BatchEvaluator:
    """Evaluates batches of joint actions on a vector env or a one-step ParallelEnv."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.space = JointActionSpace.from_env(env)
        self.is_vector = hasattr(env, "num_envs")

    @property
    def batch_size(self) -> int | None:
        """The fixed batch size of a vector env; None for a ParallelEnv (any size)."""
        return int(self.env.num_envs) if self.is_vector else None

    def evaluate(self, actions: Mapping[str, np.ndarray], *, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Rewards (n,) float64 and one merged info dict per joint action."""
        n = len(next(iter(actions.values())))
        if self.is_vector:
            if n != self.batch_size:
                raise ValueError(f"the vector env takes batches of {self.batch_size} joint actions, got {n}")
            return self._evaluate_vector(actions, seed=seed)
        return self._evaluate_parallel(actions, n, seed=seed)

    def _evaluate_vector(self, actions: Mapping[str, np.ndarray], *, seed: int) -> tuple[np.ndarray, list[dict]]:
        self.env.reset(seed=seed)
        batch = {a: np.asarray(actions[a], dtype=np.int64) for a in self.space.agents}
        _, rewards, _, _, infos = self.env.step(batch)
        mean_reward = np.mean([np.asarray(rewards[a], dtype=np.float64) for a in self.space.agents], axis=0)
        merged = [_merge(infos[a][i] for a in self.space.agents if a in infos) for i in range(len(mean_reward))]
        return mean_reward, merged

    def _evaluate_parallel(self, actions: Mapping[str, np.ndarray], n: int, *, seed: int) -> tuple[np.ndarray, list]:
        rewards = np.zeros(n, dtype=np.float64)
        infos = []
        for i in range(n):
            self.env.reset(seed=seed if i == 0 else None)
            step_actions = {a: self._single(a, k, actions[a][i]) for k, a in enumerate(self.space.agents)}
            _, step_rewards, _, _, step_infos = self.env.step(step_actions)
            rewards[i] = np.mean([float(step_rewards[a]) for a in self.space.agents])
            infos.append(_merge(step_infos[a] for a in self.space.agents if a in step_infos))
        return rewards, infos

    def _single(self, agent: str, index: int, values: np.ndarray) -> Any:
        """One episode's action in the form the agent's space takes (int for Discrete)."""
        if self.space.discrete[index]:
            return int(np.asarray(values).reshape(-1)[0])
        return np.asarray(values, dtype=np.int64)

    def describe(self) -> dict[str, Any]:
        """Plain-type description of the env for a run's config.json."""
        env = self.env
        metadata = getattr(env, "metadata", None) or {}
        return {
            "class": f"{type(env).__module__}.{type(env).__qualname__}",
            "name": str(metadata.get("name", "")),
            "vector": self.is_vector,
            "num_envs": self.batch_size,
            "agents": list(self.space.agents),
            "action_spaces": self.space.describe(),
            "repr": repr(env)[:500],
        }


def _merge(dicts: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for info in dicts:
        merged.update(info)
    return merged
