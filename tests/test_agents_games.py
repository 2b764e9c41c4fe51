"""Tiny one-step PettingZoo games the agent tests run on (and checks that they follow the API).

- ``MatrixGame``: Discrete agents, shared payoff from a table (the climbing game by default).
- ``TokenGame``: MultiDiscrete agents whose reward sums per-token scores plus a cross-agent term, with an
  optional noise drawn from the env's seeded generator; infos carry a "pipeline" JSON and scalar fields.
- ``TokenVectorGame``: N ``TokenGame`` episodes per step, in the vector-env API the search loop takes.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.test import parallel_api_test

# Claus & Boutilier (1998): optimum 11 at (0, 0) next to -30 penalties; the safe region 5/6/7 attracts
# independent learners.
CLIMBING = np.array([[11.0, -30.0, 0.0], [-30.0, 7.0, 6.0], [0.0, 0.0, 5.0]])


class MatrixGame(ParallelEnv):
    """Cooperative one-shot matrix game; every agent gets ``payoff[a_0, a_1, ...]``."""

    metadata: ClassVar[dict] = {"name": "matrix_game_v0", "render_modes": []}

    def __init__(self, payoff: np.ndarray = CLIMBING) -> None:
        self.payoff = np.asarray(payoff, dtype=np.float64)
        self.possible_agents = [f"agent_{i}" for i in range(self.payoff.ndim)]
        self.agents: list[str] = []
        self._action_spaces = {
            a: spaces.Discrete(n) for a, n in zip(self.possible_agents, self.payoff.shape, strict=True)
        }
        self._observation_spaces = {a: spaces.Box(0.0, 1.0, (1,), np.float32) for a in self.possible_agents}

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[agent]

    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_spaces[agent]

    def _obs(self) -> dict[str, np.ndarray]:
        return {a: np.zeros(1, np.float32) for a in self.possible_agents}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.agents = list(self.possible_agents)
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        reward = float(self.payoff[tuple(int(actions[a]) for a in self.possible_agents)])
        self.agents = []
        names = self.possible_agents
        return (
            self._obs(),
            {a: reward for a in names},
            {a: True for a in names},
            {a: False for a in names},
            {a: {"payoff": reward} for a in names},
        )


class TokenGame(ParallelEnv):
    """MultiDiscrete agents; reward = per-token scores + a bonus when agent tokens agree + seeded noise."""

    metadata: ClassVar[dict] = {"name": "token_game_v0", "render_modes": []}
    NVECS: ClassVar[dict[str, tuple[int, ...]]] = {"alpha": (3, 4, 2), "beta": (5, 2)}

    def __init__(self, noise: float = 0.1) -> None:
        self.noise = noise
        self.possible_agents = list(self.NVECS)
        self.agents: list[str] = []
        self._action_spaces = {a: spaces.MultiDiscrete(n) for a, n in self.NVECS.items()}
        self._observation_spaces = {a: spaces.Box(0.0, 1.0, (1,), np.float32) for a in self.possible_agents}
        self._rng = np.random.default_rng(0)
        score_rng = np.random.default_rng(1234)  # fixed scores: part of the game's definition
        self.scores = {a: [score_rng.normal(size=n) for n in nvec] for a, nvec in self.NVECS.items()}

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[agent]

    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        return {a: np.zeros(1, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def reward(self, actions: dict[str, np.ndarray]) -> float:
        """Noise-free reward of a joint action."""
        total = sum(float(self.scores[a][t][int(v)]) for a in self.NVECS for t, v in enumerate(actions[a]))
        return total + (1.0 if int(actions["alpha"][0]) == int(actions["beta"][0]) else 0.0)

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        clean = self.reward(actions)
        reward = clean + self.noise * float(self._rng.normal())
        pipeline = json.dumps({a: [int(v) for v in actions[a]] for a in self.possible_agents}, sort_keys=True)
        info = {"pipeline": pipeline, "accuracy": clean, "status": "ok", "detail": {"nested": True}}
        names, self.agents = self.possible_agents, []
        return (
            {a: np.zeros(1, np.float32) for a in names},
            {a: reward for a in names},
            {a: True for a in names},
            {a: False for a in names},
            {a: dict(info) for a in names},
        )


class TokenVectorGame:
    """``num_envs`` TokenGame episodes per step, with the vector-env API of the search loop."""

    def __init__(self, num_envs: int = 8, noise: float = 0.1) -> None:
        self.num_envs = num_envs
        self.envs = [TokenGame(noise) for _ in range(num_envs)]
        self.possible_agents = list(TokenGame.NVECS)
        self.steps = 0

    def action_space(self, agent: str) -> spaces.Space:
        return self.envs[0].action_space(agent)

    def observation_space(self, agent: str) -> spaces.Space:
        return self.envs[0].observation_space(agent)

    def reset(self, seed: int | None = None) -> tuple[dict, dict]:
        for i, env in enumerate(self.envs):
            env.reset(seed=None if seed is None else seed * 1000 + i)
        obs = {a: np.zeros((self.num_envs, 1), np.float32) for a in self.possible_agents}
        return obs, {a: [{} for _ in self.envs] for a in self.possible_agents}

    def step(self, actions: dict[str, np.ndarray]) -> tuple[dict, dict, dict, dict, dict]:
        self.steps += 1
        results = [env.step({a: actions[a][i] for a in self.possible_agents}) for i, env in enumerate(self.envs)]
        names = self.possible_agents
        rewards = {a: np.array([r[1][a] for r in results]) for a in names}
        infos = {a: [r[4][a] for r in results] for a in names}
        done = {a: np.ones(self.num_envs, bool) for a in names}
        obs = {a: np.zeros((self.num_envs, 1), np.float32) for a in names}
        return obs, rewards, done, {a: np.zeros(self.num_envs, bool) for a in names}, infos

    def state(self) -> np.ndarray:
        return np.zeros((self.num_envs, 1), np.float32)


def test_games_follow_the_parallel_api() -> None:
    parallel_api_test(MatrixGame(), num_cycles=3)
    parallel_api_test(TokenGame(), num_cycles=3)


def test_climbing_game_optimum() -> None:
    game = MatrixGame()
    game.reset()
    _, rewards, *_ = game.step({"agent_0": 0, "agent_1": 0})
    assert rewards["agent_0"] == 11.0 == CLIMBING.max()
