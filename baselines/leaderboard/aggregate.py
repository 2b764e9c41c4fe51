"""The leaderboard's aggregate across tasks: IQM of normalised score per search and its probability of improvement
over random search and over the best baseline, each with a stratified bootstrap interval (``stats``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.leaderboard.runs import RunScore
from baselines.leaderboard.stats import improvement_intervals, iqm_intervals
from baselines.leaderboard.suites import Suite

BASELINE_SEARCHES = ("rea", "tpe", "reinforce", "sequential_rea", "sequential_tpe")
"""The baselines that "the best baseline" is chosen from (random search is compared with on its own)."""


@dataclass(frozen=True)
class Aggregate:
    """Across tasks at one budget: IQM of normalised score and probabilities of improvement, with intervals."""

    budget: int
    iqm: dict[str, tuple[float, float, float]]
    improvement: dict[str, tuple[float, float, float]]
    best_baseline: str | None


def aggregate(
    scores: list[RunScore], suite: Suite, *, tasks: list[str], reps: int, improvement_reps: int
) -> list[Aggregate]:
    """At every budget all tasks share: IQM per algorithm, and P(improvement) over random and the best baseline.

    Only the algorithms that ran on every task are aggregated: an IQM over other tasks would not compare.
    """
    if not tasks:
        return []
    everywhere = [
        a for a in suite.algorithms if all(any(s.algorithm == a and s.task == t for s in scores) for t in tasks)
    ]
    shared = sorted(set.intersection(*({s.budget for s in scores if s.task == t} for t in tasks)))
    out = []
    for budget in shared:
        matrices = {a: _matrix(scores, a, tasks, budget) for a in everywhere}
        iqm = iqm_intervals(matrices, reps=reps)
        baselines = [a for a in BASELINE_SEARCHES if a in iqm]
        best = max(baselines, key=lambda a: iqm[a][0]) if baselines else None
        pairs = {}
        for algorithm in everywhere:
            for other in ("random", best):
                if other is not None and other != algorithm and other in matrices:
                    pairs[f"{algorithm} over {other}"] = (matrices[algorithm], matrices[other])
        out.append(Aggregate(budget, iqm, improvement_intervals(pairs, reps=improvement_reps), best))
    return out


def _matrix(scores: list[RunScore], algorithm: str, tasks: list[str], budget: int) -> np.ndarray:
    """(seeds x tasks) normalised scores of the returned pipelines, seeds in order."""
    columns = []
    for task in tasks:
        runs = sorted(
            (s for s in scores if s.algorithm == algorithm and s.task == task and s.budget == budget),
            key=lambda s: s.seed,
        )
        columns.append([s.returned_score for s in runs])
    return np.asarray(columns, dtype=np.float64).T
