"""Autoregressive token controllers: one per agent, a one-layer LSTM emitting its tokens one by one.

The paper's controller (METHOD.md, "Settings"): a one-layer LSTM with 100 hidden units per module. The
input at position t is an embedding of the token chosen at t-1 (position-specific rows, since positions
have different choice sets); at t = 0 it is a learned start embedding, which is how we read the paper's
fixed input S_i (a constant input through a learned embedding is a learned vector). Each position has
its own output head; heads are stored padded to the largest choice count and invalid logits are masked.

``autoregressive=False`` (ours, an ablation) feeds the start embedding at every position instead of the previous
token: the LSTM's states then do not depend on what was drawn, so the policy is a product of independent
categoricals, one per token (the policy class of a MultiDiscrete actor on a constant observation, as the MARL
libraries' PPO learners use in pipeline mode), with the same parameters and code paths.

Target copies (rho_i in the paper) are plain deep copies updated by ``polyak_update``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

MASKED_LOGIT = -1e9
"""Logit of a choice a position does not have. Finite, so 0 * log 0 terms in a KL stay 0 instead of NaN."""

_LSTM_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

INIT_RANGE = 0.1
"""Parameters start uniform in [-0.1, 0.1] (as in NAS/ENAS controllers): near-uniform initial policies."""


@dataclass(frozen=True)
class ControllerSample:
    """What ``TokenController.sample`` returns."""

    actions: torch.Tensor
    """LongTensor (n, T): token indices."""
    log_prob: torch.Tensor
    """(n,): log pi(actions) under the distribution drawn from, the sum over positions."""
    log_probs: torch.Tensor
    """(n, T, max_choices): log-softmax of every position's distribution given the sampled prefix (at the temperature
    drawn from)."""


class TokenController(nn.Module):
    """Policy over a sequence of T tokens, token t having ``nvec[t]`` choices."""

    embed_offsets: torch.Tensor
    valid: torch.Tensor

    def __init__(
        self,
        nvec: Sequence[int],
        *,
        hidden_size: int = 100,
        embed_size: int | None = None,
        autoregressive: bool = True,
    ) -> None:
        super().__init__()
        if not nvec or min(nvec) < 1:
            raise ValueError(f"nvec must be non-empty with positive entries, got {list(nvec)}")
        self.nvec = tuple(int(n) for n in nvec)
        self.hidden_size = hidden_size
        self.autoregressive = autoregressive
        embed = embed_size or hidden_size
        offsets = torch.tensor([0, *self.nvec[:-1]]).cumsum(0)
        # Row 0 is the start input; the token v at position t has row 1 + offsets[t] + v.
        self.register_buffer("embed_offsets", 1 + offsets, persistent=False)
        max_choices = max(self.nvec)
        valid = torch.arange(max_choices)[None, :] < torch.tensor(self.nvec)[:, None]
        self.register_buffer("valid", valid, persistent=False)
        self.embedding = nn.Embedding(1 + sum(self.nvec), embed)
        self.lstm = nn.LSTM(embed, hidden_size, num_layers=1, batch_first=True)
        self.head_weight = nn.Parameter(torch.empty(len(self.nvec), max_choices, hidden_size))
        self.head_bias = nn.Parameter(torch.empty(len(self.nvec), max_choices))

    @property
    def num_tokens(self) -> int:
        return len(self.nvec)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise every parameter from ``generator`` (module construction uses torch's global RNG)."""
        with torch.no_grad():
            for parameter in self.parameters():
                nn.init.uniform_(parameter, -INIT_RANGE, INIT_RANGE, generator=generator)

    def _inputs(self, actions: torch.Tensor) -> torch.Tensor:
        """Embedding rows fed at each position under teacher forcing: start, then the previous tokens (the start
        throughout when not autoregressive)."""
        n = actions.shape[0]
        if not self.autoregressive:
            return self.embedding(torch.zeros_like(actions))
        previous = actions[:, :-1] + self.embed_offsets[:-1]
        start = torch.zeros(n, 1, dtype=torch.long, device=actions.device)
        return self.embedding(torch.cat([start, previous], dim=1))

    def _mask(self, logits: torch.Tensor, positions: slice | int) -> torch.Tensor:
        return logits.masked_fill(~self.valid[positions], MASKED_LOGIT)

    def log_prob_table(self, actions: torch.Tensor) -> torch.Tensor:
        """(n, T, max_choices) log-softmax at every position given the prefix of ``actions`` (teacher forcing)."""
        hidden, _ = self.lstm(self._inputs(actions))
        logits = torch.einsum("nth,tkh->ntk", hidden, self.head_weight) + self.head_bias
        return torch.log_softmax(self._mask(logits, slice(None)), dim=-1)

    def position_log_probs(self, actions: torch.Tensor) -> torch.Tensor:
        """(n, T): log pi(a_t | a_<t) of every position of ``actions``."""
        return self.log_prob_table(actions).gather(2, actions.unsqueeze(2)).squeeze(2)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """(n,): log pi(actions), differentiable."""
        return self.position_log_probs(actions).sum(dim=1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator, temperature: float = 1.0) -> ControllerSample:
        """Draw n token sequences; no gradient (algorithms recompute log-probs by teacher forcing).

        ``temperature`` below 1 draws every token from the policy's distribution sharpened to softmax(logits / T)
        (above 1 flattened); the returned log-probabilities are those of the distribution drawn from.

        The LSTM is stepped by hand with the input projection of every embedding row computed once: calling
        ``nn.LSTM`` once per token costs several times more on a CPU.
        """
        w_ih, w_hh, b_ih, b_hh = (cast(torch.Tensor, getattr(self.lstm, f"{k}_l0")) for k in _LSTM_WEIGHTS)
        projected = torch.addmm(b_ih + b_hh, self.embedding.weight, w_ih.T)
        w_hh = w_hh.T
        hidden = torch.zeros(n, self.hidden_size, device=w_hh.device)
        cell = torch.zeros_like(hidden)
        rows = torch.zeros(n, dtype=torch.long, device=w_hh.device)
        table = torch.full((n, self.num_tokens, self.valid.shape[1]), MASKED_LOGIT, device=w_hh.device)
        actions = torch.empty(n, self.num_tokens, dtype=torch.long, device=w_hh.device)
        for t, choices in enumerate(self.nvec):
            gates = torch.addmm(projected[rows], hidden, w_hh)
            i, f, g, o = gates.chunk(4, dim=1)
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
            hidden = torch.sigmoid(o) * torch.tanh(cell)
            logits = torch.addmm(self.head_bias[t, :choices], hidden, self.head_weight[t, :choices].T)
            log_probs = torch.log_softmax(logits / temperature, dim=1)
            token = _gumbel_argmax(log_probs, generator)
            table[:, t, :choices] = log_probs
            actions[:, t] = token
            if self.autoregressive:
                rows = token + self.embed_offsets[t]
        return ControllerSample(actions, table.gather(2, actions.unsqueeze(2)).sum(dim=(1, 2)), table)

    def kl(self, other: TokenController, actions: torch.Tensor, *, exact: bool = True) -> torch.Tensor:
        """(n,) estimate of KL(self || other) along the token sequences ``actions``.

        ``exact=True``: sum over positions of the exact KL between the two per-position distributions given
        the prefix in ``actions``. Its expectation over actions ~ self is the sequence KL (chain rule), its
        variance is lower than the one-sample form, and it stays meaningful on replayed actions that were not
        drawn from ``self``. ``exact=False``: the one-sample form log self(a) - log other(a), unbiased only
        when ``actions`` ~ self. Differentiable in both controllers.
        """
        if exact:
            mine, theirs = self.log_prob_table(actions), other.log_prob_table(actions)
            return (mine.exp() * (mine - theirs)).sum(dim=(1, 2))
        return self.log_prob(actions) - other.log_prob(actions)


def _gumbel_argmax(log_probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw per row from softmax(log_probs): argmax of log_probs + Gumbel noise (cheaper than multinomial)."""
    uniform = torch.rand(log_probs.shape, generator=generator, device=log_probs.device)
    gumbel = -torch.log(-torch.log(uniform.clamp_(min=1e-20)))
    return (log_probs + gumbel).argmax(dim=1)


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, *, tau: float) -> None:
    """theta_bar <- (1 - tau) theta_bar + tau theta, parameter by parameter."""
    for target_param, param in zip(target.parameters(), source.parameters(), strict=True):
        target_param.mul_(1.0 - tau).add_(param, alpha=tau)


def enumerate_actions(nvec: Sequence[int], *, device: str | torch.device = "cpu") -> torch.Tensor:
    """Every token sequence of a small space, LongTensor (prod(nvec), T), in lexicographic order."""
    grids = torch.meshgrid(*[torch.arange(n, device=device) for n in nvec], indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], dim=1)
