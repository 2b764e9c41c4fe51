"""Recall (ours): a search that draws its proposals from its policies evaluates each pipeline once.

``Recall.choose`` takes the policies' draws in rounds of n, in order, until n of them are new (neither evaluated nor
proposed and still awaiting their results), at most ``rounds`` rounds; those n are evaluated. The rows drawn before
the n-th new one that repeat a known pipeline are not evaluated but kept, and ``Recall.learn`` hands them to the next
update with their recorded reward (the mean of the pipeline's evaluations so far). So an update can learn from every
draw up to a stopping point, as it would have had each been evaluated: the evaluated rows alone would be a biased
sample (the novel draws) of the policies, all of the draws are not. MA2ML-Lite's REINFORCE takes them at their
rewards; MA2ML's policy step takes them as draws its critic scores. Where the rounds hold fewer than n new rows (the
policies have nearly committed, or the space is nearly exhausted), the first repeats drawn are evaluated again, as
without recall. Rows drawn after the n-th new one are discarded, as if the draws had stopped there. Without repeats
in the draws nothing changes, draw for draw.

WHY: without it MA2ML-Lite spent 31-45% of its 1,008 evaluations on pipelines it had already evaluated on the four
tuning tables, and MA2ML 38-47% (docs/ma2ml_study.md, sections 21 and 22).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from ma2ml_agents.screening import row_keys


class Recall:
    """Every evaluated pipeline's rewards, the draws of known pipelines since the last update, the rows proposed."""

    def __init__(self, rounds: int, total_tokens: int) -> None:
        if rounds < 1:
            raise ValueError(f"recall needs at least one round of draws, got {rounds!r}")
        self.rounds = rounds
        self.total_tokens = total_tokens
        self.memory: dict[tuple[int, ...], tuple[float, int]] = {}
        """Every evaluated pipeline's (sum of rewards, evaluations)."""
        self.recalled: list[torch.Tensor] = []
        """Rows (1-d) drawn since the last update and not evaluated: the next update learns from them."""
        self.asked: set[tuple[int, ...]] = set()
        """Rows proposed for evaluation and not yet told."""

    def choose(self, draw: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
        """The n rows (n, T) to evaluate, out of rounds ``draw(n)`` (module docstring)."""
        fresh: list[torch.Tensor] = []
        repeats: list[torch.Tensor] = []
        for row, key in self._rounds(draw, n):
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
        return torch.stack(fresh + again)

    def _rounds(self, draw: Callable[[int], torch.Tensor], n: int) -> Iterator[tuple[torch.Tensor, tuple[int, ...]]]:
        """(row, key) of up to ``rounds`` rounds of ``draw(n)``, each round drawn only once the last is used up."""
        for _ in range(self.rounds):
            rows = draw(n)
            yield from zip(rows, row_keys(rows), strict=True)

    def learn(self, tokens: torch.Tensor, rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Remember the evaluated rows' rewards; return them with the rows recalled since the last update, each at
        its pipeline's mean reward, and how many were recalled. A recalled row whose pipeline was never evaluated
        (its batch was not told in full) is dropped."""
        told = row_keys(tokens)
        for key, reward in zip(told, rewards.double().tolist(), strict=True):
            total, count = self.memory.get(key, (0.0, 0))
            self.memory[key] = (total + reward, count + 1)
        drawn = torch.stack(self.recalled) if self.recalled else tokens[:0]
        self.recalled = []
        self.asked.difference_update(told)  # an asynchronous search has others still in flight
        known = [(row, self.memory[key]) for row, key in zip(drawn, row_keys(drawn), strict=True) if key in self.memory]
        if not known:
            return tokens, rewards, 0
        rows = torch.stack([row for row, _ in known])
        means = torch.tensor([total / count for _, (total, count) in known], dtype=rewards.dtype, device=rewards.device)
        return torch.cat([tokens, rows]), torch.cat([rewards, means]), len(known)

    def state_dict(self) -> dict[str, Any]:
        """Tensors only (checkpoints load with ``weights_only=True``)."""
        total = self.total_tokens
        rows = torch.tensor(list(self.memory), dtype=torch.long).reshape(-1, total)
        sums, counts = zip(*self.memory.values(), strict=True) if self.memory else ((), ())
        return {
            "memory": {
                "rows": rows,
                "sums": torch.tensor(sums, dtype=torch.float64),
                "counts": torch.tensor(counts, dtype=torch.long),
            },
            "recalled": torch.stack(self.recalled).cpu() if self.recalled else torch.zeros(0, total, dtype=torch.long),
            "asked": torch.tensor(sorted(self.asked), dtype=torch.long).reshape(-1, total),
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        memory = state["memory"]
        self.memory = {
            key: (float(total), int(count))
            for key, total, count in zip(row_keys(memory["rows"]), memory["sums"], memory["counts"], strict=True)
        }
        self.recalled = list(state["recalled"].to(device))
        self.asked = set(row_keys(state["asked"]))
