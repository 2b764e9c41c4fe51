"""N pipeline-mode episodes stepped at once, evaluated as one batch.

This is how a search evaluates its 24 pipelines concurrently: ``step`` takes every agent's tokens
for all N episodes and hands them to the backend in a single call (the synthetic and table backends
vectorise it; with ``executor="pool"`` or ``"ray"`` the batch is spread over worker processes or Ray
actors: ``automl_env.executors``).

Shapes: observations ``(N, num_agents)``, actions ``(N, num_tokens)`` per agent, rewards and
terminations ``(N,)`` per agent, ``state()`` ``(N, state_size)``.

Infos, per agent (the same object for every agent), chosen with ``infos=``:

| ``infos``   | per agent                              | cost at N = 1,024 (see docs/marl.md)         |
|-------------|----------------------------------------|----------------------------------------------|
| ``"full"``  | list of N dicts: numbers, status,      | decodes N pipelines and writes N JSON texts  |
|             | reason, backend, pipeline JSON, digest |                                              |
| ``"numeric"`` | list of N dicts of numbers (``automl_env.evaluation``) | N small dicts             |
| ``"arrays"``  | one dict of (N,) arrays, the numeric keys | none: the backend's arrays                |

``"full"`` is the default, since a search records it. ``last_pipelines`` and ``last_infos`` are the last
step's pipelines and full infos in every mode, decoded and written when first read.

Token fast path (``fast_path=True``, the default): where evaluations run in this process on a backend
that scores token matrices (``automl_env.batch``: synthetic, synthetic-rugged, table) with one of the
package's objectives, a step validates the N x agents actions as matrices, canonicalises them
(``ModuleSpace.canonical``) and gets rewards and results as arrays; no pipeline is decoded unless
``infos="full"``, ``last_pipelines`` or ``last_infos`` asks. Rewards, infos and errors are those of the
pipeline path (tests/test_vector_fast_path.py), which serves every other case and ``fast_path=False``.

Version history: v1: token fast path and ``infos="arrays"``; results unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces

from automl_env.backends.base import Evaluator
from automl_env.batch import BatchResults
from automl_env.env_options import EnvOptions, resolve_env
from automl_env.evaluation import pending_info, result_info, shown_info
from automl_env.info_arrays import (
    VECTOR_INFO_MODES,
    VectorInfoMode,
    infos_as_arrays,
    numeric_arrays,
    numeric_dicts,
    pending_arrays,
)
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
        infos: VectorInfoMode = "full",
        fast_path: bool = True,
        **options: Unpack[EnvOptions],
    ) -> None:
        """``fast_path=False`` decodes every pipeline and evaluates through ``Evaluator.evaluate`` even where the
        token fast path could serve (the module docstring): for comparisons and benchmarks."""
        num_envs = integer(num_envs, "num_envs", where="vector env", low=1, high=MAX_NUM_ENVS + 1)
        workers = options.get("workers")
        if isinstance(workers, int) and not isinstance(workers, bool) and workers > num_envs:
            raise OptionValueError(
                f"vector env: option 'workers' is {workers}, more than the batch (num_envs={num_envs}): a batch of "
                f"{num_envs} evaluations keeps at most {num_envs} workers busy, the others would only hold memory. "
                f"Pass workers <= {num_envs} (or None: one per core or GPU slot, capped at the batch)"
            )
        if infos not in VECTOR_INFO_MODES:
            raise ValueError(f"vector env: infos must be one of {VECTOR_INFO_MODES}, got {infos!r}")
        self.infos = infos
        self.task, self.codec, self.evaluation = resolve_env(task, max_workers=num_envs, **options)
        self.num_envs = num_envs
        self.uses_fast_path = bool(fast_path) and self.evaluation.serves_batches
        """Whether steps take the token fast path (asked for, and the backend, executor and objective allow it)."""
        self.possible_agents = list(self.codec.agents)
        self.agents: list[str] = []
        n = len(self.possible_agents)
        self._observation_space = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
        self._ids = {a: np.eye(n, dtype=np.float32)[i] for i, a in enumerate(self.possible_agents)}
        self.state_space = self.codec.state_space()
        self._tokens: dict[str, TokenArray] | None = None
        self._batch: tuple[np.ndarray, BatchResults] | None = None
        self._pipelines: list[Pipeline] | None = []
        self._infos: list[dict[str, Any]] | None = []

    @property
    def backend(self) -> Evaluator:
        return self.evaluation.backend

    @property
    def last_pipelines(self) -> list[Pipeline]:
        """The last step's N pipelines (decoded now if the fast path has not needed them)."""
        if self._pipelines is None:
            assert self._tokens is not None
            self._pipelines = [
                self.codec.pipeline({a: t[i] for a, t in self._tokens.items()}) for i in range(self.num_envs)
            ]
        return self._pipelines

    @property
    def last_infos(self) -> list[dict[str, Any]]:
        """The full infos of the last step's N evaluations, whatever ``infos`` shows (written now if needed)."""
        if self._infos is None:
            assert self._batch is not None
            rewards, results = self._batch
            self._infos = [
                result_info(results.result(i), pipeline, reward)
                for i, (pipeline, reward) in enumerate(zip(self.last_pipelines, rewards.tolist(), strict=True))
            ]
        return self._infos

    def action_space(self, agent: str) -> spaces.MultiDiscrete:
        return self.codec.action_spaces[agent]

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_space

    def _observations(self) -> dict[str, np.ndarray]:
        return {a: np.tile(self._ids[a], (self.num_envs, 1)) for a in self.possible_agents}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        # Deterministic, like AutoMLEnv.reset: nothing in an episode is random but the agents' actions.
        self.agents = list(self.possible_agents)
        self._tokens = None
        if self.infos == "arrays":
            pending: Any = pending_arrays(self.num_envs)
        else:
            pending = [pending_info(self.infos) for _ in range(self.num_envs)]
        return self._observations(), dict.fromkeys(self.agents, pending)

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("step() called on finished episodes; call reset() first")
        rewards, infos = self._step_tokens(actions) if self.uses_fast_path else self._step_pipelines(actions)
        done = np.ones(self.num_envs, dtype=bool)
        result = (
            self._observations(),
            {a: rewards.copy() for a in self.agents},
            {a: done.copy() for a in self.agents},
            {a: ~done for a in self.agents},
            dict.fromkeys(self.agents, infos),
        )
        self.agents = []
        return result

    def _step_tokens(self, actions: Mapping[str, Any]) -> tuple[np.ndarray, Any]:
        """The fast path: validate, canonicalise and score the batch as matrices; decode nothing yet."""
        self._check_agents(actions)
        self._tokens = self.codec.validate_batch(actions, self.num_envs)
        self._batch = self.evaluation.run_batch(self.codec.task_tokens(self._tokens))
        self._pipelines, self._infos = None, None
        rewards, results = self._batch
        if self.infos == "full":
            return rewards, [dict(info) for info in self.last_infos]
        arrays = numeric_arrays(rewards, results)
        return rewards, arrays if self.infos == "arrays" else numeric_dicts(arrays)

    def _step_pipelines(self, actions: Mapping[str, Any]) -> tuple[np.ndarray, Any]:
        """Every backend's path: decode N pipelines, evaluate them, write N full infos."""
        self._check_agents(actions)
        self._tokens = self.codec.validate_batch(actions, self.num_envs)
        self._pipelines = None
        pipelines = self.last_pipelines
        outcomes = self.evaluation.run(pipelines)
        rewards = np.array([r for r, _ in outcomes], dtype=np.float64)
        self._infos = [info for _, info in outcomes]
        if self.infos == "arrays":
            return rewards, infos_as_arrays(self._infos)
        return rewards, [shown_info(info, self.infos) for info in self._infos]

    def _check_agents(self, actions: Mapping[str, Any]) -> None:
        missing = [a for a in self.possible_agents if a not in actions]
        extra = [a for a in actions if a not in self.possible_agents]
        if missing or extra:
            raise ValueError(
                f"actions must have exactly the agents {self.possible_agents}; missing {missing}, unexpected {extra}"
            )

    def state(self) -> np.ndarray:
        if self._tokens is None:
            return np.zeros((self.num_envs, self.codec.state_size), dtype=np.float32)
        return self.codec.state_vectors(self._tokens)

    def close(self) -> None:
        self.evaluation.close()  # stops the workers of a pool or Ray executor
