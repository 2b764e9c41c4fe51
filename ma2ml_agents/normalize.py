"""Rewards in units of their own spread: running mean and standard deviation of every reward seen.

An algorithm whose constants (a KL weight, a critic's learning rate) are set in reward units only works
at the scale they were tuned on; standardising the rewards by their running moments, as PPO
implementations do, makes those constants mean the same on accuracies in [0, 1], percentages or game
payoffs in the thousands. Multiplying every reward by c > 0 leaves the standardised rewards unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import torch


class RunningMoments:
    """Exact mean and variance of all values seen so far (Chan et al.'s pairwise update, in float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    def update(self, values: torch.Tensor) -> None:
        batch = values.detach().double().flatten().cpu()
        n = int(batch.numel())
        if n == 0:
            return
        batch_mean = float(batch.mean())
        batch_m2 = float(((batch - batch_mean) ** 2).sum())
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.m2 += batch_m2 + delta * delta * self.count * n / total
        self.count = total

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count > 0 else 0.0

    def standardise(self, values: torch.Tensor) -> torch.Tensor:
        """(values - mean) / std; only centred while every value seen is equal (std 0)."""
        std = self.std
        centred = values - self.mean
        return centred / std if std > 0 else centred

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean, "m2": self.m2}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count, self.mean, self.m2 = int(state["count"]), float(state["mean"]), float(state["m2"])
