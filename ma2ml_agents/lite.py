"""MA2ML-Lite: independent REINFORCE per agent with a moving-average reward baseline (METHOD.md).

grad_i = E[ grad log pi_i(A_i|S_i) * (R - b) ], b an exponential moving average of past batches' mean
reward. The rewards are shared, so summing the agents' losses leaves each agent's gradient its own.
**ours**: Adam; b starts at the first batch's mean reward (so the first advantages are centred) and then
b <- decay * b + (1 - decay) * mean(R) after every batch, with decay 0.9 per batch of 24; the advantage
R - b is divided by the running standard deviation of every reward seen (``normalize_rewards``), so the
learning rate means the same whatever the rewards' units (``LiteConfig.paper()`` turns it off).

Recall (**ours**, ``recall_known``; ``LiteConfig.paper()`` turns it off): a pipeline is evaluated once, and the
draws of known pipelines enter the next update at their recorded reward (``ma2ml_agents.recall``), so the gradient
is the usual one over every draw up to a stopping point. The baseline's mean(R) is then over every draw the update
learns from; the running standard deviation stays that of the rewards observed.
WHY: without it Lite spent 31-45% of its 1,008 evaluations on pipelines it had already evaluated, almost all
after the 312th, on the four tuning tables (docs/ma2ml_study.md, section 21).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ma2ml_agents.base import ControllerAlgorithm
from ma2ml_agents.normalize import RunningMoments


@dataclass(frozen=True)
class LiteConfig:
    """MA2ML-Lite settings."""

    policy_lr: float = 4e-3
    """eta_theta, the controllers' learning rate (ours, as MA2ML's; paper 4e-4)."""
    hidden_size: int = 100
    """LSTM units per controller (paper)."""
    baseline_decay: float = 0.9
    """Per-batch decay of the moving-average baseline (ours)."""
    normalize_rewards: bool = True
    """Divide the advantage by the running standard deviation of the rewards (ours; False: the paper's reading)."""
    recall_known: bool = True
    """Evaluate only new pipelines; draws of known ones learn from their recorded reward (ours,
    ``ma2ml_agents.recall``; False: the paper's, every draw evaluated)."""
    recall_draws: int = 32
    """Most rounds of n draws ``act(n)`` makes looking for n new pipelines (``recall_known``)."""
    device: str = "cpu"

    @classmethod
    def paper(cls, **changes: Any) -> LiteConfig:
        """The paper's settings: lr 4e-4 on raw reward advantages, every draw evaluated."""
        return cls(**{"policy_lr": 4e-4, "normalize_rewards": False, "recall_known": False, **changes})

    def __post_init__(self) -> None:
        if not (self.policy_lr > 0 and self.hidden_size > 0):
            raise ValueError(
                f"Lite config: policy_lr and hidden_size must be > 0, got {self.policy_lr}, {self.hidden_size}"
            )
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ValueError(f"Lite config: baseline_decay must be in [0, 1), got {self.baseline_decay!r}")
        if not self.recall_draws >= 1:
            raise ValueError(f"Lite config: recall_draws must be >= 1, got {self.recall_draws!r}")


class MA2MLLite(ControllerAlgorithm[LiteConfig]):
    """Independent REINFORCE learners, one controller per agent."""

    name = "ma2ml_lite"

    @classmethod
    def default_config(cls) -> LiteConfig:
        return LiteConfig()

    def build(self, generator: torch.Generator) -> None:
        self.baseline: float | None = None
        self.moments = RunningMoments()
        self.optimizer = torch.optim.Adam(self.controllers.parameters(), lr=self.config.policy_lr)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.optimizer}

    def extra_state(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "moments": self.moments.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.baseline = state["baseline"]
        self.moments.load_state_dict(state["moments"])
        if self.recall is not None and "memory" in state:  # written when Lite kept recall's state among its own
            self.recall.load_state_dict(state, self.device)

    def update_tokens(self, tokens: torch.Tensor, rewards: torch.Tensor) -> dict[str, float]:
        """REINFORCE on the evaluated rows and, with ``recall_known``, the rows recalled since the last update."""
        self.moments.update(rewards)
        recalled = 0
        if self.recall is not None:
            tokens, rewards, recalled = self.recall.learn(tokens, rewards)
        mean_reward = float(rewards.mean())
        baseline = mean_reward if self.baseline is None else self.baseline
        advantage = rewards - baseline
        if self.config.normalize_rewards and self.moments.std > 0:
            advantage = advantage / self.moments.std
        log_pi = torch.stack([p.log_prob(tokens[:, g]) for g, p in zip(self.groups, self.policies, strict=True)])
        loss = -(advantage * log_pi.sum(dim=0)).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        decay = self.config.baseline_decay
        self.baseline = decay * baseline + (1.0 - decay) * mean_reward
        stats = {"policy_loss": float(loss.detach()), "baseline": baseline, "advantage_std": float(advantage.std())}
        return {**stats, "recalled": float(recalled)} if self.recall is not None else stats
