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

from baselines.leaderboard.aggregate import Aggregate, aggregate
from baselines.leaderboard.runs import RunScore, benchmark_task, score_task
from baselines.leaderboard.scores import TaskScorer
from baselines.leaderboard.suites import Suite


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
        aggregates = aggregate(
            scores,
            config.suite,
            tasks=[e.task for e in entries],
            reps=config.reps,
            improvement_reps=config.improvement_reps,
        )
        wall = time.perf_counter() - started
        report = write_report(
            config.out, config.suite, scores, scorers, aggregates, missing=missing, skipped=skipped, wall_seconds=wall
        )
    return LeaderboardResult(config.out, report, scores, scorers, aggregates, missing, skipped, wall)
