"""The leaderboard's Python API: ``run_leaderboard(LeaderboardConfig(suite=SUITES["tiny"])) -> LeaderboardResult``.

    from baselines.leaderboard import SUITES, LeaderboardConfig, run_leaderboard
    result = run_leaderboard(LeaderboardConfig(suite=SUITES["tiny"], out="runs/leaderboard-tiny"))
    print(result.report)

Every task is one benchmark (``baselines.benchmark``) in ``out/<task>/``, so finished runs are reused and
killed ones resumed; the report (``leaderboard.md``, ``runs.csv``, ``aggregate.csv``, ``iqm.png``) is
written into ``out``. One leaderboard per folder at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from baselines.leaderboard.runs import RunScore, benchmark_task, score_task
from baselines.leaderboard.scores import TaskScorer
from baselines.leaderboard.stats import improvement_intervals, iqm_intervals
from baselines.leaderboard.suites import Suite

BASELINE_SEARCHES = ("rea", "tpe", "reinforce", "sequential_rea", "sequential_tpe")
"""The baselines that "the best baseline" is chosen from (random search is compared with on its own)."""


@dataclass(frozen=True, kw_only=True)
class LeaderboardConfig:
    suite: Suite
    out: Path = Path("runs/leaderboard")
    workers: int = 1
    """Runs in parallel, each in its own process."""
    reps: int = 2000
    """Stratified bootstrap resamples of the IQM intervals."""
    improvement_reps: int = 500
    """Resamples of the probability-of-improvement intervals: rliable's estimator is slow, 8.7 ms of CPU a
    resample at 20 seeds x 11 tasks (measured: 100 resamples, 0.87 s), so 500 resamples of 16 pairs at 3
    budgets cost about 3.5 CPU minutes."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        for name in ("workers", "reps", "improvement_reps"):
            if getattr(self, name) < 1:
                raise ValueError(f"LeaderboardConfig.{name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Aggregate:
    """Across tasks at one budget: IQM of normalised score and probabilities of improvement, with intervals."""

    budget: int
    iqm: dict[str, tuple[float, float, float]]
    improvement: dict[str, tuple[float, float, float]]
    best_baseline: str | None


@dataclass(frozen=True)
class LeaderboardResult:
    out: Path
    report: str
    scores: list[RunScore] = field(repr=False)
    scorers: dict[str, TaskScorer] = field(repr=False)
    aggregates: list[Aggregate]
    missing: list[str]
    """Tasks of the suite that this install does not register."""
    skipped: dict[str, dict[str, str]]
    """Task -> algorithm -> why it cannot run on that task."""
    wall_seconds: float


def run_leaderboard(config: LeaderboardConfig) -> LeaderboardResult:
    """Run (or reuse) every run of the suite, score it, aggregate, and write the report into ``config.out``."""
    import automl_env
    from baselines.leaderboard.report import write_report
    from ma2ml_agents.run_folder import lock_folder

    started = time.perf_counter()
    with lock_folder(config.out):
        known = set(automl_env.list_tasks())
        entries = [e for e in config.suite.tasks if e.task in known]
        missing = [e.task for e in config.suite.tasks if e.task not in known]
        scores: list[RunScore] = []
        scorers: dict[str, TaskScorer] = {}
        skipped: dict[str, dict[str, str]] = {}
        for entry in entries:
            print(f"leaderboard: {entry.task}", flush=True)
            result, backend, skipped[entry.task] = benchmark_task(
                config.suite, entry, out=config.out, workers=config.workers
            )
            scorers[entry.task], task_scores = score_task(config.suite, entry, result, backend)
            scores += task_scores
        aggregates = aggregate(scores, config.suite, config=config, tasks=[e.task for e in entries])
        wall = time.perf_counter() - started
        report = write_report(config, scores, scorers, aggregates, missing=missing, skipped=skipped, wall_seconds=wall)
    return LeaderboardResult(config.out, report, scores, scorers, aggregates, missing, skipped, wall)


def aggregate(scores: list[RunScore], suite: Suite, *, config: LeaderboardConfig, tasks: list[str]) -> list[Aggregate]:
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
        iqm = iqm_intervals(matrices, reps=config.reps)
        baselines = [a for a in BASELINE_SEARCHES if a in iqm]
        best = max(baselines, key=lambda a: iqm[a][0]) if baselines else None
        pairs = {}
        for algorithm in everywhere:
            for other in ("random", best):
                if other is not None and other != algorithm and other in matrices:
                    pairs[f"{algorithm} over {other}"] = (matrices[algorithm], matrices[other])
        out.append(Aggregate(budget, iqm, improvement_intervals(pairs, reps=config.improvement_reps), best))
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
