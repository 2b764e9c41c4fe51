"""What every non-neural baseline shares: the joint token space in NumPy and the act/update interface.

A baseline sees the search exactly as the MA2ML algorithms do (``ma2ml_agents.base``): ``act(n)``
proposes n joint actions ``{agent: int64 array (n, T_agent)}`` in the env's values, ``update(actions,
rewards)`` learns from their n shared rewards and returns scalar statistics. So the same search loop
(``ma2ml_agents.search.run_search``) drives both, with the same budget accounting.

Internally a baseline works on joint token rows: an int64 array (n, total_tokens) whose columns are the
agents' tokens in agent order, each an index in ``[0, choices)``.

Asynchronous search (``ma2ml_agents.async_search``): a baseline whose ``asynchronous`` is True may be told
(``tell``) any number of finished results in the order they finished, while joint actions it proposed are
still being evaluated; each sets it where that holds, saying why.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np
from gymnasium import spaces

from ma2ml_agents.base import SeededSearch
from ma2ml_agents.spaces import JointActionSpace

ConfigT = TypeVar("ConfigT")
TokenRows = np.ndarray
"""int64 array (n, total_tokens) of token indices."""


class TokenSearch(SeededSearch[ConfigT]):
    """Base of the NumPy baselines: a joint token space, a config, and one seeded generator."""

    def __init__(self, space: JointActionSpace | Mapping[str, spaces.Space], config: ConfigT, *, seed: int) -> None:
        super().__init__(space, config, seed=seed)
        self.nvec = np.asarray(self.space.flat_nvec, dtype=np.int64)
        self.rng = np.random.default_rng(seed)

    def random_tokens(self, n: int) -> TokenRows:
        """n joint token rows drawn uniformly."""
        return self.rng.integers(0, self.nvec, size=(n, len(self.nvec)), dtype=np.int64)

    def act(self, n: int) -> dict[str, np.ndarray]:
        """n joint actions: ``{agent: int64 array (n, T_agent)}`` in the env's values."""
        return self.space.rows_to_env(self.propose(n))

    asynchronous: ClassVar[bool] = False
    """Whether ``tell`` is valid: learning from any finished results, in any order, with others in flight."""

    def tell(self, actions: Mapping[str, np.ndarray], rewards: np.ndarray) -> dict[str, float]:
        """``update`` with the results that have finished, in the order they finished (asynchronous search)."""
        if not self.asynchronous:
            raise ValueError(f"{self.name} learns from whole batches only (update)")
        return self.update(actions, rewards)

    def update(self, actions: Mapping[str, np.ndarray], rewards: np.ndarray) -> dict[str, float]:
        """Learn from n evaluated joint actions and their shared rewards; returns scalar statistics."""
        tokens = self.space.rows_from_env(actions)
        values = np.asarray(rewards, dtype=np.float64)
        if values.shape != (tokens.shape[0],):
            raise ValueError(f"rewards must have shape ({tokens.shape[0]},), got {values.shape}")
        return self.observe(tokens, values)

    @abstractmethod
    def propose(self, n: int) -> TokenRows:
        """n joint token rows to evaluate next."""

    @abstractmethod
    def observe(self, tokens: TokenRows, rewards: np.ndarray) -> dict[str, float]:
        """``update`` on token rows (n, total_tokens) and rewards (n,)."""

    def core_state(self) -> dict[str, Any]:
        """The generator's state."""
        return {"rng": self.rng.bit_generator.state}

    def load_core_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
