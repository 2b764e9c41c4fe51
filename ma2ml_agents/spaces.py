"""The joint token space: every agent's Discrete / MultiDiscrete action space flattened to token positions.

Algorithms work on one LongTensor of shape (n, total_tokens) whose columns are the agents' tokens in
``agents`` order, each token an index in ``[0, choices)``; this module converts to and from the
per-agent arrays an environment takes (adding back a space's ``start`` offset).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces


def space_choices(space: spaces.Space) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Number of choices and start offset of every token of a Discrete or MultiDiscrete space."""
    if isinstance(space, spaces.Discrete):
        return (int(space.n),), (int(space.start),)
    if isinstance(space, spaces.MultiDiscrete):
        if space.nvec.ndim != 1:
            raise ValueError(f"MultiDiscrete spaces must be 1-D, got nvec of shape {space.nvec.shape}")
        return tuple(int(n) for n in space.nvec), tuple(int(s) for s in space.start)
    raise TypeError(f"only Discrete and MultiDiscrete action spaces are supported, got {type(space).__name__}")


@dataclass(frozen=True)
class JointActionSpace:
    """Agents, their token choice counts and start offsets, and where each agent sits in a joint row."""

    agents: tuple[str, ...]
    nvecs: tuple[tuple[int, ...], ...]
    starts: tuple[tuple[int, ...], ...]
    discrete: tuple[bool, ...]

    @classmethod
    def from_spaces(cls, action_spaces: Mapping[str, spaces.Space]) -> JointActionSpace:
        """Build from ``{agent: space}`` in the mapping's order."""
        agents = tuple(action_spaces)
        choices = [space_choices(action_spaces[a]) for a in agents]
        return cls(
            agents=agents,
            nvecs=tuple(c[0] for c in choices),
            starts=tuple(c[1] for c in choices),
            discrete=tuple(isinstance(action_spaces[a], spaces.Discrete) for a in agents),
        )

    @classmethod
    def from_env(cls, env: object, agents: Sequence[str] | None = None) -> JointActionSpace:
        """Build from an env's ``possible_agents`` and ``action_space(agent)``."""
        names = list(agents if agents is not None else env.possible_agents)  # type: ignore[attr-defined]
        return cls.from_spaces({a: env.action_space(a) for a in names})  # type: ignore[attr-defined]

    @property
    def num_tokens(self) -> tuple[int, ...]:
        """Token count of every agent."""
        return tuple(len(n) for n in self.nvecs)

    @property
    def total_tokens(self) -> int:
        return sum(self.num_tokens)

    @property
    def flat_nvec(self) -> tuple[int, ...]:
        """Choice counts of every column of a joint row."""
        return tuple(n for nvec in self.nvecs for n in nvec)

    def slice_of(self, index: int) -> slice:
        """Columns of agent ``index`` in a joint row."""
        begin = sum(self.num_tokens[:index])
        return slice(begin, begin + self.num_tokens[index])

    def rows_from_env(self, actions: Mapping[str, Any]) -> np.ndarray:
        """``{agent: (n, T_agent) env values}`` -> int64 token rows (n, total_tokens), unchecked."""
        columns = []
        for agent, start in zip(self.agents, self.starts, strict=True):
            values = np.asarray(actions[agent], dtype=np.int64)
            if values.ndim == 1:  # a batch of Discrete actions
                values = values[:, None]
            columns.append(values - np.asarray(start, dtype=np.int64))
        return np.concatenate(columns, axis=1)

    def rows_to_env(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """int64 token rows (n, total_tokens) -> ``{agent: (n, T_agent) int64 env values}``."""
        rows = np.asarray(rows, dtype=np.int64)
        return {
            agent: rows[:, self.slice_of(i)] + np.asarray(start, dtype=np.int64)
            for i, (agent, start) in enumerate(zip(self.agents, self.starts, strict=True))
        }

    def to_tensor(self, actions: Mapping[str, np.ndarray], *, device: str | torch.device = "cpu") -> torch.Tensor:
        """``{agent: (n, T_agent) env values}`` -> LongTensor (n, total_tokens) of token indices."""
        tokens = torch.as_tensor(self.rows_from_env(actions), dtype=torch.long, device=device)
        self.check(tokens)
        return tokens

    def to_env(self, tokens: torch.Tensor) -> dict[str, np.ndarray]:
        """LongTensor (n, total_tokens) -> ``{agent: (n, T_agent) int64 env values}``."""
        return self.rows_to_env(tokens.detach().cpu().numpy())

    def check(self, tokens: torch.Tensor) -> None:
        """Raise ValueError naming the column when a token lies outside its range."""
        if tokens.ndim != 2 or tokens.shape[1] != self.total_tokens:
            raise ValueError(f"joint actions must have shape (n, {self.total_tokens}), got {tuple(tokens.shape)}")
        limit = torch.as_tensor(self.flat_nvec, device=tokens.device)
        bad = (tokens < 0) | (tokens >= limit)
        if bool(bad.any()):
            column = int(bad.any(dim=0).nonzero()[0])
            raise ValueError(f"token in column {column} outside [0, {self.flat_nvec[column]})")

    def describe(self) -> dict[str, object]:
        """Plain-type description for a run's config.json."""
        return {
            a: {"nvec": list(n), "start": list(s)} for a, n, s in zip(self.agents, self.nvecs, self.starts, strict=True)
        }
