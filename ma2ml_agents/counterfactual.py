"""Counterfactual baseline b_i = E_{A_i' ~ pi_i} Q(S, A_i', A_-i) and KL(pi_i || rho_i) for one agent.

The baseline is exact when agent i's space is small enough to enumerate (and then so is the KL, from the
same enumeration); otherwise it averages Q over M draws A_i' ~ pi_i with the other agents' tokens held
(COMA's baseline, estimated as METHOD.md says).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ma2ml_agents.controllers import TokenController, enumerate_actions


@dataclass(frozen=True)
class Counterfactual:
    baseline: torch.Tensor
    """(n,) b_i for every row."""
    kl: torch.Tensor | None
    """Exact scalar KL(pi_i || rho_i) when the agent's actions were enumerated, else None."""


@torch.no_grad()
def counterfactual(
    q_function: Callable[[torch.Tensor], torch.Tensor],
    tokens: torch.Tensor,
    columns: slice,
    *,
    policy: TokenController,
    target: TokenController,
    samples: int,
    exact_max: int,
    generator: torch.Generator,
) -> Counterfactual:
    """Baseline and KL for the agent owning ``columns`` of the joint rows ``tokens`` (n, total_tokens).

    When the agent has at most ``exact_max`` joint actions both are exact given Q. Otherwise ``samples`` draws
    A_i' ~ pi_i are shared by all rows: each row's baseline is the mean of Q(S, A_i', A_-i) over them, unbiased
    and independent of the row's own A_i, and drawing them once costs the same whatever the mini-batch size
    (per-row draws would multiply the controller's sequential sampling, the update's main cost, by n), and the
    KL is left to the caller (None).
    """
    n = tokens.shape[0]
    if math.prod(policy.nvec) <= exact_max:
        alternatives = enumerate_actions(policy.nvec, device=tokens.device)
        log_pi = policy.log_prob(alternatives)
        weights = log_pi.exp()
        kl = (weights * (log_pi - target.log_prob(alternatives))).sum()
        q = _held_q(q_function, tokens, columns, alternatives.repeat(n, 1), alternatives.shape[0])
        return Counterfactual(baseline=q @ weights, kl=kl)
    draw = policy.sample(samples, generator=generator)
    q = _held_q(q_function, tokens, columns, draw.actions.repeat(n, 1), samples)
    return Counterfactual(baseline=q.mean(dim=1), kl=None)


def _held_q(
    q_function: Callable[[torch.Tensor], torch.Tensor],
    tokens: torch.Tensor,
    columns: slice,
    alternatives: torch.Tensor,
    per_row: int,
) -> torch.Tensor:
    """(n, per_row) Q with agent columns replaced by ``alternatives`` (n * per_row rows, row-major)."""
    joint = tokens.repeat_interleave(per_row, dim=0)
    joint[:, columns] = alternatives
    return q_function(joint).view(tokens.shape[0], per_row)
