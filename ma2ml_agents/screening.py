"""Critic-screened proposals: a small ensemble of joint critics and the choice of which drawn pipelines to evaluate.

``CriticEnsemble`` is E ``JointCritic`` members with their own initial weights, each fitted on its own rows
(the batch just evaluated plus its own replay draw, a bootstrap of the replay), so their spread is larger where
the replay says little. Its forward is the members' mean, so it stands in for one critic everywhere (the
counterfactual baseline, the advantage).

``screen`` picks n of m candidate rows drawn from the policies: known rows (already evaluated) and repeats are
dropped, the rest ranked by mean + beta * std over the members (an upper confidence bound, in the critic's
standardised units, so beta means the same on every reward scale), the top n kept; if fewer than n new rows
were drawn, the best-scored known rows fill the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import torch
from torch import nn

from ma2ml_agents.critic import JointCritic


class CriticEnsemble(nn.Module):
    """Q(A) = mean over E ``JointCritic`` members; ``members(A)`` gives each member's (E, n) values."""

    def __init__(self, flat_nvec: Sequence[int], *, size: int, hidden_size: int = 100, num_layers: int = 2) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"a critic ensemble needs at least one member, got {size}")
        self.critics = nn.ModuleList(
            JointCritic(flat_nvec, hidden_size=hidden_size, num_layers=num_layers) for _ in range(size)
        )

    @property
    def size(self) -> int:
        return len(self.critics)

    def _members(self) -> list[JointCritic]:
        return cast(list[JointCritic], list(self.critics))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Each member from ``generator`` in turn: different initial weights, one seed."""
        for critic in self._members():
            critic.reset_parameters(generator)

    @torch.no_grad()
    def start_at(self, level: float) -> None:
        for critic in self._members():
            critic.start_at(level)

    def members(self, actions: torch.Tensor) -> torch.Tensor:
        """(E, n) every member's Q."""
        return torch.stack([critic(actions) for critic in self.critics])

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        """(n,) the members' mean Q."""
        return self.members(actions).mean(dim=0)

    def substitutions(self, actions: torch.Tensor) -> torch.Tensor:
        """(n, T, max_choices) the members' mean Q of every one-token change (``JointCritic.substitutions``)."""
        return torch.stack([critic.substitutions(actions) for critic in self._members()]).mean(dim=0)

    def loss(self, actions: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        """Sum over members of each one's MSE on its own E-th of the rows (rows stacked member after member)."""
        if actions.shape[0] % self.size:
            raise ValueError(f"{actions.shape[0]} rows cannot be split evenly between {self.size} critics")
        chunks = zip(actions.chunk(self.size), rewards.chunk(self.size), self._members(), strict=True)
        return torch.stack([critic.loss(rows, targets) for rows, targets, critic in chunks]).sum()


def row_keys(tokens: torch.Tensor) -> list[tuple[int, ...]]:
    """Hashable keys of token rows (n, T)."""
    return [tuple(row) for row in tokens.tolist()]


@torch.no_grad()
def screen(
    candidates: torch.Tensor,
    n: int,
    *,
    scores: torch.Tensor,
    known: Iterable[tuple[int, ...]] = (),
) -> torch.Tensor:
    """The n rows of ``candidates`` (m, T) to evaluate: new distinct rows by descending ``scores`` (m,), then known.

    Ties keep the draw order (a stable sort), so with constant scores this is "the first n new rows drawn".
    """
    if candidates.shape[0] < n:
        raise ValueError(f"cannot screen {n} rows out of {candidates.shape[0]} candidates; draw more")
    seen = set(known)
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    keys = row_keys(candidates)
    fresh: list[int] = []
    repeats: list[int] = []
    taken: set[tuple[int, ...]] = set()
    for index in order:
        key = keys[index]
        if key in taken:
            repeats.append(index)
            continue
        taken.add(key)
        (repeats if key in seen else fresh).append(index)
    chosen = (fresh + repeats)[:n]
    return candidates[torch.tensor(chosen, dtype=torch.long, device=candidates.device)]
