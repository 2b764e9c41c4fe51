"""What a search does with its budget, measured along a run (docs/ma2ml_study.md, issue 19).

- ``entropy_fraction``: per policy, the mean per-token entropy over fresh draws as a fraction of the uniform
  entropy (1.0 = uniform, 0.0 = deterministic): how fast the policies commit;
- ``rank_correlation``: Spearman's rho between a model's scores and the rewards of evaluations it has not
  learnt from yet (the next batch): how well the model ranks what it will be asked about;
- ``DuplicateCounter``: how many evaluations went to pipelines already evaluated;
- ``evaluations_to_reach``: the first evaluation whose best-so-far reaches a target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from ma2ml_agents.controllers import TokenController


@torch.no_grad()
def entropy_fraction(policy: TokenController, *, samples: int = 256, seed: int = 12345) -> float:
    """Mean over tokens with more than one choice of H(pi(. | prefix)) / log(choices), over ``samples`` draws.

    Uses its own generator (``seed``), so measuring never shifts a run's randomness. NaN if no token has a choice.
    """
    generator = torch.Generator().manual_seed(seed)
    table = policy.sample(samples, generator=generator).log_probs  # (n, T, K), invalid choices at -1e9
    probs = table.exp()
    entropy = -(probs * table.clamp(min=-1e4)).sum(-1)  # (n, T)
    choices = torch.tensor(policy.nvec)
    keep = choices > 1
    if not bool(keep.any()):
        return math.nan
    uniform = choices[keep].double().log()
    return float((entropy[:, keep].double() / uniform).mean())


def rank_correlation(scores: Sequence[float] | np.ndarray, rewards: Sequence[float] | np.ndarray) -> float:
    """Spearman's rho (average ranks for ties); NaN when either side is constant or has fewer than 2 values."""
    x, y = np.asarray(scores, dtype=np.float64), np.asarray(rewards, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"scores and rewards must be two 1-d arrays of one length, got {x.shape} and {y.shape}")
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(average_ranks(x), average_ranks(y))[0, 1])


def average_ranks(values: np.ndarray) -> np.ndarray:
    """0-based ranks of a 1-d array, tied values sharing the mean of their ranks (SciPy's ``rankdata`` - 1)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2)[inverse.reshape(-1)]


class DuplicateCounter:
    """Counts evaluations of pipelines (token rows) already evaluated, in this batch or before."""

    def __init__(self) -> None:
        self.seen: set[tuple[int, ...]] = set()
        self.evaluations = 0
        self.duplicates = 0

    def add(self, rows: Iterable[Sequence[int]]) -> int:
        """Record a batch of rows; returns how many of them were already evaluated."""
        repeats = 0
        for row in rows:
            key = tuple(int(v) for v in row)
            repeats += key in self.seen
            self.seen.add(key)
            self.evaluations += 1
        self.duplicates += repeats
        return repeats

    @property
    def fraction(self) -> float:
        """Duplicates over evaluations so far (0.0 before any)."""
        return self.duplicates / self.evaluations if self.evaluations else 0.0


def evaluations_to_reach(best_so_far: Sequence[float] | np.ndarray, target: float) -> float:
    """1-based index of the first evaluation whose best-so-far is >= ``target`` (inf if never)."""
    curve = np.asarray(best_so_far, dtype=np.float64)
    hits = np.flatnonzero(curve >= target)
    return float(hits[0] + 1) if hits.size else math.inf
