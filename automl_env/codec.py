"""Joint-action codec: agents' tokens <-> Pipeline, shared by every env flavour.

It owns the per-agent action spaces (cached objects, as PettingZoo clients require), validates
actions, decodes them into a Pipeline (modules that are not searched take the task's default),
and packs the joint action into the global state vector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from automl_env.modules.base import ModuleConfig, ModuleSpace, TokenArray
from automl_env.pipeline import Pipeline
from automl_env.tasks import TaskSpec


class JointCodec:
    """Tokens of the searched modules <-> Pipeline of the whole task.

    Modules that are not searched take ``fixed[module]`` if given, else the task's default config.
    """

    def __init__(
        self, task: TaskSpec, modules: Sequence[str] | None = None, fixed: Mapping[str, ModuleConfig] | None = None
    ) -> None:
        chosen = tuple(task.agents if modules is None else modules)
        unknown = [m for m in chosen if m not in task.modules]
        if unknown or not chosen or len(set(chosen)) != len(chosen):
            raise ValueError(
                f"modules={list(chosen)} is invalid for task {task.name!r}: choose a non-empty subset "
                f"without repeats of {list(task.agents)}"
            )
        self.task = task
        self.agents: tuple[str, ...] = tuple(m for m in task.agents if m in chosen)  # task order
        self.spaces: dict[str, ModuleSpace] = {a: task.modules[a] for a in self.agents}
        self.action_spaces: dict[str, spaces.MultiDiscrete] = {
            a: spaces.MultiDiscrete(np.array(s.nvec, dtype=np.int64)) for a, s in self.spaces.items()
        }
        fixed = dict(fixed or {})
        clash = [m for m in fixed if m in self.agents or m not in task.modules]
        if clash:
            raise ValueError(f"fixed={clash}: only modules of the task that are not searched can be fixed")
        for name, config in fixed.items():
            expected = type(task.modules[name].default())  # the config type this module's space decodes to
            if not isinstance(config, expected):
                raise TypeError(
                    f"fixed[{name!r}] has type {type(config).__name__}, but module {name!r} of task {task.name!r} "
                    f"takes {expected.__name__} configs"
                )
        self._defaults = {
            name: fixed.get(name, space.default()) for name, space in task.modules.items() if name not in self.agents
        }
        self._default_tokens = {name: task.modules[name].encode(config) for name, config in self._defaults.items()}
        self._scale = {a: np.maximum(np.asarray(s.nvec, dtype=np.float32) - 1, 1) for a, s in self.spaces.items()}
        self.state_size = sum(s.num_tokens for s in self.spaces.values())

    def check_agents(self, actions: Any) -> None:
        """Check that ``actions`` maps exactly the searched agents to actions (each env flavour's first check)."""
        if not isinstance(actions, Mapping):
            raise TypeError(f"actions must be a dict of agent -> action, got {type(actions).__name__}")
        missing = [a for a in self.agents if a not in actions]
        extra = [a for a in actions if a not in self.agents]
        if missing or extra:
            raise ValueError(
                f"actions must have exactly the agents {list(self.agents)}; missing {missing}, unexpected {extra}"
            )

    def validate(self, actions: Mapping[str, Any]) -> dict[str, TokenArray]:
        """Check that every agent acted with a valid token vector; raise ValueError otherwise."""
        self.check_agents(actions)
        return {a: self.spaces[a].validate(actions[a], agent=a) for a in self.agents}

    def validate_batch(self, actions: Mapping[str, Any], num_envs: int) -> dict[str, TokenArray]:
        """Every agent's (num_envs, num_tokens) actions as int64 matrices, checked at once.

        The error is the one ``validate`` raises on the first bad row (lowest env, then agent order), the agent
        named ``"agent[env i]"``; shapes are checked first, agent by agent.
        """
        self.check_agents(actions)
        batches = {}
        for agent in self.agents:
            batch = np.asarray(actions[agent])
            width = self.spaces[agent].num_tokens
            if batch.shape != (num_envs, width):
                raise ValueError(f"agent {agent!r}: actions have shape {batch.shape}, expected ({num_envs}, {width})")
            batches[agent] = batch
        first_bad = {a: _first_bad_row(batch, self.spaces[a].nvec) for a, batch in batches.items()}
        bad = [(row, i) for i, row in enumerate(first_bad.values()) if row is not None]
        if bad:
            row, i = min(bad)
            agent = self.agents[i]
            self.spaces[agent].validate(batches[agent][row], agent=f"{agent}[env {row}]")  # raises ValueError
            raise AssertionError(f"row {row} of agent {agent!r} was found invalid but validates")
        return {a: batch.astype(np.int64) for a, batch in batches.items()}

    def task_tokens(self, batch: Mapping[str, TokenArray]) -> dict[str, TokenArray]:
        """Canonical (N, num_tokens) tokens of every module of the task (``ModuleSpace.canonical``), the modules
        that are not searched at their fixed or default config: what a backend encodes from ``pipeline``."""
        n = len(next(iter(batch.values())))
        return {
            name: space.canonical(batch[name]) if name in batch else np.tile(self._default_tokens[name], (n, 1))
            for name, space in self.task.modules.items()
        }

    def state_vectors(self, batch: Mapping[str, TokenArray]) -> np.ndarray:
        """``state_vector`` of every row of the agents' (N, num_tokens) matrices, as one (N, state_size) matrix."""
        return np.concatenate(
            [batch[a].astype(np.float32) / self._scale[a] for a in self.agents], axis=1, dtype=np.float32
        )

    def pipeline(self, tokens: Mapping[str, TokenArray]) -> Pipeline:
        configs = {a: self.spaces[a].decode(tokens[a]) for a in self.agents}
        return Pipeline.of({**self._defaults, **configs})

    def tokens_of(self, pipeline: Pipeline) -> dict[str, TokenArray]:
        """The searched modules' tokens that decode to this pipeline."""
        return {a: self.spaces[a].encode(pipeline[a]) for a in self.agents}

    def state_vector(self, tokens: Mapping[str, TokenArray] | None) -> np.ndarray:
        """Joint tokens scaled into [0, 1] (zeros before any action), float32."""
        if tokens is None:
            return np.zeros(self.state_size, dtype=np.float32)
        return np.concatenate([tokens[a].astype(np.float32) / self._scale[a] for a in self.agents]).astype(np.float32)

    def state_space(self) -> spaces.Box:
        return spaces.Box(0.0, 1.0, shape=(self.state_size,), dtype=np.float32)


def _first_bad_row(batch: np.ndarray, nvec: tuple[int, ...]) -> int | None:
    """The first row ``ModuleSpace.validate`` refuses (a float that is not an integer, a token out of range, a
    dtype that is not numeric), or None."""
    if batch.dtype.kind not in "iubf":
        return 0 if len(batch) else None
    bad = (batch < 0) | (batch >= np.asarray(nvec))
    if batch.dtype.kind == "f":
        bad |= ~np.isfinite(batch) | (batch != np.round(batch))
    rows = np.flatnonzero(bad.any(axis=1))
    return int(rows[0]) if rows.size else None
