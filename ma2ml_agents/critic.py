"""Centralised critic Q_phi(S, A) over the joint action of every agent (METHOD.md, MA2ML).

Every token of every agent has its own embedding row (agent, position and value); the embeddings go
through an MLP to a scalar. Embedding each token and concatenating before a first linear layer equals
summing position-specific embeddings of the first layer's width, so we sum (``EmbeddingBag``): the
same function class, with cost independent of how the joint action is laid out.

S is the paper's fixed input for each agent, identical in every episode, so it is absorbed into the
first layer's bias and not fed explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class JointCritic(nn.Module):
    """Q(A) for joint token rows A (LongTensor (n, total_tokens))."""

    offsets: torch.Tensor
    value_rows: torch.Tensor
    row_positions: torch.Tensor

    def __init__(self, flat_nvec: Sequence[int], *, hidden_size: int = 100, num_layers: int = 2) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("the critic needs at least one hidden layer")
        self.flat_nvec = tuple(int(n) for n in flat_nvec)
        offsets = torch.tensor([0, *self.flat_nvec[:-1]]).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        # Embedding row of every (position, value), values past a position's count repeating its last row.
        values = torch.arange(max(self.flat_nvec))[None, :].clamp(max=torch.tensor(self.flat_nvec)[:, None] - 1)
        self.register_buffer("value_rows", offsets[:, None] + values, persistent=False)
        # The position of every embedding row.
        self.register_buffer(
            "row_positions",
            torch.repeat_interleave(torch.arange(len(self.flat_nvec)), torch.tensor(self.flat_nvec)),
            persistent=False,
        )
        self.embedding = nn.EmbeddingBag(sum(self.flat_nvec), hidden_size, mode="sum")
        self.input_bias = nn.Parameter(torch.zeros(hidden_size))
        self.hidden = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(num_layers - 1))
        self.output = nn.Linear(hidden_size, 1)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise from ``generator``: uniform(+-1/sqrt(fan_in)) like nn.Linear, embeddings by token count."""
        with torch.no_grad():
            bound = 1.0 / math.sqrt(len(self.flat_nvec))
            nn.init.uniform_(self.embedding.weight, -bound, bound, generator=generator)
            self.input_bias.zero_()
            for layer in [*self.hidden, self.output]:
                bound = 1.0 / math.sqrt(layer.in_features)
                nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    @torch.no_grad()
    def start_at(self, level: float) -> None:
        """Shift the output by ``level`` (e.g. the first rewards' mean), so fitting starts from the rewards' level."""
        self.output.bias.add_(level)

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        """(n,) Q values."""
        return self._head(self.embedding(actions + self.offsets) + self.input_bias)

    def substitutions(self, actions: torch.Tensor) -> torch.Tensor:
        """(n, T, max_choices): entry [r, t, v] is Q of row r with its token t set to v, the rest held.

        Entries with v past position t's choice count repeat its last value's. The first layer sums token
        embeddings, so a one-token change swaps one embedding: one pass over the n x sum(nvec) real changes (not the
        n x T x max_choices of the padded layout, about twice as many on the paper's spaces), then laid out.
        """
        first = self.embedding(actions + self.offsets) + self.input_bias
        without = first[:, None, :] - self.embedding.weight[actions + self.offsets]  # (n, T, hidden): token t taken out
        return self._head(without[:, self.row_positions, :] + self.embedding.weight[None])[:, self.value_rows]

    def _head(self, first: torch.Tensor) -> torch.Tensor:
        """Q from the first layer's pre-activations (..., hidden_size)."""
        x = torch.relu(first)
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.output(x).squeeze(-1)

    def loss(self, actions: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        """L_Q = mean (Q(S, A) - R)^2."""
        return torch.mean((self(actions) - rewards) ** 2)
