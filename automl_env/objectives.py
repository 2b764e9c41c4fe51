"""Rewards computed from an evaluation result.

- ``accuracy``: R = Acc.
- ``flops_constrained`` (MnasNet form, the paper's ImageNet reward): R = Acc * (FLOPs / T)^w with
  w = -0.07 by default and T the task's FLOPs target.
A failed evaluation gets ``failed_reward`` (0.0: the worst an accuracy can be), never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from automl_env.backends.base import EvalResult

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Accuracy:
    name = "accuracy"
    failed_reward: float = 0.0

    def __call__(self, result: EvalResult) -> float:
        return float(result.accuracy) if result.ok else self.failed_reward

    def of_accuracy(self, accuracy: float, flops: float) -> float:
        return accuracy

    def of_batch(self, accuracy: FloatArray, flops: FloatArray, ok: BoolArray) -> FloatArray:
        """``__call__`` of every row of a batch (``automl_env.batch``), elementwise in float64."""
        return np.where(ok, accuracy, self.failed_reward)


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

    def of_batch(self, accuracy: FloatArray, flops: FloatArray, ok: BoolArray) -> FloatArray:
        """``__call__`` of every row of a batch (``automl_env.batch``), elementwise in float64."""
        scored = ok & (flops > 0)
        rewards = np.full(accuracy.shape, self.failed_reward, dtype=np.float64)
        # Python's float power, row by row: numpy's vectorised power differs from it in the last bit on some rows.
        rewards[scored] = [
            self.of_accuracy(a, f) for a, f in zip(accuracy[scored].tolist(), flops[scored].tolist(), strict=True)
        ]
        return rewards


Objective = Accuracy | FlopsConstrained

OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "accuracy": Accuracy,
    "flops_constrained": FlopsConstrained,
}
