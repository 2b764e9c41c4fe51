"""MA2ML-Lite: independent REINFORCE per agent with a moving-average reward baseline (METHOD.md).

grad_i = E[ grad log pi_i(A_i|S_i) * (R - b) ], b an exponential moving average of past batches' mean
reward. The rewards are shared, so summing the agents' losses leaves each agent's gradient its own.
**ours**: Adam; b starts at the first batch's mean reward (so the first advantages are centred) and then
b <- decay * b + (1 - decay) * mean(R) after every batch, with decay 0.9 per batch of 24; the advantage
R - b is divided by the running standard deviation of every reward seen (``normalize_rewards``), so the
learning rate means the same whatever the rewards' units (``LiteConfig.paper()`` turns it off).

Recall (**ours**, ``recall_known``; ``LiteConfig.paper()`` turns it off): a pipeline is evaluated once. ``act(n)``
draws rows from the policies in rounds of n, in order, until n of them are new (neither evaluated nor drawn
earlier in the batch), at most ``recall_draws`` rounds; those n are evaluated. The other rows drawn before the n-th
new one, repeats of known pipelines, are not evaluated but still enter the next update with their recorded reward
(the mean of the pipeline's evaluations so far), so the gradient is the usual one over every draw up to the
stopping point: the evaluated rows alone would be a biased sample (the novel draws) of the policies, all of the
draws are not. Where the rounds hold fewer than n new rows (the policies have nearly committed, or the space is
nearly exhausted), the first repeats drawn are evaluated again, as without recall. Rows drawn after the n-th new
one are discarded, as if the draws had stopped there. The baseline's mean(R) is then over every draw the update learns
from; the running standard deviation stays that of the rewards observed. Without repeats in the draws nothing
changes, draw for draw.
WHY: without it Lite spent 31-45% of its 1,008 evaluations on pipelines it had already evaluated, almost all
after the 312th, on the four tuning tables (docs/ma2ml_study.md, section 21).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ma2ml_agents.base import ControllerAlgorithm
from ma2ml_agents.normalize import RunningMoments
from ma2ml_agents.screening import row_keys


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
    """Evaluate only new pipelines; draws of known ones learn from their recorded reward (ours, module docstring;
    False: the paper's, every draw evaluated)."""
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
        self.memory: dict[tuple[int, ...], tuple[float, int]] = {}
        """Every evaluated pipeline's (sum of rewards, evaluations), for ``recall_known``."""
        self.recalled: list[torch.Tensor] = []
        """Rows (1-d) drawn since the last update and not evaluated: the next update learns from them."""
        self.asked: set[tuple[int, ...]] = set()
        """Rows proposed for evaluation since the last update."""

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.optimizer}

    def extra_state(self) -> dict[str, Any]:
        total = self.space.total_tokens
        rows = torch.tensor(list(self.memory), dtype=torch.long).reshape(-1, total)
        sums, counts = zip(*self.memory.values(), strict=True) if self.memory else ((), ())
        return {
            "baseline": self.baseline,
            "moments": self.moments.state_dict(),
            "memory": {
                "rows": rows,
                "sums": torch.tensor(sums, dtype=torch.float64),
                "counts": torch.tensor(counts, dtype=torch.long),
            },
            "recalled": torch.stack(self.recalled).cpu() if self.recalled else torch.zeros(0, total, dtype=torch.long),
            "asked": torch.tensor(sorted(self.asked), dtype=torch.long).reshape(-1, total),
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.baseline = state["baseline"]
        self.moments.load_state_dict(state["moments"])
        # Checkpoints written before recall_known existed hold none of these: the search then starts to remember.
        memory = state.get("memory", {"rows": torch.zeros(0, 0), "sums": (), "counts": ()})
        self.memory = {
            key: (float(total), int(count))
            for key, total, count in zip(row_keys(memory["rows"]), memory["sums"], memory["counts"], strict=True)
        }
        self.recalled = list(state.get("recalled", torch.zeros(0, 0, dtype=torch.long)).to(self.device))
        self.asked = set(row_keys(state.get("asked", torch.zeros(0, 0))))

    def act(self, n: int) -> dict[str, np.ndarray]:
        """n joint actions drawn from the policies; with ``recall_known`` n new ones (module docstring)."""
        if not self.config.recall_known or n < 1:
            return super().act(n)
        fresh: list[torch.Tensor] = []
        repeats: list[torch.Tensor] = []
        for row, key in self._rounds(n):
            if key in self.memory or key in self.asked:
                repeats.append(row)
                continue
            fresh.append(row)
            self.asked.add(key)
            if len(fresh) == n:
                break
        again = repeats[: n - len(fresh)]
        self.asked.update(row_keys(torch.stack(again)) if again else ())
        self.recalled.extend(repeats[len(again) :])
        return self.space.to_env(torch.stack(fresh + again))

    def _rounds(self, n: int) -> Iterator[tuple[torch.Tensor, tuple[int, ...]]]:
        """(row, key) of up to ``recall_draws`` rounds of n draws, each round drawn only once the last is used up."""
        for _ in range(self.config.recall_draws):
            rows = self.sample_tokens(n)
            yield from zip(rows, row_keys(rows), strict=True)

    def update_tokens(self, tokens: torch.Tensor, rewards: torch.Tensor) -> dict[str, float]:
        """REINFORCE on the evaluated rows and, with ``recall_known``, the rows recalled since the last update."""
        self.moments.update(rewards)
        recalled = 0
        if self.config.recall_known:
            tokens, rewards, recalled = self._with_recalled(tokens, rewards)
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
        return {**stats, "recalled": float(recalled)} if self.config.recall_known else stats

    def _with_recalled(self, tokens: torch.Tensor, rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Remember the evaluated rows' rewards; return them with the recalled rows, each at its pipeline's mean
        reward, and how many were recalled. A recalled row whose pipeline was never evaluated (its batch was not
        told in full) is dropped."""
        for key, reward in zip(row_keys(tokens), rewards.double().tolist(), strict=True):
            total, count = self.memory.get(key, (0.0, 0))
            self.memory[key] = (total + reward, count + 1)
        drawn = torch.stack(self.recalled) if self.recalled else tokens[:0]
        self.recalled, self.asked = [], set()
        known = [(row, self.memory[key]) for row, key in zip(drawn, row_keys(drawn), strict=True) if key in self.memory]
        if not known:
            return tokens, rewards, 0
        rows = torch.stack([row for row, _ in known])
        means = torch.tensor([total / count for _, (total, count) in known], dtype=rewards.dtype, device=rewards.device)
        return torch.cat([tokens, rows]), torch.cat([rewards, means]), len(known)
