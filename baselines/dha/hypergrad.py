"""DHA's one-step hypergradients for the learning rate and the weight decay of momentum SGD.

The step, per parameter tensor (gradient g already clipped):

    v' = mu v + g + wd theta,       theta' = theta - lr v'

Differentiating the loss l' of a clean training batch B' at theta' through this one step only (DHA Eq. 4:
theta is treated as independent of earlier eta):

    dl'/dlr = -<grad l'(theta'), v'>,      dl'/dwd = -lr <grad l'(theta'), theta>

summed over all tensors. Ours (DHA says "Adam", gives neither bounds nor rate): eta is updated by Adam on
log(lr) and log(wd) (the chain rule multiplies each hypergradient by its value, so the rate is
scale-free), then clamped to bounds, here the task's HPO grid range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from automl_env.backends.training.deps import torch

MOMENTUM = 0.9


@dataclass
class Step:
    """What the hypergradient needs from the step just taken: v' and theta of every stepped tensor."""

    velocities: list[torch.Tensor]
    previous: list[torch.Tensor]


def sgd_step(
    params: Sequence[torch.Tensor], buffers: dict[int, torch.Tensor], *, lr: float, weight_decay: float
) -> Step:
    """Momentum SGD on every parameter with a gradient, in place; ``buffers`` keyed by id(parameter)."""
    velocities, previous = [], []
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            v = p.grad + weight_decay * p
            if id(p) in buffers:
                v = v + MOMENTUM * buffers[id(p)]
            buffers[id(p)] = v
            previous.append(p.detach().clone())
            velocities.append(v)
            p.sub_(lr * v)
    return Step(velocities, previous)


def stepped(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The parameters ``sgd_step`` moves (those with a gradient), in its order."""
    return [p for p in params if p.grad is not None]


def hypergradient(new_grads: Sequence[torch.Tensor], step: Step, *, lr: float) -> tuple[float, float]:
    """(dl'/dlr, dl'/dwd) from grad l'(theta') of the stepped tensors (module docstring)."""
    d_lr = -sum(float((g * v).sum()) for g, v in zip(new_grads, step.velocities, strict=True))
    d_wd = -lr * sum(float((g * p).sum()) for g, p in zip(new_grads, step.previous, strict=True))
    return d_lr, d_wd


class LogAdam:
    """Adam on log(value) within [low, high] for one positive hyper-parameter (module docstring)."""

    def __init__(self, value: float, *, low: float, high: float, rate: float) -> None:
        self.log_value, self.low, self.high, self.rate = math.log(value), low, high, rate
        self.m = self.v = 0.0
        self.t = 0

    @property
    def value(self) -> float:
        return math.exp(self.log_value)

    def step(self, gradient: float) -> None:
        g = gradient * self.value  # d l / d log(value)
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * g
        self.v = 0.999 * self.v + 0.001 * g * g
        m_hat, v_hat = self.m / (1 - 0.9**self.t), self.v / (1 - 0.999**self.t)
        self.log_value -= self.rate * m_hat / (math.sqrt(v_hat) + 1e-8)
        self.log_value = min(max(self.log_value, math.log(self.low)), math.log(self.high))
