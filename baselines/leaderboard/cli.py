"""``automl-env leaderboard`` (and ``python examples/leaderboard.py``): the leaderboard's command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from automl_env.arguments import integer, output_folder
from baselines.leaderboard.api import LeaderboardConfig, LeaderboardResult, run_leaderboard
from baselines.leaderboard.suites import SUITES

DESCRIPTION = """Every search on every real task and budget; one report with bootstrap intervals.

    automl-env leaderboard                      # the fast searches, 20 seeds (docs/benchmark.md: about an hour)
    automl-env leaderboard --suite marl         # the MARL library runners, 5 seeds (opt-in, longer)
    automl-env leaderboard --suite tiny         # seconds: the suite the tests run
    automl-env leaderboard --suite marl --tasks nb201-cifar100 --algorithms random benchmarl_mappo_pipeline
    automl-env leaderboard --suite real --seeds 20 21 22 --out runs/leaderboard-real-20  # other seeds than 0-19

Each task is a benchmark in OUT/<task>/ (finished runs are reused, killed ones resumed); the report is
OUT/leaderboard.md with runs.csv, aggregate.csv and iqm.png.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="fast", choices=sorted(SUITES), help="which suite (default: %(default)s)")
    parser.add_argument(
        "--out", type=output_folder, default=None, help="output folder (default: runs/leaderboard-<suite>)"
    )
    parser.add_argument(
        "--workers",
        type=integer(minimum=1),
        default=os.cpu_count() or 1,
        help="runs in parallel processes (default: %(default)s, the number of CPUs)",
    )
    parser.add_argument(
        "--algorithms",
        nargs="+",
        default=None,
        metavar="NAME",
        help="only these searches of the suite (default: all of them); their finished runs in OUT are reused",
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=None,
        metavar="TASK",
        help="only these tasks of the suite (default: all of them); their finished runs in OUT are reused",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=integer(minimum=0),
        default=None,
        metavar="SEED",
        help="run the suite on these seeds instead of its own (named in the report); use another --out to keep "
        "both reports",
    )
    parser.add_argument(
        "--reps", type=integer(minimum=1), default=2000, help="bootstrap resamples of the IQM (default: %(default)s)"
    )
    parser.add_argument(
        "--improvement-reps",
        type=integer(minimum=1),
        default=500,
        help="bootstrap resamples of the probabilities of improvement (default: %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, program: str | None = None) -> Path:
    """Run the leaderboard of a command line (``sys.argv[1:]`` by default); returns its output folder."""
    from ma2ml_agents.run_folder import RunFolderError

    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    suite = SUITES[args.suite]
    for option, names in (("algorithms", args.algorithms), ("tasks", args.tasks)):
        if names is not None:
            try:
                suite = suite.only(**{option: names})
            except ValueError as error:
                parser.error(f"--{option}: {error}")
    if args.seeds is not None:
        try:
            suite = suite.with_seeds(args.seeds)
        except ValueError as error:
            parser.error(f"--seeds: {error}")
    config = LeaderboardConfig(
        suite=suite,
        out=args.out or Path("runs") / f"leaderboard-{args.suite}",
        workers=args.workers,
        reps=args.reps,
        improvement_reps=args.improvement_reps,
    )
    try:
        result: LeaderboardResult = run_leaderboard(config)
    except RunFolderError as error:
        raise SystemExit(f"error: {error}") from None
    print(result.report)
    print(f"wrote {result.out}/leaderboard.md, runs.csv, aggregate.csv, iqm.png in {result.wall_seconds:.0f} s")
    return result.out
