"""Rewards computed from an evaluation result.

- ``accuracy``: R = Acc.
- ``flops_constrained`` (MnasNet form, the paper's ImageNet reward): R = Acc * (FLOPs / T)^w with
  w = -0.07 by default and T the task's FLOPs target.
A failed evaluation gets ``failed_reward`` (0.0: the worst an accuracy can be), never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from automl_env.backends.base import EvalResult


@dataclass(frozen=True)
class Accuracy:
    name = "accuracy"
    failed_reward: float = 0.0

    def __call__(self, result: EvalResult) -> float:
        return float(result.accuracy) if result.ok else self.failed_reward

    def of_accuracy(self, accuracy: float, flops: float) -> float:
        return accuracy


@dataclass(frozen=True)
class FlopsConstrained:
    target_flops: float
    weight: float = -0.07
    failed_reward: float = 0.0
    name = "flops_constrained"

    def __post_init__(self) -> None:
        if self.target_flops <= 0:
            raise ValueError(f"target_flops must be positive, got {self.target_flops}")

    def __call__(self, result: EvalResult) -> float:
        if not result.ok or result.flops <= 0:
            return self.failed_reward
        return self.of_accuracy(result.accuracy, result.flops)

    def of_accuracy(self, accuracy: float, flops: float) -> float:
        return float(accuracy * (flops / self.target_flops) ** self.weight)


Objective = Accuracy | FlopsConstrained

OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "accuracy": Accuracy,
    "flops_constrained": FlopsConstrained,
}
