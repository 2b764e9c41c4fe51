"""N pipeline-mode episodes stepped at once, evaluated as one batch.

This is how a search evaluates its 24 pipelines concurrently: ``step`` takes every agent's tokens
for all N episodes, builds N pipelines and hands them to the backend in a single ``evaluate``
call (the synthetic and table backends vectorise it; with ``executor="pool"`` or ``"ray"`` the batch is
spread over worker processes or Ray actors: ``automl_env.executors``).

Shapes: observations ``(N, num_agents)``, actions ``(N, num_tokens)`` per agent, rewards and
terminations ``(N,)`` per agent, infos a list of N dicts per agent, ``state()`` ``(N, state_size)``.

Infos are full by default (``infos="full"``: pipeline JSON, digest, status, reason, backend), since a
search records them; ``infos="numeric"`` gives the parallel env's numbers-only view
(``automl_env.evaluation``). ``last_pipelines`` and ``last_infos`` hold the last step's pipelines and
full infos in either case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from automl_env.backends.base import Evaluator
from automl_env.env_options import EnvOptions, resolve_env
from automl_env.evaluation import InfoMode, check_info_mode, pending_info, shown_info
from automl_env.modules.base import TokenArray
from automl_env.options import OptionValueError, integer
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec

if TYPE_CHECKING:
    from typing import Unpack


MAX_NUM_ENVS = 1_000_000
"""The most episodes one vector env steps at once (a million evaluations a batch), checked before allocating."""


class AutoMLVectorEnv:
    """A batch of one-step AutoML episodes; build it with ``automl_env.vector_env``."""

    def __init__(
        self,
        task: str | TaskSpec = "cifar100",
        *,
        num_envs: int,
        infos: InfoMode = "full",
        **options: Unpack[EnvOptions],
    ) -> None:
        num_envs = integer(num_envs, "num_envs", where="vector env", low=1, high=MAX_NUM_ENVS + 1)
        workers = options.get("workers")
        if isinstance(workers, int) and not isinstance(workers, bool) and workers > num_envs:
            raise OptionValueError(
                f"vector env: option 'workers' is {workers}, more than the batch (num_envs={num_envs}): a batch of "
                f"{num_envs} evaluations keeps at most {num_envs} workers busy, the others would only hold memory. "
                f"Pass workers <= {num_envs} (or None: one per core or GPU slot, capped at the batch)"
            )
        self.infos = check_info_mode(infos)
        self.task, self.codec, self.evaluation = resolve_env(task, max_workers=num_envs, **options)
        self.num_envs = num_envs
        self.possible_agents = list(self.codec.agents)
        self.agents: list[str] = []
        n = len(self.possible_agents)
        self._observation_space = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
        self._ids = {a: np.eye(n, dtype=np.float32)[i] for i, a in enumerate(self.possible_agents)}
        self.state_space = self.codec.state_space()
        self.last_pipelines: list[Pipeline] = []
        self.last_infos: list[dict[str, Any]] = []
        """The full infos of the last step's N evaluations, whatever ``infos`` shows."""
        self._joint: list[dict[str, TokenArray]] | None = None

    @property
    def backend(self) -> Evaluator:
        return self.evaluation.backend

    def action_space(self, agent: str) -> spaces.MultiDiscrete:
        return self.codec.action_spaces[agent]

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_space

    def _observations(self) -> dict[str, np.ndarray]:
        return {a: np.tile(self._ids[a], (self.num_envs, 1)) for a in self.possible_agents}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        # Deterministic, like AutoMLEnv.reset: nothing in an episode is random but the agents' actions.
        self.agents = list(self.possible_agents)
        self._joint = None
        return self._observations(), {a: [pending_info(self.infos) for _ in range(self.num_envs)] for a in self.agents}

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("step() called on finished episodes; call reset() first")
        self._joint = self._validate(actions)
        self.last_pipelines = [self.codec.pipeline(joint) for joint in self._joint]
        outcomes = self.evaluation.run(self.last_pipelines)
        rewards = np.array([r for r, _ in outcomes], dtype=np.float64)
        self.last_infos = [info for _, info in outcomes]
        infos = [shown_info(info, self.infos) for info in self.last_infos]
        done = np.ones(self.num_envs, dtype=bool)
        result = (
            self._observations(),
            {a: rewards.copy() for a in self.agents},
            {a: done.copy() for a in self.agents},
            {a: ~done for a in self.agents},
            {a: infos for a in self.agents},
        )
        self.agents = []
        return result

    def _validate(self, actions: Mapping[str, Any]) -> list[dict[str, TokenArray]]:
        missing = [a for a in self.possible_agents if a not in actions]
        extra = [a for a in actions if a not in self.possible_agents]
        if missing or extra:
            raise ValueError(
                f"actions must have exactly the agents {self.possible_agents}; missing {missing}, unexpected {extra}"
            )
        batches = {}
        for agent in self.possible_agents:
            batch = np.asarray(actions[agent])
            width = self.codec.spaces[agent].num_tokens
            if batch.shape != (self.num_envs, width):
                raise ValueError(
                    f"agent {agent!r}: actions have shape {batch.shape}, expected ({self.num_envs}, {width})"
                )
            batches[agent] = batch
        return [
            {a: self.codec.spaces[a].validate(batches[a][i], agent=f"{a}[env {i}]") for a in self.possible_agents}
            for i in range(self.num_envs)
        ]

    def state(self) -> np.ndarray:
        if self._joint is None:
            return np.zeros((self.num_envs, self.codec.state_size), dtype=np.float32)
        return np.stack([self.codec.state_vector(joint) for joint in self._joint])

    def close(self) -> None:
        self.evaluation.close()  # stops the workers of a pool or Ray executor
