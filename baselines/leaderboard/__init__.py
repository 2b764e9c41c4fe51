"""The leaderboard: every search of the registry on every real task and budget, one report with intervals.

    from baselines.leaderboard import SUITES, LeaderboardConfig, run_leaderboard
    result = run_leaderboard(LeaderboardConfig(suite=SUITES["tiny"], out="runs/leaderboard-tiny"))

| file         | what it holds                                                                    |
|--------------|----------------------------------------------------------------------------------|
| ``suites``   | the suites (``fast``, ``marl``, ``tiny``): searches, tasks, seeds, budgets, sources |
| ``scores``   | noise-free values, random search's distribution, the normalised score            |
| ``runs``     | one benchmark per task (runs reused), every run scored at every budget           |
| ``stats``    | SciPy and rliable intervals: mean, censored median, IQM, P(improvement)          |
| ``aggregate``| across tasks: IQM and probability of improvement per search                      |
| ``api``      | ``LeaderboardConfig``, ``LeaderboardResult``, ``run_leaderboard``                |
| ``report``   | leaderboard.md, runs.csv, aggregate.csv, iqm.png                                 |
| ``cli``      | ``automl-env leaderboard``                                                       |
"""

from baselines.leaderboard.aggregate import Aggregate
from baselines.leaderboard.api import LeaderboardConfig, LeaderboardResult, run_leaderboard
from baselines.leaderboard.cli import main
from baselines.leaderboard.runs import RunScore
from baselines.leaderboard.scores import TaskScorer, task_scorer
from baselines.leaderboard.suites import SOURCES, SUITES, Suite, SuiteTask

__all__ = [
    "SOURCES",
    "SUITES",
    "Aggregate",
    "LeaderboardConfig",
    "LeaderboardResult",
    "RunScore",
    "Suite",
    "SuiteTask",
    "TaskScorer",
    "main",
    "run_leaderboard",
    "task_scorer",
]
