"""Regularised (aging) evolution, Real et al. 2019 ("Regularized Evolution for Image Classifier Architecture Search").

A population of the most recent ``population_size`` evaluated pipelines. Until it is full, pipelines are
drawn uniformly. Then every child comes from a tournament: draw ``sample_size`` members uniformly, take
the best as parent, and mutate it. The oldest member dies when a child joins (aging, not the worst:
the "regularisation" that keeps lucky evaluations from ruling forever).

Mutation (**ours**, for a joint pipeline): in every module, one token position chosen uniformly is set
to a different value chosen uniformly, so each child differs from its parent in one token per module.
Batched as the paper's search evaluates: ``act(n)`` runs n independent tournaments on the same
population, ``update`` adds the n children at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from baselines.base import TokenRows, TokenSearch


@dataclass(frozen=True)
class EvolutionConfig:
    """Aging evolution settings (ours, scaled to budgets of about a thousand evaluations)."""

    population_size: int = 48
    """Members kept alive: the most recent evaluations (Real et al.: 100 of 20k; here two batches of 24)."""
    sample_size: int = 12
    """Tournament size S: members drawn per child, the best of them is the parent (Real et al.: 25 of 100)."""
    tokens_per_module: int = 1
    """Token positions mutated in every module per child."""


class RegularizedEvolution(TokenSearch[EvolutionConfig]):
    """Aging evolution with tournament selection and one-token-per-module mutation."""

    name = "rea"
    # Real et al.'s search is asynchronous: a child joins the population when its evaluation ends, and the oldest
    # member dies then. ``tell`` does exactly that, so ageing counts finished evaluations, in finishing order.
    asynchronous = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not 1 <= self.config.sample_size <= self.config.population_size:
            raise ValueError(f"need 1 <= sample_size <= population_size, got {self.config}")
        self.population: deque[tuple[np.ndarray, float]] = deque(maxlen=self.config.population_size)
        # Positions of every module that have more than one choice (only those can be mutated).
        self.mutable = [
            np.flatnonzero(self.nvec[self.space.slice_of(i)] > 1) + self.space.slice_of(i).start
            for i in range(len(self.space.agents))
        ]

    @classmethod
    def default_config(cls) -> EvolutionConfig:
        return EvolutionConfig()

    def propose(self, n: int) -> TokenRows:
        if len(self.population) < self.config.population_size:
            return self.random_tokens(n)
        return np.stack([self.mutate(self.tournament()) for _ in range(n)])

    def tournament(self) -> np.ndarray:
        """The best of ``sample_size`` members drawn uniformly without replacement."""
        picks = self.rng.choice(len(self.population), size=self.config.sample_size, replace=False)
        best = max(picks, key=lambda i: self.population[i][1])
        return self.population[best][0]

    def mutate(self, parent: np.ndarray) -> np.ndarray:
        child = parent.copy()
        for positions in self.mutable:
            if positions.size == 0:
                continue
            count = min(self.config.tokens_per_module, positions.size)
            for position in self.rng.choice(positions, size=count, replace=False):
                # A uniformly drawn *different* value: shift by 1..n-1 modulo n.
                child[position] = (child[position] + self.rng.integers(1, self.nvec[position])) % self.nvec[position]
        return child

    def extra_state(self) -> dict[str, Any]:
        return {"population": [(row.tolist(), reward) for row, reward in self.population]}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.population.clear()
        self.population.extend((np.asarray(row, dtype=np.int64), float(r)) for row, r in state["population"])

    def observe(self, tokens: TokenRows, rewards: np.ndarray) -> dict[str, float]:
        for row, reward in zip(tokens, rewards, strict=True):
            self.population.append((row.copy(), float(reward)))  # deque(maxlen) drops the oldest
        return {"population_best": max(r for _, r in self.population), "population_size": float(len(self.population))}
