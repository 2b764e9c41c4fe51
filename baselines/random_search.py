"""Random search: every joint action drawn uniformly from the joint token space, nothing learned.

The floor every search must beat; with the same budget it also shows how much of a "good" result
is just the luck of many draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.base import TokenRows, TokenSearch


@dataclass(frozen=True)
class RandomSearchConfig:
    """Random search has no settings; the dataclass keeps the interface uniform."""


class RandomSearch(TokenSearch[RandomSearchConfig]):
    """Uniform sampling of every token, independently."""

    name = "random"
    asynchronous = True  # it learns nothing, so the order and number of results told cannot matter

    @classmethod
    def default_config(cls) -> RandomSearchConfig:
        return RandomSearchConfig()

    def propose(self, n: int) -> TokenRows:
        return self.random_tokens(n)

    def observe(self, tokens: TokenRows, rewards: np.ndarray) -> dict[str, float]:
        return {}
